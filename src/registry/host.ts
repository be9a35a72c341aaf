/**
 * One registry host: picks the endpoint (hosts.toml, TLS, or plain HTTP for
 * insecure registries), authorizes requests, retries what is safe to retry,
 * and follows redirects without carrying credentials to another origin.
 */
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { Authorizer, unauthorizedError } from '../auth/authorizer.js';
import type { CredentialSource } from '../auth/credentials.js';
import type { TokenHttp } from '../auth/token.js';
import { OcictlError } from '../errors.js';
import { type DispatcherPool, type TlsSettings, loadUndici } from '../transport/dispatchers.js';
import { type ReleasingBody, fastRequest, isReleasingBody } from '../transport/fast-http.js';
import { isConnectionRefused, isNotTls, isRetryableNetworkError, isTlsHandshakeTimeout, networkError } from '../transport/errors.js';
import { type RegistryHostEntry, configuredHosts, isLoopbackHost, otherHostTls } from '../transport/hosts-dir.js';
import { DEFAULT_RETRY, RETRYABLE_STATUS, type RetryPolicy, backoffDelay, delay } from '../transport/retry.js';

/** What a request does: `resolve` (a tag to a digest), `pull` (content by digest), `push`. */
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
  /** Only the registry's own endpoint (the `server` entry), never a mirror (login). */
  serverOnly?: boolean;
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
  /** Index in the host list (stable across an HTTP fallback). */
  index: number;
  capabilities: readonly string[];
  /** Whether this is the registry's own endpoint (the `server` entry, or its host). */
  isServer: boolean;
  authorizer: Authorizer;
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

export { isLoopbackHost };

export class RegistryHost {
  readonly host: string;
  readonly authorizer: Authorizer;
  /** Every host this registry is reached through, in order (mirrors, then the server). */
  private hosts: Promise<ResolvedEndpoint[]> | undefined;
  /** Authorizers of mirrors on other hosts, by host: a mirror has its own challenge and tokens. */
  private mirrorAuthorizers = new Map<string, Authorizer>();
  /** TLS settings of token services on other hosts, by host. */
  private tokenServiceTls = new Map<string, TlsSettings>();
  private readonly retryPolicy: RetryPolicy;

  constructor(private readonly opts: HostOptions) {
    this.host = opts.host;
    this.retryPolicy = opts.retry ?? DEFAULT_RETRY;
    const tokenHttp: TokenHttp = (r) => this.tokenRequest(r, undefined);
    this.authorizer = new Authorizer(opts.host, opts.credentials, tokenHttp);
  }

  private debug(line: string): void {
    this.opts.debug?.(line);
  }

  private allHosts(): Promise<ResolvedEndpoint[]> {
    if (!this.hosts) {
      const p = this.computeHosts();
      this.hosts = p;
      p.catch(() => {
        if (this.hosts === p) this.hosts = undefined;
      });
    }
    return this.hosts;
  }

  /**
   * The hosts to try for a capability, in order, as containerd filters them: tags resolve only
   * through hosts with `resolve`, content by digest through hosts with `pull`; a push goes to the
   * first host with `push` only.
   */
  private async candidates(cap: Capability, serverOnly = false): Promise<ResolvedEndpoint[]> {
    const all = await this.allHosts();
    // The registry itself (login, tag lists): the server, and before it any [host] table naming the
    // same host (which may carry the CA or client certificate), tried in order as nerdctl's login does.
    if (serverOnly) return all.filter((e) => e.isServer);
    const need = cap === 'resolve' ? ['pull', 'resolve'] : [cap];
    const list = all.filter((e) => need.every((c) => e.capabilities.includes(c)));
    if (list.length === 0) {
      const dir = (all[0] as ResolvedEndpoint).hostsDir;
      throw new OcictlError('CONFIG_INVALID', `no host configured for ${this.host} has the ${cap === 'resolve' ? '"resolve"' : `"${cap}"`} capability`, { hint: `add it to a [host] table or to the server in ${path.join(dir, 'hosts.toml')}` });
    }
    return cap === 'push' ? list.slice(0, 1) : list;
  }

