/** Content descriptors and digests. */
import { createHash } from 'node:crypto';
import { OcictlError } from '../errors.js';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

const SHA256 = /^sha256:[a-f0-9]{64}$/;

export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function isDigest(s: string): boolean {
  return SHA256.test(s);
}

/** Throws unless `digest` is a well-formed sha256 digest (the only algorithm ocictl stores). */
export function assertDigest(digest: unknown, what = 'digest'): asserts digest is string {
  if (typeof digest !== 'string' || !SHA256.test(digest)) {
    throw new OcictlError('MANIFEST_INVALID', `${what} "${String(digest).slice(0, 100)}" is not a sha256 digest`);
  }
}

/** Hex part of a digest. */
export function digestHex(digest: string): string {
  assertDigest(digest);
  return digest.slice('sha256:'.length);
}

export function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

/** Validates a descriptor read from untrusted JSON. */
export function validateDescriptor(d: unknown, where: string): Descriptor {
  if (!d || typeof d !== 'object' || Array.isArray(d)) throw new OcictlError('MANIFEST_INVALID', `${where}: descriptor is not an object`);
  const o = d as Record<string, unknown>;
  if (typeof o.mediaType !== 'string' || o.mediaType.length === 0 || o.mediaType.length > 255) {
    throw new OcictlError('MANIFEST_INVALID', `${where}: descriptor has no valid mediaType`);
  }
  assertDigest(o.digest, `${where}: digest`);
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) {
    throw new OcictlError('MANIFEST_INVALID', `${where}: descriptor size ${JSON.stringify(o.size)?.slice(0, 40)} is not a non-negative integer`);
  }
  if (o.platform !== undefined) {
    const p = o.platform as Record<string, unknown>;
    if (!p || typeof p !== 'object' || typeof p.os !== 'string' || typeof p.architecture !== 'string') {
      throw new OcictlError('MANIFEST_INVALID', `${where}: platform needs string os and architecture`);
    }
  }
  if (o.annotations !== undefined && (typeof o.annotations !== 'object' || o.annotations === null || Array.isArray(o.annotations))) {
    throw new OcictlError('MANIFEST_INVALID', `${where}: annotations must be an object`);
  }
  return o as unknown as Descriptor;
}
