/**
 * A minimal HTTP/1.1 client for the registry API. The socket reads into one
 * reused buffer (the `onread` option of net and tls sockets) and a response
 * body is handed, a piece at a time, to a sink that copies what it keeps: no
 * buffer is allocated per chunk, no stream or async iterator runs per chunk,
 * and bytes are not copied into an HTTP parser's memory. Request bodies are
 * written straight to the socket. On this machine that halves the client CPU
 * of a pull (docs/performance.md), and a command that uses only this never
 * loads undici.
 *
 * It does what the distribution API needs: keep-alive connections reused per
 * origin (streamed uploads get one of their own); request bodies of known
 * length; response bodies by Content-Length, chunked or close-delimited; no
 * pipelining, no HTTP/2, no proxies. Redirects, authorization and
 * retries stay with the caller (RegistryHost). Errors carry the codes the
 * rest of the transport knows (ECONNRESET, UND_ERR_BODY_TIMEOUT, ...), so
 * retries and messages work as they do for undici.
 */
import { isIP } from 'node:net';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { TlsSettings } from './dispatchers.js';

/** Receives body bytes that stay valid only during the call. */
export interface BorrowedSink {
  /** Takes (copies) a piece of the body; false asks for no more until `ready()` resolves. */
  take(chunk: Buffer): boolean;
  /** Resolves when the sink can take more; rejects when it failed. */
  ready(): Promise<void>;
}

export interface FastRequest {
  /** Default GET. */
  method?: string;
  url: string;
  headers: Record<string, string>;
  tls: TlsSettings;
  /** Inactivity timeout, ms. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** A request body; a stream needs its `content-length` among the headers. */
  body?: Buffer | string | AsyncIterable<Buffer> | ReleasingBody;
}

/**
 * A request body produced into reused buffers: each chunk is handed back
 * (`release`) once the socket has written it, so the producer can refill it.
 */
export interface ReleasingBody {
  readonly length: number;
  /** The next chunk, or null at the end; a rejection aborts the request before its last byte. */
  nextChunk(): Promise<{ chunk: Buffer; release: () => void } | null>;
  /** The request ended early: stop producing and free what is held. */
  cancel(): void;
}

export function isReleasingBody(x: unknown): x is ReleasingBody {
  return typeof x === 'object' && x !== null && typeof (x as ReleasingBody).nextChunk === 'function';
}

export interface FastResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: FastBody;
}

const HEAD_LIMIT = 64 * 1024;
const READ_BUFFER = 256 * 1024;
/** Chunks the async iterator yields. */
const ITER_CHUNK = 1024 * 1024;

class CodedError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
  }
}

/** The server broke HTTP/1.1: not worth a retry (see transport/errors.ts). */
function protocolError(what: string): CodedError {
  return new CodedError(what, 'ERR_HTTP_PROTOCOL');
}

type Framing = { kind: 'length'; remaining: number } | { kind: 'chunked' } | { kind: 'close' };

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

  private waiting = false;

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

/** A GET (the request's method is ignored). */
export function fastGet(req: FastRequest): Promise<FastResponse> {
  return fastRequest({ ...req, method: 'GET' });
}

/** What a connection passes on to the request it serves. */
interface ConnHandler {
  onBytes(buf: Buffer): void;
  onEof(): void;
  onError(e: unknown): void;
  onTimeout(): void;
}

/** Idle connections are closed after this long (servers' own idle timeouts are often 5–60 s). */
const IDLE_MS = 4000;
/** Idle connections kept per origin and TLS setting. */
const MAX_IDLE = 8;
const idle = new Map<string, Conn[]>();
const tlsIds = new WeakMap<TlsSettings, number>();
let nextTlsId = 1;

/**
 * One connection, serving one request at a time; between requests it waits in
 * `idle` (unref'd, so it never keeps the process alive) until reused or closed.
 */
