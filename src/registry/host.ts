/**
 * One registry host: picks the endpoint (hosts.toml, TLS, or plain HTTP for
 * insecure registries), authorizes requests, retries what is safe to retry,
 * and follows redirects without carrying credentials to another origin.
 */
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { Authorizer, unauthorizedError } from '../auth/authorizer.js';
import type { CredentialSource } from '../auth/credentials.js';
import type { TokenHttp } from '../auth/token.js';
import { OcictlError } from '../errors.js';
import { type DispatcherPool, type TlsSettings, loadUndici } from '../transport/dispatchers.js';
import { type ReleasingBody, fastRequest, isReleasingBody } from '../transport/fast-http.js';
import { isConnectionRefused, isNotTls, isRetryableNetworkError, isTlsHandshakeTimeout, networkError } from '../transport/errors.js';
import { type HostEndpoint, loadHostSettings } from '../transport/hosts-dir.js';
import { DEFAULT_RETRY, RETRYABLE_STATUS, type RetryPolicy, backoffDelay, delay } from '../transport/retry.js';

export type Capability = 'pull' | 'resolve' | 'push';

/** A request body: bytes, or a factory that opens a fresh stream (so the request can be replayed). */
export type BodySource = Buffer | string | (() => Readable | ReleasingBody | Promise<Readable | ReleasingBody>);

export interface HostRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  /** Path under the endpoint (`/repo/manifests/tag`, without the `/v2` prefix), or an absolute URL (upload Location). */
  path: string;
  headers?: Record<string, string>;
  body?: BodySource;
  scopes: string[];
  capability?: Capability;
  /** Retry this request on network errors and 5xx (default: yes for GET/HEAD/PUT/DELETE with a replayable body). */
  retry?: boolean;
  /** Do not retry 401 with new authorization. */
  noAuthRetry?: boolean;
  /** Bytes to buffer per read (undici highWaterMark). */
  highWaterMark?: number;
  /** Abort signal. */
  signal?: AbortSignal;
}

export interface HostResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: ResponseBody;
  /** The URL that answered (after redirects). */
  url: string;
}

export interface HostOptions {
  /** Registry name as in references and config.json (`docker.io`, `127.0.0.1:5000`). */
  host: string;
  /** Host to connect to (`registry-1.docker.io` for Docker Hub); default `host`. */
  apiHost?: string;
  hostsDirs?: string[];
  insecure: boolean;
  credentials: CredentialSource;
  pool: DispatcherPool;
  retry?: RetryPolicy;
  timeoutMs?: number;
  userAgent?: string;
  debug?: (line: string) => void;
  /** The HTTP client: the minimal one (transport/fast-http, default) or undici. */
  http?: 'fast' | 'undici';
}

interface ResolvedEndpoint {
  base: string; // scheme://host[:port]/v2
  origin: string;
  tls: TlsSettings;
  plainHttp: boolean;
  /** Whether credentials may be sent to this endpoint. */
  credentialsAllowed: boolean;
  headers: Record<string, string>;
  hostsDir: string;
  /** Whether a plain-HTTP fallback may still be tried. */
  canFallback: boolean;
}

/** What an exchange takes from the request beyond method, URL, headers and body. */
type ExchangeOptions = Pick<HostRequest, 'signal' | 'highWaterMark'>;
type Exchanged = { statusCode: number; headers: HostResponse['headers']; body: ResponseBody };

/** TLS with the system's CAs and nothing else; one object, so its connections and sessions are shared. */
const SYSTEM_TRUST: TlsSettings = Object.freeze({});

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

export class RegistryHost {
  readonly host: string;
  readonly authorizer: Authorizer;
  private endpoints = new Map<Capability, Promise<ResolvedEndpoint>>();
  /** TLS settings of token services on other hosts, by host. */
  private tokenServiceTls = new Map<string, TlsSettings>();
  private readonly retryPolicy: RetryPolicy;

  constructor(private readonly opts: HostOptions) {
    this.host = opts.host;
    this.retryPolicy = opts.retry ?? DEFAULT_RETRY;
    const tokenHttp: TokenHttp = (r) => this.tokenRequest(r);
    this.authorizer = new Authorizer(opts.host, opts.credentials, tokenHttp);
  }

  private debug(line: string): void {
    this.opts.debug?.(line);
  }

  private async resolve(cap: Capability): Promise<ResolvedEndpoint> {
    const key: Capability = cap === 'resolve' ? 'pull' : cap;
    let p = this.endpoints.get(key);
    if (!p) {
      p = this.computeEndpoint(key);
      this.endpoints.set(key, p);
      p.catch(() => this.endpoints.delete(key));
    }
    return p;
  }

