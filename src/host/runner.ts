/**
 * Running external commands: one runner for the post-install steps
 * (skipped with a message when systemd is not PID 1, listed in dry-run), and
 * a small exec helper for version probes and `config dump` checks.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { OcictlError } from '../errors.js';
import type { PlannedCommand } from './plan.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type Exec = (argv: readonly string[], opts?: { timeoutMs?: number }) => Promise<ExecResult>;

export const execCapture: Exec = (argv, opts = {}) =>
  new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 16 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
        // spawn failure (ENOENT, EACCES, ENOEXEC)
        resolve({ code: 127, stdout: '', stderr: `${argv[0]}: ${err.message}` });
        return;
      }
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });

/** True when systemd runs the machine (PID 1 is systemd and /run/systemd/system exists). */
export function isSystemdRunning(): boolean {
  try {
    const comm = readFileSync('/proc/1/comm', 'utf8').trim();
    return comm === 'systemd' && existsSync('/run/systemd/system');
  } catch {
    return false;
  }
}

export interface RunnerOptions {
  dryRun: boolean;
  root: string;
  /** Override detection (tests). */
  systemd?: boolean;
  exec?: Exec;
  log: (line: string) => void;
}

export interface StepOutcome {
  argv: string[];
  status: 'ran' | 'skipped' | 'planned';
  result?: ExecResult;
}

/** Runs post-install steps in order; stops at the first failure. */
export async function runSteps(steps: readonly PlannedCommand[], opts: RunnerOptions): Promise<StepOutcome[]> {
  const out: StepOutcome[] = [];
  if (steps.length === 0) return out;
  if (opts.dryRun) {
    for (const s of steps) out.push({ argv: s.argv, status: 'planned' });
    return out;
  }
  const systemd = opts.systemd ?? isSystemdRunning();
  let skipWhy: string | undefined;
  if (opts.root !== '/') skipWhy = `--root ${opts.root} is not the running system`;
  else if (!systemd) skipWhy = 'systemd is not running as PID 1';
  if (skipWhy) {
    opts.log(`skipped (${skipWhy}): ${steps.map((s) => s.argv.join(' ')).join(' && ')}`);
    for (const s of steps) out.push({ argv: s.argv, status: 'skipped' });
    return out;
  }
  const exec = opts.exec ?? execCapture;
  for (const s of steps) {
    opts.log(`running: ${s.argv.join(' ')}`);
    const result = await exec(s.argv, { timeoutMs: 120_000 });
    out.push({ argv: s.argv, status: 'ran', result });
    if (result.code !== 0) {
      throw new OcictlError('CONTAINERD', `${s.argv.join(' ')} failed (exit ${result.code}): ${(result.stderr || result.stdout).trim().split('\n').pop() ?? ''}`, {
        hint: `see journalctl -u containerd`,
      });
    }
  }
  return out;
}
