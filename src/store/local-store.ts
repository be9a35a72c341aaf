/**
 * The embedded store: one OCI image layout per namespace under the data root
 * (`<root>/<namespace>/{oci-layout,index.json,blobs/sha256/...}`), readable by
 * skopeo as `oci:<root>/<namespace>:<name>`.
 *
 * Safety: blobs are written to `ingest/` and renamed into `blobs/` only after
 * their size and sha256 are verified; index.json is rewritten atomically under
 * a lock; in-flight operations hold leases that garbage collection respects;
 * files left by a killed process are cleaned on the next run.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { constants as fsConstants, createReadStream, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { OcictlError } from '../errors.js';
import { type Descriptor, assertDigest } from '../oci/descriptor.js';
import { MediaType, isIndexType, isManifestType } from '../oci/media-types.js';
import { MAX_MANIFEST_BYTES, childrenOf, parseManifest } from '../oci/manifest.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { pidAlive, withLock } from '../util/lock.js';
import { begin, timed, tracing } from '../util/phase-trace.js';
import { DIRECT_ALIGN, SLAB_BYTES, SlabGate, acquireSlab, copyIntoSpace, releaseSlab } from '../util/slabs.js';
import type { ImageRecord, ImageStore, IngestWriter, Lease } from './types.js';

export const NAME_ANNOTATION = 'io.containerd.image.name';
export const REF_ANNOTATION = 'org.opencontainers.image.ref.name';
export const UPDATED_ANNOTATION = 'io.ocictl.image.updated';

const NAMESPACE = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

export interface LocalStoreOptions {
  /** fsync each blob before it is renamed into place (default true). */
  fsync?: boolean;
}

interface IndexFile {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  [k: string]: unknown;
}

/** Default data root: $OCICTL_DATA_ROOT, else $XDG_DATA_HOME/ocictl, else ~/.local/share/ocictl. */
export function defaultDataRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OCICTL_DATA_ROOT) return env.OCICTL_DATA_ROOT;
  const xdg = env.XDG_DATA_HOME || path.join(env.HOME || '/root', '.local', 'share');
  return path.join(xdg, 'ocictl');
}

export class LocalStore implements ImageStore {
  readonly dir: string;
  private readonly blobsDir: string;
  private readonly ingestDir: string;
  private readonly leasesDir: string;
  private readonly trashDir: string;
  private readonly indexPath: string;
  private readonly lockPath: string;
  private prepared = false;

  private constructor(readonly root: string, readonly namespace: string, private readonly opts: LocalStoreOptions) {
    this.dir = path.join(root, namespace);
    this.blobsDir = path.join(this.dir, 'blobs', 'sha256');
    this.ingestDir = path.join(this.dir, 'ingest');
    this.leasesDir = path.join(this.dir, 'leases');
    this.trashDir = path.join(this.dir, 'trash');
    this.indexPath = path.join(this.dir, 'index.json');
    this.lockPath = path.join(this.dir, 'index.json.lock');
  }

  /** Opens (creating when needed) the store of one namespace. */
  static async open(root: string, namespace = 'default', opts: LocalStoreOptions = {}): Promise<LocalStore> {
    if (!NAMESPACE.test(namespace) || namespace.length > 76) {
      throw new OcictlError('INVALID_ARGUMENT', `invalid namespace "${namespace}"`, { hint: 'use letters, digits and . _ - (e.g. default, k8s.io)' });
    }
    const s = new LocalStore(path.resolve(root), namespace, opts);
    await s.prepare();
    return s;
  }

  /** Lists the namespaces that exist under a data root. */
  static async namespaces(root: string): Promise<string[]> {
    try {
      const entries = await fs.readdir(root, { withFileTypes: true });
      return entries.filter((e) => e.isDirectory() && NAMESPACE.test(e.name)).map((e) => e.name).sort();
    } catch {
      return [];
    }
  }