class Conn {
  readonly socket: net.Socket;
  handler: ConnHandler | undefined;
  /** Resolves once connected (and the TLS handshake is done). */
  readonly ready: Promise<void>;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(readonly key: string, secure: boolean, hostname: string, port: number, t: TlsSettings) {
    const onread = {
      buffer: Buffer.allocUnsafe(READ_BUFFER),
      callback: (n: number, buf: Buffer): boolean => {
        if (this.handler) this.handler.onBytes(buf.subarray(0, n));
        else this.close(); // bytes nobody asked for: the connection is not in a known state
        return true; // pausing is done with socket.pause()
      },
    };
    if (secure) {
      const { context, sessions } = tlsState(t);
      const sessionKey = `${hostname}:${port}`;
      const session = sessions.get(sessionKey);
      this.socket = tls.connect({
        host: hostname,
        port,
        ...(isIP(hostname) ? {} : { servername: hostname }),
        rejectUnauthorized: t.skipVerify !== true,
        ...(context ? { secureContext: context } : {}),
        ...(session ? { session } : {}),
        ALPNProtocols: ['http/1.1'],
        onread,
      } as tls.ConnectionOptions);
      // The next connection to this server resumes the session (no full handshake).
      this.socket.on('session', (sess: Buffer) => sessions.set(sessionKey, sess));
    } else {
      this.socket = net.connect({ host: hostname, port, onread });
    }
    this.socket.setNoDelay(true);
    this.ready = new Promise<void>((resolve) => this.socket.once(secure ? 'secureConnect' : 'connect', () => resolve()));
    this.socket.on('error', (e) => (this.handler ? this.handler.onError(e) : this.close()));
    const eof = (): void => (this.handler ? this.handler.onEof() : this.close());
    this.socket.on('end', eof);
    this.socket.on('close', eof);
    this.socket.on('timeout', () => this.handler?.onTimeout());
  }

  /** Puts the connection back for the next request to the same origin. */
  park(): void {
    this.handler = undefined;
    const s = this.socket;
    if (s.destroyed || !s.writable) {
      this.close();
      return;
    }
    const list = idle.get(this.key) ?? [];
    if (list.length >= MAX_IDLE) {
      this.close();
      return;
    }
    s.setTimeout(0);
    s.resume(); // a server that closes the idle connection is seen at once
    s.unref();
    this.idleTimer = setTimeout(() => this.close(), IDLE_MS);
    this.idleTimer.unref();
    list.push(this);
    idle.set(this.key, list);
  }

  /** Takes the connection out of the idle list for a request. */
  take(handler: ConnHandler, timeoutMs: number): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.handler = handler;
    this.socket.ref();
    this.socket.setTimeout(timeoutMs);
  }

  close(): void {
    this.handler = undefined;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const list = idle.get(this.key);
    const i = list?.indexOf(this) ?? -1;
    if (list && i >= 0) list.splice(i, 1);
    this.socket.destroy();
  }
}

function takeIdle(key: string): Conn | undefined {
  const list = idle.get(key);
  while (list?.length) {
    const c = list.pop() as Conn;
    if (!c.socket.destroyed && c.socket.writable) return c;
    c.close();
  }
  return undefined;
}

/**
 * Sends a request and resolves with the status and headers once they have
 * arrived. Requests without a streamed body reuse idle connections to the
 * same origin; one that finds its reused connection closed before any
 * response byte is sent again on a new one.
 */
