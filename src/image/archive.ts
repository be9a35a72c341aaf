/**
 * Images on disk, as copy sources and destinations: an OCI image layout
 * directory (`oci:DIR[:TAG]`), the same layout in a tar (`oci-archive:`), and
 * `docker save` archives (`docker-archive:`).
 *
 * Archives that ocictl writes in Docker format are what Docker 25 writes: an
 * OCI layout (index.json, blobs/sha256/...) that also carries Docker's
 * manifest.json, so `docker load`, `ctr images import` and skopeo all read
 * them, and the manifests inside keep their digests. Classic Docker archives
 * (manifest.json only, as skopeo and older Docker write) are read by making
 * an OCI manifest for each image.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { OcictlError } from '../errors.js';
import { type Descriptor, assertDigest, sha256Digest, validateDescriptor } from '../oci/descriptor.js';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, parseConfig, parseManifest } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import { parseReference } from '../reference/reference.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { type BlobWrite, type ImageDestination, type ImageSource, type SourceImage, checkBytes } from './endpoint.js';
import type { BlobState } from './events.js';
import { TarFile } from './tar-file.js';

export const IMAGE_NAME_ANNOTATION = 'io.containerd.image.name';
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
const MAX_INDEX_BYTES = 16 * 1024 * 1024;
const MTIME = new Date(0);

/** A Docker manifest.json entry. */
export interface DockerArchiveEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

interface IndexFile {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
  [k: string]: unknown;
}

function blobRel(digest: string): string {
  assertDigest(digest);
  return `blobs/sha256/${digest.slice(7)}`;
}

/** Whether a string is an image reference rather than a bare tag (a tag has no `/`, `:` or `@`). */
function isFullName(s: string | undefined): s is string {
  if (!s || !/[/:@]/.test(s)) return false;
  try {
    parseReference(s);
    return true;
  } catch {
    return false;
  }
}

function sameName(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return parseReference(a).toString() === parseReference(b).toString();
  } catch {
    return false;
  }
}

function tagOf(name: string | undefined): string | undefined {
  if (!name) return undefined;
  try {
    return parseReference(name).tag;
  } catch {
    return undefined;
  }
}

// ---- reading -------------------------------------------------------------

/** The files of a layout: in a directory, or members of a tar. */
interface LayoutFiles {
  read(rel: string, maxBytes: number): Promise<Buffer | undefined>;
  has(rel: string, size: number): Promise<boolean>;
  open(rel: string): Promise<Readable>;
  close(): Promise<void>;
}

class DirFiles implements LayoutFiles {
  constructor(private readonly dir: string) {}
  private p(rel: string): string {
    return path.join(this.dir, ...rel.split('/'));
  }
  async read(rel: string, maxBytes: number): Promise<Buffer | undefined> {
    const st = await fs.stat(this.p(rel)).catch(() => undefined);
    if (!st?.isFile()) return undefined;
    if (st.size > maxBytes) throw new OcictlError('LIMIT_EXCEEDED', `${this.p(rel)} is ${st.size} bytes, over the ${maxBytes}-byte limit`);
    return fs.readFile(this.p(rel));
  }
  async has(rel: string, size: number): Promise<boolean> {
    const st = await fs.stat(this.p(rel)).catch(() => undefined);
    return !!st?.isFile() && st.size === size;
  }
  async open(rel: string): Promise<Readable> {
    await fs.access(this.p(rel)).catch(() => {
      throw new OcictlError('NOT_FOUND', `${this.p(rel)} is missing from the layout`);
    });
    return createReadStream(this.p(rel), { highWaterMark: 1024 * 1024 });
  }
  async close(): Promise<void> {
    /* nothing open */
  }
}

class TarFiles implements LayoutFiles {
  constructor(readonly tar: TarFile) {}
  read(rel: string, maxBytes: number): Promise<Buffer | undefined> {
    return this.tar.read(rel, maxBytes);
  }
  async has(rel: string, size: number): Promise<boolean> {
    return this.tar.find(rel)?.size === size;
  }
  async open(rel: string): Promise<Readable> {
    const m = this.tar.find(rel);
    if (!m) throw new OcictlError('NOT_FOUND', `${rel} is missing from ${this.tar.file}`);
    return this.tar.stream(m);
  }
  close(): Promise<void> {
    return this.tar.close();
  }
}

