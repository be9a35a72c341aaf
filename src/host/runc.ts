/** runc checks: the version it reports and the libseccomp it was linked with. */
import { hostPath, exists } from './plan.js';
import { execCapture, type Exec } from './runner.js';

export interface RuncInfo {
  version?: string;
  commit?: string;
  spec?: string;
  go?: string;
  libseccomp?: string;
}

/** Parses `runc --version` output. */
export function parseRuncVersion(text: string): RuncInfo {
  const info: RuncInfo = {};
  for (const line of text.split('\n')) {
    const m = /^\s*(runc version|commit|spec|go|libseccomp)\s*:?\s*(\S.*)?$/.exec(line);
    if (!m || m[2] === undefined) continue;
    const v = m[2].trim();
    switch (m[1]) {
      case 'runc version':
        info.version = v;
        break;
      case 'commit':
        info.commit = v;
        break;
      case 'spec':
        info.spec = v;
        break;
      case 'go':
        info.go = v;
        break;
      case 'libseccomp':
        info.libseccomp = v;
        break;
    }
  }
  return info;
}

/** Compares dotted versions numerically (`2.10.0` > `2.4`); ignores suffixes. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+~-]/).map((x) => Number.parseInt(x, 10));
  const pb = b.split(/[.+~-]/).map((x) => Number.parseInt(x, 10));
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = Number.isNaN(pa[i] ?? 0) ? 0 : (pa[i] ?? 0);
    const y = Number.isNaN(pb[i] ?? 0) ? 0 : (pb[i] ?? 0);
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

export const MIN_LIBSECCOMP = '2.4';

/** Warnings for a parsed runc version (libseccomp below 2.4, or not reported). */
export function runcWarnings(info: RuncInfo): string[] {
  if (!info.libseccomp) return ['runc does not report its libseccomp version; the release runc needs libseccomp >= 2.4 on the host'];
  if (compareVersions(info.libseccomp, MIN_LIBSECCOMP) < 0) {
    return [`runc reports libseccomp ${info.libseccomp}, below ${MIN_LIBSECCOMP}: the bundled runc fails to start containers; install libseccomp >= 2.4 (e.g. from your distribution's backports) or use the distribution's runc`];
  }
  return [];
}

export const RUNC_PATHS = ['/usr/local/sbin/runc', '/usr/local/bin/runc', '/usr/sbin/runc', '/usr/bin/runc'];

export interface RuncCheck {
  path?: string;
  info?: RuncInfo;
  warnings: string[];
}

/** Finds runc under `root` and checks it. */
export async function checkRunc(root: string, exec: Exec = execCapture): Promise<RuncCheck> {
  for (const p of RUNC_PATHS) {
    const hp = hostPath(root, p);
    if (!(await exists(hp))) continue;
    const r = await exec([hp, '--version'], { timeoutMs: 10_000 });
    if (r.code !== 0) return { path: p, warnings: [`${p} --version failed (exit ${r.code}): ${r.stderr.trim()}`] };
    const info = parseRuncVersion(r.stdout);
    return { path: p, info, warnings: runcWarnings(info) };
  }
  return { warnings: ['runc not found (looked in ' + RUNC_PATHS.join(', ') + '); containerd cannot start containers without it'] };
}