  private async computeHosts(): Promise<ResolvedEndpoint[]> {
    const { dir, entries } = await configuredHosts(this.opts.host, this.opts.hostsDirs);
    const insecure = this.opts.insecure;
    const serverHost = (entries[entries.length - 1] as RegistryHostEntry).host;
    return entries.map((e, index) => {
      const plainHttp = e.scheme === 'http:';
      const tls: TlsSettings = {
        ...(e.ca.length ? { ca: e.ca } : {}),
        ...(e.clientCert ? { clientCert: e.clientCert } : {}),
        ...(e.clientKey ? { clientKey: e.clientKey } : {}),
        skipVerify: insecure || e.skipVerify,
      };
      const isServer = index === entries.length - 1 || e.host === serverHost;
      const ep: ResolvedEndpoint = {
        index,
        capabilities: e.capabilities,
        isServer,
        authorizer: this.authorizer,
        base: `${e.scheme}//${e.host}${e.path}`,
        origin: `${e.scheme}//${e.host}`,
        tls,
        plainHttp,
        credentialsAllowed: !plainHttp || insecure || e.explicit,
        headers: e.headers,
        hostsDir: dir,
        canFallback: !plainHttp && (insecure || e.httpFallback),
      };
      ep.authorizer = isServer ? this.authorizer : this.mirrorAuthorizer(ep);
      return ep;
    });
  }

  /** A mirror's own authorizer: its own challenge, tokens and token-service headers; the registry's credentials. */
  private mirrorAuthorizer(ep: ResolvedEndpoint): Authorizer {
    const key = new URL(ep.origin).host;
    let a = this.mirrorAuthorizers.get(key);
    if (!a) {
      const shared: CredentialSource = { get: () => this.authorizer.getCredentials() };
      a = new Authorizer(this.opts.host, shared, (r) => this.tokenRequest(r, ep.index));
      this.mirrorAuthorizers.set(key, a);
    }
    return a;
  }

  /** Switches an endpoint to plain HTTP (the server does not speak TLS). */
  private async fallBackToHttp(ep: ResolvedEndpoint): Promise<void> {
    const all = await this.allHosts();
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
    this.debug(`  ${new URL(ep.origin).host} does not speak TLS: using plain HTTP`);
    if (all[ep.index] === ep) all[ep.index] = next;
  }

  /** Throws INSECURE when credentials may not go to this host's endpoint (plain HTTP without --insecure-registry). */
  async assertCredentialsAllowed(cap: Capability = 'pull'): Promise<void> {
    const [ep] = await this.candidates(cap, true);
    if (ep && !ep.credentialsAllowed) {
      throw new OcictlError('INSECURE', `refusing to send credentials over plain HTTP to ${this.host}`, { hint: `pass --insecure-registry to allow it for ${this.host}` });
    }
  }

  /** Base URL in use for a capability (the first host that has it, after any fallback), e.g. for messages. */
  async baseUrl(cap: Capability = 'pull', serverOnly = false): Promise<string> {
    return ((await this.candidates(cap, serverOnly))[0] as ResolvedEndpoint).base;
  }

  /**
   * Sends a request with authorization, retries and redirects. The caller consumes or dumps the body.
   * Reads (GET/HEAD to resolve or pull) try the hosts in order, as containerd does: a host that fails
   * (network error, or an HTTP error status) hands over to the next one, mirrors first, the server last.
   */
  async request(req: HostRequest): Promise<HostResponse> {
    const cap = req.capability ?? (req.method === 'GET' || req.method === 'HEAD' ? 'pull' : 'push');
    const hosts = await this.candidates(cap, req.serverOnly);
    const failover = (req.method === 'GET' || req.method === 'HEAD') && cap !== 'push';
    for (let i = 0; ; i++) {
      const ep = hosts[i] as ResolvedEndpoint;
      const last = !failover || i === hosts.length - 1;
      let res: HostResponse;
      try {
        res = await this.requestVia(ep.index, req, cap, last);
      } catch (e) {
        if (last || req.signal?.aborted) throw e;
        this.debug(`  ${new URL(ep.origin).host} failed (${(e as Error).message}): trying the next host`);
        continue;
      }
      // The registry's own hosts (serverOnly: login, tag lists) are one server: its HTTP answer (login's
      // 401 challenge included) is the answer, whichever table reached it; only a host that could not
      // be reached hands over to the next.
      if (last || res.status < 400 || req.serverOnly) return res;
      this.debug(`  ${new URL(ep.origin).host} answered ${res.status}: trying the next host`);
      await res.body.dump().catch(() => undefined);
    }
  }