  private async prepare(): Promise<void> {
    if (this.prepared) return;
    await fs.mkdir(this.root, { recursive: true, mode: 0o755 });
    await fs.mkdir(this.blobsDir, { recursive: true, mode: 0o755 });
    await fs.mkdir(this.ingestDir, { recursive: true, mode: 0o700 });
    await fs.mkdir(this.leasesDir, { recursive: true, mode: 0o700 });
    const layout = path.join(this.dir, 'oci-layout');
    try {
      await fs.access(layout);
    } catch {
      await writeFileAtomic(layout, '{"imageLayoutVersion":"1.0.0"}', { mode: 0o644, dirMode: 0o755 });
    }
    try {
      await fs.access(this.indexPath);
    } catch {
      await withLock(this.lockPath, async () => {
        try {
          await fs.access(this.indexPath);
        } catch {
          await this.writeIndex({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] });
        }
      });
    }
    this.prepared = true;
    await this.cleanStale().catch(() => undefined);
  }

  /** Removes ingest files and leases left by processes that no longer run. */
  private async cleanStale(): Promise<void> {
    for (const f of await fs.readdir(this.ingestDir)) {
      const pid = Number(f.split('.')[1]);
      if (!pidAlive(pid)) await fs.rm(path.join(this.ingestDir, f), { force: true });
    }
    for (const f of await fs.readdir(this.leasesDir)) {
      const pid = Number(f.split('-')[0]);
      if (!pidAlive(pid)) await fs.rm(path.join(this.leasesDir, f), { force: true });
    }
    // Blobs moved aside by a gc that was killed before it decided: put them back (the next gc decides).
    for (const f of await fs.readdir(this.trashDir).catch(() => [] as string[])) {
      const [hex, pid] = f.split('.');
      if (hex && /^[0-9a-f]{64}$/.test(hex) && !pidAlive(Number(pid))) await this.restore(path.join(this.trashDir, f), hex);
    }
    // Temporary files of an atomic rewrite (index.json, oci-layout) whose writer was killed.
    for (const f of await fs.readdir(this.dir)) {
      const m = /^\..+\.(\d+)\.[0-9a-f]+\.tmp$/.exec(f);
      if (m && !pidAlive(Number(m[1]))) await fs.rm(path.join(this.dir, f), { force: true });
    }
  }

  blobFile(digest: string): string {
    return this.blobPath(digest);
  }

  blobPath(digest: string): string {
    assertDigest(digest);
    return path.join(this.blobsDir, digest.slice(7));
  }

  async has(digest: string): Promise<boolean> {
    return (await this.size(digest)) !== undefined;
  }

  async size(digest: string): Promise<number | undefined> {
    try {
      const st = await fs.stat(this.blobPath(digest));
      return st.isFile() ? st.size : undefined;
    } catch {
      return undefined;
    }
  }

  async read(digest: string, maxBytes: number): Promise<Buffer> {
    const p = this.blobPath(digest);
    let fh: FileHandle;
    try {
      fh = await fs.open(p, 'r');
    } catch {
      throw new OcictlError('NOT_FOUND', `blob ${digest} is not in the store (namespace ${this.namespace})`, { hint: 'pull the image again' });
    }
    try {
      const st = await fh.stat();
      if (st.size > maxBytes) throw new OcictlError('LIMIT_EXCEEDED', `blob ${digest} is ${st.size} bytes, over the ${maxBytes}-byte limit`);
      const buf = await fh.readFile();
      const got = `sha256:${createHash('sha256').update(buf).digest('hex')}`;
      if (got !== digest) throw new OcictlError('DIGEST_MISMATCH', `blob ${digest} in the store is corrupt (it hashes to ${got})`, { hint: 'remove the image with rmi and pull it again' });
      return buf;
    } finally {
      await fh.close();
    }
  }

  async open(digest: string): Promise<Readable> {
    const p = this.blobPath(digest);
    try {
      await fs.access(p);
    } catch {
      throw new OcictlError('NOT_FOUND', `blob ${digest} is not in the store (namespace ${this.namespace})`, { hint: 'pull the image again' });
    }
    return createReadStream(p, { highWaterMark: 1024 * 1024 });
  }

  async ingest(desc: Descriptor): Promise<IngestWriter> {
    assertDigest(desc.digest);
    const tmp = path.join(this.ingestDir, `${desc.digest.slice(7, 23)}.${process.pid}.${randomBytes(6).toString('hex')}`);
    const fh = await fs.open(tmp, 'wx', 0o644);
    // OCICTL_FSYNC=0 is for measuring what durability costs (docs/performance.md), never for use: a power cut may then lose pulled blobs.
    return new FileIngest(this, fh, tmp, desc, this.opts.fsync !== false && process.env.OCICTL_FSYNC !== '0');
  }

  /** Moves a verified temporary file into place (used by ingest). */
  async commitFile(tmp: string, digest: string): Promise<void> {
    await fs.rename(tmp, this.blobPath(digest));
  }

  /** Hard-links a blob that another namespace of the same root already has (verified on entry there). */
  async linkFromSibling(digest: string): Promise<boolean> {
    for (const ns of await LocalStore.namespaces(this.root)) {
      if (ns === this.namespace) continue;
      const src = path.join(this.root, ns, 'blobs', 'sha256', digest.slice(7));
      try {
        await fs.link(src, this.blobPath(digest));
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return true;
      }
    }
    return false;
  }

  async put(desc: Descriptor, bytes: Buffer): Promise<void> {
    const w = await this.ingest(desc);
    try {
      await w.write(bytes);
      await w.commit();
    } catch (e) {
      await w.abort();
      throw e;
    }
  }

  // ---- images ----------------------------------------------------------

  private async readIndex(): Promise<IndexFile> {
    let text: string;
    try {
      text = await fs.readFile(this.indexPath, 'utf8');
    } catch {
      return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
    }
    try {
      const v = JSON.parse(text) as IndexFile;
      if (!v || !Array.isArray(v.manifests)) throw new Error('no manifests array');
      return v;
    } catch (e) {
      throw new OcictlError('STORE', `${this.indexPath} is corrupt (${(e as Error).message})`, { hint: 'restore it from a backup or remove the namespace directory' });
    }
  }

  private async writeIndex(idx: IndexFile): Promise<void> {
    await writeFileAtomic(this.indexPath, JSON.stringify(idx), { mode: 0o644, dirMode: 0o755 });
  }

  private static record(d: Descriptor): ImageRecord | undefined {
    const name = d.annotations?.[NAME_ANNOTATION] ?? d.annotations?.[REF_ANNOTATION];
    if (!name) return undefined;
    const target: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
    if (d.platform) target.platform = d.platform;
    return { name, target, updatedAt: d.annotations?.[UPDATED_ANNOTATION] ?? '' };
  }

  async list(): Promise<ImageRecord[]> {
    const idx = await this.readIndex();
    return idx.manifests.map((d) => LocalStore.record(d)).filter((r): r is ImageRecord => !!r);
  }

  async get(name: string): Promise<ImageRecord | undefined> {
    return (await this.list()).find((r) => r.name === name);
  }

  async set(name: string, target: Descriptor, content: string[] = []): Promise<void> {
    await withLock(this.lockPath, async () => {
      for (const d of content) {
        if (!(await this.has(d))) {
          throw new OcictlError('STORE', `content ${d} of ${name} disappeared from the store`, { hint: 'it was removed by a concurrent rmi; run the command again' });
        }
      }
      const idx = await this.readIndex();
      idx.manifests = idx.manifests.filter((d) => LocalStore.record(d)?.name !== name);
      idx.manifests.push({
        mediaType: target.mediaType,
        digest: target.digest,
        size: target.size,
        annotations: { [NAME_ANNOTATION]: name, [REF_ANNOTATION]: name, [UPDATED_ANNOTATION]: new Date().toISOString() },
      });
      await this.writeIndex(idx);
    }, { what: `store ${this.namespace}` });
  }

  async remove(names: string[]): Promise<string[]> {
    return withLock(this.lockPath, async () => {
      const idx = await this.readIndex();
      const removed: string[] = [];
      idx.manifests = idx.manifests.filter((d) => {
        const n = LocalStore.record(d)?.name;
        if (n !== undefined && names.includes(n)) {
          removed.push(n);
          return false;
        }
        return true;
      });
      if (removed.length) await this.writeIndex(idx);
      return removed;
    }, { what: `store ${this.namespace}` });
  }

  async lease(): Promise<Lease> {
    const file = path.join(this.leasesDir, `${process.pid}-${randomBytes(6).toString('hex')}`);
    await fs.writeFile(file, '', { mode: 0o600 });
    let released = false;
    return {
      add: async (digest: string) => {
        if (!released) await fs.appendFile(file, `${digest}\n`);
      },
      release: async () => {
        released = true;
        await fs.rm(file, { force: true });
      },
    };
  }

  /** Every digest reachable from the index (children that are absent are skipped). */
  private async reachable(roots: Descriptor[]): Promise<Set<string>> {
    const seen = new Set<string>();
    const stack: { d: Descriptor; depth: number }[] = roots.map((d) => ({ d, depth: 0 }));
    while (stack.length) {
      const { d, depth } = stack.pop() as { d: Descriptor; depth: number };
      if (seen.has(d.digest)) continue;
      seen.add(d.digest);
      if (depth > 8 || !(isIndexType(d.mediaType) || isManifestType(d.mediaType))) continue;
      let bytes: Buffer;
      try {
        bytes = await fs.readFile(this.blobPath(d.digest));
      } catch {
        continue;
      }
      if (bytes.length > MAX_MANIFEST_BYTES) continue;
      try {
        for (const c of childrenOf(parseManifest(bytes, d.mediaType))) stack.push({ d: c, depth: depth + 1 });
      } catch {
        /* unreadable manifest: keep it, follow nothing */
      }
    }
    return seen;
  }

  /** Digests named by the leases of running operations. */
  private async leased(): Promise<Set<string>> {
    const out = new Set<string>();
    for (const f of await fs.readdir(this.leasesDir)) {
      const text = await fs.readFile(path.join(this.leasesDir, f), 'utf8').catch(() => '');
      for (const line of text.split('\n')) if (line) out.add(line);
    }
    return out;
  }

  /**
   * Removes blobs that neither the index nor a lease reaches.
   *
   * A pull adds a digest to its lease and then looks for the blob; it takes no
   * lock for that. So gc first moves each candidate aside, then reads the
   * leases again and puts back every blob a lease now names: a pull whose
   * lease entry came too late for that second read looks after the move and
   * downloads the blob, one whose entry came in time gets it back. Blobs
   * moved aside by a gc that was killed are put back by the next run.
   */
  async gc(): Promise<{ removed: number; bytes: number }> {
    return withLock(this.lockPath, async () => {
      await this.cleanStale();
      const idx = await this.readIndex();
      const keep = await this.reachable(idx.manifests);
      for (const d of await this.leased()) keep.add(d);
      const aside: { hex: string; file: string; size: number }[] = [];
      for (const f of await fs.readdir(this.blobsDir)) {
        if (keep.has(`sha256:${f}`)) continue;
        if (!aside.length) await fs.mkdir(this.trashDir, { recursive: true, mode: 0o700 });
        const file = path.join(this.trashDir, `${f}.${process.pid}`);
        const st = await fs.stat(path.join(this.blobsDir, f)).catch(() => undefined);
        try {
          await fs.rename(path.join(this.blobsDir, f), file);
        } catch {
          continue;
        }
        aside.push({ hex: f, file, size: st?.size ?? 0 });
      }
      const late = aside.length ? await this.leased() : new Set<string>();
      let removed = 0;
      let bytes = 0;
      for (const a of aside) {
        if (late.has(`sha256:${a.hex}`)) await this.restore(a.file, a.hex);
        else {
          await fs.rm(a.file, { force: true });
          removed++;
          bytes += a.size;
        }
      }
      return { removed, bytes };
    }, { what: `store ${this.namespace}` });
  }

  /** Puts a verified blob moved aside by gc back, unless a fresh copy is already there. */
  private async restore(file: string, hex: string): Promise<void> {
    const dest = path.join(this.blobsDir, hex);
    try {
      await fs.link(file, dest);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    await fs.rm(file, { force: true });
  }
}