async function readJson(files: LayoutFiles, rel: string, where: string, max = MAX_INDEX_BYTES): Promise<unknown> {
  const b = await files.read(rel, max);
  if (!b) return undefined;
  try {
    return JSON.parse(b.toString('utf8')) as unknown;
  } catch (e) {
    throw new OcictlError('MANIFEST_INVALID', `${rel} in ${where} is not valid JSON (${(e as Error).message})`);
  }
}

async function readDockerManifest(files: LayoutFiles, where: string): Promise<DockerArchiveEntry[] | undefined> {
  const v = await readJson(files, 'manifest.json', where);
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw new OcictlError('MANIFEST_INVALID', `manifest.json in ${where} is not a list`);
  return v.map((e: unknown, i) => {
    const o = e as Record<string, unknown>;
    if (!o || typeof o.Config !== 'string' || !Array.isArray(o.Layers) || o.Layers.some((l) => typeof l !== 'string')) {
      throw new OcictlError('MANIFEST_INVALID', `manifest.json entry ${i} in ${where} needs Config and Layers`);
    }
    const tags = Array.isArray(o.RepoTags) ? o.RepoTags.filter((t): t is string => typeof t === 'string') : null;
    return { Config: o.Config, RepoTags: tags, Layers: o.Layers as string[] };
  });
}

/** An OCI image layout (a directory, or an oci-archive / Docker 25 archive) as a copy source. */
export class LayoutSource implements ImageSource {
  constructor(
    private readonly files: LayoutFiles,
    readonly label: string,
    private readonly selector: string | undefined,
    private readonly dockerEntries: DockerArchiveEntry[] | undefined,
  ) {}

  async images(): Promise<SourceImage[]> {
    const v = await readJson(this.files, 'index.json', this.label);
    if (v === undefined) throw new OcictlError('NOT_FOUND', `${this.label} has no index.json`, { hint: 'is it an OCI image layout?' });
    const idx = v as IndexFile;
    if (!idx || !Array.isArray(idx.manifests)) throw new OcictlError('MANIFEST_INVALID', `index.json of ${this.label} has no manifests list`);
    const all: SourceImage[] = [];
    for (const [i, d] of idx.manifests.entries()) {
      const desc = validateDescriptor(d, `index.json of ${this.label}: manifests[${i}]`);
      const a = desc.annotations ?? {};
      const names: string[] = [];
      const n = a[IMAGE_NAME_ANNOTATION];
      const r = a[REF_NAME_ANNOTATION];
      if (isFullName(n)) names.push(n);
      if (isFullName(r) && !names.some((x) => sameName(x, r))) names.push(r);
      if (names.length === 0 && this.dockerEntries) names.push(...(await this.dockerNames(desc)));
      const keys = [n, r, ...names].filter((x): x is string => !!x);
      if (this.selector !== undefined && !keys.some((k) => k === this.selector || sameName(k, this.selector as string))) continue;
      all.push({ desc: { mediaType: desc.mediaType, digest: desc.digest, size: desc.size, ...(desc.platform ? { platform: desc.platform } : {}) }, names });
    }
    if (this.selector !== undefined && all.length === 0) {
      throw new OcictlError('NOT_FOUND', `${this.label} has no image named "${this.selector}"`);
    }
    if (all.length === 0) throw new OcictlError('NOT_FOUND', `${this.label} holds no images`);
    return all;
  }

  /** RepoTags of the manifest.json entry whose config is this image's. */
  private async dockerNames(desc: Descriptor): Promise<string[]> {
    try {
      const p = parseManifest(await this.manifest(desc), desc.mediaType);
      if (p.kind !== 'manifest') return [];
      const cfg = p.manifest.config.digest.slice(7);
      const e = this.dockerEntries?.find((x) => x.Config.endsWith(cfg));
      return (e?.RepoTags ?? []).filter(isFullNameOrFamiliar);
    } catch {
      return [];
    }
  }

