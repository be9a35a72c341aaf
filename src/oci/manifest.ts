/** Image manifests and indexes: parsing untrusted bytes with limits. */
import { OcictlError } from '../errors.js';
import { type Descriptor, type Platform, validateDescriptor } from './descriptor.js';
import { MediaType, isIndexType, isManifestType } from './media-types.js';

/** Largest manifest accepted (distribution and containerd use 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Largest image config accepted. */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
/** Deepest index nesting followed. */
export const MAX_INDEX_DEPTH = 4;

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export type ParsedManifest =
  | { kind: 'manifest'; mediaType: string; manifest: ImageManifest }
  | { kind: 'index'; mediaType: string; index: ImageIndex };

/**
 * Parses manifest bytes. The media type comes from the document's own
 * `mediaType`, else the Content-Type it was served with, else its shape.
 */
export function parseManifest(bytes: Uint8Array, contentType?: string, where = 'manifest'): ParsedManifest {
  if (bytes.byteLength > MAX_MANIFEST_BYTES) {
    throw new OcictlError('LIMIT_EXCEEDED', `${where} is ${bytes.byteLength} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new OcictlError('MANIFEST_INVALID', `${where} is not valid JSON (${(e as Error).message})`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new OcictlError('MANIFEST_INVALID', `${where} is not a JSON object`);
  const o = doc as Record<string, unknown>;
  if (o.schemaVersion === 1) {
    throw new OcictlError('UNSUPPORTED', `${where} is a Docker schema 1 manifest, which is not supported`, { hint: 'push the image again with a current client' });
  }
  if (o.schemaVersion !== 2) throw new OcictlError('MANIFEST_INVALID', `${where} has schemaVersion ${JSON.stringify(o.schemaVersion)?.slice(0, 20)}, expected 2`);
  const ct = contentType?.split(';')[0]?.trim();
  let mediaType = typeof o.mediaType === 'string' ? o.mediaType : undefined;
  if (o.mediaType !== undefined && typeof o.mediaType !== 'string') throw new OcictlError('MANIFEST_INVALID', `${where} has a non-string mediaType`);
  const served = ct && (isIndexType(ct) || isManifestType(ct)) ? ct : undefined;
  if (served === MediaType.DockerManifest || served === MediaType.DockerManifestList) {
    // distribution's schema2 and manifest-list decoders require the field, equal to the type served
    if (mediaType !== served) {
      throw new OcictlError('MANIFEST_INVALID', mediaType === undefined
        ? `${where} is served as ${served} but has no "mediaType", which that format requires`
        : `${where} is served as ${served} but says it is ${mediaType.slice(0, 100)}`);
    }
  } else if (served && mediaType !== undefined && mediaType !== served && (isIndexType(mediaType) || isManifestType(mediaType))) {
    // an OCI document's mediaType is optional, but when present it must be the type served
    throw new OcictlError('MANIFEST_INVALID', `${where} is served as ${served} but says it is ${mediaType.slice(0, 100)}`);
  }
  if (!mediaType && served) mediaType = served;
  if (!mediaType) mediaType = Array.isArray(o.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
  // containerd's shape check: a manifest type with "manifests", or an index type with config/layers, is refused
  if (isManifestType(mediaType) && (Array.isArray(o.manifests) && o.manifests.length > 0)) {
    throw new OcictlError('MANIFEST_INVALID', `${where} has media type ${mediaType} but lists "manifests" like an index`);
  }
  if (isIndexType(mediaType) && (o.config !== undefined || (Array.isArray(o.layers) && o.layers.length > 0))) {
    throw new OcictlError('MANIFEST_INVALID', `${where} has media type ${mediaType} but has "config" or "layers" like an image manifest`);
  }
  if (isIndexType(mediaType)) {
    if (!Array.isArray(o.manifests)) throw new OcictlError('MANIFEST_INVALID', `${where} is an index without a "manifests" array`);
    if (o.manifests.length > 10000) throw new OcictlError('LIMIT_EXCEEDED', `${where} lists ${o.manifests.length} manifests`);
    o.manifests.forEach((d, i) => validateDescriptor(d, `${where}: manifests[${i}]`));
    if (o.subject !== undefined) validateDescriptor(o.subject, `${where}: subject`);
    return { kind: 'index', mediaType, index: o as unknown as ImageIndex };
  }
  if (isManifestType(mediaType)) {
    if (o.config === undefined) throw new OcictlError('MANIFEST_INVALID', `${where} has no "config"`);
    validateDescriptor(o.config, `${where}: config`);
    if (!Array.isArray(o.layers)) throw new OcictlError('MANIFEST_INVALID', `${where} has no "layers" array`);
    if (o.layers.length > 10000) throw new OcictlError('LIMIT_EXCEEDED', `${where} lists ${o.layers.length} layers`);
    o.layers.forEach((d, i) => validateDescriptor(d, `${where}: layers[${i}]`));
    if (o.subject !== undefined) validateDescriptor(o.subject, `${where}: subject`);
    return { kind: 'manifest', mediaType, manifest: o as unknown as ImageManifest };
  }
  throw new OcictlError('UNSUPPORTED', `${where} has media type "${mediaType.slice(0, 100)}", which is not an image manifest or index`);
}

/** Descriptors a manifest or index points to (config, layers, children). */
export function childrenOf(p: ParsedManifest): Descriptor[] {
  return p.kind === 'index' ? p.index.manifests : [p.manifest.config, ...p.manifest.layers];
}

/** Image config (the parts ocictl reads). */
export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  author?: string;
  config?: Record<string, unknown>;
  rootfs?: { type: string; diff_ids: string[] };
  history?: unknown[];
}

export function parseConfig(bytes: Uint8Array, where = 'image config'): ImageConfig {
  if (bytes.byteLength > MAX_CONFIG_BYTES) throw new OcictlError('LIMIT_EXCEEDED', `${where} is over ${MAX_CONFIG_BYTES} bytes`);
  try {
    const v = JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as ImageConfig;
  } catch (e) {
    throw new OcictlError('MANIFEST_INVALID', `${where} is not valid JSON (${(e as Error).message})`);
  }
}

export function platformString(p: Platform | undefined): string {
  if (!p) return 'unknown';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}