export function fastRequest(req: FastRequest): Promise<FastResponse> {
  const u = new URL(req.url);
  const secure = u.protocol === 'https:';
  const hostname = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port || (secure ? 443 : 80));
  const method = req.method ?? 'GET';
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = v;
  const fixed = typeof req.body === 'string' ? Buffer.from(req.body) : Buffer.isBuffer(req.body) ? req.body : undefined;
  const releasing = isReleasingBody(req.body) ? req.body : undefined;
  const stream = req.body !== undefined && fixed === undefined && !releasing ? (req.body as AsyncIterable<Buffer>) : undefined;
  if (fixed) headers['content-length'] = String(fixed.length);
  else if (releasing) headers['content-length'] = String(releasing.length);
  else if (!stream && ['PUT', 'POST', 'PATCH'].includes(method)) headers['content-length'] = '0';
  const bodyLength = Number(headers['content-length'] ?? 0);
  // Streamed bodies cannot be sent twice: they get a connection of their own.
  const poolable = !stream && !releasing;
  let tlsId = tlsIds.get(req.tls);
  if (tlsId === undefined) {
    tlsId = nextTlsId++;
    tlsIds.set(req.tls, tlsId);
  }
  const key = `${secure ? 'https' : 'http'}://${hostname}:${port}#${tlsId}`;

  const lines = [`${method} ${u.pathname}${u.search} HTTP/1.1`, `host: ${u.host}`];
  if (!poolable) lines.push('connection: close');
  for (const [k, v] of Object.entries(headers)) {
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(k) || /[\r\n\0]/.test(v)) {
      releasing?.cancel();
      return Promise.reject(new CodedError(`invalid HTTP header ${JSON.stringify(k)}`, 'ERR_INVALID_CHAR'));
    }
    if (k !== 'host' && k !== 'connection' && k !== 'transfer-encoding') lines.push(`${k}: ${v}`);
  }
  const head = `${lines.join('\r\n')}\r\n\r\n`;
  if (stream && !Number.isSafeInteger(bodyLength)) {
    return Promise.reject(new CodedError('a streamed request body needs a content-length', 'ERR_INVALID_ARG_VALUE'));
  }

  return new Promise<FastResponse>((resolve, reject) => {
    let settled = false;
    const abortError = (): CodedError => Object.assign(new CodedError('the request was aborted', 'ABORT_ERR'), { name: 'AbortError' });
    if (req.signal?.aborted) {
      releasing?.cancel();
      reject(abortError());
      return;
    }
    let current: { conn: Conn; fail: (e: unknown, final?: boolean) => void } | undefined;
    const onAbort = (): void => current?.fail(abortError(), true);
    req.signal?.addEventListener('abort', onAbort, { once: true });
    const finished = (): void => req.signal?.removeEventListener('abort', onAbort);

    const reused = poolable ? takeIdle(key) : undefined;
    attempt(reused ?? new Conn(key, secure, hostname, port, req.tls), reused !== undefined);

    function attempt(conn: Conn, isReused: boolean): void {
      let got: Buffer | undefined; // response head bytes so far
      let body: FastBody | undefined;
      let sawBytes = false;

      const failAll = (e: unknown, final = false): void => {
        if (!settled && isReused && !sawBytes && !final) {
          // The server had closed the idle connection: the request goes again on a new one.
          conn.close();
          attempt(new Conn(key, secure, hostname, port, req.tls), false);
          return;
        }
        releasing?.cancel(); // frees its buffers and files, whether or not sending began
        if (!settled) {
          settled = true;
          finished();
          reject(e);
        }
        body?.onError(e);
        conn.close();
      };
      current = { conn, fail: failAll };

      conn.take(
        {
          onBytes: (buf) => {
            sawBytes = true;
            onBytes(buf);
          },
          onEof: () => {
            if (body) body.onEnd();
            else if (got && !/^HTTP\/1\.[01] /.test(got.toString('latin1', 0, 9))) failAll(protocolError(`an answer that is not HTTP/1.x (${JSON.stringify(got.toString('latin1', 0, 40))})`));
            else failAll(new CodedError(got ? 'the connection closed in the middle of the response headers' : 'the connection closed before a response arrived', 'UND_ERR_SOCKET'));
          },
          onError: (e) => failAll(e),
          onTimeout: () => failAll(new CodedError(`no data for ${Math.round(req.timeoutMs / 1000)} s`, body ? 'UND_ERR_BODY_TIMEOUT' : 'UND_ERR_HEADERS_TIMEOUT')),
        },
        req.timeoutMs,
      );

      const send = (): void => {
        const socket = conn.socket;
        if (socket.destroyed || conn.handler === undefined) return;
        socket.write(head, 'latin1');
        if (fixed && fixed.length) socket.write(fixed);
        if (stream) sendStream(socket, stream).catch(failAll);
        if (releasing) sendReleasing(socket, releasing).catch(failAll);
      };
      if (isReused) send();
      else conn.ready.then(send, () => undefined);

      /** Writes a body of reused buffers, each released when written. */
      async function sendReleasing(socket: net.Socket, src: ReleasingBody): Promise<void> {
        try {
          for (;;) {
            const r = await src.nextChunk();
            if (!r) return;
            if (body || socket.destroyed) {
              r.release();
              src.cancel();
              return;
            }
            if (!socket.write(r.chunk, () => r.release())) await drained(socket);
          }
        } catch (e) {
          src.cancel();
          throw e;
        }
      }

      /** Writes a streamed body, waiting for the socket to drain; stops when a response arrives first. */
      async function sendStream(socket: net.Socket, src: AsyncIterable<Buffer>): Promise<void> {
        let sent = 0;
        for await (const chunk of src) {
          if (body || socket.destroyed) return; // answered (or failed) before the body was all sent
          sent += chunk.length;
          if (sent > bodyLength) throw new CodedError(`the request body is longer than its content-length ${bodyLength}`, 'ERR_HTTP_CONTENT_LENGTH_MISMATCH');
          if (!socket.write(chunk)) await drained(socket);
        }
        if (sent !== bodyLength && !body) throw new CodedError(`the request body ended after ${sent} of ${bodyLength} bytes`, 'ERR_HTTP_CONTENT_LENGTH_MISMATCH');
      }

      function onBytes(buf: Buffer): void {
        if (body) {
          body.onData(buf);
          return;
        }
        got = got ? Buffer.concat([got, buf]) : Buffer.from(buf);
        const end = got.indexOf('\r\n\r\n');
        if (end < 0 || end > HEAD_LIMIT) {
          if (got.length > HEAD_LIMIT) failAll(protocolError(`response headers over ${HEAD_LIMIT / 1024} KiB`));
          return;
        }
        let parsed: { status: number; headers: Record<string, string | string[]>; http10: boolean };
        let framing: Framing;
        try {
          parsed = parseHead(got.toString('latin1', 0, end));
          framing = framingOf(parsed.headers);
        } catch (e) {
          failAll(e);
          return;
        }
        const rest = got.subarray(end + 4);
        got = undefined;
        if (parsed.status < 200) {
          // An interim response (100 Continue): the real one follows.
          if (rest.length) onBytes(rest);
          return;
        }
        if (method === 'HEAD' || parsed.status === 204 || parsed.status === 304) framing = { kind: 'length', remaining: 0 };
        const keepAlive = poolable && !parsed.http10 && !/\bclose\b/i.test(String(parsed.headers.connection ?? ''));
        body = new FastBody(conn.socket, framing, req.timeoutMs, (reusable) => {
          finished();
          if (reusable && keepAlive && conn.handler !== undefined) conn.park();
          else conn.close();
        });
        settled = true;
        resolve({ status: parsed.status, headers: parsed.headers, body });
        body.onData(rest); // kept until someone reads; the socket pauses
      }
    }
  });
}