/**
 * Bytes of received chunks gathered into one writev: ~4 network reads per
 * system call instead of one, without copying (1 MiB copies into a staging
 * buffer measured slower here: the kernel's page-cache copy doubled).
 */
const WRITEV_BYTES = 256 * 1024;

/** Writes all of `bufs` at `pos` (a short write continues where it stopped). */
async function writevAll(fh: FileHandle, bufs: Buffer[], pos: number): Promise<void> {
  let rest = bufs;
  let at = pos;
  while (rest.length) {
    const { bytesWritten } = await fh.writev(rest, at);
    if (bytesWritten <= 0) throw new OcictlError('STORE', `short write at offset ${at}`, { hint: 'check free disk space' });
    at += bytesWritten;
    let n = bytesWritten;
    const left: Buffer[] = [];
    for (const b of rest) {
      if (n >= b.length) n -= b.length;
      else {
        left.push(n > 0 ? b.subarray(n) : b);
        n = 0;
      }
    }
    rest = left;
  }
}

/**
 * Write-behind flushing. Durability needs every blob's bytes on stable
 * storage before it is renamed into place (fsync at commit). What an fsync
 * costs is mostly the device flush of everything written since the last one,
 * not the file it is called on: in these VMs an O_DIRECT write lands in the
 * host's cache, and the guest's flush makes the host write it out (~0.3 s per
 * 512 MiB, measured: docs/performance.md). Left to the commits, that flush
 * comes at the end of each blob, when the blob holds one of the pull's
 * download slots, and mostly at the end of the pull. So once this many bytes
 * have been written (by all blobs of the process) since the last flush, one
 * blob's writer starts a datasync in the background, one at a time: the
 * device writes out while the network keeps going, and the fsync at commit
 * finds little left to flush. It changes what is durable when, never whether
 * a committed blob is (the fsync at commit still runs).
 */
