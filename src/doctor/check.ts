/**
 * What every doctor check produces, and the time budget they share: each
 * network step gets what is left of `--timeout`, so a server that accepts and
 * never answers cannot hold the run past it.
 */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  /** Short and stable, e.g. `tcp connect`, `tls chain`, `credentials`. */
  name: string;
  status: CheckStatus;
  /** One line with the facts found (never a password or token). */
  detail: string;
  /** For `warn` and `fail`: the exact command or file change that fixes it. */
  fix?: string;
}

export function check(name: string, status: CheckStatus, detail: string, fix?: string): Check {
  return fix !== undefined && (status === 'warn' || status === 'fail') ? { name, status, detail, fix } : { name, status, detail };
}

export function skip(name: string, reason: string): Check {
  return { name, status: 'skip', detail: reason };
}

/** The run's deadline; every network operation asks it for its own timeout. */
export class Budget {
  readonly deadline: number;
  constructor(readonly totalMs: number, now = Date.now()) {
    this.deadline = now + totalMs;
  }
  left(): number {
    return Math.max(0, this.deadline - Date.now());
  }
  /**
   * Time for one operation: what is left (less a little, so that the run can
   * still report in time), at most `capMs`, and at least 1 ms.
   */
  op(capMs = 10_000): number {
    const left = this.left();
    return Math.max(1, Math.min(left > 1000 ? left - 300 : left, capMs));
  }
  expired(): boolean {
    return this.left() <= 0;
  }
  /** A signal that aborts when this operation's time is up. */
  signal(capMs?: number): AbortSignal {
    return AbortSignal.timeout(this.op(capMs));
  }
}

/** Races `p` against `ms`; on time-out resolves to `onTimeout()` (the operation itself is abandoned). */
export async function within<T>(p: Promise<T>, ms: number, onTimeout: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(onTimeout()), ms);
    timer.unref();
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

export function seconds(ms: number): string {
  return ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`;
}