  async manifest(desc: Descriptor): Promise<Buffer> {
    const b = await this.files.read(blobRel(desc.digest), MAX_MANIFEST_BYTES);
    if (!b) throw new OcictlError('NOT_FOUND', `manifest ${desc.digest} is missing from ${this.label}`);
    return checkBytes(b, desc, this.label);
  }

  hasManifest(desc: Descriptor): Promise<boolean> {
    return this.files.has(blobRel(desc.digest), desc.size);
  }

  blob(desc: Descriptor): Promise<Readable> {
    return this.files.open(blobRel(desc.digest));
  }

  close(): Promise<void> {
    return this.files.close();
  }
}

function isFullNameOrFamiliar(s: string): boolean {
  try {
    parseReference(s);
    return true;
  } catch {
    return false;
  }
}

/** A classic `docker save` archive (manifest.json only): an OCI manifest is made for each image. */
export class DockerArchiveSource implements ImageSource {
  readonly synthesized = true;
  private readonly manifests = new Map<string, Buffer>();
  private readonly blobs = new Map<string, string>();
  private readonly list: SourceImage[] = [];

  private constructor(private readonly tarFile: TarFile, readonly label: string) {}

  static async open(tarFile: TarFile, label: string, entries: DockerArchiveEntry[], selector: string | undefined): Promise<DockerArchiveSource> {
    const s = new DockerArchiveSource(tarFile, label);
    for (const e of entries) {
      const tags = (e.RepoTags ?? []).filter(isFullNameOrFamiliar);
      if (selector !== undefined && !tags.some((t) => sameName(t, selector))) continue;
      s.list.push({ desc: await s.build(e), names: tags });
    }
    if (s.list.length === 0) {
      throw new OcictlError('NOT_FOUND', selector !== undefined ? `${label} has no image named "${selector}"` : `${label} holds no images`);
    }
    return s;
  }

  private async build(e: DockerArchiveEntry): Promise<Descriptor> {
    const cfgBytes = await this.tarFile.read(e.Config, MAX_CONFIG_BYTES);
    if (!cfgBytes) throw new OcictlError('MANIFEST_INVALID', `${this.label}: config ${e.Config} named in manifest.json is missing`);
    const cfg = parseConfig(cfgBytes, `config ${e.Config} in ${this.label}`);
    const diffIds = cfg.rootfs?.diff_ids ?? [];
    const config: Descriptor = { mediaType: MediaType.OciConfig, digest: sha256Digest(cfgBytes), size: cfgBytes.length };
    this.blobs.set(config.digest, e.Config);
    const layers: Descriptor[] = [];
    for (const [i, rel] of e.Layers.entries()) {
      const m = this.tarFile.find(rel);
      if (!m) throw new OcictlError('MANIFEST_INVALID', `${this.label}: layer ${rel} named in manifest.json is missing`);
      const head = await this.tarFile.peek(m, 4);
      const gzip = head[0] === 0x1f && head[1] === 0x8b;
      const zstd = head.readUInt32LE(0) === 0xfd2fb528;
      let digest: string;
      const named = /(?:^|\/)sha256\/([a-f0-9]{64})$/.exec(rel) ?? /^([a-f0-9]{64})(?:\.tar)?$/.exec(path.posix.basename(rel));
      if (!gzip && !zstd && typeof diffIds[i] === 'string') digest = diffIds[i] as string;
      else if (named?.[1] && /sha256\//.test(rel)) digest = `sha256:${named[1]}`;
      else digest = await hashStream(this.tarFile.stream(m));
      assertDigest(digest, `layer ${rel} of ${this.label}`);
      layers.push({ mediaType: gzip ? MediaType.OciLayerGzip : zstd ? MediaType.OciLayerZstd : MediaType.OciLayer, digest, size: m.size });
      this.blobs.set(digest, rel);
    }
    const manifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers };
    const bytes = Buffer.from(JSON.stringify(manifest));
    const desc: Descriptor = { mediaType: MediaType.OciManifest, digest: sha256Digest(bytes), size: bytes.length };
    if (cfg.os && cfg.architecture) desc.platform = { os: cfg.os, architecture: cfg.architecture, ...(cfg.variant ? { variant: cfg.variant } : {}) };
    this.manifests.set(desc.digest, bytes);
    return desc;
  }

