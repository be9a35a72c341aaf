/**
 * The promotion half of the library API: copy between registries, layouts,
 * archives and the store; save and load; remote inspection and deletion.
 *
 * ```ts
 * import { copy } from 'ocictl';
 * const r = await copy('build.example.com/app:1.4.2', 'harbor.example.com/prod/app:1.4.2', {
 *   destination: { credentials: new StaticCredentials({ username: 'robot$prod+ci', password }) },
 * });
 * console.log(r.digest); // the same digest as at the source
 * ```
 */
import type { Writable } from 'node:stream';
import { ChainCredentials } from './auth/credentials.js';
import { type ClientOptions, type CommonOptions, type StoreOptions, createClient, openStore, withClient, withStore } from './api.js';
import { OcictlError } from './errors.js';
import type { ProgressListener } from './image/events.js';
import { tagImage } from './image/local.js';
import { type Reference, parseReference } from './reference/reference.js';
import type { FetchedManifest, RegistryClient } from './registry/client.js';
import type { ImageStore } from './store/types.js';
import { type ArchiveFormat, ArchiveDestination, openArchive } from './image/archive.js';
import { type BlobCounts, type CopiedImage, copyImage } from './image/copy.js';
import type { ImageDestination, SourceImage } from './image/endpoint.js';
import { copyImageReferrers } from './image/image-referrers.js';
import { type RemoteImageInspect, type RemotePlatformImage, deleteRemoteImage, inspectRemoteImage, manifestFor } from './image/remote.js';
import type { PlatformChoice } from './image/select.js';
import { StoreDestination, StoreSource } from './image/store-endpoint.js';
import { type ImageLocation, type LocationContext, formatLocation, openDestination, openSource, parseLocation } from './image/transports.js';


export interface CopyOptions extends CommonOptions, PlatformChoice {
  /** Copy every tag of the source repository to the destination repository (registry to registry). */
  allTags?: boolean;
  /** Blobs copied at once (default 6). */
  concurrency?: number;
  /** Attempts to restart one blob transfer after a broken connection (default 3). */
  blobRetries?: number;
  onProgress?: ProgressListener;
  /** Options for the source registry only (credentials, hosts dirs, insecure), over the common ones. */
  source?: ClientOptions;
  /** Options for the destination registry only, over the common ones. */
  destination?: ClientOptions;
  /** Where an archive destination is written instead of its file (e.g. stdout). */
  outputStream?: Writable;
  /** A store destination (containerd): keep the image from kubelet's image GC (`io.cri-containerd.pinned`). */
  pin?: boolean;
  /**
   * Also copy what refers to the image (signatures, SBOMs, attestations), recursively; registry to registry.
   * For a multi-platform index, the referrers of each platform manifest copied go too (`cosign sign --recursive`).
   */
  referrers?: boolean;
}

export interface CopyResult {
  source: string;
  destination: string;
  /** The digest at the destination (of the first image when several were copied). */
  digest: string;
  /** One entry per image copied: one, or one per tag with `allTags`. */
  images: CopiedImage[];
}

function sideClient(o: CommonOptions, side: ClientOptions | undefined): RegistryClient {
  if (!side) return createClient(o);
  const merged: ClientOptions = { ...o, ...side };
  if (side.credentials && o.credentials) merged.credentials = new ChainCredentials([side.credentials, o.credentials]);
  return createClient(merged);
}

function locationOf(l: string | ImageLocation): ImageLocation {
  return typeof l === 'string' ? parseLocation(l) : l;
}

/**
 * Copies an image between any two locations: registries (streamed, nothing
 * on disk; digests kept), `oci:DIR[:TAG]`, `oci-archive:FILE`,
 * `docker-archive:FILE`, `store:NAME`.
 */