  private async computeEndpoint(cap: Capability): Promise<ResolvedEndpoint> {
    const apiHost = this.opts.apiHost ?? this.opts.host;
    const settings = await loadHostSettings(this.opts.host, this.opts.hostsDirs);
    const ep: HostEndpoint | undefined = settings.endpoints.find((e) => e.capabilities.includes(cap) || (cap === 'pull' && e.capabilities.includes('resolve')));
    const insecure = this.opts.insecure;
    const url = new URL(ep?.url ?? `https://${apiHost}/v2`);
    const plainHttp = url.protocol === 'http:';
    const tls: TlsSettings = {
      ...(ep?.ca.length ? { ca: ep.ca } : {}),
      ...(ep?.clientCert ? { clientCert: ep.clientCert } : {}),
      ...(ep?.clientKey ? { clientKey: ep.clientKey } : {}),
      skipVerify: insecure || ep?.skipVerify === true,
    };
    const base = `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
    return {
      base,
      origin: `${url.protocol}//${url.host}`,
      tls,
      plainHttp,
      credentialsAllowed: !plainHttp || insecure || ep?.explicit === true,
      headers: ep?.headers ?? {},
      hostsDir: settings.dir,
      canFallback: !plainHttp && (insecure || isLoopbackHost(url.host)),
    };
  }

  /** Switches an endpoint to plain HTTP (the server does not speak TLS). */
  private fallBackToHttp(cap: Capability, ep: ResolvedEndpoint): void {
    const key: Capability = cap === 'resolve' ? 'pull' : cap;
    const u = new URL(ep.base);
    u.protocol = 'http:';
    const next: ResolvedEndpoint = {
      ...ep,
      base: u.toString().replace(/\/+$/, ''),
      origin: `http://${u.host}`,
      plainHttp: true,
      canFallback: false,
      credentialsAllowed: this.opts.insecure,
    };
    this.debug(`  ${this.host} does not speak TLS: using plain HTTP`);
    this.endpoints.set(key, Promise.resolve(next));
  }

  /** Throws INSECURE when credentials may not go to this host's endpoint (plain HTTP without --insecure-registry). */
  async assertCredentialsAllowed(cap: Capability = 'pull'): Promise<void> {
    const ep = await this.resolve(cap);
    if (!ep.credentialsAllowed) {
      throw new OcictlError('INSECURE', `refusing to send credentials over plain HTTP to ${this.host}`, { hint: `pass --insecure-registry to allow it for ${this.host}` });
    }
  }

  /** Base URL in use for a capability (after any fallback), e.g. for messages. */
  async baseUrl(cap: Capability = 'pull'): Promise<string> {
    return (await this.resolve(cap)).base;
  }

  /** Sends a request with authorization, retries and redirects. The caller consumes or dumps the body. */
  async request(req: HostRequest): Promise<HostResponse> {
    const cap = req.capability ?? (req.method === 'GET' || req.method === 'HEAD' ? 'pull' : 'push');
    const replayable = req.body === undefined || typeof req.body !== 'object' || Buffer.isBuffer(req.body) || typeof req.body === 'function';
    const retryable = (req.retry ?? (req.method !== 'PATCH' && req.method !== 'POST')) && replayable;
    const started = Date.now();
    let attempt = 0;
    let authRetried = false;
    let fallbacks = 0;
    for (;;) {
      const ep = await this.resolve(cap);
      const url = /^https?:\/\//.test(req.path) ? this.rebase(req.path, ep) : `${ep.base}${req.path}`;
      const sameOrigin = new URL(url).origin === ep.origin;
      const headers: Record<string, string> = { 'user-agent': this.opts.userAgent ?? 'ocictl', ...ep.headers, ...req.headers };
      let sentAuth: string | undefined;
      if (sameOrigin) {
        sentAuth = await this.authorizer.header(req.scopes, ep.credentialsAllowed);
        if (sentAuth) headers.authorization = sentAuth;
      }
      let res: HostResponse;
      try {
        res = await this.send(req.method, url, headers, req.body, ep, req);
      } catch (e) {
        if (ep.canFallback && fallbacks === 0 && (isNotTls(e) || isTlsHandshakeTimeout(e) || (this.opts.insecure && isConnectionRefused(e)))) {
          fallbacks++;
          this.fallBackToHttp(cap, ep);
          continue;
        }
        if (retryable && isRetryableNetworkError(e) && attempt < this.retryPolicy.retries && Date.now() - started < this.retryPolicy.maxTotalMs) {
          const d = backoffDelay(this.retryPolicy, attempt);
          this.debug(`  retry ${attempt + 1}/${this.retryPolicy.retries} in ${d} ms after ${(e as Error).message}`);
          attempt++;
          await delay(d);
          continue;
        }
        throw networkError(e, { host: this.host, hostsDir: ep.hostsDir, ...(this.opts.timeoutMs !== undefined ? { timeoutMs: this.opts.timeoutMs } : {}) });
      }
      if (res.status === 401 && !authRetried && !req.noAuthRetry && sameOrigin) {
        const www = res.headers['www-authenticate'];
        const text = await readSmall(res.body);
        authRetried = true;
        if (ep.plainHttp && !ep.credentialsAllowed && (await this.authorizer.getCredentials())) {
          throw new OcictlError('INSECURE', `refusing to send credentials over plain HTTP to ${this.host}`, { hint: `pass --insecure-registry to allow it for ${this.host}` });
        }
        if (await this.authorizer.unauthorized(www, req.scopes, sentAuth)) {
          if (!replayable) throw unauthorizedError(this.host);
          continue;
        }
        // No way to authorize further: hand the 401 to the caller with an empty body.
        return { ...res, body: bufferedBody(text) };
      }
      if (RETRYABLE_STATUS.has(res.status) && retryable && attempt < this.retryPolicy.retries && Date.now() - started < this.retryPolicy.maxTotalMs) {
        const d = backoffDelay(this.retryPolicy, attempt, res.headers['retry-after']);
        this.debug(`  retry ${attempt + 1}/${this.retryPolicy.retries} in ${d} ms after HTTP ${res.status}`);
        await res.body.dump().catch(() => undefined);
        attempt++;
        await delay(d);
        continue;
      }
      return res;
    }
  }

  /** Upload Locations are absolute on the registry's own origin; keep them on the endpoint's scheme. */
  private rebase(u: string, ep: ResolvedEndpoint): string {
    const target = new URL(u);
    const base = new URL(ep.origin);
    if (target.host === base.host && target.protocol !== base.protocol && ep.plainHttp === (base.protocol === 'http:')) {
      target.protocol = base.protocol;
    }
    return target.toString();
  }

  private async send(method: string, url: string, headers: Record<string, string>, body: BodySource | undefined, ep: ResolvedEndpoint, req: HostRequest): Promise<HostResponse> {
    let current = url;
    let hdrs = headers;
    let tls = ep.tls;
    for (let hop = 0; hop < 6; hop++) {
      const t0 = Date.now();
      this.debug(`> ${method} ${redactUrl(current)}`);
      const r = await this.exchange(method, current, hdrs, body, tls, req);
      this.debug(`< ${r.statusCode} ${method} ${redactUrl(current)} (${Date.now() - t0} ms)`);
      const loc = r.headers.location;
      if ([301, 302, 303, 307, 308].includes(r.statusCode) && typeof loc === 'string' && (method === 'GET' || method === 'HEAD')) {
        await r.body.dump().catch(() => undefined);
        const next = new URL(loc, current);
        const prev = new URL(current);
        if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new OcictlError('REGISTRY_ERROR', `${this.host} redirected to an unsupported URL scheme ${next.protocol}`);
        if (next.origin !== prev.origin) {
          // Never carry credentials to another origin (e.g. blob storage).
          hdrs = Object.fromEntries(Object.entries(hdrs).filter(([k]) => k.toLowerCase() !== 'authorization'));
          if (next.host !== prev.host) tls = SYSTEM_TRUST; // storage behind a redirect: the system's CAs only
        }
        current = next.toString();
        continue;
      }
      return { status: r.statusCode, headers: r.headers, body: r.body, url: current };
    }
    throw new OcictlError('REGISTRY_ERROR', `${this.host} redirected too many times`);
  }

  /** One request and its response head, on the HTTP client in use (fast-http, or undici). */
  private exchange(method: string, url: string, headers: Record<string, string>, body: BodySource | undefined, tls: TlsSettings, req: ExchangeOptions = {}): Promise<Exchanged> {
    return this.opts.http === 'undici' ? this.undiciRequest(method, url, headers, body, tls, req) : this.fastSend(method, url, headers, body, tls, req);
  }

  private async fastSend(method: string, url: string, headers: Record<string, string>, body: BodySource | undefined, tls: TlsSettings, req: ExchangeOptions): Promise<Exchanged> {
    const b = typeof body === 'function' ? await body() : body;
    const f = await fastRequest({ method, url, headers, tls, timeoutMs: this.opts.timeoutMs ?? 60_000, ...(b !== undefined ? { body: b } : {}), ...(req.signal ? { signal: req.signal } : {}) });
    return { statusCode: f.status, headers: f.headers, body: f.body };
  }

  private async undiciRequest(method: string, url: string, headers: Record<string, string>, body: BodySource | undefined, tls: TlsSettings, req: ExchangeOptions): Promise<Exchanged> {
    const { request } = await loadUndici();
    const disp = await this.opts.pool.get(tls);
    const made = typeof body === 'function' ? await body() : body;
    const b = isReleasingBody(made) ? Readable.from(copiedChunks(made), { objectMode: false }) : made;
    return request(url, {
      method: method as Dispatcher.HttpMethod,
      headers,
      ...(b !== undefined ? { body: b } : {}),
      dispatcher: disp,
      highWaterMark: req.highWaterMark ?? 1024 * 1024,
      ...(req.signal ? { signal: req.signal } : {}),
    });
  }

  /** HTTP for the token service: same TLS settings when it is the registry's own origin. */
  private async tokenRequest(r: Parameters<TokenHttp>[0]): Promise<{ status: number; text: string }> {
    const ep = await this.resolve('pull');
    const u = new URL(r.url);
    const sameHost = u.host === new URL(ep.origin).host;
    // --insecure-registry covers the named registry only, not a token service on another host.
    if (u.protocol === 'http:' && r.headers.authorization && !(sameHost && (this.opts.insecure || ep.credentialsAllowed))) {
      throw new OcictlError('INSECURE', `refusing to send credentials over plain HTTP to the token service ${u.origin}`, {
        hint: sameHost ? `pass --insecure-registry to allow it for ${this.host}` : `it is not ${this.host} itself, which --insecure-registry covers; serve the token service over HTTPS`,
      });
    }
    let tls: TlsSettings | undefined = sameHost ? ep.tls : this.tokenServiceTls.get(u.host);
    if (!tls) {
      // A token service on another host: its own hosts-dir settings, read once (one object, so its connections are reused).
      const s = await loadHostSettings(u.host, this.opts.hostsDirs);
      const e = s.endpoints[0];
      tls = { ...(e?.ca.length ? { ca: e.ca } : {}), skipVerify: e?.skipVerify === true };
      this.tokenServiceTls.set(u.host, tls);
    }
    let attempt = 0;
    for (;;) {
      try {
        this.debug(`> ${r.method} ${redactUrl(r.url)}`);
        const headers = { 'user-agent': this.opts.userAgent ?? 'ocictl', ...r.headers };
        const res = await this.exchange(r.method, r.url, headers, r.body, tls);
        const text = await res.body.text();
        this.debug(`< ${res.statusCode} ${r.method} ${redactUrl(r.url)}`);
        if (RETRYABLE_STATUS.has(res.statusCode) && attempt < this.retryPolicy.retries) {
          await delay(backoffDelay(this.retryPolicy, attempt++, res.headers['retry-after']));
          continue;
        }
        return { status: res.statusCode, text };
      } catch (e) {
        if (isRetryableNetworkError(e) && attempt < this.retryPolicy.retries) {
          await delay(backoffDelay(this.retryPolicy, attempt++));
          continue;
        }
        throw networkError(e, { host: u.host, hostsDir: ep.hostsDir });
      }
    }
  }
}

