/**
 * undici dispatchers, one per origin and TLS setting: custom CA (added to the
 * system roots), client certificates, and skip-verify for insecure registries.
 */
import { rootCertificates } from 'node:tls';
import { Agent, type Dispatcher } from 'undici';

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

  get(tls: TlsSettings): Dispatcher {
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
