/** Retry policy: exponential backoff with jitter, bounded in count and time, honouring Retry-After. */
import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryPolicy {
  /** Retries after the first attempt (default 3). */
  retries: number;
  /** First delay in ms (default 250). */
  baseDelayMs: number;
  /** Longest single delay (default 10 s). */
  maxDelayMs: number;
  /** Total time budget for all attempts of one request (default 120 s). */
  maxTotalMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 3, baseDelayMs: 250, maxDelayMs: 10_000, maxTotalMs: 120_000 };

export const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** Delay before retry number `attempt` (0-based), with full jitter in [50%, 100%]. */
export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfter?: string | string[]): number {
  const ra = parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
  if (ra !== undefined) return Math.min(ra, 60_000);
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}

export function parseRetryAfter(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const t = v.trim();
  if (/^\d+$/.test(t)) return Number(t) * 1000;
  const d = Date.parse(t);
  if (!Number.isNaN(d)) return Math.max(0, d - Date.now());
  return undefined;
}

export async function delay(ms: number): Promise<void> {
  if (ms > 0) await sleep(ms);
}
