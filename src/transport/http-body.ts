/**
 * HTTP/1.1 responses for fast-http: the head parser, body framing
 * (Content-Length, chunked, close-delimited) and {@link FastBody}, which hands
 * a body to one consumer, a borrowing sink or an async iterator, pausing the
 * socket when the consumer wants to wait.
 */
import type * as net from 'node:net';

/** Receives body bytes that stay valid only during the call. */
export interface BorrowedSink {
  /** Takes (copies) a piece of the body; false asks for no more until `ready()` resolves. */
  take(chunk: Buffer): boolean;
  /** Resolves when the sink can take more; rejects when it failed. */
  ready(): Promise<void>;
  /**
   * Optional, with `filled`: memory (at most `max` bytes) the socket may read
   * the next body bytes into, so they are not copied at all; an empty buffer
   * declines (the bytes then come through `take`). It must stay the sink's
   * until `filled` reports what landed there or the body ends.
   */
  space?(max: number): Buffer;
  /** `n` bytes were read into the memory `space` gave; false as for `take`. */
  filled?(n: number): boolean;
}

/** Chunks the async iterator yields. */
const ITER_CHUNK = 1024 * 1024;

/** An error with a code the transport knows (transport/errors.ts). */
export class CodedError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
  }
}

/** The server broke HTTP/1.1: not worth a retry (see transport/errors.ts). */
export function protocolError(what: string): CodedError {
  return new CodedError(what, 'ERR_HTTP_PROTOCOL');
}

export type Framing = { kind: 'length'; remaining: number } | { kind: 'chunked' } | { kind: 'close' };

/**
 * The body of one response on its own socket. It goes to one consumer:
 * `pump(sink)`, or the async iterator (`text()` and `dump()` build on them).
 */
export class FastBody implements AsyncIterable<Buffer> {
  private sink: BorrowedSink | undefined;
  private leftover: Buffer | undefined;
  private eofSeen = false;
  private finished = false;
  private error: unknown;
  private settle: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  private paused = false;
  /** Paused until the sink is ready again. */
  private waiting = false;
  private chunkLeft = 0;
  private chunkState: 'size' | 'data' | 'data-crlf' | 'trailer' = 'size';
  private line = '';

  private released = false;

  /**
   * @internal `done` hears once whether the connection may serve another
   * request (the whole body was read) or must be closed.
   */
  constructor(private readonly socket: net.Socket, private readonly framing: Framing, private readonly timeoutMs: number, private readonly done: (reusable: boolean) => void) {
    if (framing.kind === 'length' && framing.remaining === 0) {
      // Nothing to read (HEAD, 204, an empty body): complete now.
      this.finished = true;
      queueMicrotask(() => this.release(true));
    }
  }

  private release(reusable: boolean): void {
    if (this.released) return;
    this.released = true;
    this.done(reusable);
  }

  /** @internal Bytes after the headers, from the socket's read buffer (valid during the call only). */
  onData(buf: Buffer): void {
    if (this.finished) return;
    if (!this.sink) {
      // Nobody reads yet: keep a copy and stop reading.
      if (buf.length) this.leftover = this.leftover ? Buffer.concat([this.leftover, buf]) : Buffer.from(buf);
      this.pause();
      return;
    }
    try {
      if (!this.decode(buf) && !this.finished) this.waitForSink();
    } catch (e) {
      this.fail(e);
    }
  }

  /**
   * @internal Where the socket may read the next bytes: straight into the
   * sink's memory, while a Content-Length body is being pumped and the sink
   * offers it; else undefined (the connection's own buffer). Memory is lent
   * while the sink makes the socket wait too: the read comes after it resumes.
   */
  readInto(): Buffer | undefined {
    const f = this.framing;
    if (this.finished || f.kind !== 'length' || f.remaining === 0) return undefined;
    const sink = this.sink;
    if (!sink?.space || !sink.filled) return undefined;
    try {
      const b = sink.space(f.remaining);
      return b.length > 0 && b.length <= f.remaining ? b : undefined;
    } catch (e) {
      this.fail(e); // called from the socket's read path: nothing may be thrown there
      return undefined;
    }
  }

