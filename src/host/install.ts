/**
 * `containerd install`: validate the release tarball, detect its layout,
 * unpack it under the root, install the systemd unit, run the post-install
 * steps through the runner, then check the installed containerd and runc.
 */
import { promises as fsp } from 'node:fs';
import { OcictlError } from '../errors.js';
import { extractArchive, mapEntries, scanArchive, type InstalledEntry } from './archive.js';
import { detectLayout, type Layout } from './layout.js';
import { applyFiles, emptyPlan, exists, hostPath, planTextFile, type Plan } from './plan.js';
import { checkRunc, type RuncCheck } from './runc.js';
import { execCapture, runSteps, type Exec, type StepOutcome } from './runner.js';
import { unitText } from './unit.js';
import { findContainerd } from './version.js';

export interface InstallOptions {
  root: string;
  archive: string;
  /** A separate runc binary (2.x tarballs have none), installed as /usr/local/sbin/runc. */
  runc?: string;
  dryRun: boolean;
  /** Overrides systemd detection for the post-install steps. */
  systemd?: boolean;
  exec?: Exec;
  log?: (line: string) => void;
}

export interface InstallResult {
  layout: Layout;
  plan: Plan;
  /** Binaries and files from the archive (target paths). */
  entries: InstalledEntry[];
  steps: StepOutcome[];
  containerdVersion?: string;
  runc?: RuncCheck;
}

export const POST_INSTALL = [
  { argv: ['systemctl', 'daemon-reload'], why: 'load the new unit' },
  { argv: ['systemctl', 'enable', '--now', 'containerd'], why: 'start containerd now and at boot' },
];

export async function install(o: InstallOptions): Promise<InstallResult> {
  const exec = o.exec ?? execCapture;
  const log = o.log ?? (() => {});
  if (!(await exists(o.archive))) throw new OcictlError('INVALID_ARGUMENT', `archive ${o.archive} not found`);
  const list = await scanArchive(o.archive);
  const layout = detectLayout(list, o.archive);
  if (!layout) {
    throw new OcictlError('UNSAFE_ARCHIVE', `${o.archive} is not a containerd release tarball (no usr/local/bin/containerd or bin/containerd)`, {
      hint: 'use cri-containerd-cni-<v>-linux-<arch>.tar.gz (1.6/1.7) or containerd-<v>-linux-<arch>.tar.gz',
    });
  }
  const targets = mapEntries(list, layout.map);
  const entries = [...targets.values()];
  const plan = emptyPlan(o.root);
  for (const s of layout.skipped) plan.notes.push(`skipped ${s.name}: ${s.why}`);
  if (o.runc !== undefined && !(await exists(o.runc))) throw new OcictlError('INVALID_ARGUMENT', `runc binary ${o.runc} not found`);
  plan.files.push(await planTextFile(o.root, layout.unitPath, unitText(), 0o644));
  plan.commands.push(...POST_INSTALL);
  const result: InstallResult = { layout, plan, entries, steps: [] };
  if (o.dryRun) {
    result.steps = await runSteps(plan.commands, { dryRun: true, root: o.root, log, exec, ...(o.systemd !== undefined ? { systemd: o.systemd } : {}) });
    return result;
  }
  await extractArchive(o.archive, o.root, targets);
  if (o.runc !== undefined) {
    const dest = hostPath(o.root, '/usr/local/sbin/runc');
    await fsp.mkdir(hostPath(o.root, '/usr/local/sbin'), { recursive: true });
    const tmp = `${dest}.ocictl-tmp`;
    await fsp.copyFile(o.runc, tmp);
    await fsp.chmod(tmp, 0o755);
    await fsp.rename(tmp, dest);
    entries.push({ path: '/usr/local/sbin/runc', type: 'file', mode: 0o755, size: (await fsp.stat(dest)).size });
  }
  await applyFiles(plan);
  const bin = await findContainerd(o.root, exec);
  if (bin?.version) result.containerdVersion = bin.version;
  else plan.warnings.push(`the installed containerd did not report a version (${bin ? `${bin.path} --version failed` : 'not found'})`);
  result.runc = await checkRunc(o.root, exec);
  plan.warnings.push(...result.runc.warnings);
  result.steps = await runSteps(plan.commands, { dryRun: false, root: o.root, log, exec, ...(o.systemd !== undefined ? { systemd: o.systemd } : {}) });
  return result;
}

/** Summary lines for the archive part of an install plan. */
export function describeEntries(entries: readonly InstalledEntry[]): string[] {
  return entries
    .filter((e) => e.type !== 'directory')
    .map((e) => {
      const mode = e.mode.toString(8).padStart(4, '0');
      if (e.type === 'symlink') return `  symlink ${e.path} -> ${e.linkname}`;
      if (e.type === 'link') return `  link   ${e.path} => ${e.linkname}`;
      return `  file   ${e.path} (mode ${mode}, ${e.size} bytes)`;
    });
}