/**
 * Per TLS setting: one secure context (the CA bundle is parsed once, not per
 * connection) and the servers' session tickets for resumption.
 */
const tlsStates = new WeakMap<TlsSettings, { context: tls.SecureContext | undefined; sessions: Map<string, Buffer> }>();

function tlsState(t: TlsSettings): { context: tls.SecureContext | undefined; sessions: Map<string, Buffer> } {
  let st = tlsStates.get(t);
  if (!st) {
    const custom = (t.ca && t.ca.length) || t.clientCert || t.clientKey;
    st = {
      context: custom
        ? tls.createSecureContext({
            ...(t.ca && t.ca.length ? { ca: [...tls.rootCertificates, ...t.ca] } : {}),
            ...(t.clientCert ? { cert: t.clientCert } : {}),
            ...(t.clientKey ? { key: t.clientKey } : {}),
          })
        : undefined,
      sessions: new Map(),
    };
    tlsStates.set(t, st);
  }
  return st;
}

/** Resolves when the socket can take more writes; rejects when it closes first. */
function drained(socket: net.Socket): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (e?: unknown): void => {
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      if (e) reject(e);
      else resolve();
    };
    const onDrain = (): void => done();
    const onClose = (): void => done(new CodedError('the connection closed while sending the request body', 'EPIPE'));
    socket.on('drain', onDrain);
    socket.on('close', onClose);
  });
}

function parseHead(text: string): { status: number; headers: Record<string, string | string[]>; http10: boolean } {
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

function framingOf(headers: Record<string, string | string[]>): Framing {
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
