/**
 * Safe tarball installation with tar-stream. The whole archive is read and
 * validated first (`..`, absolute names, symlinks and hard links that leave
 * the root, devices); only then is anything written, file by file, each one
 * atomically (temp file + rename, so a running binary can be replaced).
 */
import { createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { OcictlError } from '../errors.js';
import { hostPath } from './plan.js';

type Body = AsyncIterable<Uint8Array> & { resume(): unknown };

export type EntryType = 'file' | 'directory' | 'symlink' | 'link';

export interface ArchiveEntry {
  /** Normalised relative name inside the archive (no `./`, no trailing `/`). */
  name: string;
  type: EntryType;
  mode: number;
  size: number;
  /** Symlink target as written, or hard-link source (normalised name). */
  linkname?: string;
}

function unsafe(name: string, why: string): OcictlError {
  return new OcictlError('UNSAFE_ARCHIVE', `refusing archive entry ${JSON.stringify(name)}: ${why}`, {
    hint: 'nothing was written; use an official release tarball',
  });
}

/** Normalises an entry name; throws on absolute names and `..`. Returns '' for the root itself. */
export function normaliseName(raw: string): string {
  if (raw.includes('\0')) throw unsafe(raw, 'NUL byte in name');
  if (raw.startsWith('/')) throw unsafe(raw, 'absolute path');
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw unsafe(raw, 'path contains ".."');
  return parts.join('/');
}

/** True when `link`, resolved from directory `dir` (both relative to the root), leaves the root. */
export function linkEscapes(dir: string, link: string): boolean {
  if (link.startsWith('/')) return true;
  const stack = dir === '' ? [] : dir.split('/');
  for (const part of link.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (stack.length === 0) return true;
      stack.pop();
    } else stack.push(part);
  }
  return false;
}

