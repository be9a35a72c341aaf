/**
 * push: local store → registry. Blobs the registry has are skipped (HEAD);
 * the rest are uploaded as POST + one streamed PUT (chunked PATCH when the
 * registry refuses that), several at a time; manifests go last, children first.
 */
import { Readable } from 'node:stream';
import pLimit from 'p-limit';
import { OcictlError, RegistryError, isOcictlError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { MAX_MANIFEST_BYTES, type ParsedManifest, parseManifest } from '../oci/manifest.js';
import { formatPlatform } from '../oci/platform.js';
import type { Reference } from '../reference/reference.js';
import type { RegistryClient } from '../registry/client.js';
import type { ContentStore } from '../store/types.js';
import { isRetryableNetworkError, isTransportError, networkError } from '../transport/errors.js';
import { DEFAULT_RETRY, backoffDelay, delay } from '../transport/retry.js';
import type { ReleasingBody } from '../transport/fast-http.js';
import type { ProgressListener } from './events.js';
import { FileSlabBody, counting as countingBody } from './slab-bodies.js';
import { type PlatformChoice, selectChildren } from './select.js';

export interface PushOptions extends PlatformChoice {
  /** Blobs uploaded at once (default 6). */
  concurrency?: number;
  /** Attempts to restart one blob upload after a broken transfer (default 3). */
  blobRetries?: number;
  /** Repository on the same registry to mount blobs from (cross-repository mount). */
  mountFrom?: string;
  onProgress?: ProgressListener;
}

export interface PushResult {
  digest: string;
  mediaType: string;
  size: number;
  uploadedBytes: number;
  /** Set when the pushed manifest is not the one in the store (a single platform of a partial index). */
  note?: string;
}

interface Node {
  desc: Descriptor;
  bytes: Buffer;
  parsed: ParsedManifest;
}

async function readManifest(store: ContentStore, desc: Descriptor): Promise<Node> {
  const bytes = await store.read(desc.digest, MAX_MANIFEST_BYTES);
  return { desc, bytes, parsed: parseManifest(bytes, desc.mediaType, `manifest ${desc.digest}`) };
}

async function complete(store: ContentStore, node: Node): Promise<boolean> {
  if (node.parsed.kind === 'index') {
    for (const c of node.parsed.index.manifests) {
      if (!(await store.has(c.digest))) return false;
      if (!(await complete(store, await readManifest(store, c)))) return false;
    }
    return true;
  }
  for (const d of [node.parsed.manifest.config, ...node.parsed.manifest.layers]) if (!(await store.has(d.digest))) return false;
  return true;
}

export async function push(client: RegistryClient, store: ContentStore, target: Descriptor, dest: Reference, options: PushOptions = {}): Promise<PushResult> {
  const emit = options.onProgress ?? (() => undefined);
  const root = await readManifest(store, target);
  let top = root;
  let note: string | undefined;
  const manifests: Node[] = [];
  if (root.parsed.kind === 'index') {
    const whole = (!options.platforms?.length || options.allPlatforms) && (await complete(store, root));
    if (whole) {
      for (const c of root.parsed.index.manifests) manifests.push(await readManifest(store, c));
    } else {
      if (options.allPlatforms) throw new OcictlError('NOT_FOUND', `the store does not hold every platform of ${dest}`, { hint: 'pull it with --all-platforms first' });
      const present: Descriptor[] = [];
      for (const c of root.parsed.index.manifests) if (await store.has(c.digest)) present.push(c);
      const [chosen] = selectChildren(present, options, dest.toString());
      top = await readManifest(store, chosen as Descriptor);
      note = `pushed only platform ${formatPlatform((chosen as Descriptor).platform)}: the digest differs from the multi-platform index ${root.desc.digest}`;
      emit({ type: 'note', message: note });
    }
  }
  const images = top.parsed.kind === 'index' ? manifests : [top];
  const blobs = new Map<string, { desc: Descriptor; kind: 'layer' | 'config' }>();
  for (const m of images) {
    if (m.parsed.kind !== 'manifest') throw new OcictlError('UNSUPPORTED', `nested index ${m.desc.digest} cannot be pushed`);
    blobs.set(m.parsed.manifest.config.digest, { desc: m.parsed.manifest.config, kind: 'config' });
    for (const l of m.parsed.manifest.layers) {
      if (l.urls?.length && /foreign|nondistributable/.test(l.mediaType)) continue;
      if (!blobs.has(l.digest)) blobs.set(l.digest, { desc: l, kind: 'layer' });
    }
  }
  const stats = { uploaded: 0 };
  const limit = pLimit(Math.max(1, options.concurrency ?? 6));
  const ordered = [...blobs.values()].sort((a, b) => b.desc.size - a.desc.size);
  // The first failure stops the rest: nothing new starts and no upload outlives the push.
  let firstError: { e: unknown } | undefined;
  await Promise.allSettled(ordered.map((b) => limit(async () => {
    if (firstError) return;
    try {
      await uploadBlob(client, store, dest, b.desc, b.kind, options, stats);
    } catch (e) {
      firstError ??= { e };
    }
  })));
  if (firstError) throw firstError.e;
  // Children by digest first, then the top manifest under the tag.
  if (top.parsed.kind === 'index') {
    for (const m of manifests) {
      await client.putManifest(dest.withDigest(m.desc.digest), m.bytes, m.desc.mediaType);
      emit({ type: 'manifest', digest: m.desc.digest, mediaType: m.desc.mediaType });
    }
  }
  const digest = await client.putManifest(dest, top.bytes, top.parsed.mediaType);
  emit({ type: 'manifest', digest, mediaType: top.parsed.mediaType });
  return { digest, mediaType: top.parsed.mediaType, size: top.bytes.length, uploadedBytes: stats.uploaded, ...(note ? { note } : {}) };
}

/** Uploads one blob from a content store unless the registry has it (or can mount it). */
export async function uploadBlob(
  client: RegistryClient,
  store: ContentStore,
  dest: Reference,
  desc: Descriptor,
  kind: 'layer' | 'config',
  options: PushOptions,
  stats: { uploaded: number },
): Promise<void> {
  const emit = options.onProgress ?? (() => undefined);
  if (await client.hasBlob(dest, desc.digest, true)) {
    emit({ type: 'blob-done', digest: desc.digest, size: desc.size, state: 'exists', kind });
    return;
  }
  const open = (): Promise<import('node:stream').Readable> => store.open(desc.digest);
  const file = store.blobFile?.(desc.digest);
  await uploadFrom(client, dest, desc, kind, open, { ...options, ...(file ? { openSlabs: () => new FileSlabBody(file, desc.size) } : {}) }, stats);
}

/**
 * Uploads one blob whose bytes come from `open()` (a store file or another
 * registry). With `openSlabs`, a whole PUT sends a body of reused buffers
 * instead (flat memory); resumed and chunked uploads use `open()`.
 */
export async function uploadFrom(
  client: RegistryClient,
  dest: Reference,
  desc: Descriptor,
  kind: 'layer' | 'config',
  open: () => Promise<import('node:stream').Readable>,
  options: PushOptions & { openSlabs?: () => ReleasingBody },
  stats: { uploaded: number },
): Promise<void> {
  const emit = options.onProgress ?? (() => undefined);
  let location: string;
  if (options.mountFrom && options.mountFrom !== dest.repository) {
    const m = await client.mountBlob(dest, desc.digest, options.mountFrom);
    if (m.mounted) {
      emit({ type: 'blob-done', digest: desc.digest, size: desc.size, state: 'mounted', kind });
      return;
    }
    location = m.location;
  } else {
    location = await client.startUpload(dest);
  }
  emit({ type: 'blob-start', digest: desc.digest, size: desc.size, kind });
  const retries = options.blobRetries ?? client.options.retries ?? DEFAULT_RETRY.retries;
  // The upload session in use and how many bytes the registry holds in it.
  let session = { location, offset: 0 };
  let chunked = false;
  const onLocation = (loc: string, offset: number): void => {
    session = { location: loc, offset };
  };
  // blob-progress at most once a MiB (and at the end), counted from where an attempt starts.
  let lastProgress = 0;
  const progress = (sent: number): void => {
    if (sent - lastProgress >= 1 << 20 || sent === desc.size) {
      lastProgress = sent;
      emit({ type: 'blob-progress', digest: desc.digest, bytes: sent, size: desc.size });
    }
  };
  for (let attempt = 0; ; attempt++) {
    const counting = (from: number) => async (): Promise<import('node:stream').Readable> => {
      const s = await open();
      let sent = from;
      lastProgress = from;
      async function* counted(): AsyncGenerator<Buffer> {
        let skip = from;
        for await (const chunk of s as AsyncIterable<Buffer>) {
          let c = chunk;
          if (skip > 0) {
            if (skip >= c.length) {
              skip -= c.length;
              continue;
            }
            c = c.subarray(skip);
            skip = 0;
          }
          sent += c.length;
          progress(sent);
          yield c;
        }
      }
      return Readable.from(counted(), { objectMode: false });
    };
    const resuming = session.offset > 0;
    try {
      if (chunked || session.offset > 0) {
        await client.chunkedUpload(dest, session.location, desc, counting(session.offset), undefined, { offset: session.offset, onLocation });
      } else {
        try {
          // A whole PUT from the first byte: a fresh body of reused slabs each time (flat memory on retries too).
          const slabs = options.openSlabs;
          await client.putUpload(dest, session.location, desc, slabs ? () => countingBody(slabs(), progress) : counting(0));
        } catch (e) {
          // Registries that refuse a monolithic PUT: chunked PATCH upload in a fresh session.
          if (e instanceof RegistryError && [405, 411, 413, 501].includes(e.status)) {
            chunked = true;
            session = { location: await client.startUpload(dest), offset: 0 };
            await client.chunkedUpload(dest, session.location, desc, counting(0), undefined, { onLocation });
          } else throw e;
        }
      }
      stats.uploaded += desc.size;
      emit({ type: 'blob-done', digest: desc.digest, size: desc.size, state: 'uploaded', kind });
      return;
    } catch (e) {
      // A resumed session the registry then refuses (it was still absorbing the cut request) is started over.
      const refusedResume = resuming && e instanceof RegistryError && [400, 404, 416].includes(e.status);
      const retryable = refusedResume || isRetryableNetworkError(e) || (e instanceof RegistryError && [500, 502, 503, 504, 408, 429].includes(e.status));
      if (!retryable || attempt >= retries) {
        if (isTransportError(e)) throw networkError(e, { host: dest.registry, timeoutMs: client.options.timeoutMs ?? 60_000 });
        throw e;
      }
      await delay(backoffDelay(DEFAULT_RETRY, attempt));
      // Resume the session where the registry holds part of the blob (GET on its URL gives the Range);
      // else start over in a fresh session (an empty one may still be absorbing a cut request).
      const held = refusedResume ? undefined : await client.uploadOffset(dest, session.location).catch(() => undefined);
      if (held !== undefined && held > 0 && held <= desc.size) session = { location: session.location, offset: held };
      else session = { location: await client.startUpload(dest), offset: 0 };
      emit({ type: 'blob-retry', digest: desc.digest, offset: session.offset, reason: (e as Error).message });
    }
  }
}