  /** @internal `n` bytes were read into the memory readInto() gave. */
  onDirect(n: number): void {
    if (this.finished) return;
    const f = this.framing as { kind: 'length'; remaining: number };
    try {
      f.remaining -= n;
      const more = (this.sink as Required<BorrowedSink>).filled(n);
      if (f.remaining === 0) this.finish();
      else if (!more) this.waitForSink();
    } catch (e) {
      this.fail(e);
    }
  }

  /** @internal The peer ended the connection. */
  onEnd(): void {
    if (this.finished) return;
    this.eofSeen = true;
    if (!this.sink) return; // told when pumping starts
    if (this.framing.kind === 'close') this.finish();
    else this.fail(new CodedError('the connection closed before the end of the body', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'));
  }

  /** @internal */
  onError(e: unknown): void {
    this.fail(e);
  }

  /** Delivers the whole body to `sink`; resolves when all of it has been taken. */
  pump(sink: BorrowedSink): Promise<void> {
    if (this.sink) return Promise.reject(new Error('the body is already being read'));
    this.sink = sink;
    return new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
      if (this.error !== undefined) {
        reject(this.error);
        return;
      }
      if (this.finished) {
        resolve();
        return;
      }
      if (this.framing.kind === 'length' && this.framing.remaining === 0) {
        this.finish();
        return;
      }
      const first = this.leftover;
      this.leftover = undefined;
      if (first) this.onData(first);
      if (this.finished) return;
      if (this.eofSeen) this.onEnd();
      else if (!this.waiting) this.resume();
    });
  }