  /** One request through one host: authorization, retries (on the last host only) and the plain-HTTP fallback. */
  private async requestVia(index: number, req: HostRequest, cap: Capability, lastHost: boolean): Promise<HostResponse> {
    const replayable = req.body === undefined || typeof req.body !== 'object' || Buffer.isBuffer(req.body) || typeof req.body === 'function';
    const retryable = lastHost && (req.retry ?? (req.method !== 'PATCH' && req.method !== 'POST')) && replayable;
    const started = Date.now();
    let attempt = 0;
    let authRetried = false;
    let fallbacks = 0;
    for (;;) {
      const ep = (await this.allHosts())[index] as ResolvedEndpoint;
      const url = /^https?:\/\//.test(req.path) ? this.rebase(req.path, ep) : `${ep.base}${req.path}`;
      const sameOrigin = new URL(url).origin === ep.origin;
      const headers: Record<string, string> = { 'user-agent': this.opts.userAgent ?? 'ocictl', ...ep.headers, ...req.headers };
      let sentAuth: string | undefined;
      if (sameOrigin) {
        sentAuth = await ep.authorizer.header(req.scopes, ep.credentialsAllowed);
        if (sentAuth) headers.authorization = sentAuth;
      }
      let res: HostResponse;
      try {
        res = await this.send(req.method, url, headers, req.body, ep, req);
      } catch (e) {
        if (ep.canFallback && fallbacks === 0 && (isNotTls(e) || isTlsHandshakeTimeout(e) || (this.opts.insecure && isConnectionRefused(e)))) {
          fallbacks++;
          await this.fallBackToHttp(ep);
          continue;
        }
        if (retryable && isRetryableNetworkError(e) && attempt < this.retryPolicy.retries && Date.now() - started < this.retryPolicy.maxTotalMs) {
          const d = backoffDelay(this.retryPolicy, attempt);
          this.debug(`  retry ${attempt + 1}/${this.retryPolicy.retries} in ${d} ms after ${(e as Error).message}`);
          attempt++;
          await delay(d);
          continue;
        }
        throw networkError(e, { host: ep.isServer ? this.host : new URL(ep.origin).host, hostsDir: ep.hostsDir, ...(this.opts.timeoutMs !== undefined ? { timeoutMs: this.opts.timeoutMs } : {}) });
      }
      if (res.status === 401 && !authRetried && !req.noAuthRetry && sameOrigin) {
        const www = res.headers['www-authenticate'];
        const text = await readSmall(res.body);
        authRetried = true;
        if (ep.plainHttp && !ep.credentialsAllowed && (await ep.authorizer.getCredentials())) {
          throw new OcictlError('INSECURE', `refusing to send credentials over plain HTTP to ${this.host}`, { hint: `pass --insecure-registry to allow it for ${this.host}` });
        }
        if (await ep.authorizer.unauthorized(www, req.scopes, sentAuth)) {
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
  private async tokenRequest(r: Parameters<TokenHttp>[0], index: number | undefined): Promise<{ status: number; text: string }> {
    const all = await this.allHosts();
    const ep = (index === undefined ? all[all.length - 1] : all[index]) as ResolvedEndpoint;
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
      tls = await otherHostTls(u.host, this.opts.hostsDirs);
      this.tokenServiceTls.set(u.host, tls);
    }
    let attempt = 0;
    for (;;) {
      try {
        this.debug(`> ${r.method} ${redactUrl(r.url)}`);
        // the host's configured headers go to its token service too, as containerd sends them
        const headers = { 'user-agent': this.opts.userAgent ?? 'ocictl', ...ep.headers, ...r.headers };
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
