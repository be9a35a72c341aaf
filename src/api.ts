/**
 * The library API: one typed function per command. The CLI is a thin layer
 * over these; scripts import them from the package.
 *
 * ```ts
 * import { login, pullImage, tagImage, pushImage } from 'ocictl';
 * await login('harbor.example.com', { username: 'robot$ci', password }, {});
 * await pullImage('harbor.example.com/lidabai/nginx:1.23.1', {});
 * ```
 */
import { ChainCredentials, type CredentialSource, type Credentials, DockerConfigCredentials, removeCredentials, saveCredentials } from './auth/credentials.js';
import { dockerConfigPath } from './auth/docker-config.js';
import { OcictlError } from './errors.js';
import type { ProgressListener } from './image/events.js';
import { type ImageInspect, type ImageSummary, type RemoveResult, findImage, inspectImage, listImages, removeImages, tagImage } from './image/local.js';
import { type PullOptions, type PullResult, pull } from './image/pull.js';
import { type PushOptions, type PushResult, push } from './image/push.js';
import type { Descriptor } from './oci/descriptor.js';
import { type Reference, normaliseServer, parseReference, parseRepository } from './reference/reference.js';
import { type FetchedManifest, RegistryClient, type RegistryClientOptions } from './registry/client.js';
import { LocalStore, defaultDataRoot } from './store/local-store.js';
import { type ArchiveFormat, ArchiveDestination, openArchive } from './image/archive.js';
import { type BlobCounts, type CopiedImage, copyImage } from './image/copy.js';
import type { ImageDestination, SourceImage } from './image/endpoint.js';
import { type RemoteImageInspect, type RemotePlatformImage, deleteRemoteImage, inspectRemoteImage, manifestFor } from './image/remote.js';
import type { PlatformChoice } from './image/select.js';
import { StoreDestination, StoreSource } from './image/store-endpoint.js';
import { type ImageLocation, type LocationContext, formatLocation, openDestination, openSource, parseLocation } from './image/transports.js';

export interface ClientOptions {
  /** Docker config.json to read and write credentials (default $DOCKER_CONFIG/config.json or ~/.docker/config.json). */
  dockerConfig?: string;
  /** Extra credentials, tried before config.json (e.g. from environment variables in CI). */
  credentials?: CredentialSource;
  /** Hosts directories (default /etc/containerd/certs.d then /etc/docker/certs.d). */
  hostsDirs?: string[];
  /** Insecure registries (`true`: every registry this call names). */
  insecure?: boolean | string[];
  retries?: number;
  timeoutMs?: number;
  debug?: (line: string) => void;
  /** An existing client to reuse (its connections and tokens). */
  client?: RegistryClient;
}

export interface StoreOptions {
  /** Data root (default $OCICTL_DATA_ROOT, else $XDG_DATA_HOME/ocictl). */
  dataRoot?: string;
  /** Namespace (default `default`; `k8s.io` is what Kubernetes uses). */
  namespace?: string;
  /** fsync blobs before they enter the store (default true). */
  fsync?: boolean;
}

export type CommonOptions = ClientOptions & StoreOptions;

export function createClient(o: ClientOptions = {}): RegistryClient {
  if (o.client) return o.client;
  const file = o.dockerConfig ?? dockerConfigPath();
  const creds: CredentialSource = o.credentials ? new ChainCredentials([o.credentials, new DockerConfigCredentials(file)]) : new DockerConfigCredentials(file);
  const opts: RegistryClientOptions = { credentials: creds };
  if (o.hostsDirs) opts.hostsDirs = o.hostsDirs;
  if (o.insecure !== undefined) opts.insecure = o.insecure;
  if (o.retries !== undefined) opts.retries = o.retries;
  if (o.timeoutMs !== undefined) opts.timeoutMs = o.timeoutMs;
  if (o.debug) opts.debug = o.debug;
  return new RegistryClient(opts);
}

export async function openStore(o: StoreOptions = {}): Promise<LocalStore> {
  return LocalStore.open(o.dataRoot ?? defaultDataRoot(), o.namespace ?? 'default', o.fsync !== undefined ? { fsync: o.fsync } : {});
}

async function withClient<T>(o: ClientOptions, fn: (c: RegistryClient) => Promise<T>): Promise<T> {
  const c = createClient(o);
  try {
    return await fn(c);
  } finally {
    if (!o.client) await c.close();
  }
}

export interface LoginResult {
  server: string;
  /** Where the credentials went: `config.json` or `docker-credential-<helper>`. */
  storedIn: string;
  configFile: string;
}

/** Verifies credentials against the registry, then saves them (config.json or its credential helper). */
export async function login(server: string | undefined, credentials: Credentials, o: ClientOptions = {}): Promise<LoginResult> {
  const host = normaliseServer(server);
  if (!credentials.identityToken && (!credentials.username || credentials.password === undefined || credentials.password === '')) {
    throw new OcictlError('INVALID_ARGUMENT', 'a user name and a password are needed to log in', { hint: 'pass -u USER and -p PASS, or --password-stdin' });
  }
  await withClient(o, (c) => c.login(host, credentials));
  const file = o.dockerConfig ?? dockerConfigPath();
  const r = await saveCredentials(file, host, credentials);
  return { server: r.key, storedIn: r.storedIn, configFile: file };
}

/** Removes saved credentials; returns whether there were any. */
export async function logout(server: string | undefined, o: { dockerConfig?: string } = {}): Promise<{ server: string; removed: boolean }> {
  const host = normaliseServer(server);
  const removed = await removeCredentials(o.dockerConfig ?? dockerConfigPath(), host);
  return { server: host === 'docker.io' ? 'https://index.docker.io/v1/' : host, removed };
}

