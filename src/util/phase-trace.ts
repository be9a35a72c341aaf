/**
 * An opt-in timing trace of where a command's time goes, by phase (hashing,
 * disk writes, fsync, rename, waiting on the disk, ...): `OCICTL_TRACE=1`
 * prints one table on stderr when the process exits. Off, every call is a
 * test of one boolean. Used by the store's writer and the pull; the bench and
 * docs/performance.md read its output.
 *
 * Per phase: how many times it ran, the sum of its durations (work that runs
 * in the thread pool overlaps, so the sum can exceed the wall time), and the
 * wall time during which at least one was under way ("covered").
 */
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';

export const tracing = process.env.OCICTL_TRACE === '1';

interface Phase {
  count: number;
  sum: number;
  active: number;
  since: number;
  covered: number;
  bytes: number;
}

const phases = new Map<string, Phase>();
const t0 = performance.now();
let installed = false;

function phase(name: string): Phase {
  let p = phases.get(name);
  if (!p) {
    p = { count: 0, sum: 0, active: 0, since: 0, covered: 0, bytes: 0 };
    phases.set(name, p);
  }
  if (!installed) {
    installed = true;
    process.on('exit', report);
  }
  return p;
}

/** Starts one occurrence of `name`; call the returned function when it ends. */
export function begin(name: string, bytes = 0): () => void {
  if (!tracing) return noop;
  const p = phase(name);
  const start = performance.now();
  if (p.active++ === 0) p.since = start;
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    const end = performance.now();
    p.count++;
    p.sum += end - start;
    p.bytes += bytes;
    if (--p.active === 0) p.covered += end - p.since;
  };
}

/** Times a promise as one occurrence of `name`. */
export function timed<T>(name: string, p: Promise<T>, bytes = 0): Promise<T> {
  if (!tracing) return p;
  const end = begin(name, bytes);
  return p.finally(end);
}

const noop = (): void => undefined;

function report(): void {
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage();
  const elu = performance.eventLoopUtilization();
  const lines = [
    `trace: ${wall.toFixed(0)} ms since the module loaded; CPU user ${(cpu.user / 1000).toFixed(0)} ms, system ${(cpu.system / 1000).toFixed(0)} ms; main thread busy ${(elu.utilization * 100).toFixed(0)}% (${elu.active.toFixed(0)} ms)`,
  ];
  try {
    const io = Object.fromEntries(readFileSync('/proc/self/io', 'utf8').trim().split('\n').map((l) => l.split(/:\s*/) as [string, string]));
    lines.push(`trace: /proc/self/io read_bytes ${io.read_bytes} write_bytes ${io.write_bytes} rchar ${io.rchar} wchar ${io.wchar}`);
  } catch {
    /* not Linux */
  }
  lines.push('trace: phase                 count      sum ms  covered ms      MB/s (of covered)');
  for (const [name, p] of [...phases].sort((a, b) => b[1].covered - a[1].covered)) {
    const mbps = p.bytes && p.covered ? (p.bytes / (p.covered / 1000) / 1e6).toFixed(0) : '';
    lines.push(`trace: ${name.padEnd(20)}${String(p.count).padStart(7)}${p.sum.toFixed(0).padStart(12)}${p.covered.toFixed(0).padStart(12)}${mbps.padStart(10)}`);
  }
  process.stderr.write(`${lines.join('\n')}\n`);
}
