/** Finding the installed containerd and which config schema it speaks. */
import { exists, hostPath } from './plan.js';
import { execCapture, type Exec } from './runner.js';

export const CONTAINERD_PATHS = ['/usr/local/bin/containerd', '/usr/bin/containerd'];

export interface InstalledContainerd {
  /** Target path (e.g. /usr/local/bin/containerd). */
  path: string;
  /** Where it is on this machine (under --root). */
  hostPath: string;
  /** Parsed version (e.g. `1.6.20`), when the binary ran. */
  version?: string;
  versionLine?: string;
}

/** `containerd github.com/containerd/containerd 1.6.20~ds1 ...` → `1.6.20`. */
export function parseContainerdVersion(line: string): string | undefined {
  const m = /\bv?(\d+\.\d+\.\d+)(?:[-~+.][0-9A-Za-z.~+-]*)?(?:\s|$)/.exec(line.replace(/^containerd\s+\S+\s+/, ''));
  return m?.[1];
}

/** Config schema for a containerd version: 2 for 1.x, 3 for 2.x. */
export function schemaForVersion(version: string): 2 | 3 {
  const major = Number.parseInt(version.split('.')[0] ?? '1', 10);
  return major >= 2 ? 3 : 2;
}

export async function findContainerd(root: string, exec: Exec = execCapture): Promise<InstalledContainerd | undefined> {
  for (const p of CONTAINERD_PATHS) {
    const hp = hostPath(root, p);
    if (!(await exists(hp))) continue;
    const r = await exec([hp, '--version'], { timeoutMs: 10_000 });
    const line = r.stdout.trim().split('\n')[0] ?? '';
    const version = r.code === 0 ? parseContainerdVersion(line) : undefined;
    return { path: p, hostPath: hp, ...(version ? { version, versionLine: line } : {}) };
  }
  return undefined;
}