  /**
   * The body as owned chunks of up to 1 MiB (gathered from the socket's reads,
   * so a consumer sees few large chunks and the garbage left is one buffer per MiB).
   */
  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    const queue: Buffer[] = [];
    const MAX_QUEUED = 4;
    let cur: Buffer | undefined;
    let fill = 0;
    let wake: (() => void) | undefined;
    let space: (() => void) | undefined;
    let done = false;
    let err: unknown;
    const wakeUp = (): void => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const f = this.framing;
    const settle = (e?: unknown): void => {
      if (cur && fill) queue.push(cur.subarray(0, fill));
      cur = undefined;
      if (e !== undefined) err = e;
      done = true;
      wakeUp();
    };
    this.pump({
      take: (c) => {
        let off = 0;
        while (off < c.length) {
          if (!cur) {
            // As large as what is left of the body, up to 1 MiB.
            cur = Buffer.allocUnsafeSlow(f.kind === 'length' ? Math.min(ITER_CHUNK, f.remaining + c.length - off) : ITER_CHUNK);
            fill = 0;
          }
          const n = Math.min(c.length - off, cur.length - fill);
          c.copy(cur, fill, off, off + n);
          fill += n;
          off += n;
          if (fill === cur.length) {
            queue.push(cur);
            cur = undefined;
            wakeUp();
          }
        }
        return queue.length < MAX_QUEUED;
      },
      ready: () => (queue.length < MAX_QUEUED ? Promise.resolve() : new Promise<void>((r) => (space = r))),
    }).then(
      () => settle(),
      (e: unknown) => settle(e),
    );
    try {
      for (;;) {
        const c = queue.shift();
        if (c) {
          if (space && queue.length < MAX_QUEUED) {
            const s = space;
            space = undefined;
            s();
          }
          yield c;
          continue;
        }
        if (done) {
          if (err !== undefined) throw err;
          return;
        }
        await new Promise<void>((r) => (wake = r));
      }
    } finally {
      if (!done) this.destroy();
    }
  }

  async text(): Promise<string> {
    const parts: Buffer[] = [];
    for await (const c of this) parts.push(c);
    return Buffer.concat(parts).toString('utf8');
  }

  /** Discards what is left of the body (its connection is closed, unless it was all read). */
  async dump(): Promise<void> {
    this.destroy();
  }

  destroy(error?: Error): void {
    if (!this.finished) this.fail(error ?? new CodedError('the body was discarded', 'ERR_STREAM_PREMATURE_CLOSE'));
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.setTimeout(0);
    this.socket.pause();
  }

  private resume(): void {
    if (!this.paused || this.finished) return;
    this.paused = false;
    this.socket.setTimeout(this.timeoutMs);
    this.socket.resume();
  }

  private waitForSink(): void {
    if (this.waiting) return;
    this.waiting = true;
    this.pause();
    (this.sink as BorrowedSink).ready().then(
      () => {
        this.waiting = false;
        this.resume();
      },
      (e: unknown) => this.fail(e),
    );
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.release(this.framing.kind !== 'close' && !this.eofSeen);
    this.settle?.resolve();
  }

  private fail(e: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.error = e;
    this.release(false);
    this.settle?.reject(e);
  }

  /** Hands the body part of `buf` to the sink; false when the sink wants to wait. */
  private decode(buf: Buffer): boolean {
    const sink = this.sink as BorrowedSink;
    const f = this.framing;
    if (f.kind === 'close') return sink.take(buf);
    if (f.kind === 'length') {
      const n = Math.min(buf.length, f.remaining);
      let more = true;
      if (n > 0) {
        f.remaining -= n;
        more = sink.take(n === buf.length ? buf : buf.subarray(0, n));
      }
      if (f.remaining === 0) {
        if (buf.length > n) throw protocolError('a response longer than its Content-Length');
        this.finish();
      }
      return more;
    }
    return this.decodeChunked(buf, sink);
  }

  private decodeChunked(buf: Buffer, sink: BorrowedSink): boolean {
    let more = true;
    let i = 0;
    while (i < buf.length && !this.finished) {
      if (this.chunkState === 'data') {
        const n = Math.min(buf.length - i, this.chunkLeft);
        if (!sink.take(buf.subarray(i, i + n))) more = false;
        this.chunkLeft -= n;
        i += n;
        if (this.chunkLeft === 0) this.chunkState = 'data-crlf';
        continue;
      }
      // Line states: a chunk size, the CRLF after a chunk's data, trailer lines.
      const nl = buf.indexOf(10, i);
      const end = nl < 0 ? buf.length : nl + 1;
      this.line += buf.toString('latin1', i, end);
      i = end;
      if (this.line.length > 4096) throw protocolError('a chunked body with a line over 4 KiB');
      if (nl < 0) break;
      // Every line ends in CRLF, and holds no other CR or LF (as llhttp: a bare LF is refused).
      if (!this.line.endsWith('\r\n')) throw protocolError('a chunked body with a line not ended by CRLF');
      const line = this.line.slice(0, -2);
      this.line = '';
      if (/[\r\n]/.test(line)) throw protocolError('a chunked body with a bare CR in a line');
      if (this.chunkState === 'data-crlf') {
        if (line !== '') throw protocolError('a chunked body without CRLF after a chunk');
        this.chunkState = 'size';
      } else if (this.chunkState === 'size') {
        this.chunkLeft = chunkSize(line);
        this.chunkState = this.chunkLeft === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        if (i < buf.length) throw protocolError('bytes after the end of a chunked body');
        this.finish();
      } else {
        parseHeaderLine(line, {}); // a trailer field: checked as a header, then dropped
      }
    }
    return more;
  }
}