  async images(): Promise<SourceImage[]> {
    return this.list;
  }

  async manifest(desc: Descriptor): Promise<Buffer> {
    const b = this.manifests.get(desc.digest);
    if (!b) throw new OcictlError('NOT_FOUND', `manifest ${desc.digest} is not in ${this.label}`);
    return b;
  }

  async blob(desc: Descriptor): Promise<Readable> {
    const rel = this.blobs.get(desc.digest);
    const m = rel ? this.tarFile.find(rel) : undefined;
    if (!m) throw new OcictlError('NOT_FOUND', `blob ${desc.digest} is not in ${this.label}`);
    return this.tarFile.stream(m);
  }

  close(): Promise<void> {
    return this.tarFile.close();
  }
}

async function hashStream(s: Readable): Promise<string> {
  const { createHash } = await import('node:crypto');
  const h = createHash('sha256');
  for await (const c of s as AsyncIterable<Buffer>) h.update(c);
  return `sha256:${h.digest('hex')}`;
}

/** Opens an OCI layout directory as a source; `tag` picks one image by its ref.name. */
export async function openLayoutDir(dir: string, tag?: string): Promise<ImageSource> {
  const st = await fs.stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new OcictlError('NOT_FOUND', `${dir} is not a directory`, { hint: 'oci:DIR names an OCI image layout directory' });
  return new LayoutSource(new DirFiles(dir), `oci:${dir}${tag ? `:${tag}` : ''}`, tag, undefined);
}

/**
 * Opens an archive as a source, whatever its format: an OCI layout in a tar
 * (oci-archive, Docker 25 and ocictl's docker-archive), or a classic Docker
 * archive. `selector` picks one image (a tag, or a name in RepoTags).
 */
export async function openArchive(file: string, selector?: string, label?: string): Promise<ImageSource> {
  const t = await TarFile.open(file);
  try {
    const files = new TarFiles(t);
    const shown = label ?? `archive ${file === '-' ? '(stdin)' : file}`;
    const docker = await readDockerManifest(files, shown);
    if (t.find('index.json')) return new LayoutSource(files, shown, selector, docker);
    if (docker) return await DockerArchiveSource.open(t, shown, docker, selector);
    throw new OcictlError('MANIFEST_INVALID', `${shown} is neither an OCI archive (no index.json) nor a Docker archive (no manifest.json)`);
  } catch (e) {
    await t.close();
    throw e;
  }
}

// ---- writing -------------------------------------------------------------

async function emitWrite(w: BlobWrite, sink: (chunk: Buffer) => Promise<void>): Promise<void> {
  w.onProgress({ type: 'blob-start', digest: w.desc.digest, size: w.desc.size, kind: w.kind });
  let n = 0;
  let last = 0;
  const src = await w.open();
  try {
    for await (const c of src as AsyncIterable<Buffer>) {
      await sink(c);
      n += c.length;
      if (n - last >= 1 << 20) {
        last = n;
        w.onProgress({ type: 'blob-progress', digest: w.desc.digest, bytes: n, size: w.desc.size });
      }
    }
  } catch (e) {
    src.destroy();
    throw e;
  }
  w.onProgress({ type: 'blob-done', digest: w.desc.digest, size: w.desc.size, state: 'downloaded', kind: w.kind });
}

/** An OCI layout directory as a destination (`oci:DIR[:TAG]`); index.json is updated atomically. */
export class LayoutDirDestination implements ImageDestination {
  readonly label: string;
  readonly maxConcurrency = 4;
  private ready = false;

  constructor(private readonly dir: string, private readonly tag?: string) {
    this.label = `oci:${dir}${tag ? `:${tag}` : ''}`;
  }

  private p(rel: string): string {
    return path.join(this.dir, ...rel.split('/'));
  }

  private async prepare(): Promise<void> {
    if (this.ready) return;
    await fs.mkdir(this.p('blobs/sha256'), { recursive: true });
    const layout = this.p('oci-layout');
    if (!(await fs.stat(layout).catch(() => undefined))) await writeFileAtomic(layout, '{"imageLayoutVersion":"1.0.0"}', { mode: 0o644 });
    this.ready = true;
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    const st = await fs.stat(this.p(blobRel(desc.digest))).catch(() => undefined);
    return !!st?.isFile() && st.size === desc.size;
  }

