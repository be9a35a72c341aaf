/**
 * undici dispatchers, one per origin and TLS setting: custom CA (added to the
 * system roots), client certificates, and skip-verify for insecure registries.
 * undici itself is loaded on first use: a pull, which goes through
 * fast-http only, never pays its ~110 ms and ~20 MiB.
 */
import { rootCertificates } from 'node:tls';
import type { Agent, Dispatcher } from 'undici';

type Undici = typeof import('undici');
let undici: Promise<Undici> | undefined;

/** undici, imported once on first use. */
export function loadUndici(): Promise<Undici> {
  undici ??= import('undici');
  return undici;
}

export interface TlsSettings {
  ca?: string[];
  clientCert?: string;
  clientKey?: string;
  skipVerify?: boolean;
}

export interface DispatcherOptions {
  /** Stall timeout for headers and body, ms (default 60 s). */
  timeoutMs?: number;
  /** Connections per origin (default 8). */
  connections?: number;
}

export class DispatcherPool {
  private agents = new Map<string, Agent>();
  constructor(private readonly options: DispatcherOptions = {}) {}

  async get(tls: TlsSettings): Promise<Dispatcher> {
    const { Agent } = await loadUndici();
    const key = JSON.stringify([tls.ca ?? [], tls.clientCert ?? '', tls.clientKey ? 'k' : '', tls.skipVerify === true]);
    let a = this.agents.get(key);
    if (!a) {
      const timeout = this.options.timeoutMs ?? 60_000;
      const connect: Record<string, unknown> = { rejectUnauthorized: tls.skipVerify !== true };
      if (tls.ca && tls.ca.length > 0) connect.ca = [...rootCertificates, ...tls.ca];
      if (tls.clientCert) connect.cert = tls.clientCert;
      if (tls.clientKey) connect.key = tls.clientKey;
      a = new Agent({
        connect,
        headersTimeout: timeout,
        bodyTimeout: timeout,
        connectTimeout: Math.min(timeout, 30_000),
        keepAliveTimeout: 10_000,
        connections: this.options.connections ?? 8,
        pipelining: 1,
      });
      this.agents.set(key, a);
    }
    return a;
  }

  async close(): Promise<void> {
    const all = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(all.map((a) => a.close().catch(() => a.destroy())));
  }
}