const FLUSH_BEHIND_BYTES = envMiB('OCICTL_FLUSH_BEHIND_MB', 32);
let unflushedBytes = 0;

/** A size in MiB from the environment (`0` switches the feature off), else the default. */
function envMiB(name: string, def: number): number {
  const v = process.env[name];
  const n = v === undefined || v === '' ? def : Number(v);
  return Number.isFinite(n) && n >= 0 ? n * 1024 * 1024 : def * 1024 * 1024;
}
let flushBehind: Promise<void> | undefined;

/** Counts written bytes; starts a background datasync of `fh` when enough are unflushed (and none runs). */
function wroteBehind(fh: FileHandle, n: number): void {
  unflushedBytes += n;
  if (FLUSH_BEHIND_BYTES === 0 || flushBehind || unflushedBytes < FLUSH_BEHIND_BYTES) return;
  unflushedBytes = 0;
  // A failure here is not the blob's: its own fsync at commit decides.
  flushBehind = timed('flush behind', fh.datasync())
    .catch(() => undefined)
    .finally(() => {
      flushBehind = undefined;
    });
}

/**
 * Slabs one blob may have being written before its socket waits. At 1, a blob's
 * socket paused at every full slab until that slab was written: filling and
 * writing one blob never overlapped (issue 15: ~one wait per slab, while a
 * 1 MiB O_DIRECT write takes 4–13 ms with 4 blobs writing on a fresh VM). At 2
 * the next slab fills while the last is written, for 1 MiB more per blob.
 */