export async function copy(src: string | ImageLocation, dst: string | ImageLocation, o: CopyOptions = {}): Promise<CopyResult> {
  const from = locationOf(src);
  let to = locationOf(dst);
  const clients: RegistryClient[] = [];
  const lazy = (side: ClientOptions | undefined): (() => RegistryClient) => {
    let c: RegistryClient | undefined;
    return () => {
      if (!c) {
        c = sideClient(o, side);
        if (!o.client) clients.push(c);
      }
      return c;
    };
  };
  let store: Promise<ImageStore> | undefined;
  let ctd: Promise<ImageStore> | undefined;
  const storeOf = (): Promise<ImageStore> => (store ??= openStore(o));
  const containerdOf = (): Promise<ImageStore> => (ctd ??= openStore({ ...o, store: 'containerd' }));
  const base = { store: storeOf, containerd: containerdOf, ...(o.pin ? { pin: true } : {}), ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}), ...(o.blobRetries !== undefined ? { blobRetries: o.blobRetries } : {}) };
  const srcCtx: LocationContext = { ...base, client: lazy(o.source) };
  const dstCtx: LocationContext = { ...base, client: lazy(o.destination) };
  const copyOpts = {
    ...(o.platforms ? { platforms: o.platforms } : {}),
    ...(o.allPlatforms ? { allPlatforms: true } : {}),
    ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  };
  try {
    if (o.referrers && (from.transport !== 'registry' || to.transport !== 'registry')) {
      throw new OcictlError('INVALID_ARGUMENT', '--referrers copies between registries only', { hint: 'name a registry image on both sides' });
    }
    const pairs: [ImageLocation, ImageLocation][] = [];
    if (o.allTags) {
      if (from.transport !== 'registry' || to.transport !== 'registry') {
        throw new OcictlError('INVALID_ARGUMENT', '--all-tags copies between registries only', { hint: 'name a source and a destination repository' });
      }
      if (to.ref.digest || (to.ref.tag && to.ref.tag !== from.ref.tag)) {
        throw new OcictlError('INVALID_ARGUMENT', `with --all-tags the destination must be a repository, not ${to.ref}`, { hint: `drop the tag: ${to.ref.name}` });
      }
      const tags = await srcCtx.client().listTags(from.ref);
      if (tags.length === 0) throw new OcictlError('NOT_FOUND', `${from.ref.name} has no tags`);
      for (const t of tags) pairs.push([{ transport: 'registry', ref: from.ref.withTag(t) }, { transport: 'registry', ref: to.ref.withTag(t) }]);
    } else {
      // A registry destination without tag or digest takes the source's tag.
      if (to.transport === 'registry' && !to.ref.tag && !to.ref.digest && from.transport === 'registry' && from.ref.tag) {
        to = { transport: 'registry', ref: to.ref.withTag(from.ref.tag) };
      }
      pairs.push([from, to]);
    }
    const images: CopiedImage[] = [];
    for (const [s, d] of pairs) {
      const source = await openSource(s, srcCtx);
      let destination: ImageDestination | undefined;
      let ok = false;
      try {
        const list = await source.images();
        if (list.length > 1) {
          throw new OcictlError('INVALID_ARGUMENT', `${source.label} holds ${list.length} images`, { hint: `name one, e.g. ${formatLocation(s)}:${list[0]?.names[0] ?? 'TAG'}, or use load` });
        }
        destination = await openDestination(d, dstCtx, o.outputStream);
        const done = await copyImage(source, list[0] as SourceImage, destination, copyOpts);
        if (o.referrers && s.transport === 'registry' && d.transport === 'registry') {
          // The image's referrers and those of each platform manifest the copy took. With a
          // platform selection the source's index did not arrive: its referrers (signatures of
          // that index) would name a subject the destination lacks, so only the platform
          // manifests' go.
          const top = done.digest === done.sourceDigest ? done.sourceDigest : undefined;
          done.referrers = await copyImageReferrers(srcCtx.client(), s.ref, dstCtx.client(), d.ref, top, done.manifests, copyOpts);
        }
        images.push(done);
        ok = true;
      } finally {
        await destination?.close(ok);
        await source.close();
      }
    }
    const first = images[0] as CopiedImage;
    return { source: formatLocation(from), destination: formatLocation(to), digest: first.digest, images };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    for (const st of [store, ctd]) await st?.then((x) => x.close?.(), () => undefined);
  }
}

export interface SaveOptions extends StoreOptions, PlatformChoice {
  /** `docker` (default): what `docker load` and `ctr images import` read; `oci`: an OCI layout in a tar. */
  format?: ArchiveFormat;
  onProgress?: ProgressListener;
}

