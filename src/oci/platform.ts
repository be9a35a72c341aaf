/**
 * Platform strings (`linux/arm64/v8`, `windows(10.0.17763)/amd64`) and matching, with the
 * normalisation and compatibility rules of containerd's `platforms` package: the aliases
 * (`x86_64`, `aarch64`, `armhf`, `armel`, `i386`, `macOS`) are normalised, `arm` alone means
 * `arm/v7`, `arm64/v8` equals `arm64`, and a host runs the older variants of its architecture
 * (an `arm/v7` host runs `v6` and `v5`, `amd64` runs `386`, `arm64` runs `arm/v8`…`v5`).
 */
import { arch as hostArch, config as nodeConfig } from 'node:process';
import { OcictlError } from '../errors.js';
import type { Platform } from './descriptor.js';

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips: 'mips', mipsel: 'mipsle' };

const KNOWN_OS = new Set(['aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux', 'nacl', 'netbsd', 'openbsd', 'plan9', 'solaris', 'windows', 'zos']);
const KNOWN_ARCH = new Set(['386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'ppc64', 'ppc64le', 'loong64', 'mips', 'mipsle', 'mips64', 'mips64le', 'mips64p32', 'mips64p32le', 'ppc', 'riscv', 'riscv64', 's390', 's390x', 'sparc', 'sparc64', 'wasm']);
const COMPONENT = /^[A-Za-z0-9_.-]+$/;
const OS_PART = /^([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.%-]*)((?:\+[A-Za-z0-9_.%-]+)*)\))?$/;

/** The platform of this machine (`linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`). */
export function hostPlatform(): Platform {
  const architecture = ARCH[hostArch] ?? hostArch;
  const p: Platform = { os: 'linux', architecture };
  if (architecture === 'arm64') p.variant = 'v8';
  if (architecture === 'arm') {
    const v = (nodeConfig.variables as Record<string, unknown>).arm_version;
    p.variant = `v${typeof v === 'string' || typeof v === 'number' ? String(v) : '7'}`;
  }
  return p;
}

function badPlatform(s: string, why: string): OcictlError {
  return new OcictlError('INVALID_ARGUMENT', `invalid platform "${s.slice(0, 200)}": ${why}`, { hint: 'use os/arch[/variant], e.g. linux/amd64, linux/arm64/v8 or windows(10.0.17763)/amd64' });
}

function decodeOption(s: string, v: string): string {
  if (!v.includes('%')) return v;
  try {
    return decodeURIComponent(v);
  } catch {
    throw badPlatform(s, `"${v}" has a bad %-escape`);
  }
}