export async function pullImage(ref: string | Reference, o: CommonOptions & PullOptions = {}): Promise<PullResult> {
  const r = typeof ref === 'string' ? parseReference(ref) : ref;
  const store = await openStore(o);
  return withClient(o, (c) => pull(c, store, r, o));
}

/** Pushes an image held in the store under `source` (default: the same name) to `destination`. */
export async function pushImage(destination: string | Reference, o: CommonOptions & PushOptions & { source?: string } = {}): Promise<PushResult> {
  const dest = typeof destination === 'string' ? parseReference(destination) : destination;
  const store = await openStore(o);
  const rec = await findImage(store, o.source ?? dest.toString());
  return withClient(o, (c) => push(c, store, rec.target, dest, o));
}

export async function tagImageLocal(source: string, target: string, o: StoreOptions = {}): Promise<{ name: string; digest: string }> {
  return tagImage(await openStore(o), source, target);
}

export async function listLocalImages(o: StoreOptions = {}): Promise<ImageSummary[]> {
  return listImages(await openStore(o));
}

export async function removeLocalImages(names: string[], o: StoreOptions = {}): Promise<RemoveResult> {
  return removeImages(await openStore(o), names);
}

export async function inspectLocalImage(name: string, o: StoreOptions & { platform?: string } = {}): Promise<ImageInspect> {
  return inspectImage(await openStore(o), name, o.platform);
}

/** The descriptor (digest, media type, size) a reference points to in its registry. */
export async function resolve(ref: string | Reference, o: ClientOptions = {}): Promise<Descriptor> {
  const r = typeof ref === 'string' ? parseReference(ref) : ref;
  return withClient(o, (c) => c.resolve(r));
}

/** The manifest as served (bytes unchanged), with its digest. */
export async function fetchManifest(ref: string | Reference, o: ClientOptions = {}): Promise<FetchedManifest> {
  const r = typeof ref === 'string' ? parseReference(ref) : ref;
  return withClient(o, (c) => c.getManifest(r));
}

/** Tags of a repository, sorted, following Link pagination. */
export async function listTags(repository: string | Reference, o: ClientOptions = {}): Promise<string[]> {
  const r = typeof repository === 'string' ? parseRepository(repository) : repository;
  return withClient(o, (c) => c.listTags(r));
}

export type { ProgressListener, PullOptions, PullResult, PushOptions, PushResult, ImageSummary, ImageInspect, RemoveResult, FetchedManifest };

// ---- copy, save, load, remote inspection (issue 4) -------------------------

export interface CopyOptions extends CommonOptions, PlatformChoice {
  /** Copy every tag of the source repository to the destination repository (registry to registry). */
  allTags?: boolean;
  /** Blobs copied at once (default 4). */
  concurrency?: number;
  /** Attempts to restart one blob transfer after a broken connection (default 3). */
  blobRetries?: number;
  onProgress?: ProgressListener;
  /** Options for the source registry only (credentials, hosts dirs, insecure), over the common ones. */
  source?: ClientOptions;
  /** Options for the destination registry only, over the common ones. */
  destination?: ClientOptions;
  /** Where an archive destination is written instead of its file (e.g. stdout). */
  outputStream?: import('node:stream').Writable;
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
  let store: Promise<LocalStore> | undefined;
  const storeOf = (): Promise<LocalStore> => (store ??= openStore(o));
  const base = { store: storeOf, ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}), ...(o.blobRetries !== undefined ? { blobRetries: o.blobRetries } : {}) };
  const srcCtx: LocationContext = { ...base, client: lazy(o.source) };
  const dstCtx: LocationContext = { ...base, client: lazy(o.destination) };
  const copyOpts = {
    ...(o.platforms ? { platforms: o.platforms } : {}),
    ...(o.allPlatforms ? { allPlatforms: true } : {}),
    ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  };
  try {
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
        images.push(await copyImage(source, list[0] as SourceImage, destination, copyOpts));
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
  }
}

export interface SaveOptions extends StoreOptions, PlatformChoice {
  /** `docker` (default): what `docker load` and `ctr images import` read; `oci`: an OCI layout in a tar. */
  format?: ArchiveFormat;
  onProgress?: ProgressListener;
}

/** Writes images of the store into one archive file (or a stream, e.g. stdout). */
export async function saveImages(names: string[], output: string | import('node:stream').Writable, o: SaveOptions = {}): Promise<{ output: string; images: CopiedImage[] }> {
  if (names.length === 0) throw new OcictlError('INVALID_ARGUMENT', 'name at least one image to save');
  const store = await openStore(o);
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
}

export interface LoadedImage {
  names: string[];
  digest: string;
  mediaType: string;
  note?: string;
}

/** Reads a docker-archive or oci-archive (gzip-compressed too; `-` for stdin) into the store. */
export async function loadImages(input: string, o: StoreOptions & PlatformChoice & { onProgress?: ProgressListener } = {}): Promise<{ images: LoadedImage[] }> {
  const store = await openStore(o);
  const src = await openArchive(input);
  const dest = new StoreDestination(store);
  const out: LoadedImage[] = [];
  try {
    for (const img of await src.images()) {
      const r = await copyImage(src, img, dest, {
        ...(o.platforms ? { platforms: o.platforms } : {}),
        ...(o.allPlatforms ? { allPlatforms: true } : {}),
        ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      });
      const names = r.destination ? [r.destination] : [];
      for (const extra of img.names.slice(1)) names.push((await tagImage(store, r.destination as string, extra)).name);
      out.push({ names, digest: r.digest, mediaType: r.mediaType, ...(r.note ? { note: r.note } : {}) });
    }
  } finally {
    await dest.close();
    await src.close();
  }
  return { images: out };
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
