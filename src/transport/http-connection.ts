/**
 * Connections for fast-http: one socket per connection reading into reused
 * memory (`onread`: before every read the request's handler may lend memory,
 * else the connection's own buffer), kept alive between requests per origin
 * and TLS setting, with one secure context per setting and TLS sessions
 * resumed.
 */
import { isIP } from 'node:net';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { TlsSettings } from './dispatchers.js';

const READ_BUFFER = 256 * 1024;

/**
 * A TLS handshake not done by then fails with ERR_TLS_HANDSHAKE_TIMEOUT (Go's
 * default transport waits as long). A plain-HTTP server may never answer a
 * ClientHello (Node's http servers do not): where ocictl may fall back to HTTP
 * it then does, instead of waiting out the request timeout.
 * `OCICTL_TLS_HANDSHAKE_TIMEOUT_MS` overrides it.
 */
const TLS_HANDSHAKE_MS = Number(process.env.OCICTL_TLS_HANDSHAKE_TIMEOUT_MS) || 10_000;

/** What a connection passes on to the request it serves. */
export interface ConnHandler {
  onBytes(buf: Buffer): void;
  /** Memory for the next read instead of the connection's buffer (see FastBody.readInto). */
  readInto?(): Buffer | undefined;
  /** `n` bytes were read into the memory readInto() gave. */
  onDirect?(n: number): void;
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
export class Conn {
  readonly socket: net.Socket;
  handler: ConnHandler | undefined;
  /** Resolves once connected (and the TLS handshake is done). */
  readonly ready: Promise<void>;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(readonly key: string, secure: boolean, hostname: string, port: number, t: TlsSettings) {
    const own = Buffer.allocUnsafe(READ_BUFFER);
    // Memory the handler lent for the next read (asked for after every read).
    let lent: Buffer | undefined;
    const onread = {
      buffer: (): Buffer => {
        lent = this.handler?.readInto?.();
        return lent ?? own;
      },
      callback: (n: number, buf: Buffer): boolean => {
        const into = lent;
        lent = undefined;
        const h = this.handler;
        if (!h) this.close(); // bytes nobody asked for: the connection is not in a known state
        else if (into && buf.buffer === into.buffer && buf.byteOffset === into.byteOffset && h.onDirect) h.onDirect(n);
        else h.onBytes(buf.subarray(0, n));
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
      const socket = this.socket;
      const handshake = setTimeout(() => {
        const e = Object.assign(new Error(`no TLS handshake within ${Math.round(TLS_HANDSHAKE_MS / 1000)} s`), { code: 'ERR_TLS_HANDSHAKE_TIMEOUT' });
        socket.destroy(e);
      }, TLS_HANDSHAKE_MS);
      handshake.unref();
      socket.once('secureConnect', () => clearTimeout(handshake));
      socket.once('close', () => clearTimeout(handshake));
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

export function takeIdle(key: string): Conn | undefined {
  const list = idle.get(key);
  while (list?.length) {
    const c = list.pop() as Conn;
    if (!c.socket.destroyed && c.socket.writable) return c;
    c.close();
  }
  return undefined;
}

/** The pool key of an origin and TLS setting. */
export function connectionKey(secure: boolean, hostname: string, port: number, t: TlsSettings): string {
  let id = tlsIds.get(t);
  if (id === undefined) {
    id = nextTlsId++;
    tlsIds.set(t, id);
  }
  return `${secure ? 'https' : 'http'}://${hostname}:${port}#${id}`;
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