const SLABS_PER_BLOB = 2;

/** Set when an O_DIRECT write was refused: the rest of this process writes buffered. */
let directRefused = false;

/**
 * Opens `file` for O_DIRECT writes; undefined where the file system refuses
 * (tmpfs, some overlays) or OCICTL_DIRECT_IO=0 says not to.
 */
async function openDirect(file: string): Promise<FileHandle | undefined> {
  const flag = fsConstants.O_DIRECT;
  if (!flag || process.env.OCICTL_DIRECT_IO === '0') return undefined;
  try {
    return await fs.open(file, fsConstants.O_WRONLY | flag);
  } catch {
    return undefined;
  }
}

async function writeAll(fh: FileHandle, buf: Buffer, length: number, pos: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await fh.write(buf, done, length - done, pos + done);
    if (bytesWritten <= 0) throw new OcictlError('STORE', `short write at offset ${pos + done}`, { hint: 'check free disk space' });
    done += bytesWritten;
  }
}

/**
 * Writes a blob to a temporary file, hashing as it goes; writes are issued
 * without waiting for each other (bounded), so hashing overlaps disk I/O.
 * Two ways in: `write()` hands over chunks it owns (batched into writev),
 * `take()` copies borrowed bytes into reused slabs (see slabs.ts), written
 * with O_DIRECT where the file system allows it, and `space()`/`filled()`
 * let a socket read straight into those slabs.
 */