  async putBlob(w: BlobWrite): Promise<BlobState> {
    await this.prepare();
    const final = this.p(blobRel(w.desc.digest));
    const tmp = `${path.dirname(final)}/.tmp-${randomBytes(6).toString('hex')}`;
    const out = createWriteStream(tmp, { mode: 0o644, highWaterMark: 1024 * 1024 });
    try {
      await emitWrite(w, async (c) => {
        if (!out.write(c)) await once(out, 'drain');
      });
      out.end();
      await once(out, 'close');
      await fs.rename(tmp, final);
    } catch (e) {
      out.destroy();
      await fs.rm(tmp, { force: true });
      throw e;
    }
    return 'downloaded';
  }

  async putManifest(desc: Descriptor, bytes: Buffer): Promise<void> {
    await this.prepare();
    if (await this.hasBlob(desc)) return;
    await writeFileAtomic(this.p(blobRel(desc.digest)), bytes, { mode: 0o644 });
  }

  async commitImage(desc: Descriptor, bytes: Buffer, sourceName: string | undefined): Promise<string | undefined> {
    await this.putManifest(desc, bytes);
    const tag = this.tag ?? tagOf(sourceName);
    const indexPath = this.p('index.json');
    let idx: IndexFile = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
    const text = await fs.readFile(indexPath, 'utf8').catch(() => undefined);
    if (text !== undefined) {
      try {
        idx = JSON.parse(text) as IndexFile;
        if (!Array.isArray(idx.manifests)) throw new Error('no manifests list');
      } catch (e) {
        throw new OcictlError('MANIFEST_INVALID', `${indexPath} is corrupt (${(e as Error).message})`);
      }
    }
    const entry: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
    if (tag) {
      entry.annotations = { [REF_NAME_ANNOTATION]: tag };
      idx.manifests = idx.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] !== tag);
    } else {
      idx.manifests = idx.manifests.filter((m) => m.digest !== desc.digest || m.annotations?.[REF_NAME_ANNOTATION]);
    }
    idx.manifests.push(entry);
    await writeFileAtomic(indexPath, JSON.stringify(idx), { mode: 0o644 });
    return tag ? `${this.dir}:${tag}` : this.dir;
  }

  async close(): Promise<void> {
    /* every write is already in place */
  }
}

export type ArchiveFormat = 'docker' | 'oci';

/**
 * A tar archive being written (`save`, `oci-archive:FILE`, `docker-archive:FILE`):
 * blobs stream into it one at a time; index.json (and manifest.json for the
 * Docker format) close it. A file is written under a temporary name and
 * renamed into place only when complete.
 */
export class ArchiveDestination implements ImageDestination {
  readonly label: string;
  readonly maxConcurrency = 1;
  readonly singlePlatform: boolean;
  private readonly pack = tar.pack();
  private readonly written = new Set<string>();
  private readonly index: Descriptor[] = [];
  private readonly docker: DockerArchiveEntry[] = [];
  private readonly done: Promise<void>;
  private readonly tmp: string | undefined;
  private chain: Promise<unknown> = Promise.resolve();

