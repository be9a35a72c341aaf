/**
 * Release tarball layouts. containerd 1.6/1.7 ship `cri-containerd-cni-*`
 * (and `cri-containerd-*`) bundles laid out as a filesystem (etc/, opt/,
 * usr/local/bin, usr/local/sbin/runc); the plain `containerd-<v>-linux-<arch>`
 * tarball (the only one from 2.0 on) holds bin/ for /usr/local.
 */
import type { ArchiveEntry } from './archive.js';

export type LayoutKind = 'cri-bundle' | 'containerd-tarball';

export interface Layout {
  kind: LayoutKind;
  /** Version from the file name, when it says. */
  version?: string;
  /** Where the systemd unit goes. */
  unitPath: string;
  /** Archive name → target path, or undefined to skip. */
  map(name: string): string | undefined;
  /** Archive names that are skipped on purpose, with why. */
  skipped: { name: string; why: string }[];
}

const BUNDLE_UNIT = 'etc/systemd/system/containerd.service';

export function versionFromFileName(file: string): string | undefined {
  const base = file.split('/').pop() ?? file;
  const m = /(?:^|-)containerd-(?:cni-)?v?(\d+\.\d+\.\d+(?:-[a-z]+(?:\.\d+)?)?)-linux/.exec(base) ?? /containerd-v?(\d+\.\d+\.\d+)/.exec(base);
  return m?.[1];
}

export function detectLayout(entries: readonly ArchiveEntry[], fileName: string): Layout | undefined {
  const names = new Set(entries.filter((e) => e.type !== 'directory').map((e) => e.name));
  const version = versionFromFileName(fileName);
  if (names.has('usr/local/bin/containerd')) {
    const skipped: { name: string; why: string }[] = [];
    const map = (name: string): string | undefined => {
      if (name === BUNDLE_UNIT) return undefined;
      const top = name.split('/')[0];
      if (top !== 'etc' && top !== 'opt' && top !== 'usr') return undefined;
      return `/${name}`;
    };
    for (const e of entries) {
      if (e.type === 'directory') continue;
      if (e.name === BUNDLE_UNIT) skipped.push({ name: e.name, why: 'replaced by ocictl\'s unit in /usr/lib/systemd/system (a copy in /etc/systemd/system would shadow it)' });
      else if (map(e.name) === undefined) skipped.push({ name: e.name, why: 'not part of the filesystem tree' });
    }
    return { kind: 'cri-bundle', ...(version ? { version } : {}), unitPath: '/usr/lib/systemd/system/containerd.service', map, skipped };
  }
  if (names.has('bin/containerd')) {
    const map = (name: string): string | undefined => (name.startsWith('bin/') ? `/usr/local/${name}` : undefined);
    const skipped = entries.filter((e) => e.type !== 'directory' && map(e.name) === undefined).map((e) => ({ name: e.name, why: 'not under bin/' }));
    return { kind: 'containerd-tarball', ...(version ? { version } : {}), unitPath: '/usr/local/lib/systemd/system/containerd.service', map, skipped };
  }
  return undefined;
}
