/**
 * A minimal HTTP/1.1 client for the registry API. The socket reads into
 * reused memory (the `onread` option of net and tls sockets): a Content-Length
 * body straight into memory its sink lends (the store's slab), anything else
 * into one buffer per connection, handed a piece at a time to a sink that
 * copies what it keeps. No buffer is allocated per chunk, no stream or async
 * iterator runs per chunk, and a blob's bytes are not copied in user space at
 * all. Request bodies are written straight to the socket. On this machine that
 * more than halves the client CPU of a pull (docs/performance.md), and a
 * command that uses only this never loads undici.
 *
 * It does what the distribution API needs: keep-alive connections reused per
 * origin (streamed uploads get one of their own); request bodies of known
 * length; response bodies by Content-Length, chunked or close-delimited; no
 * pipelining, no HTTP/2, no proxies. Redirects, authorization and
 * retries stay with the caller (RegistryHost). Errors carry the codes the
 * rest of the transport knows (ECONNRESET, UND_ERR_BODY_TIMEOUT, ...), so
 * retries and messages work as they do for undici.
 */
import type * as net from 'node:net';
import type { TlsSettings } from './dispatchers.js';
import { type BorrowedSink, CodedError, FastBody, type Framing, framingOf, parseHead, protocolError } from './http-body.js';
import { Conn, connectionKey, takeIdle } from './http-connection.js';

export { type BorrowedSink, FastBody } from './http-body.js';

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

/** The largest response head (status line and headers), as Node's and undici's default maxHeaderSize. */
const HEAD_LIMIT = 16 * 1024;

/** Hands a response body to a borrowing sink: pumped when it is a FastBody, else chunk by chunk (undici's). */
export async function pumpBody(body: AsyncIterable<Buffer>, sink: BorrowedSink): Promise<void> {
  if (body instanceof FastBody) return body.pump(sink);
  for await (const c of body) if (!sink.take(c)) await sink.ready();
}

/** A GET (the request's method is ignored). */
export function fastGet(req: FastRequest): Promise<FastResponse> {
  return fastRequest({ ...req, method: 'GET' });
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
  const key = connectionKey(secure, hostname, port, req.tls);

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
          readInto: () => body?.readInto(),
          onDirect: (n) => body?.onDirect(n),
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
        if (end < 0 || end + 4 > HEAD_LIMIT) {
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
        if (framing.kind === 'length' && rest.length > framing.remaining) {
          // Bytes past the end of this response: a second answer nobody asked for (llhttp refuses it too).
          failAll(protocolError(framing.remaining === 0 ? `bytes after a response that has no body (${parsed.status})` : 'a response longer than its Content-Length'));
          return;
        }
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
