/** Platform strings (`linux/arm64/v8`) and matching, as containerd's platforms package. */
import { arch as hostArch } from 'node:process';
import { OcictlError } from '../errors.js';
import type { Platform } from './descriptor.js';

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips: 'mips', mipsel: 'mipsle' };

export function hostPlatform(): Platform {
  const architecture = ARCH[hostArch] ?? hostArch;
  const p: Platform = { os: 'linux', architecture };
  if (architecture === 'arm64') p.variant = 'v8';
  return p;
}

export function parsePlatform(s: string): Platform {
  const parts = s.trim().toLowerCase().split('/');
  if (parts.length < 1 || parts.length > 3 || parts.some((x) => !/^[a-z0-9._-]+$/.test(x))) {
    throw new OcictlError('INVALID_ARGUMENT', `invalid platform "${s}"`, { hint: 'use os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8' });
  }
  if (parts.length === 1) {
    const only = parts[0] as string;
    return only === 'linux' || only === 'windows' || only === 'darwin' ? { ...hostPlatform(), os: only } : { os: 'linux', architecture: normaliseArch(only) };
  }
  const p: Platform = { os: parts[0] as string, architecture: normaliseArch(parts[1] as string) };
  if (parts[2]) p.variant = parts[2];
  return normaliseVariant(p);
}

function normaliseArch(a: string): string {
  if (a === 'x86_64' || a === 'x86-64') return 'amd64';
  if (a === 'aarch64') return 'arm64';
  return a;
}

function normaliseVariant(p: Platform): Platform {
  if (p.architecture === 'arm64' && !p.variant) return { ...p, variant: 'v8' };
  return p;
}

/** Whether an image's platform satisfies the wanted one (variant optional on either side for arm64 v8). */
export function platformMatches(want: Platform, have: Platform | undefined): boolean {
  if (!have) return false;
  if (want.os !== have.os) return false;
  if (normaliseArch(want.architecture) !== normaliseArch(have.architecture)) return false;
  const wv = want.variant ?? (want.architecture === 'arm64' ? 'v8' : undefined);
  const hv = have.variant ?? (have.architecture === 'arm64' ? 'v8' : undefined);
  if (wv && hv && wv !== hv) return false;
  return true;
}

export function formatPlatform(p: Platform | undefined): string {
  if (!p) return '';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}
