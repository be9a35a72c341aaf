/**
 * containerd's own image store behind the {@link ImageStore} interface:
 * content, images, leases, snapshots and diff over containerd's API, so that
 * what ocictl pulls into `-n k8s.io` is what kubelet, `crictl` and `ctr` see,
 * unpacked as containerd's own client leaves it.
 *
 * - Blobs go through content's Write stream under a stable ref
 *   (`ocictl-sha256:...`): containerd verifies size and digest at commit, and a
 *   pull that was killed is resumed from the offset containerd reports.
 * - Everything is written under a lease (with an expiry, so a killed pull's
 *   lease lapses and containerd's GC takes what it held), released at the end.
 * - Manifests and indexes carry the GC labels containerd's client sets
 *   (`containerd.io/gc.ref.content.m.<i>`, `.config`, `.l.<i>`), every blob its
 *   `containerd.io/distribution.source.<host>=<repo>`, so once the lease is gone
 *   the image record keeps the whole tree alive.
 * - Unpacking follows containerd's unpacker: chain IDs, Prepare on a random
 *   key with the parent chain ID, diff Apply, the diff ID checked, Commit as the
 *   chain ID (skipped when it exists), `containerd.io/uncompressed` on the layer,
 *   `containerd.io/gc.ref.snapshot.<snapshotter>` on the config.
 * - The image record is written last: nothing half-written gets a name.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ContainerdClient, SNAPSHOTTER_PLUGIN_TYPE, criSnapshotterInfo } from '../containerd/client.js';
import { GrpcCode, isContainerdError } from '../containerd/errors.js';
import type { ContentWriter, ImageInfo, Labels } from '../containerd/types.js';
import { OcictlError, isOcictlError } from '../errors.js';
import { type Descriptor, assertDigest } from '../oci/descriptor.js';
import { MAX_CONFIG_BYTES, parseConfig, parseManifest } from '../oci/manifest.js';
import { isIndexType, isManifestType } from '../oci/media-types.js';
import { hostPlatform, platformMatches } from '../oci/platform.js';
import { copyIntoSpace } from '../util/slabs.js';
import type { ContentSource, ImageRecord, ImageStore, IngestOptions, IngestWriter, Lease, SetImageOptions, UnpackResult, UnpackTarget, Unpacker } from './types.js';

export const LABEL_UNCOMPRESSED = 'containerd.io/uncompressed';
export const LABEL_SOURCE_PREFIX = 'containerd.io/distribution.source.';
export const LABEL_GC_SNAPSHOT_PREFIX = 'containerd.io/gc.ref.snapshot.';
export const LABEL_CRI_IMAGE = 'io.cri-containerd.image';
export const LABEL_CRI_PINNED = 'io.cri-containerd.pinned';

/** Oldest containerd whose API has everything used here. */
const MIN_VERSION: [number, number] = [1, 6];

/** Leases lapse after this unless released first (containerd's own client uses 24 h). */
const DEFAULT_LEASE_EXPIRY_MS = 24 * 3600_000;

/** Bytes gathered into one Write message. */
const STAGE_BYTES = 128 * 1024;

export interface ContainerdStoreOptions {
  /** containerd's socket (`/run/containerd/containerd.sock`; `unix://` allowed). */
  address: string;
  /** containerd namespace (`k8s.io` is Kubernetes'). */
  namespace?: string;
  /** Snapshotter to unpack into (default: the CRI plugin's, else overlayfs). */
  snapshotter?: string;
  /** Expiry of the leases this store takes, in ms (default 24 h). */
  leaseExpiryMs?: number;
  /** Deadline of each unary call, in ms. */
  timeoutMs?: number;
}

/** The GC labels containerd's client puts on a manifest or index for its children. */
export function childGcLabels(bytes: Buffer, mediaType: string): Labels {
  const labels: Labels = {};
  const p = parseManifest(bytes, mediaType);
  if (p.kind === 'index') {
    p.index.manifests.forEach((m, i) => {
      labels[`containerd.io/gc.ref.content.m.${i}`] = m.digest;
    });
  } else {
    labels['containerd.io/gc.ref.content.config'] = p.manifest.config.digest;
    p.manifest.layers.forEach((l, i) => {
      labels[`containerd.io/gc.ref.content.l.${i}`] = l.digest;
    });
  }
  return labels;
}

/** Chain IDs of a list of diff IDs, as the OCI image spec defines them. */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : `sha256:${createHash('sha256').update(`${prev} ${d}`).digest('hex')}`);
  }
  return out;
}