function encodeOption(v: string): string {
  return v.replace(/[%+()/]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

function normaliseOs(os: string): string {
  const lower = os.toLowerCase();
  return lower === 'macos' ? 'darwin' : lower;
}

/** `[architecture, variant]` in containerd's normal form (`aarch64/v8` → `arm64` + no variant). */
function normaliseArch(architecture: string, variant: string): [string, string] {
  let a = architecture.toLowerCase();
  let v = variant.toLowerCase();
  switch (a) {
    case 'i386':
      a = '386';
      v = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      a = 'amd64';
      if (v === 'v1') v = '';
      break;
    case 'aarch64':
    case 'arm64':
      a = 'arm64';
      if (v === '8' || v === 'v8' || v === 'v8.0') v = '';
      else if (v === '9' || v === '9.0' || v === 'v9.0') v = 'v9';
      break;
    case 'armhf':
      a = 'arm';
      v = 'v7';
      break;
    case 'armel':
      a = 'arm';
      v = 'v6';
      break;
    case 'arm':
      if (v === '' || v === '7') v = 'v7';
      else if (v === '5' || v === '6' || v === '8') v = `v${v}`;
      break;
    default:
      break;
  }
  return [a, v];
}

function make(os: string, architecture: string, variant: string, osVersion: string, osFeatures: string[]): Platform {
  const p: Platform = { os, architecture };
  if (variant) p.variant = variant;
  if (osVersion) p['os.version'] = osVersion;
  if (osFeatures.length) p['os.features'] = osFeatures;
  return p;
}

/**
 * Parses a platform specifier as containerd (`ctr --platform`, nerdctl) does.
 *
 * `os[(version[+feature...])][/arch[/variant]]`, or a lone architecture (the host's OS is
 * assumed) or a lone OS (the host's architecture is assumed). Aliases are normalised as
 * containerd normalises them, and the result is what containerd's `platforms.Parse` returns:
 * `linux/arm` has no variant (it means v7), `linux/arm64/v8` keeps `v8`.
 *
 * @example
 * parsePlatform('linux/aarch64');             // { os: 'linux', architecture: 'arm64' }
 * parsePlatform('armhf');                     // { os: 'linux', architecture: 'arm' }
 * parsePlatform('windows(10.0.17763)/amd64'); // { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763' }
 * @throws OcictlError INVALID_ARGUMENT for anything else (empty parts, white space, wildcards, more than three parts)
 */
export function parsePlatform(specifier: string): Platform {
  if (typeof specifier !== 'string' || specifier === '') throw badPlatform(String(specifier ?? ''), 'it is empty');
  if (specifier.includes('*')) throw badPlatform(specifier, 'wildcards are not supported');
  const parts = specifier.split('/');
  if (parts.length > 3) throw badPlatform(specifier, 'it has more than three parts');
  const m = OS_PART.exec(parts[0] as string);
  if (!m) throw badPlatform(specifier, `"${parts[0] as string}" is not an OS (letters, digits, _ and -, then an optional (version+features))`);
  for (const part of parts.slice(1)) {
    if (!COMPONENT.test(part)) throw badPlatform(specifier, `"${part}" is not a valid part (letters, digits, _ . -)`);
  }
  const os = normaliseOs(m[1] as string);
  const osVersion = decodeOption(specifier, m[2] ?? '');
  const features: string[] = [];
  if (m[3]) {
    for (const raw of (m[3] as string).slice(1).split('+')) {
      const f = decodeOption(specifier, raw);
      if (f) features.push(f);
    }
  }
  const host = hostPlatform();
  if (parts.length === 1) {
    if (KNOWN_OS.has(os)) {
      const variant = host.architecture === 'arm' && host.variant !== 'v7' ? host.variant ?? '' : '';
      return make(os, host.architecture, variant, osVersion, features);
    }
    let [a, v] = normaliseArch(parts[0] as string, '');
    if (a === 'arm' && v === 'v7') v = '';
    if (KNOWN_ARCH.has(a) && !osVersion && !features.length) return make(host.os, a, v, '', []);
    throw badPlatform(specifier, 'unknown operating system or architecture');
  }
  if (parts.length === 2) {
    let [a, v] = normaliseArch(parts[1] as string, '');
    if (a === 'arm' && v === 'v7') v = '';
    return make(os, a, v, osVersion, features);
  }
  let [a, v] = normaliseArch(parts[1] as string, parts[2] as string);
  if (a === 'arm64' && v === '') v = 'v8';
  return make(os, a, v, osVersion, features);
}

/**
 * The normal form containerd compares in: lower case, aliases resolved, `arm` → `arm/v7`,
 * `arm64/v8` → `arm64`, OS features sorted and without duplicates.
 */
export function normalizePlatform(p: Platform): Platform {
  const [a, v] = normaliseArch(p.architecture ?? '', p.variant ?? '');
  const features = [...new Set(p['os.features'] ?? [])].sort();
  return make(normaliseOs(p.os ?? ''), a, v, p['os.version'] ?? '', features);
}

/**
 * `os/arch[/variant]` as containerd prints it, with `(version+features)` after the OS when the
 * platform has them (`windows(10.0.17763+win32k)/amd64`); `''` for no platform.
 *
 * @example
 * formatPlatform({ os: 'linux', architecture: 'arm64', variant: 'v8' }); // 'linux/arm64/v8'
 * formatPlatform({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763' }); // 'windows(10.0.17763)/amd64'
 */
export function formatPlatform(p: Platform | undefined): string {
  if (!p) return '';
  if (!p.os) return 'unknown';
  let os = p.os;
  const version = encodeOption(p['os.version'] ?? '');
  const features = [...new Set((p['os.features'] ?? []).filter(Boolean))].sort().map(encodeOption).join('+');
  if (version || features) os += `(${version}${features ? `+${features}` : ''})`;
  return [os, p.architecture, p.variant].filter(Boolean).join('/');
}

interface WindowsVersion {
  major: number;
  minor: number;
  build: number;
}

function windowsVersion(v: string | undefined): WindowsVersion | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)(?:\.|$)/.exec(v ?? '');
  if (!m) return undefined;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  const build = Number(m[3]);
  if (major > 255 || minor > 255 || build > 65535) return undefined;
  return { major, minor, build };
}

const LTSC2022 = 20348;
const COMPAT_LTSC = [LTSC2022, 26100];

/** Whether a Windows host of this version runs a container image of that one (process isolation). */
function windowsRuns(host: WindowsVersion, image: WindowsVersion): boolean {
  if (host.major !== image.major || host.minor !== image.minor) return false;
  if (host.build < LTSC2022) return host.build === image.build;
  let oldest = LTSC2022;
  for (let i = COMPAT_LTSC.length - 1; i >= 0; i--) {
    if (host.build > (COMPAT_LTSC[i] as number)) {
      oldest = COMPAT_LTSC[i] as number;
      break;
    }
  }
  return oldest <= image.build && image.build <= host.build;
}

/** containerd's exact match of one normalised wanted platform against a candidate. */
function matchesExactly(want: Platform, have: Platform): boolean {
  const h = normalizePlatform(have);
  if (want.os !== h.os || want.architecture !== h.architecture || (want.variant ?? '') !== (h.variant ?? '')) return false;
  let features = h['os.features'] ?? [];
  if (want.os === 'windows') {
    features = features.filter((f) => f !== 'win32k');
    const wv = windowsVersion(want['os.version']);
    if (wv && have['os.version']) {
      const hv = windowsVersion(have['os.version']);
      if (!windowsRuns(wv, hv ?? { major: 0, minor: 0, build: 0 })) return false;
    }
  }
  const wanted = new Set(want['os.features'] ?? []);
  return features.every((f) => wanted.has(f));
}