/** Writes images of the store into one archive file (or a stream, e.g. stdout). */
export async function saveImages(names: string[], output: string | Writable, o: SaveOptions = {}): Promise<{ output: string; images: CopiedImage[] }> {
  if (names.length === 0) throw new OcictlError('INVALID_ARGUMENT', 'name at least one image to save');
  if ((o.format ?? 'docker') === 'docker' && (o.allPlatforms || (o.platforms?.length ?? 0) > 1)) {
    throw new OcictlError('INVALID_ARGUMENT', 'a Docker archive holds one platform per image', { hint: 'pass --format oci to save several platforms' });
  }
  return withStore(o, async (store) => {
    const dest = new ArchiveDestination(output, o.format ?? 'docker');
    const images: CopiedImage[] = [];
    let ok = false;
    try {
      for (const n of names) {
        const src = new StoreSource(store, [n]);
        const [img] = await src.images();
        for (const name of (img as SourceImage).names.length ? (img as SourceImage).names : [undefined]) {
          images.push(
            await copyImage(src, { desc: (img as SourceImage).desc, names: name ? [name] : [] }, dest, {
              ...(o.platforms ? { platforms: o.platforms } : {}),
              ...(o.allPlatforms ? { allPlatforms: true } : {}),
              ...(o.onProgress ? { onProgress: o.onProgress } : {}),
            }),
          );
        }
      }
      ok = true;
    } finally {
      await dest.close(ok);
    }
    return { output: typeof output === 'string' ? output : '(stream)', images };
  });
}

export interface LoadedImage {
  names: string[];
  digest: string;
  mediaType: string;
  note?: string;
}

/** Reads a docker-archive or oci-archive (gzip-compressed too; `-` for stdin) into the store. */
export async function loadImages(input: string, o: StoreOptions & PlatformChoice & { onProgress?: ProgressListener; pin?: boolean } = {}): Promise<{ images: LoadedImage[] }> {
  return withStore(o, async (store) => {
    const src = await openArchive(input);
    const dest = new StoreDestination(store, undefined, o.pin ? { pin: true } : {});
    const out: LoadedImage[] = [];
    let ok = false;
    try {
      for (const img of await src.images()) {
        const r = await copyImage(src, img, dest, {
          ...(o.platforms ? { platforms: o.platforms } : {}),
          ...(o.allPlatforms ? { allPlatforms: true } : {}),
          ...(o.onProgress ? { onProgress: o.onProgress } : {}),
        });
        const names = r.destination ? [r.destination] : [];
        for (const extra of img.names.slice(1)) names.push((await tagImage(store, r.destination as string, extra)).name);
        const note = img.names.length === 0 ? `the archive gives no name for ${r.digest}: recorded as ${r.destination ?? '?'}; name it with ocictl tag` : r.note;
        out.push({ names, digest: r.digest, mediaType: r.mediaType, ...(note ? { note } : {}) });
      }
      ok = true;
    } finally {
      await dest.close(ok);
      await src.close();
    }
    return { images: out };
  });
}

/** Deletes an image from its registry by digest (a tag is resolved first). */
export async function deleteRemote(ref: string | Reference, o: ClientOptions = {}): Promise<{ reference: string; digest: string }> {
  const r = typeof ref === 'string' ? parseReference(ref) : ref;
  const digest = await withClient(o, (c) => deleteRemoteImage(c, r));
  return { reference: r.toString(), digest };
}

/** Config and layers of each platform of a registry image, without pulling it. */
export async function inspectRemote(ref: string | Reference, o: ClientOptions & { platform?: string } = {}): Promise<RemoteImageInspect> {
  const r = typeof ref === 'string' ? parseReference(ref) : ref;
  return withClient(o, (c) => inspectRemoteImage(c, r, o.platform));
}

/** The manifest as served; with `platform`, the manifest of that platform of an index. */
export async function fetchPlatformManifest(ref: string | Reference, o: ClientOptions & { platform?: string } = {}): Promise<FetchedManifest> {
  const r = typeof ref === 'string' ? parseReference(ref) : ref;
  return withClient(o, (c) => manifestFor(c, r, o.platform));
}

export type { CopiedImage, BlobCounts, ImageLocation, RemoteImageInspect, RemotePlatformImage, ArchiveFormat, PlatformChoice };