/** A header name: an HTTP token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Control characters a header value may not hold (HTAB is allowed; bytes 0x80-0xff are). */
const CTL = /[\x00-\x08\x0a-\x1f\x7f]/;
/** One chunk extension (`;name`, `;name=token`, `;name="quoted"`), as llhttp accepts it. */
const CHUNK_EXT = /;[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:=(?:"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"|[!#$%&'*+.^_`|~0-9A-Za-z-]*))?/y;

/** The size of a chunk from its size line (hex, then extensions, no white space), or a protocol error. */
export function chunkSize(line: string): number {
  const m = /^0*([0-9a-fA-F]*)/.exec(line) as RegExpExecArray;
  if (m[0].length === 0) throw protocolError('a chunked body with an invalid chunk size');
  const hex = m[1] as string;
  if (hex.length > 13) throw protocolError('a chunked body with a chunk size over 2^52');
  let at = m[0].length;
  while (at < line.length) {
    CHUNK_EXT.lastIndex = at;
    if (!CHUNK_EXT.test(line)) throw protocolError(line[at] === ';' ? 'a chunked body with an invalid chunk extension' : 'a chunked body with an invalid chunk size');
    at = CHUNK_EXT.lastIndex;
  }
  return hex ? parseInt(hex, 16) : 0;
}

/**
 * Checks one header (or trailer) line as llhttp does and adds it to `headers`: a token name,
 * a colon with no space before it, a value without control characters; a folded line
 * (obs-fold), a line without a colon, or a malformed Content-Length is a protocol error.
 */
export function parseHeaderLine(line: string, headers: Record<string, string | string[]>): void {
  if (line.startsWith(' ') || line.startsWith('\t')) throw protocolError('a folded header line (obs-fold)');
  const i = line.indexOf(':');
  const name = i < 0 ? line : line.slice(0, i);
  if (i <= 0 || !TOKEN.test(name)) throw protocolError(`an invalid header line ${JSON.stringify(line.slice(0, 40))}`);
  const raw = line.slice(i + 1);
  if (CTL.test(raw)) throw protocolError(`a control character in the header ${JSON.stringify(name.slice(0, 40))}`);
  const k = name.toLowerCase();
  if (k === 'content-length' && !/^ *[0-9]+ *$/.test(raw)) throw protocolError(`an invalid Content-Length ${JSON.stringify(raw.slice(0, 30))}`);
  const v = raw.replace(/^[ \t]+|[ \t]+$/g, '');
  const prev = headers[k];
  headers[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
}

export function parseHead(text: string): { status: number; headers: Record<string, string | string[]>; http10: boolean } {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: [^\r\n]*)?$/.exec(lines[0] ?? '');
  if (!m) throw protocolError(`an answer that is not HTTP/1.x (${JSON.stringify(lines[0]?.slice(0, 40) ?? '')})`);
  const status = Number(m[1]);
  // Stricter than llhttp: no registry answers a status below 100, or 101 to a request without Upgrade.
  if (status < 100) throw protocolError(`a status code ${m[1] as string} below 100`);
  if (status === 101) throw protocolError('101 Switching Protocols to a request that asked for no upgrade');
  const headers: Record<string, string | string[]> = {};
  for (const line of lines.slice(1)) parseHeaderLine(line, headers);
  return { status, headers, http10: (lines[0] as string).startsWith('HTTP/1.0') };
}

/**
 * How the body is delimited, refusing what llhttp refuses (Content-Length with
 * Transfer-Encoding, more than one Content-Length) and, stricter, a Transfer-Encoding
 * whose last coding is not chunked.
 */
export function framingOf(headers: Record<string, string | string[]>): Framing {
  const te = headers['transfer-encoding'];
  const cl = headers['content-length'];
  if (te !== undefined && cl !== undefined) throw protocolError('both Content-Length and Transfer-Encoding');
  if (te !== undefined) {
    const codings = (Array.isArray(te) ? te.join(',') : te).split(',').map((c) => c.trim().toLowerCase());
    if (codings[codings.length - 1] !== 'chunked') throw protocolError(`a Transfer-Encoding ocictl cannot read (${JSON.stringify(String(te).slice(0, 40))})`);
    return { kind: 'chunked' };
  }
  if (cl !== undefined) {
    if (Array.isArray(cl)) throw protocolError('more than one Content-Length');
    const n = Number(cl);
    if (!/^[0-9]+$/.test(cl) || !Number.isSafeInteger(n)) throw protocolError(`an invalid Content-Length ${JSON.stringify(cl.slice(0, 30))}`);
    return { kind: 'length', remaining: n };
  }
  return { kind: 'close' };
}
