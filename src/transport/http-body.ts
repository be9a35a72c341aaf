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
      if (f.remaining === 0) this.finish();
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
      const line = this.line.replace(/\r?\n$/, '');
      this.line = '';
      if (this.chunkState === 'data-crlf') {
        if (line !== '') throw protocolError('a chunked body without CRLF after a chunk');
        this.chunkState = 'size';
      } else if (this.chunkState === 'size') {
        const m = /^([0-9a-fA-F]{1,12})[ \t;]*/.exec(line);
        if (!m) throw protocolError('a chunked body with an invalid chunk size');
        this.chunkLeft = parseInt(m[1] as string, 16);
        this.chunkState = this.chunkLeft === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        this.finish();
      }
    }
    return more;
  }
}

export function parseHead(text: string): { status: number; headers: Record<string, string | string[]>; http10: boolean } {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!m) throw protocolError(`an answer that is not HTTP/1.x (${JSON.stringify(lines[0]?.slice(0, 40) ?? '')})`);
  const headers: Record<string, string | string[]> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const k = line.slice(0, i).trim().toLowerCase();
    const v = line.slice(i + 1).trim();
    const prev = headers[k];
    headers[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return { status: Number(m[1]), headers, http10: (lines[0] as string).startsWith('HTTP/1.0') };
}

export function framingOf(headers: Record<string, string | string[]>): Framing {
  const te = headers['transfer-encoding'];
  if (te !== undefined && /chunked/i.test(String(te))) return { kind: 'chunked' };
  const cl = headers['content-length'];
  if (cl !== undefined) {
    const n = Number(Array.isArray(cl) ? cl[0] : cl);
    if (!Number.isSafeInteger(n) || n < 0) throw protocolError(`an invalid Content-Length ${JSON.stringify(String(cl).slice(0, 30))}`);
    return { kind: 'length', remaining: n };
  }
  return { kind: 'close' };
}