/** A releasing body as owned chunks, for undici. */
async function* copiedChunks(b: ReleasingBody): AsyncGenerator<Buffer> {
  try {
    for (;;) {
      const c = await b.nextChunk();
      if (!c) return;
      const own = Buffer.from(c.chunk);
      c.release();
      yield own;
    }
  } finally {
    b.cancel();
  }
}

/** Drops query parameters that could carry secrets from URLs printed in debug output. */
export function redactUrl(u: string): string {
  try {
    const url = new URL(u);
    for (const k of [...url.searchParams.keys()]) {
      if (/token|secret|password|signature|credential|x-amz-security/i.test(k)) url.searchParams.set(k, 'REDACTED');
    }
    url.username = '';
    url.password = '';
    return url.toString();
  } catch {
    return '(invalid url)';
  }
}

/** A response body: what undici's BodyReadable offers that ocictl uses. */
export interface ResponseBody extends AsyncIterable<Buffer> {
  text(): Promise<string>;
  dump(): Promise<void>;
  destroy(error?: Error): unknown;
}

/** Reads at most 64 KiB of a body as text (error bodies), discarding the rest. */
export async function readSmall(body: ResponseBody, limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of body) {
      if (n < limit) chunks.push(c.subarray(0, limit - n));
      n += c.length;
    }
  } catch {
    /* a broken error body is still an error */
  }
  return Buffer.concat(chunks).toString('utf8');
}

function bufferedBody(text: string): ResponseBody {
  const buf = Buffer.from(text);
  return {
    async *[Symbol.asyncIterator]() {
      if (buf.length) yield buf;
    },
    text: async () => text,
    dump: async () => undefined,
    destroy: () => undefined,
  };
}
