/**
 * Random access to the members of a tar file: one pass over the headers
 * records where each member's bytes lie, then members are read in place
 * (ustar, pax and GNU long names; symbolic and hard links are followed).
 * A gzip-compressed archive, or one arriving on a pipe, is first spooled to
 * a temporary file.
 */
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { OcictlError } from '../errors.js';

export interface TarMember {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'link' | 'other';
  /** Offset of the member's bytes in the file. */
  offset: number;
  size: number;
  linkname?: string;
}

const BLOCK = 512;
const MAX_MEMBERS = 1_000_000;

function cstr(b: Buffer, start: number, len: number): string {
  const s = b.subarray(start, start + len);
  const nul = s.indexOf(0);
  return (nul >= 0 ? s.subarray(0, nul) : s).toString('utf8');
}

function num(b: Buffer, start: number, len: number): number {
  const f = b.subarray(start, start + len);
  if ((f[0] as number) & 0x80) {
    // base-256 (GNU) for sizes of 8 GiB and more
    let v = (f[0] as number) & 0x7f;
    for (let i = 1; i < f.length; i++) v = v * 256 + (f[i] as number);
    return v;
  }
  const s = cstr(b, start, len).trim();
  if (!s) return 0;
  if (!/^[0-7]+$/.test(s)) throw new OcictlError('MANIFEST_INVALID', 'tar header has a field that is not an octal number');
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  let want: number;
  try {
    want = num(h, 148, 8);
  } catch {
    return false;
  }
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (h[i] as number);
  return sum === want;
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number(data.subarray(i, sp).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0 || i + len > data.length) break;
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/** Normalised member path: no leading `./` or `/`, no trailing `/`. */
export function memberName(n: string): string {
  const p = path.posix.normalize(`/${n}`).replace(/^\/+/, '').replace(/\/+$/, '');
  return p;
}

export class TarFile {
  readonly members = new Map<string, TarMember>();

  private constructor(readonly file: string, private readonly fh: FileHandle, private readonly local: string, private readonly temp: string | undefined) {}

  /** Opens a tar file (gzip-compressed, or `-` for stdin, spooled to a temporary file first). */
  static async open(file: string): Promise<TarFile> {
    let temp: string | undefined;
    let target = file;
    try {
      if (file === '-') {
        temp = await spoolTemp(process.stdin, false);
        target = temp;
      }
      const head = Buffer.alloc(2);
      const probe = await fs.open(target, 'r').catch((e: NodeJS.ErrnoException) => {
        throw new OcictlError('NOT_FOUND', `cannot open ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
      });
      try {
        await probe.read(head, 0, 2, 0);
      } finally {
        await probe.close();
      }
      if (head[0] === 0x1f && head[1] === 0x8b) {
        const unzipped = await spoolTemp(createReadStream(target), true);
        if (temp) await fs.rm(temp, { force: true });
        temp = unzipped;
        target = unzipped;
      }
      const fh = await fs.open(target, 'r');
      const t = new TarFile(file, fh, target, temp);
      try {
        await t.scan();
      } catch (e) {
        await t.close();
        throw e;
      }
      return t;
    } catch (e) {
      if (temp) await fs.rm(temp, { force: true });
      throw e;
    }
  }

  private async scan(): Promise<void> {
    const st = await this.fh.stat();
    const h = Buffer.alloc(BLOCK);
    let pos = 0;
    let longName: string | undefined;
    let longLink: string | undefined;
    let pax: Record<string, string> = {};
    while (pos + BLOCK <= st.size) {
      const { bytesRead } = await this.fh.read(h, 0, BLOCK, pos);
      if (bytesRead < BLOCK) break;
      if (h.every((x) => x === 0)) break;
      if (!checksumOk(h)) throw new OcictlError('MANIFEST_INVALID', `${this.file} is not a tar archive (bad header checksum at byte ${pos})`, { hint: 'save and load read tar files (gzip-compressed ones too)' });
      const type = String.fromCharCode(h[156] as number);
      let size = num(h, 124, 12);
      const dataAt = pos + BLOCK;
      const next = dataAt + Math.ceil(size / BLOCK) * BLOCK;
      if (type === 'x' || type === 'L' || type === 'K') {
        if (size > 1024 * 1024) throw new OcictlError('LIMIT_EXCEEDED', `${this.file}: tar extended header over 1 MiB`);
        const data = Buffer.alloc(size);
        await this.fh.read(data, 0, size, dataAt);
        if (type === 'x') pax = { ...pax, ...parsePax(data) };
        else if (type === 'L') longName = cstr(data, 0, data.length);
        else longLink = cstr(data, 0, data.length);
        pos = next;
        continue;
      }
      if (type === 'g') {
        pos = next;
        continue;
      }
      const magic = h.subarray(257, 263).toString('latin1');
      const prefix = magic === 'ustar\0' ? cstr(h, 345, 155) : '';
      let name = longName ?? pax.path ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100));
      const linkname = longLink ?? pax.linkpath ?? cstr(h, 157, 100);
      if (pax.size !== undefined) size = Number(pax.size);
      const realNext = dataAt + Math.ceil(size / BLOCK) * BLOCK;
      name = memberName(name);
      const kind: TarMember['type'] = type === '0' || type === '\0' || type === '7' ? 'file' : type === '5' ? 'directory' : type === '2' ? 'symlink' : type === '1' ? 'link' : 'other';
      if (name) {
        const m: TarMember = { name, type: kind, offset: dataAt, size: kind === 'file' ? size : 0 };
        if (kind === 'symlink' || kind === 'link') m.linkname = linkname;
        this.members.set(name, m);
        if (this.members.size > MAX_MEMBERS) throw new OcictlError('LIMIT_EXCEEDED', `${this.file} has over ${MAX_MEMBERS} members`);
      }
      if (kind === 'file' && dataAt + size > st.size) throw new OcictlError('MANIFEST_INVALID', `${this.file} is truncated (member ${name} ends past the end of the file)`);
      longName = undefined;
      longLink = undefined;
      pax = {};
      pos = realNext;
    }
  }

  /** The regular-file member a path names, links followed; undefined when absent. */
  find(name: string): TarMember | undefined {
    let n = memberName(name);
    for (let hop = 0; hop < 16; hop++) {
      const m = this.members.get(n);
      if (!m) return undefined;
      if (m.type === 'file') return m;
      if (m.type === 'symlink' && m.linkname !== undefined) n = memberName(m.linkname.startsWith('/') ? m.linkname : path.posix.join(path.posix.dirname(n), m.linkname));
      else if (m.type === 'link' && m.linkname !== undefined) n = memberName(m.linkname);
      else return undefined;
    }
    return undefined;
  }

  /** Reads a small member whole; undefined when absent. */
  async read(name: string, maxBytes: number): Promise<Buffer | undefined> {
    const m = this.find(name);
    if (!m) return undefined;
    if (m.size > maxBytes) throw new OcictlError('LIMIT_EXCEEDED', `${name} in ${this.file} is ${m.size} bytes, over the ${maxBytes}-byte limit`);
    const b = Buffer.alloc(m.size);
    await this.fh.read(b, 0, m.size, m.offset);
    return b;
  }

  /** First bytes of a member (to tell compressed layers from plain ones). */
  async peek(m: TarMember, n: number): Promise<Buffer> {
    const b = Buffer.alloc(Math.min(n, m.size));
    await this.fh.read(b, 0, b.length, m.offset);
    return b;
  }

  /** Streams a member's bytes. */
  stream(m: TarMember): Readable {
    if (m.size === 0) return Readable.from([]);
    // A descriptor of its own: destroying a stream closes the descriptor it reads.
    return createReadStream(this.local, { start: m.offset, end: m.offset + m.size - 1, highWaterMark: 1024 * 1024 });
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    if (this.temp) await fs.rm(this.temp, { force: true });
  }
}

async function spoolTemp(from: Readable, gunzip: boolean): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ocictl-archive-'));
  const file = path.join(dir, 'archive.tar');
  try {
    if (gunzip) await pipeline(from, createGunzip({ chunkSize: 1024 * 1024 }), createWriteStream(file, { mode: 0o600 }));
    else await pipeline(from, createWriteStream(file, { mode: 0o600 }));
  } catch (e) {
    await fs.rm(dir, { recursive: true, force: true });
    throw new OcictlError('MANIFEST_INVALID', `cannot read the archive: ${(e as Error).message}`);
  }
  // The directory is removed with the file: unlink the file's directory entry late.
  const final = `${dir}.tar`;
  await fs.rename(file, final);
  await fs.rm(dir, { recursive: true, force: true });
  return final;
}