  /** `target`: a file path, or a stream (e.g. stdout). `name`: the name to record (else the source's). */
  constructor(private readonly target: string | Writable, private readonly format: ArchiveFormat, private readonly name?: string) {
    this.singlePlatform = format === 'docker';
    this.label = `${format === 'docker' ? 'docker-archive' : 'oci-archive'}:${typeof target === 'string' ? target : '(stream)'}${name ? `:${name}` : ''}`;
    let out: Writable;
    if (typeof target === 'string') {
      this.tmp = path.join(path.dirname(path.resolve(target)), `.${path.basename(target)}.ocictl-${randomBytes(6).toString('hex')}`);
      out = createWriteStream(this.tmp, { mode: 0o644, highWaterMark: 1024 * 1024 });
    } else {
      out = target;
    }
    this.done = pipeline(this.pack as unknown as Readable, out);
    this.done.catch(() => undefined);
    this.entry('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private entry(name: string, bytes: Buffer): void {
    this.pack.entry({ name, size: bytes.length, mode: 0o644, mtime: MTIME, uid: 0, gid: 0 }, bytes);
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    return this.written.has(desc.digest);
  }

  putBlob(w: BlobWrite): Promise<BlobState> {
    return this.serial(async () => {
      if (this.written.has(w.desc.digest)) return 'exists';
      let sink: ReturnType<typeof this.pack.entry> | undefined;
      const finished = new Promise<void>((resolve, reject) => {
        sink = this.pack.entry({ name: blobRel(w.desc.digest), size: w.desc.size, mode: 0o644, mtime: MTIME, uid: 0, gid: 0 }, (err) => (err ? reject(err) : resolve()));
      });
      const s = sink as NonNullable<typeof sink>;
      try {
        await emitWrite(w, async (c) => {
          if (!s.write(c)) await once(s as unknown as NodeJS.EventEmitter, 'drain');
        });
        s.end(() => undefined);
        await finished;
      } catch (e) {
        s.destroy(e instanceof Error ? e : new Error(String(e)));
        this.pack.destroy(e instanceof Error ? e : new Error(String(e)));
        throw e;
      }
      this.written.add(w.desc.digest);
      return 'downloaded';
    });
  }

  putManifest(desc: Descriptor, bytes: Buffer): Promise<void> {
    return this.serial(async () => {
      if (this.written.has(desc.digest)) return;
      this.entry(blobRel(desc.digest), bytes);
      this.written.add(desc.digest);
    });
  }

  async commitImage(desc: Descriptor, bytes: Buffer, sourceName: string | undefined): Promise<string | undefined> {
    await this.putManifest(desc, bytes);
    let fullName: string | undefined;
    let refName: string | undefined;
    if (this.format === 'docker') {
      fullName = this.name ?? sourceName;
      refName = tagOf(fullName);
    } else {
      refName = this.name ?? tagOf(sourceName);
      fullName = isFullName(this.name) ? this.name : sourceName;
    }
    const normalised = fullName ? parseReference(fullName) : undefined;
    const annotations: Record<string, string> = {};
    if (normalised) annotations[IMAGE_NAME_ANNOTATION] = normalised.toString();
    if (refName) annotations[REF_NAME_ANNOTATION] = refName;
    this.index.push({ mediaType: desc.mediaType, digest: desc.digest, size: desc.size, ...(Object.keys(annotations).length ? { annotations } : {}) });
    if (this.format === 'docker') {
      const p = parseManifest(bytes, desc.mediaType);
      if (p.kind !== 'manifest') throw new OcictlError('INTERNAL', 'a docker-archive holds one platform per image');
      const tag = normalised?.tag ? normalised.familiar() : undefined;
      const existing = this.docker.find((e) => e.Config === blobRel(p.manifest.config.digest) && e.Layers.join() === p.manifest.layers.map((l) => blobRel(l.digest)).join());
      if (existing) {
        if (tag && !existing.RepoTags?.includes(tag)) existing.RepoTags = [...(existing.RepoTags ?? []), tag];
      } else {
        this.docker.push({ Config: blobRel(p.manifest.config.digest), RepoTags: tag ? [tag] : null, Layers: p.manifest.layers.map((l) => blobRel(l.digest)) });
      }
    }
    return normalised?.toString() ?? refName;
  }

  async close(ok: boolean): Promise<void> {
    await this.chain;
    if (ok) {
      this.entry('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: this.index })));
      if (this.format === 'docker') this.entry('manifest.json', Buffer.from(JSON.stringify(this.docker)));
      this.pack.finalize();
      try {
        await this.done;
        if (this.tmp) await fs.rename(this.tmp, this.target as string);
      } catch (e) {
        if (this.tmp) await fs.rm(this.tmp, { force: true });
        throw new OcictlError('STORE', `cannot write ${typeof this.target === 'string' ? this.target : 'the archive'}: ${(e as Error).message}`);
      }
      return;
    }
    this.pack.destroy(new OcictlError('INTERNAL', 'archive abandoned'));
    await this.done.catch(() => undefined);
    if (this.tmp) await fs.rm(this.tmp, { force: true });
  }
}