class FileIngest implements IngestWriter {
  private hash: Hash = createHash('sha256');
  private written = 0;
  private pending = new Set<Promise<void>>();
  private inflightBytes = 0;
  /** Received chunks not yet handed to the disk, written together with one writev. */
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private slab: Buffer | undefined;
  private slabFill = 0;
  /** Slabs being written. */
  private readonly out = new SlabGate(SLABS_PER_BLOB);
  private failed: unknown;
  private done = false;

  /** The same file opened with O_DIRECT, for whole aligned slabs; undefined where not supported. */
  private direct: Promise<FileHandle | undefined> | undefined;
  /** Ends this blob's span in the trace (OCICTL_TRACE=1). */
  private readonly life = begin('blob in store');

  constructor(private readonly store: LocalStore, private readonly fh: FileHandle, private readonly tmp: string, private readonly desc: Descriptor, private readonly fsync: boolean) {}

  get offset(): number {
    return this.written;
  }

  /** Opens the O_DIRECT handle on first use (blobs of a slab or more only). */
  private directHandle(): Promise<FileHandle | undefined> {
    this.direct ??= openDirect(this.tmp);
    return this.direct;
  }

  private checkSize(n: number): void {
    if (this.failed) throw this.failed;
    if (this.written + n > this.desc.size) {
      throw new OcictlError('SIZE_MISMATCH', `blob ${this.desc.digest} is larger than its descriptor says (${this.desc.size} bytes)`, { hint: 'the registry served wrong content' });
    }
  }

  async write(chunk: Buffer): Promise<void> {
    this.checkSize(chunk.length);
    this.flushSlab();
    this.hash.update(chunk);
    this.written += chunk.length;
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    if (this.batchBytes >= WRITEV_BYTES) this.flush();
    if (this.inflightBytes > 8 * 1024 * 1024 || this.pending.size > 32) {
      while ((this.inflightBytes > 4 * 1024 * 1024 || this.pending.size > 16) && this.pending.size) await Promise.race(this.pending);
    }
    if (this.failed) throw this.failed;
  }

  /** Borrowed bytes, copied into the slabs as a socket would read them there (space, then filled). */
  take(chunk: Buffer): boolean {
    this.checkSize(chunk.length);
    return copyIntoSpace(chunk, this, this.out.open);
  }

  space(max: number): Buffer {
    this.flush();
    if (!this.slab) {
      this.slab = acquireSlab();
      this.slabFill = 0;
    }
    return this.slab.subarray(this.slabFill, this.slabFill + Math.min(max, SLAB_BYTES - this.slabFill));
  }

  filled(n: number): boolean {
    const slab = this.slab;
    if (!slab || this.slabFill + n > SLAB_BYTES) throw new OcictlError('INTERNAL', 'filled() without space()');
    this.checkSize(n);
    this.slabFill += n;
    this.written += n;
    if (this.slabFill === SLAB_BYTES) this.flushSlab();
    return this.out.open;
  }

  async ready(): Promise<void> {
    if (this.failed) throw this.failed;
    await (tracing && !this.out.open ? timed('wait for disk', this.out.room()) : this.out.room());
    if (this.failed) throw this.failed;
  }