function sourceLabel(source: ContentSource): { key: string; repo: string } {
  return { key: `${LABEL_SOURCE_PREFIX}${source.registry}`, repo: source.repository };
}

function parseVersion(v: string): [number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

export class ContainerdStore implements ImageStore {
  readonly unpacker: Unpacker;
  /** The client writes go through: under the current lease when there is one. */
  private writing: ContainerdClient;
  private readonly leases: string[] = [];

  private constructor(
    readonly client: ContainerdClient,
    readonly namespace: string,
    readonly snapshotter: string,
    readonly version: string,
    private readonly opts: ContainerdStoreOptions,
  ) {
    this.writing = client;
    this.unpacker = { unpack: (t, available) => this.unpack(t, available) };
  }

  get address(): string {
    return this.client.address;
  }

  /**
   * Connects, checks containerd's version (1.6 or newer) and that the
   * snapshotter exists. Errors are one line naming the socket.
   */
  static async open(o: ContainerdStoreOptions): Promise<ContainerdStore> {
    const namespace = o.namespace ?? 'default';
    const client = await ContainerdClient.connect({ address: o.address, namespace, ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}) });
    try {
      const { version } = client.connectedVersion;
      const v = parseVersion(version);
      if (v && (v[0] < MIN_VERSION[0] || (v[0] === MIN_VERSION[0] && v[1] < MIN_VERSION[1]))) {
        throw new OcictlError('CONTAINERD', `containerd ${version} at ${client.address} is too old: ocictl needs containerd ${MIN_VERSION.join('.')} or newer`, { hint: 'upgrade containerd (ocictl containerd install), or use --store local' });
      }
      // One plugin list for both: CRI's snapshotter (when none is named) and whether it loaded.
      const all = await client.plugins();
      const snapshotter = o.snapshotter ?? (await criSnapshotterInfo(client, all)).snapshotter;
      const snapshotters = all.filter((p) => p.type === SNAPSHOTTER_PLUGIN_TYPE);
      const sn = snapshotters.find((p) => p.id === snapshotter);
      if (!sn || sn.initErr) {
        const have = snapshotters.filter((p) => !p.initErr).map((p) => p.id).sort();
        throw new OcictlError('CONTAINERD', `containerd at ${client.address} has no usable snapshotter "${snapshotter}"${sn?.initErr ? ` (${sn.initErr})` : ''}`, { hint: `pass --snapshotter with one of: ${have.join(', ') || '(none)'}` });
      }
      return new ContainerdStore(client, namespace, snapshotter, version, o);
    } catch (e) {
      client.close();
      throw e;
    }
  }

  async close(): Promise<void> {
    this.client.close();
  }

  // ---- content ---------------------------------------------------------

  async has(digest: string): Promise<boolean> {
    return (await this.size(digest)) !== undefined;
  }

  async size(digest: string): Promise<number | undefined> {
    assertDigest(digest);
    return (await this.client.content.info(digest))?.size;
  }

  async read(digest: string, maxBytes: number): Promise<Buffer> {
    const info = await this.client.content.info(digest);
    if (!info) throw new OcictlError('NOT_FOUND', `blob ${digest} is not in containerd's content store (namespace ${this.namespace})`, { hint: 'pull the image again' });
    if (info.size > maxBytes) throw new OcictlError('LIMIT_EXCEEDED', `blob ${digest} is ${info.size} bytes, over the ${maxBytes}-byte limit`);
    const parts: Buffer[] = [];
    for await (const c of this.client.content.read(digest, {})) parts.push(c as Buffer);
    const buf = Buffer.concat(parts);
    const got = `sha256:${createHash('sha256').update(buf).digest('hex')}`;
    if (got !== digest) throw new OcictlError('DIGEST_MISMATCH', `blob ${digest} read from containerd hashes to ${got}`, { hint: 'remove the image and pull it again' });
    return buf;
  }

  async open(digest: string): Promise<Readable> {
    if (!(await this.has(digest))) throw new OcictlError('NOT_FOUND', `blob ${digest} is not in containerd's content store (namespace ${this.namespace})`, { hint: 'pull the image again' });
    return this.client.content.read(digest, {});
  }

  /** Opens content's Write stream for a blob; a ref another writer holds is waited for. */
  private async writer(desc: Descriptor, labels: Labels): Promise<ContentWriter> {
    assertDigest(desc.digest);
    const ref = `ocictl-${desc.digest}`;
    const deadline = Date.now() + (this.opts.timeoutMs ?? 60_000) * 5;
    for (;;) {
      try {
        return await this.writing.content.writer(ref, { total: desc.size, expected: desc.digest, labels });
      } catch (e) {
        // Another pull is writing the same blob: wait for it (it commits, or its stream ends and the ref unlocks).
        if (!/locked|unavailable/i.test((e as Error).message) || Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  private sourceLabels(o: IngestOptions | undefined): Labels {
    if (!o?.source) return {};
    const { key, repo } = sourceLabel(o.source);
    return { [key]: repo };
  }

  async ingest(desc: Descriptor, o?: IngestOptions): Promise<IngestWriter> {
    return new ContainerdIngest(await this.writer(desc, this.sourceLabels(o)), desc);
  }

  async put(desc: Descriptor, bytes: Buffer, o?: IngestOptions): Promise<void> {
    const labels: Labels = { ...this.sourceLabels(o) };
    if (isIndexType(desc.mediaType) || isManifestType(desc.mediaType)) Object.assign(labels, childGcLabels(bytes, desc.mediaType));
    const w = await this.writer(desc, labels);
    try {
      if (!w.exists) await w.write(bytes);
      await w.commit();
    } catch (e) {
      await w.abort().catch(() => undefined);
      throw e;
    }
    // Present before (written by someone else): make sure it carries the labels.
    if (w.exists) await this.setLabels(desc.digest, labels);
  }

  private async setLabels(digest: string, labels: Labels): Promise<void> {
    const keys = Object.keys(labels);
    if (!keys.length) return;
    await this.writing.content.update({ digest, labels }, keys.map((k) => `labels.${k}`));
  }

  async noteSource(digest: string, source: ContentSource): Promise<void> {
    const info = await this.client.content.info(digest);
    if (!info) return;
    const { key, repo } = sourceLabel(source);
    const have = info.labels[key];
    const repos = have ? have.split(',') : [];
    if (repos.includes(repo)) return;
    await this.setLabels(digest, { [key]: [...repos, repo].sort().join(',') });
  }

  // ---- images ----------------------------------------------------------

  private static record(i: ImageInfo): ImageRecord {
    const target: Descriptor = { mediaType: i.target.mediaType, digest: i.target.digest, size: i.target.size };
    return { name: i.name, target, updatedAt: (i.updatedAt ?? i.createdAt)?.toISOString() ?? '' };
  }

  async list(): Promise<ImageRecord[]> {
    return (await this.client.images.list()).map((i) => ContainerdStore.record(i));
  }

  async get(name: string): Promise<ImageRecord | undefined> {
    const i = await this.client.images.get(name);
    return i ? ContainerdStore.record(i) : undefined;
  }

  async set(name: string, target: Descriptor, content: string[] = [], o: SetImageOptions = {}): Promise<void> {
    const digests = [target.digest, ...content];
    const present = await Promise.all(digests.map((d) => this.has(d)));
    const missing = digests.find((_, i) => !present[i]);
    if (missing) {
      throw new OcictlError('STORE', `content ${missing} of ${name} is not in containerd (namespace ${this.namespace})`, { hint: 'it was removed while the command ran; run it again' });
    }
    const labels: Labels = {};
    // What the CRI plugin marks its own pulls with (nerdctl does the same in k8s.io).
    if (this.namespace === 'k8s.io') labels[LABEL_CRI_IMAGE] = 'managed';
    if (o.pinned) labels[LABEL_CRI_PINNED] = 'pinned';
    const t = { mediaType: target.mediaType, digest: target.digest, size: target.size };
    try {
      await this.writing.images.create({ name, labels, target: t });
      return;
    } catch (e) {
      // The name exists: point it at the new target (as containerd's client does).
      if (!isContainerdError(e, GrpcCode.ALREADY_EXISTS)) throw e;
    }
    await this.writing.images.update({ name, labels, target: t }, ['target', ...Object.keys(labels).map((k) => `labels.${k}`)]);
  }

  async remove(names: string[]): Promise<string[]> {
    const present: string[] = [];
    for (const n of names) if (await this.client.images.get(n)) present.push(n);
    for (const [i, n] of present.entries()) {
      // The last delete waits for containerd's garbage collection, as `ctr images rm --sync` does.
      await this.client.images.delete(n, { sync: i === present.length - 1 });
    }
    return present;
  }

  /** containerd collects garbage itself (a sync delete waits for it); nothing is counted here. */
  async gc(): Promise<{ removed: number; bytes: number }> {
    return { removed: 0, bytes: 0 };
  }

  async lease(): Promise<Lease> {
    const { id } = await this.client.leases.create({
      id: `ocictl-${process.pid}-${randomBytes(6).toString('hex')}`,
      expireAfterMs: this.opts.leaseExpiryMs ?? DEFAULT_LEASE_EXPIRY_MS,
    });
    this.leases.push(id);
    this.writing = this.client.withLease(id);
    let released = false;
    return {
      add: async (digest: string) => {
        if (released) return;
        try {
          await this.client.leases.addResource(id, { id: digest, type: 'content' });
        } catch (e) {
          // Content not present yet: writing it under the lease adds it.
          if (!(isOcictlError(e) && e.code === 'NOT_FOUND')) throw e;
        }
      },
      release: async () => {
        if (released) return;
        released = true;
        const at = this.leases.indexOf(id);
        if (at >= 0) this.leases.splice(at, 1);
        const top = this.leases[this.leases.length - 1];
        this.writing = top ? this.client.withLease(top) : this.client;
        await this.client.leases.delete(id).catch(() => undefined);
      },
    };
  }

  // ---- unpack ----------------------------------------------------------

  private async unpack(t: UnpackTarget, available: (digest: string) => Promise<void>): Promise<UnpackResult | undefined> {
    await available(t.config.digest);
    if (t.config.size > MAX_CONFIG_BYTES) throw new OcictlError('LIMIT_EXCEEDED', `config ${t.config.digest} is over ${MAX_CONFIG_BYTES} bytes`);
    const config = parseConfig(await this.read(t.config.digest, MAX_CONFIG_BYTES), `config ${t.config.digest}`);
    const platform = { os: config.os ?? '', architecture: config.architecture ?? '', ...(config.variant ? { variant: config.variant } : {}) };
    // Only what this host can run is unpacked (containerd's unpacker matches the platform the same way).
    if (!platformMatches(hostPlatform(), platform) || (config.rootfs?.type && config.rootfs.type !== 'layers')) return undefined;
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== t.layers.length) {
      throw new OcictlError('MANIFEST_INVALID', `image ${t.manifest.digest} has ${t.layers.length} layers but its config lists ${diffIds.length} diff IDs`, { hint: 'the image is malformed; rebuild it' });
    }
    const chain = chainIds(diffIds);
    const sn = this.writing.snapshots(this.snapshotter);
    let applied = 0;
    const labels: Promise<void>[] = [];
    for (let i = 0; i < t.layers.length; i++) {
      const layer = t.layers[i] as Descriptor;
      const chainId = chain[i] as string;
      const parent = i > 0 ? (chain[i - 1] as string) : '';
      if (await sn.stat(chainId)) continue;
      await available(layer.digest);
      const key = `extract-${Date.now()}${randomBytes(4).toString('hex')} ${chainId}`;
      let mounts;
      try {
        mounts = await sn.prepare(key, parent, { 'containerd.io/snapshot.ref': chainId });
      } catch (e) {
        if (isContainerdError(e, GrpcCode.ALREADY_EXISTS) && (await sn.stat(chainId))) continue;
        throw e;
      }
      try {
        const diff = await this.writing.diff.apply({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }, mounts);
        if (diff.digest !== diffIds[i]) {
          throw new OcictlError('DIGEST_MISMATCH', `layer ${layer.digest} unpacks to ${diff.digest}, its config says ${diffIds[i]}`, { hint: 'the image is corrupt; nothing was unpacked for it' });
        }
        try {
          await sn.commit(chainId, key);
        } catch (e) {
          if (!isContainerdError(e, GrpcCode.ALREADY_EXISTS)) throw e;
          await sn.remove(key).catch(() => undefined);
        }
      } catch (e) {
        await sn.remove(key).catch(() => undefined);
        throw e;
      }
      // Labelled while the next layer is applied (awaited below, before the config's label).
      const label = this.setLabels(layer.digest, { [LABEL_UNCOMPRESSED]: diffIds[i] as string });
      label.catch(() => undefined);
      labels.push(label);
      applied++;
    }
    await Promise.all(labels);
    const top = chain[chain.length - 1];
    if (top) await this.setLabels(t.config.digest, { [`${LABEL_GC_SNAPSHOT_PREFIX}${this.snapshotter}`]: top });
    return { chainId: top ?? '', applied };
  }
}

/** Staging buffers given back after containerd's stream took them, reused by the next blob (less garbage, a flat RSS). */
const stagePool: Buffer[] = [];
const STAGE_POOL_MAX = 24;

function stageBuffer(): Buffer {
  return stagePool.pop() ?? Buffer.allocUnsafeSlow(STAGE_BYTES);
}

function giveBack(b: Buffer): void {
  if (stagePool.length < STAGE_POOL_MAX) stagePool.push(b);
}

/** Messages one blob may have on the way to containerd before the writer asks to wait. */
const INFLIGHT_PER_BLOB = 4;

/**
 * A blob written through content's Write stream. Bytes are gathered into
 * messages of {@link STAGE_BYTES} (reused once containerd's stream took
 * them); containerd verifies size and digest at commit. A failed transfer
 * keeps what containerd holds (the next pull resumes from it); a blob that
 * failed verification is discarded.
 */
class ContainerdIngest implements IngestWriter {
  private stage: Buffer | undefined;
  private fill = 0;
  private bad = false;
  private inflight = 0;
  private failure: unknown;
  private waiters: (() => void)[] = [];

  constructor(private readonly w: ContentWriter, private readonly desc: Descriptor) {}

  get offset(): number {
    return this.w.offset + this.fill;
  }

  private check(n: number): void {
    if (this.failure) throw this.failure;
    if (this.offset + n > this.desc.size) {
      this.bad = true;
      throw new OcictlError('SIZE_MISMATCH', `blob ${this.desc.digest} is larger than its descriptor says (${this.desc.size} bytes)`, { hint: 'the registry served wrong content' });
    }
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** Sends the staged bytes; the buffer comes back to the pool once the stream has taken them. */
  private flushStage(): boolean {
    const buf = this.stage;
    if (!buf || this.fill === 0) return this.inflight < INFLIGHT_PER_BLOB;
    const n = this.fill;
    this.stage = undefined;
    this.fill = 0;
    this.inflight++;
    this.w.write(buf.subarray(0, n)).then(
      () => {
        this.inflight--;
        giveBack(buf);
        this.wake();
      },
      (e: unknown) => {
        this.inflight--;
        this.failure ??= e;
        this.wake();
      },
    );
    return this.inflight < INFLIGHT_PER_BLOB;
  }

  async write(chunk: Buffer): Promise<void> {
    this.check(chunk.length);
    for (let off = 0; off < chunk.length; ) {
      const room = this.space(chunk.length - off);
      chunk.copy(room, 0, off, off + room.length);
      off += room.length;
      if (!this.filled(room.length)) await this.ready();
    }
  }

  take(chunk: Buffer): boolean {
    this.check(chunk.length);
    return copyIntoSpace(chunk, this);
  }

  async ready(): Promise<void> {
    while (this.inflight >= INFLIGHT_PER_BLOB && !this.failure) await new Promise<void>((r) => this.waiters.push(r));
    if (this.failure) throw this.failure;
  }

  space(max: number): Buffer {
    if (!this.stage) {
      this.stage = stageBuffer();
      this.fill = 0;
    }
    return this.stage.subarray(this.fill, this.fill + Math.min(max, STAGE_BYTES - this.fill));
  }

  filled(n: number): boolean {
    this.check(n);
    this.fill += n;
    if (this.fill === STAGE_BYTES) return this.flushStage();
    return this.inflight < INFLIGHT_PER_BLOB;
  }

  async commit(): Promise<void> {
    this.flushStage();
    while (this.inflight > 0 && !this.failure) await new Promise<void>((r) => this.waiters.push(r));
    if (this.failure) throw this.failure;
    try {
      await this.w.commit();
    } catch (e) {
      if (isOcictlError(e) && (e.code === 'DIGEST_MISMATCH' || e.code === 'SIZE_MISMATCH')) {
        this.bad = true;
        throw new OcictlError(e.code, `blob ${this.desc.digest} failed verification in containerd (${e.message})`, { hint: 'the registry or a proxy served wrong content; nothing was stored' });
      }
      throw e;
    }
  }

  async abort(): Promise<void> {
    // The staged buffer is dropped, not reused: a socket may still have been lent part of it (space()).
    this.stage = undefined;
    this.fill = 0;
    if (this.bad) await this.w.abort();
    else this.w.close();
  }
}
