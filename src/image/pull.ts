/**
 * pull: registry → local store. Manifests are verified against their digest,
 * blobs are streamed to disk while hashed and enter the store only when
 * verified; an interrupted download resumes with Range from the verified offset.
 */
import pLimit from 'p-limit';
import { OcictlError, isOcictlError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { MAX_CONFIG_BYTES, MAX_INDEX_DEPTH } from '../oci/manifest.js';
import { type Reference } from '../reference/reference.js';
import type { RegistryClient } from '../registry/client.js';
import type { ContentSource, ImageStore, Lease, UnpackResult, UnpackTarget } from '../store/types.js';
import { isRetryableNetworkError, isTransportError, networkError } from '../transport/errors.js';
import { pumpBody } from '../transport/fast-http.js';
import { timed } from '../util/phase-trace.js';
import { backoffDelay, delay, DEFAULT_RETRY } from '../transport/retry.js';
import type { ProgressListener } from './events.js';
import { type PlatformChoice, selectChildren } from './select.js';

export interface PullOptions extends PlatformChoice {
  /** Blobs downloaded at once (default 4). */
  concurrency?: number;
  /** Attempts to resume one blob after a broken transfer (default 5). */
  blobRetries?: number;
  onProgress?: ProgressListener;
  /** Keep the image from its consumers' image GC (containerd: `io.cri-containerd.pinned=pinned`, which kubelet honours). */
  pin?: boolean;
}

export interface PullResult {
  /** The name recorded in the store. */
  name: string;
  digest: string;
  mediaType: string;
  /** Image manifests taken (one per platform). */
  manifests: Descriptor[];
  /** Bytes downloaded (blobs already present are not counted). */
  downloadedBytes: number;
  /** Bytes fetched again after interruptions. */
  refetchedBytes: number;
  /** Images unpacked, where the store unpacks (containerd's snapshots). */
  unpacked?: (UnpackResult & { manifest: string })[];
}

interface BlobStats {
  downloaded: number;
  refetched: number;
  /** Set when one blob failed: the others stop retrying. */
  failed: boolean;
}

interface Plan {
  manifests: { desc: Descriptor; bytes: Buffer }[];
  blobs: Map<string, { desc: Descriptor; kind: 'layer' | 'config' }>;
  images: Descriptor[];
  /** Per image manifest: what an unpacking store needs. */
  targets: UnpackTarget[];
}

/** Blobs the pull is waiting for, so that unpacking starts on each as soon as it is in. */
export class Arrivals {
  private readonly waits = new Map<string, { p: Promise<void>; resolve: () => void; reject: (e: unknown) => void }>();
  private failure: { e: unknown } | undefined;

  private entry(digest: string): { p: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
    let w = this.waits.get(digest);
    if (!w) {
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      const p = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      p.catch(() => undefined);
      w = { p, resolve, reject };
      if (this.failure) reject(this.failure.e);
      this.waits.set(digest, w);
    }
    return w;
  }

  /** Resolves when the blob is in; rejects when the transfer failed. */
  readonly wait = (digest: string): Promise<void> => this.entry(digest).p;

  arrived(digest: string): void {
    this.entry(digest).resolve();
  }

  /** Every wait not yet resolved rejects (a settled one stays as it was). */
  fail(e: unknown): void {
    this.failure ??= { e };
    for (const w of this.waits.values()) w.reject(e);
  }
}

/** Layers in the order an unpacker applies them: per image bottom first, images side by side. */
export function unpackOrder(targets: UnpackTarget[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const longest = Math.max(0, ...targets.map((t) => t.layers.length));
  for (let i = 0; i < longest; i++) {
    for (const t of targets) {
      const l = t.layers[i];
      if (l && !seen.has(l.digest)) {
        seen.add(l.digest);
        out.push(l.digest);
      }
    }
  }
  return out;
}

/** The store name of a reference: `registry/repo:tag`, or `registry/repo@digest` without a tag. */
export function storeName(ref: Reference): string {
  return ref.tag ? `${ref.name}:${ref.tag}` : ref.toString();
}

export async function pull(client: RegistryClient, store: ImageStore, ref: Reference, options: PullOptions = {}): Promise<PullResult> {
  const emit = options.onProgress ?? (() => undefined);
  const source: ContentSource = { registry: ref.registry, repository: ref.repository };
  const lease = await store.lease();
  try {
    const top = await timed('manifest', client.getManifest(ref));
    emit({ type: 'resolved', ref: ref.toString(), digest: top.digest, mediaType: top.mediaType });
    const plan: Plan = { manifests: [], blobs: new Map(), images: [], targets: [] };
    const topDesc: Descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length };
    await walk(client, ref, topDesc, top, plan, options, 0);
    const stats: BlobStats = { downloaded: 0, refetched: 0, failed: false };
    const limit = pLimit(Math.max(1, options.concurrency ?? 4));
    const unpacker = store.unpacker;
    let blobs = [...plan.blobs.values()];
    if (unpacker) {
      // Configs first, then layers bottom first: each layer is unpacked while the ones above it still download.
      const rank = new Map(unpackOrder(plan.targets).map((d, i) => [d, i]));
      const at = (d: string, kind: string): number => (kind === 'config' ? -1 : rank.get(d) ?? rank.size);
      blobs = blobs.sort((a, b) => at(a.desc.digest, a.kind) - at(b.desc.digest, b.kind));
    } else {
      // Config blobs first in the queue (small), then layers largest first, so the tail is short.
      blobs = blobs.sort((a, b) => (a.kind === b.kind ? b.desc.size - a.desc.size : a.kind === 'config' ? -1 : 1));
    }
    const arrivals = new Arrivals();
    const unpacks = unpacker ? plan.targets.map((t) => unpacker.unpack(t, arrivals.wait).then((r) => (r ? { ...r, manifest: t.manifest.digest } : undefined))) : [];
    unpacks.forEach((u) => u.catch(() => undefined));
    // The first failure stops the rest: nothing new starts, nothing retries, and no transfer outlives the pull.
    let firstError: { e: unknown } | undefined;
    await timed('blobs', Promise.allSettled(blobs.map((b) => limit(async () => {
      if (stats.failed) return;
      try {
        await fetchBlob(client, store, ref, b.desc, b.kind, lease, options, stats, source);
        arrivals.arrived(b.desc.digest);
      } catch (e) {
        stats.failed = true;
        firstError ??= { e };
        arrivals.fail(e);
      }
    }))));
    if (firstError) {
      await Promise.allSettled(unpacks);
      throw firstError.e;
    }
    // Whatever was not fetched (a foreign layer) will not come.
    arrivals.fail(new OcictlError('UNSUPPORTED', `${ref} has layers that are not in the registry (foreign layers); they cannot be unpacked`));
    const unpacked = (await Promise.all(unpacks)).filter((u): u is UnpackResult & { manifest: string } => !!u);
    for (const m of plan.manifests) {
      await lease.add(m.desc.digest);
      if (!(await store.has(m.desc.digest))) await store.put(m.desc, m.bytes, { source });
      else await store.noteSource?.(m.desc.digest, source);
    }
    const name = storeName(ref);
    const content = [...plan.manifests.map((m) => m.desc.digest), ...plan.blobs.keys()];
    await timed('index', store.set(name, topDesc, content, options.pin ? { pinned: true } : {}));
    return {
      name, digest: top.digest, mediaType: top.mediaType, manifests: plan.images, downloadedBytes: stats.downloaded, refetchedBytes: stats.refetched,
      ...(unpacker ? { unpacked } : {}),
    };
  } finally {
    await lease.release();
  }
}

async function walk(
  client: RegistryClient,
  ref: Reference,
  desc: Descriptor,
  fetched: { bytes: Buffer; parsed: import('../oci/manifest.js').ParsedManifest },
  plan: Plan,
  options: PullOptions,
  depth: number,
): Promise<void> {
  if (depth > MAX_INDEX_DEPTH) throw new OcictlError('LIMIT_EXCEEDED', `${ref} nests indexes more than ${MAX_INDEX_DEPTH} levels deep`);
  plan.manifests.unshift({ desc, bytes: fetched.bytes });
  const p = fetched.parsed;
  if (p.kind === 'index') {
    const children = selectChildren(p.index.manifests, options, ref.toString());
    for (const c of children) {
      const m = await client.getManifest(ref.withDigest(c.digest));
      if (m.bytes.length !== c.size) throw new OcictlError('SIZE_MISMATCH', `manifest ${c.digest} of ${ref} is ${m.bytes.length} bytes, the index says ${c.size}`);
      await walk(client, ref, { ...c, mediaType: m.mediaType }, m, plan, { ...options, allPlatforms: true }, depth + 1);
    }
    return;
  }
  const man = p.manifest;
  plan.images.push(desc);
  options.onProgress?.({ type: 'manifest', digest: desc.digest, mediaType: desc.mediaType, ...(desc.platform ? { platform: `${desc.platform.os}/${desc.platform.architecture}${desc.platform.variant ? `/${desc.platform.variant}` : ''}` } : {}) });
  if (man.config.size > MAX_CONFIG_BYTES) throw new OcictlError('LIMIT_EXCEEDED', `config of ${ref} is ${man.config.size} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`);
  plan.blobs.set(man.config.digest, { desc: man.config, kind: 'config' });
  plan.targets.push({ manifest: desc, config: man.config, layers: man.layers });
  for (const l of man.layers) {
    if (l.urls?.length && /foreign|nondistributable/.test(l.mediaType)) continue; // foreign layers are not in the registry
    if (!plan.blobs.has(l.digest)) plan.blobs.set(l.digest, { desc: l, kind: 'layer' });
  }
}

async function fetchBlob(
  client: RegistryClient,
  store: ImageStore,
  ref: Reference,
  desc: Descriptor,
  kind: 'layer' | 'config',
  lease: Lease,
  options: PullOptions,
  stats: BlobStats,
  source: ContentSource,
): Promise<void> {
  const emit = options.onProgress ?? (() => undefined);
  await lease.add(desc.digest);
  const have = await store.size(desc.digest);
  if (have === desc.size) {
    await store.noteSource?.(desc.digest, source);
    emit({ type: 'blob-done', digest: desc.digest, size: desc.size, state: 'exists', kind });
    return;
  }
  if (have === undefined && store.linkFromSibling && (await store.linkFromSibling(desc.digest)) && (await store.size(desc.digest)) === desc.size) {
    emit({ type: 'blob-done', digest: desc.digest, size: desc.size, state: 'linked', kind });
    return;
  }
  emit({ type: 'blob-start', digest: desc.digest, size: desc.size, kind });
  const writer = await store.ingest(desc, { source });
  if (writer.offset === desc.size) {
    // The store already holds every byte (an earlier, interrupted pull wrote them): it verifies them at commit.
    try {
      await writer.commit();
    } catch (e) {
      await writer.abort();
      throw e;
    }
    emit({ type: 'blob-done', digest: desc.digest, size: desc.size, state: 'exists', kind });
    return;
  }
  if (writer.offset > 0) emit({ type: 'blob-retry', digest: desc.digest, offset: writer.offset, reason: 'resuming what the store holds from an earlier pull' });
  const retries = options.blobRetries ?? client.options.retries ?? 5;
  let attempt = 0;
  let maxOffsetSeen = 0;
  try {
    for (;;) {
      try {
        const { body, offset } = await timed('blob GET to headers', client.openBlob(ref, desc, writer.offset));
        if (offset !== writer.offset) {
          body.destroy();
          throw new OcictlError('INTERNAL', 'range not honoured');
        }
        let lastEmit = 0;
        const counted = (n: number): void => {
          stats.downloaded += n;
          if (writer.offset <= maxOffsetSeen) stats.refetched += n;
          if (writer.offset - lastEmit >= 1 << 20 || writer.offset === desc.size) {
            lastEmit = writer.offset;
            emit({ type: 'blob-progress', digest: desc.digest, bytes: writer.offset, size: desc.size });
          }
        };
        // Borrowed bytes from the socket's read buffer, copied by the writer into reused slabs.
        await pumpBody(body, {
          take: (chunk) => {
            const more = writer.take(chunk);
            counted(chunk.length);
            return more;
          },
          ready: () => writer.ready(),
          // The socket reads straight into the store's slabs.
          space: (max) => writer.space(max),
          filled: (n) => {
            const more = writer.filled(n);
            counted(n);
            return more;
          },
        });
        await writer.commit();
        emit({ type: 'blob-done', digest: desc.digest, size: desc.size, state: 'downloaded', kind });
        return;
      } catch (e) {
        maxOffsetSeen = Math.max(maxOffsetSeen, writer.offset);
        if (isOcictlError(e) && (e.code === 'DIGEST_MISMATCH' || e.code === 'SIZE_MISMATCH')) {
          throw new OcictlError(e.code, `${e.message} (from ${ref.registry}/${ref.repository})`, e.hint ? { hint: e.hint } : undefined);
        }
        const rangeIgnored = isOcictlError(e) && e.code === 'INTERNAL';
        if ((isRetryableNetworkError(e) || rangeIgnored) && attempt < retries && !stats.failed) {
          attempt++;
          emit({ type: 'blob-retry', digest: desc.digest, offset: writer.offset, reason: (e as Error).message });
          if (rangeIgnored) throw e; // handled below by restarting
          await delay(backoffDelay(DEFAULT_RETRY, attempt - 1));
          continue;
        }
        // A body that broke or stalled for the last time: one line naming the registry.
        if (isTransportError(e)) {
          throw networkError(e, { host: ref.registry, timeoutMs: client.options.timeoutMs ?? 60_000 });
        }
        throw e;
      }
    }
  } catch (e) {
    await writer.abort();
    if (isOcictlError(e) && e.code === 'INTERNAL') {
      // The registry ignored Range: start this blob over from zero.
      return fetchBlob(client, store, ref, desc, kind, lease, { ...options, blobRetries: retries - attempt }, stats, source);
    }
    throw e;
  }
}
