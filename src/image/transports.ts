/**
 * Image locations as `copy`, `save` and `load` name them, in skopeo's
 * transport syntax: a registry reference (`docker://` optional),
 * `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:REF]`, and
 * `store:NAME` for an image in the selected store, `containerd:NAME` for one
 * in containerd's store.
 */
import { OcictlError } from '../errors.js';
import { type Reference, parseReference } from '../reference/reference.js';
import type { Writable } from 'node:stream';
import type { RegistryClient } from '../registry/client.js';
import type { ImageStore } from '../store/types.js';
import { type ArchiveFormat, ArchiveDestination, LayoutDirDestination, openArchive, openLayoutDir } from './archive.js';
import type { ImageDestination, ImageSource } from './endpoint.js';
import { RegistryDestination, RegistrySource } from './registry-endpoint.js';
import { StoreDestination, StoreSource } from './store-endpoint.js';

export type ImageLocation =
  | { transport: 'registry'; ref: Reference }
  | { transport: 'oci'; path: string; tag?: string }
  | { transport: 'oci-archive'; path: string; tag?: string }
  | { transport: 'docker-archive'; path: string; tag?: string }
  | { transport: 'store'; name: string }
  | { transport: 'containerd'; name: string };

export type Transport = ImageLocation['transport'];

const FILE_TRANSPORTS = ['oci', 'oci-archive', 'docker-archive'] as const;

/**
 * Parses a location. `oci:DIR:TAG` splits at the first `:` after the
 * transport, as skopeo does (a directory name cannot contain `:`; the tag may).
 */
export function parseLocation(input: string, opts: { defaultTag?: string | null } = {}): ImageLocation {
  if (typeof input !== 'string' || input.length === 0) throw new OcictlError('INVALID_ARGUMENT', 'image location is empty');
  if (input.startsWith('docker://')) {
    return { transport: 'registry', ref: parseReference(input.slice('docker://'.length), opts.defaultTag !== undefined ? { defaultTag: opts.defaultTag } : {}) };
  }
  for (const t of ['store', 'containerd'] as const) {
    if (!input.startsWith(`${t}:`)) continue;
    const name = input.slice(t.length + 1);
    if (!name) throw new OcictlError('INVALID_ARGUMENT', `"${input}" names no image`, { hint: `use ${t}:NAME, e.g. ${t}:127.0.0.1:5000/lidabai/busybox:1.0` });
    return { transport: t, name };
  }
  for (const t of FILE_TRANSPORTS) {
    if (!input.startsWith(`${t}:`)) continue;
    const rest = input.slice(t.length + 1);
    const colon = rest.indexOf(':');
    const p = colon >= 0 ? rest.slice(0, colon) : rest;
    const tag = colon >= 0 ? rest.slice(colon + 1) : undefined;
    if (!p) throw new OcictlError('INVALID_ARGUMENT', `"${input}" has no path`, { hint: `use ${t}:${t === 'oci' ? 'DIR' : 'FILE'}[:TAG]` });
    if (tag !== undefined && tag.length === 0) throw new OcictlError('INVALID_ARGUMENT', `"${input}" ends with an empty tag`, { hint: 'drop the trailing ":" or name a tag' });
    return tag !== undefined ? { transport: t, path: p, tag } : { transport: t, path: p };
  }
  const m = /^(dir|docker-daemon|containers-storage|ostree|sif|tarball):/.exec(input);
  if (m) {
    throw new OcictlError('UNSUPPORTED', `transport "${m[1]}" is not supported`, { hint: 'use a registry reference, oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REF], store:NAME or containerd:NAME' });
  }
  return { transport: 'registry', ref: parseReference(input, opts.defaultTag !== undefined ? { defaultTag: opts.defaultTag } : {}) };
}

/** The location as a string (registry references normalised). */
export function formatLocation(l: ImageLocation): string {
  switch (l.transport) {
    case 'registry':
      return l.ref.toString();
    case 'store':
    case 'containerd':
      return `${l.transport}:${l.name}`;
    default:
      return `${l.transport}:${l.path}${l.tag ? `:${l.tag}` : ''}`;
  }
}

// ---- opening locations ---------------------------------------------------


/** What opening a location may need: a registry client for its side, the store. */
export interface LocationContext {
  client: () => RegistryClient;
  store: () => Promise<ImageStore>;
  /** containerd's store, whatever the default store is (`containerd:NAME`). */
  containerd?: () => Promise<ImageStore>;
  /** Store destinations: pin the image (`io.cri-containerd.pinned`). */
  pin?: boolean;
  /** Blobs written at once to a registry. */
  concurrency?: number;
  blobRetries?: number;
}

function containerdOf(ctx: LocationContext): Promise<ImageStore> {
  if (!ctx.containerd) throw new OcictlError('UNSUPPORTED', 'containerd: locations are not available here');
  return ctx.containerd();
}

export async function openSource(loc: ImageLocation, ctx: LocationContext): Promise<ImageSource> {
  switch (loc.transport) {
    case 'registry':
      return new RegistrySource(ctx.client(), loc.ref);
    case 'store':
      return new StoreSource(await ctx.store(), [loc.name]);
    case 'containerd':
      return new StoreSource(await containerdOf(ctx), [loc.name], 'containerd');
    case 'oci':
      return openLayoutDir(loc.path, loc.tag);
    case 'oci-archive':
    case 'docker-archive':
      return openArchive(loc.path, loc.tag, formatLocation(loc));
  }
}

export async function openDestination(loc: ImageLocation, ctx: LocationContext, stream?: Writable): Promise<ImageDestination> {
  switch (loc.transport) {
    case 'registry':
      return new RegistryDestination(ctx.client(), loc.ref, {
        ...(ctx.concurrency !== undefined ? { concurrency: ctx.concurrency } : {}),
        ...(ctx.blobRetries !== undefined ? { blobRetries: ctx.blobRetries } : {}),
      });
    case 'store':
      return new StoreDestination(await ctx.store(), loc.name, ctx.pin ? { pin: true } : {});
    case 'containerd':
      return new StoreDestination(await containerdOf(ctx), loc.name, { prefix: 'containerd', ...(ctx.pin ? { pin: true } : {}) });
    case 'oci':
      return new LayoutDirDestination(loc.path, loc.tag);
    case 'oci-archive':
    case 'docker-archive': {
      const format: ArchiveFormat = loc.transport === 'docker-archive' ? 'docker' : 'oci';
      return new ArchiveDestination(stream ?? loc.path, format, loc.tag);
    }
  }
}