  /** Keeps a write among the pending ones until it settles; its failure fails the blob. */
  private track(p: Promise<void>): void {
    const t: Promise<void> = p.then(
      () => {
        this.pending.delete(t);
      },
      (e: unknown) => {
        this.pending.delete(t);
        this.failed ??= e;
      },
    );
    this.pending.add(t);
  }

  /** Starts writing the batched chunks at their file offset (in the thread pool). */
  private flush(): void {
    if (this.batchBytes === 0) return;
    const bufs = this.batch;
    const bytes = this.batchBytes;
    const pos = this.written - bytes;
    this.batch = [];
    this.batchBytes = 0;
    this.inflightBytes += bytes;
    this.track(writevAll(this.fh, bufs, pos).then(() => this.wrote(bytes)).finally(() => {
      this.inflightBytes -= bytes;
    }));
  }

  /** Starts writing the current slab; it goes back to the pool when written. */
  private flushSlab(): void {
    const buf = this.slab;
    const n = this.slabFill;
    if (!buf || n === 0) return;
    this.slab = undefined;
    this.slabFill = 0;
    this.out.enter();
    const pos = this.written - n;
    const aligned = pos % DIRECT_ALIGN === 0 && n % DIRECT_ALIGN === 0;
    const written = tracing ? begin('write slab', n) : undefined;
    const write = aligned && !directRefused
      ? this.directHandle().then((d) =>
          d
            ? writeAll(d, buf, n, pos).catch((e: unknown) => {
                // The file system takes O_DIRECT at open but not these writes: write buffered from now on.
                if ((e as { code?: string }).code !== 'EINVAL') throw e;
                directRefused = true;
                return writeAll(this.fh, buf, n, pos);
              })
            : writeAll(this.fh, buf, n, pos),
        )
      : writeAll(this.fh, buf, n, pos);
    // The failure is recorded before the slab's room is given back, so a waiting ready() sees it.
    // Hashed whole, while the write runs: over TLS a slab fills 16 KiB (one record) at a time,
    // and one update per MiB instead of 64 saves the calls' overhead.
    const hashed = tracing ? begin('hash', n) : undefined;
    this.hash.update(buf.subarray(0, n));
    hashed?.();
    this.track(write.then(() => this.wrote(n), (e: unknown) => {
      this.failed ??= e;
      throw e;
    }).finally(() => {
      written?.();
      this.out.leave();
      releaseSlab(buf);
    }));
  }

  /** `n` bytes reached the file: the write-behind flush may start. */
  private wrote(n: number): void {
    if (this.fsync && !this.done) wroteBehind(this.fh, n);
  }

  private async closeDirect(): Promise<void> {
    const d = await this.direct;
    this.direct = undefined;
    await d?.close();
  }

  private async drain(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  async commit(): Promise<void> {
    this.flush();
    this.flushSlab();
    await this.drain();
    if (this.failed) throw this.failed;
    if (this.written !== this.desc.size) {
      await this.abort();
      throw new OcictlError('SIZE_MISMATCH', `blob ${this.desc.digest} is ${this.written} bytes, its descriptor says ${this.desc.size}`, { hint: 'the registry served wrong content' });
    }
    const got = `sha256:${this.hash.digest('hex')}`;
    if (got !== this.desc.digest) {
      await this.abort();
      throw new OcictlError('DIGEST_MISMATCH', `blob ${this.desc.digest} failed verification: its content hashes to ${got}`, { hint: 'the registry or a proxy served wrong content; nothing was stored' });
    }
    if (this.fsync) await timed('fsync', this.fh.sync());
    await timed('close', this.closeDirect().then(() => this.fh.close()));
    this.done = true;
    await timed('rename', this.store.commitFile(this.tmp, this.desc.digest));
    this.life();
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    // Not given back for reuse: a socket may still have been lent part of it (space()).
    this.slab = undefined;
    await this.drain().catch(() => undefined);
    await this.closeDirect().catch(() => undefined);
    await this.fh.close().catch(() => undefined);
    await fs.rm(this.tmp, { force: true });
  }
}
