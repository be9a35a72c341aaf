/**
 * One HTTP exchange for the doctor's registry checks, on the transport's
 * client, bounded by the run's budget; and the rule for credentials: they go
 * only over TLS that verified (or plain HTTP the user allowed for SERVER
 * itself), only to SERVER or the token service it names over HTTPS.
 */
import type { TlsSettings } from '../transport/dispatchers.js';
import { fastRequest } from '../transport/fast-http.js';
import { otherHostTls } from '../transport/hosts-dir.js';
import type { Budget } from './check.js';
import type { Target } from './files.js';

export interface Answer {
  status: number;
  headers: Record<string, string | string[]>;
  text: string;
  /** Local time (epoch ms) half-way through the exchange. */
  at: number;
}

export function header(a: Answer, name: string): string | undefined {
  const v = a.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** How the checks reach SERVER after the TLS checks. */
export interface Route {
  base: string;
  tls: TlsSettings;
  credentialsAllowed: boolean;
  credentialsRefused?: string;
  plainHttp: boolean;
  hostsDirs?: string[];
}

export function routeOf(t: Target, o: { plainHttp: boolean; credentialsAllowed: boolean; credentialsRefused?: string; insecure: boolean; hostsDirs?: string[] }): Route {
  const u = new URL(t.base);
  if (o.plainHttp) u.protocol = 'http:';
  const ep = t.endpoint;
  const r: Route = {
    base: u.toString().replace(/\/+$/, ''),
    tls: {
      ...(ep?.ca.length ? { ca: ep.ca } : {}),
      ...(ep?.clientCert ? { clientCert: ep.clientCert } : {}),
      ...(ep?.clientKey ? { clientKey: ep.clientKey } : {}),
      // Anonymous probes still run against an untrusted certificate; credentials do not (credentialsAllowed).
      skipVerify: o.insecure || ep?.skipVerify === true || !o.credentialsAllowed,
    },
    credentialsAllowed: o.credentialsAllowed,
    plainHttp: o.plainHttp,
  };
  if (o.credentialsRefused) r.credentialsRefused = o.credentialsRefused;
  if (o.hostsDirs) r.hostsDirs = o.hostsDirs;
  return r;
}

export async function exchange(url: string, init: { method?: string; headers?: Record<string, string>; body?: string; tls: TlsSettings }, budget: Budget, capMs = 10_000): Promise<Answer> {
  const t0 = Date.now();
  const r = await fastRequest({
    method: init.method ?? 'GET',
    url,
    headers: { 'user-agent': 'ocictl-doctor', ...(init.headers ?? {}) },
    ...(init.body !== undefined ? { body: init.body } : {}),
    tls: init.tls,
    timeoutMs: budget.op(capMs),
    signal: budget.signal(capMs),
  });
  const t1 = Date.now();
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of r.body) {
    if (n < 64 * 1024) chunks.push(Buffer.from(c.subarray(0, 64 * 1024 - n)));
    n += c.length;
  }
  return { status: r.status, headers: r.headers, text: Buffer.concat(chunks).toString('utf8'), at: Math.round((t0 + t1) / 2) };
}

/** TLS settings for another URL: SERVER's own when same host, else that host's hosts-dir settings. */
export async function tlsFor(url: URL, t: Target, route: Route): Promise<TlsSettings> {
  if (url.host === new URL(route.base).host) return route.tls;
  return otherHostTls(url.host, route.hostsDirs);
}

/** Why credentials may not go to `url` (undefined when they may). */
export function credentialsBarrier(url: URL, route: Route): string | undefined {
  if (!route.credentialsAllowed) return route.credentialsRefused ?? 'credentials are not sent';
  const same = url.host === new URL(route.base).host;
  if (url.protocol === 'http:' && !(same && route.plainHttp)) return `${url.origin} is plain HTTP: credentials are not sent to it`;
  return undefined;
}