const ARM64_VERSIONS: Record<string, Array<[number, number]>> = {};
for (let minor = 0; minor <= 9; minor++) ARM64_VERSIONS[minor === 0 ? 'v8' : `v8.${minor}`] = [[8, minor]];
ARM64_VERSIONS['v8.0'] = [[8, 0]];
for (let minor = 0; minor <= 7; minor++) ARM64_VERSIONS[minor === 0 ? 'v9' : `v9.${minor}`] = [[9, minor], [8, Math.min(minor + 5, 9)]];
ARM64_VERSIONS['v9.0'] = [[9, 0], [8, 5]];

/** What a host of platform `p` runs, best first (containerd's platform vector). */
function compatible(p: Platform): Platform[] {
  const base = { os: p.os, ...(p['os.version'] ? { 'os.version': p['os.version'] } : {}), ...(p['os.features'] ? { 'os.features': p['os.features'] } : {}) };
  const out: Platform[] = [p];
  if (p.architecture === 'amd64') {
    const n = Number((p.variant ?? '').replace(/^v/, ''));
    if (Number.isInteger(n) && n > 1) for (let k = n - 1; k >= 1; k--) out.push({ ...base, architecture: 'amd64', variant: `v${k}` });
    out.push({ ...base, architecture: '386' });
  } else if (p.architecture === 'arm') {
    const n = Number((p.variant ?? '').replace(/^v/, ''));
    if (Number.isInteger(n) && n > 5) for (let k = n - 1; k >= 5; k--) out.push({ ...base, architecture: 'arm', variant: `v${k}` });
  } else if (p.architecture === 'arm64') {
    const variant = p.variant || 'v8';
    out.length = 0;
    for (const [major, top] of ARM64_VERSIONS[variant] ?? []) {
      for (let minor = top; minor >= 0; minor--) out.push({ ...base, architecture: 'arm64', variant: minor === 0 ? `v${major}` : `v${major}.${minor}` });
    }
    out.push(...compatible({ ...base, architecture: 'arm', variant: variant.startsWith('v8') || variant.startsWith('v9') ? 'v8' : variant }));
  }
  return out;
}

/** Which platforms a host runs, and which of two it prefers. */
export interface PlatformMatcher {
  /** Whether an image for `p` runs on the wanted platform. */
  match(p: Platform | undefined): boolean;
  /** Sort key: 0 for the wanted platform itself, higher for older compatible ones, `Infinity` for no match. */
  rank(p: Platform | undefined): number;
}

/**
 * The children of an index a host of platform `want` runs, as containerd's `platforms.Only`:
 * the platform itself first, then the older variants it can run.
 *
 * @example
 * const m = platformMatcher('linux/arm/v6');
 * m.match({ os: 'linux', architecture: 'arm', variant: 'v5' }); // true
 * m.match({ os: 'linux', architecture: 'arm', variant: 'v7' }); // false
 * platformMatcher('linux/arm64').match({ os: 'linux', architecture: 'arm', variant: 'v7' }); // true (rank 2 and up)
 */
export function platformMatcher(want: Platform | string): PlatformMatcher {
  const vector = compatible(normalizePlatform(typeof want === 'string' ? parsePlatform(want) : want)).map(normalizePlatform);
  const rank = (p: Platform | undefined): number => {
    if (!p) return Number.POSITIVE_INFINITY;
    const i = vector.findIndex((w) => matchesExactly(w, p));
    return i < 0 ? Number.POSITIVE_INFINITY : i;
  };
  return { match: (p) => rank(p) !== Number.POSITIVE_INFINITY, rank };
}

/**
 * The best of `candidates` for `want`: lowest rank, then more OS features, then first in order
 * (containerd sorts an index's children this way and takes the first).
 */
export function bestMatch<T>(want: Platform | string, candidates: readonly T[], platformOf: (c: T) => Platform | undefined): T | undefined {
  const m = platformMatcher(want);
  let best: T | undefined;
  let bestRank = Number.POSITIVE_INFINITY;
  let bestFeatures = -1;
  for (const c of candidates) {
    const p = platformOf(c);
    const r = m.rank(p);
    if (r === Number.POSITIVE_INFINITY) continue;
    const f = p?.['os.features']?.length ?? 0;
    if (r < bestRank || (r === bestRank && f > bestFeatures)) {
      best = c;
      bestRank = r;
      bestFeatures = f;
    }
  }
  return best;
}

/** Whether an image's platform runs on the wanted one (containerd's `platforms.Only(want).Match`). */
export function platformMatches(want: Platform, have: Platform | undefined): boolean {
  return platformMatcher(want).match(have);
}