async function isGzip(file: string): Promise<boolean> {
  const fh = await fsp.open(file, 'r');
  try {
    const buf = Buffer.alloc(2);
    await fh.read(buf, 0, 2, 0);
    return buf[0] === 0x1f && buf[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

async function* entries(file: string): AsyncGenerator<{ header: tar.Header; body: Body }> {
  const extract = tar.extract();
  const src = createReadStream(file);
  const gz = (await isGzip(file)) ? createGunzip({ chunkSize: 1 << 20 }) : undefined;
  const fail = (e: Error): void => {
    extract.destroy(new OcictlError('UNSAFE_ARCHIVE', `cannot read ${file}: ${e.message}`, { hint: 'is it a .tar or .tar.gz?' }));
  };
  src.on('error', fail);
  if (gz) {
    gz.on('error', fail);
    src.pipe(gz).pipe(extract);
  } else src.pipe(extract);
  try {
    for await (const entry of extract) yield { header: entry.header, body: entry as unknown as Body };
  } catch (e) {
    if (e instanceof OcictlError) throw e;
    throw new OcictlError('UNSAFE_ARCHIVE', `cannot read ${file}: ${(e as Error).message}`, { hint: 'is it a .tar or .tar.gz?' });
  } finally {
    src.destroy();
  }
}

/** Reads the whole archive and validates every entry; writes nothing. */
export async function scanArchive(file: string): Promise<ArchiveEntry[]> {
  const list: ArchiveEntry[] = [];
  const files = new Set<string>();
  const symlinks = new Set<string>();
  for await (const { header, body } of entries(file)) {
    body.resume();
    const raw = header.name;
    const name = normaliseName(raw);
    const type = header.type ?? 'file';
    // an entry below a symlink of the archive would be written through it
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      if (symlinks.has(parts.slice(0, i).join('/'))) throw unsafe(raw, `goes through the symlink ${parts.slice(0, i).join('/')}`);
    }
    const mode = (header.mode ?? 0o644) & 0o7777;
    if (type === 'file' || type === 'contiguous-file') {
      if (name === '') throw unsafe(raw, 'file without a name');
      list.push({ name, type: 'file', mode, size: header.size ?? 0 });
      files.add(name);
      symlinks.delete(name);
    } else if (type === 'directory') {
      if (name !== '') list.push({ name, type: 'directory', mode, size: 0 });
    } else if (type === 'symlink') {
      const link = header.linkname ?? '';
      if (link === '') throw unsafe(raw, 'symlink without a target');
      if (link.startsWith('/')) throw unsafe(raw, `absolute symlink to ${link}`);
      if (linkEscapes(path.posix.dirname(name) === '.' ? '' : path.posix.dirname(name), link)) {
        throw unsafe(raw, `symlink to ${link} points outside the root`);
      }
      list.push({ name, type: 'symlink', mode, size: 0, linkname: link });
      symlinks.add(name);
      files.delete(name);
    } else if (type === 'link') {
      const rawLink = header.linkname ?? '';
      if (rawLink.startsWith('/')) throw unsafe(raw, `hard link to absolute path ${rawLink}`);
      let target: string;
      try {
        target = normaliseName(rawLink);
      } catch {
        throw unsafe(raw, `hard link to ${rawLink} points outside the root`);
      }
      if (!files.has(target)) throw unsafe(raw, `hard link to ${rawLink}, which is not a regular file earlier in the archive`);
      list.push({ name, type: 'link', mode, size: 0, linkname: target });
      files.add(name);
    } else {
      throw unsafe(raw, `${type} entries are not installed`);
    }
  }
  return list;
}

export interface InstalledEntry {
  /** Target path (absolute, as on the target system). */
  path: string;
  type: EntryType;
  mode: number;
  size: number;
  linkname?: string;
}

/**
 * Maps the validated entries to target paths (`map` returns undefined to
 * skip) and checks the result stays in the root, also for mapped symlinks.
 * Keyed by archive name.
 */
export function mapEntries(list: readonly ArchiveEntry[], map: (name: string) => string | undefined): Map<string, InstalledEntry> {
  const out = new Map<string, InstalledEntry>();
  const byName = new Map<string, string>();
  for (const e of list) {
    const target = map(e.name);
    if (target === undefined) continue;
    const rel = normaliseName(target.replace(/^\/+/, ''));
    byName.set(e.name, rel);
    if (e.type === 'symlink' && linkEscapes(path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel), e.linkname!)) {
      throw unsafe(e.name, `symlink to ${e.linkname} points outside the root once installed at /${rel}`);
    }
    let linkname = e.linkname;
    if (e.type === 'link') {
      const src = byName.get(e.linkname!);
      if (src === undefined) throw unsafe(e.name, `hard link to ${e.linkname}, which is not installed`);
      linkname = `/${src}`;
    }
    out.set(e.name, { path: `/${rel}`, type: e.type, mode: e.mode, size: e.size, ...(linkname !== undefined ? { linkname } : {}) });
  }
  return out;
}

async function assertInsideRoot(root: string, dir: string): Promise<void> {
  const realRoot = await fsp.realpath(root);
  const realDir = await fsp.realpath(dir);
  if (realDir !== realRoot && !realDir.startsWith(realRoot.endsWith(path.sep) ? realRoot : realRoot + path.sep)) {
    throw new OcictlError('UNSAFE_ARCHIVE', `${dir} resolves to ${realDir}, outside the root ${realRoot}`, {
      hint: 'a symlink on disk points out of --root; fix it first',
    });
  }
}

async function mkdirs(root: string, dir: string, mode: number): Promise<void> {
  // like `tar --no-overwrite-dir`: existing directories keep their mode
  await fsp.mkdir(dir, { recursive: true, mode });
  await assertInsideRoot(root, dir);
}

/** Second pass: writes the mapped entries under `root`. Call only after {@link scanArchive}. */
export async function extractArchive(file: string, root: string, targets: Map<string, InstalledEntry>): Promise<InstalledEntry[]> {
  const written: InstalledEntry[] = [];
  await fsp.mkdir(root, { recursive: true });
  for await (const { header, body } of entries(file)) {
    const name = normaliseName(header.name);
    const t = targets.get(name);
    if (!t) {
      body.resume();
      continue;
    }
    const dest = hostPath(root, t.path);
    if (t.type === 'directory') {
      body.resume();
      await mkdirs(root, dest, t.mode & 0o777 || 0o755);
    } else if (t.type === 'file') {
      await mkdirs(root, path.dirname(dest), 0o755);
      const tmp = `${dest}.ocictl-tmp`;
      await fsp.rm(tmp, { force: true });
      const fh = await fsp.open(tmp, 'wx', 0o600);
      try {
        for await (const chunk of body) await fh.write(chunk);
      } finally {
        await fh.close();
      }
      await fsp.chmod(tmp, t.mode & 0o777);
      await fsp.rename(tmp, dest);
    } else if (t.type === 'symlink') {
      body.resume();
      await mkdirs(root, path.dirname(dest), 0o755);
      await fsp.rm(dest, { force: true });
      await fsp.symlink(t.linkname!, dest);
    } else {
      body.resume();
      await mkdirs(root, path.dirname(dest), 0o755);
      const tmp = `${dest}.ocictl-tmp`;
      await fsp.rm(tmp, { force: true });
      await fsp.link(hostPath(root, t.linkname!), tmp);
      await fsp.rename(tmp, dest);
    }
    written.push(t);
  }
  return written;
}
