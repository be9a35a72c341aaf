/**
 * Plans: every command first computes what it would do (files with their
 * content, commands to run), then either prints that (`--dry-run`) or applies
 * it. Paths in a plan are the target system's (`/etc/containerd/...`); the
 * `--root` they are written under is applied by {@link hostPath}.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { OcictlError } from '../errors.js';
import { unifiedDiff } from './diff.js';

export interface FileChange {
  /** Path on the target system, absolute (e.g. `/etc/containerd/config.toml`). */
  path: string;
  action: 'create' | 'update' | 'delete' | 'unchanged';
  /** Permission bits of the new file. */
  mode: number;
  /** New content (absent for delete). */
  content?: string | Buffer;
  /** Old text for the diff, when the file existed and is text. */
  before?: string;
  /** Path (target view) of the backup taken before an update. */
  backup?: string;
  /** Old mode, when only the mode changes. */
  beforeMode?: number;
}

export interface PlannedCommand {
  argv: string[];
  why: string;
}

export interface Plan {
  root: string;
  files: FileChange[];
  commands: PlannedCommand[];
  notes: string[];
  warnings: string[];
}

export function emptyPlan(root: string): Plan {
  return { root, files: [], commands: [], notes: [], warnings: [] };
}

/** Resolves a target path under `root`; refuses anything that would leave it. */
export function hostPath(root: string, target: string): string {
  const r = path.resolve(root);
  const p = path.resolve(r, `.${path.posix.sep}${path.posix.normalize(`/${target}`)}`);
  if (p !== r && !p.startsWith(r.endsWith(path.sep) ? r : r + path.sep)) {
    throw new OcictlError('INVALID_ARGUMENT', `path ${target} leaves the root ${root}`);
  }
  return p;
}

export async function readIfExists(file: string): Promise<{ text: string; mode: number } | undefined> {
  try {
    const [text, st] = await Promise.all([fsp.readFile(file, 'utf8'), fsp.stat(file)]);
    return { text, mode: st.mode & 0o7777 };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export async function exists(file: string): Promise<boolean> {
  try {
    await fsp.lstat(file);
    return true;
  } catch {
    return false;
  }
}

/** Plans writing a text file: create, update (with backup when asked) or unchanged. */
export async function planTextFile(
  root: string,
  target: string,
  content: string,
  mode: number,
  opts: { backup?: boolean; keepMode?: boolean } = {},
): Promise<FileChange> {
  const old = await readIfExists(hostPath(root, target));
  if (!old) return { path: target, action: 'create', mode, content };
  const newMode = opts.keepMode ? old.mode : mode;
  if (old.text === content && old.mode === newMode) return { path: target, action: 'unchanged', mode: newMode, content, before: old.text };
  const change: FileChange = { path: target, action: 'update', mode: newMode, content, before: old.text };
  if (old.mode !== newMode) change.beforeMode = old.mode;
  if (opts.backup && old.text !== content) change.backup = `${target}.bak-${timestamp()}`;
  return change;
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
}

/** Writes a file atomically (temp file in the same directory, then rename). */
export async function writeFileAtomic(file: string, data: string | Buffer, mode: number): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.ocictl-${randomBytes(4).toString('hex')}`);
  try {
    await fsp.writeFile(tmp, data, { mode });
    await fsp.chmod(tmp, mode);
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

/** Applies the file part of a plan. */
export async function applyFiles(plan: Plan): Promise<void> {
  for (const f of plan.files) {
    const p = hostPath(plan.root, f.path);
    if (f.action === 'unchanged') continue;
    if (f.action === 'delete') {
      await fsp.rm(p, { force: true, recursive: true });
      continue;
    }
    if (f.backup) {
      // the backup may hold what the update protects (a password): never looser than the new file
      const b = hostPath(plan.root, f.backup);
      await fsp.copyFile(p, b);
      const old = (await fsp.stat(p)).mode & 0o777;
      await fsp.chmod(b, old & f.mode);
    }
    await writeFileAtomic(p, f.content ?? '', f.mode);
  }
}

export function changedFiles(plan: Plan): FileChange[] {
  return plan.files.filter((f) => f.action !== 'unchanged');
}

function isText(c: string | Buffer | undefined): c is string {
  return typeof c === 'string';
}

/** Human-readable plan: files with a unified diff, then commands. */
export function renderPlan(plan: Plan, opts: { diff?: boolean } = {}): string {
  const out: string[] = [];
  const rootNote = plan.root === '/' ? '' : ` (under ${plan.root})`;
  const changed = changedFiles(plan);
  if (changed.length === 0) out.push(`files: nothing to change${rootNote}`);
  else out.push(`files${rootNote}:`);
  for (const f of changed) {
    const mode = f.mode.toString(8).padStart(4, '0');
    const size = f.content !== undefined ? ` ${Buffer.byteLength(f.content)} bytes` : '';
    const extra = f.backup ? `, backup ${f.backup}` : '';
    const modeChange = f.beforeMode !== undefined ? `, mode ${f.beforeMode.toString(8).padStart(4, '0')} -> ${mode}` : '';
    out.push(`  ${f.action.padEnd(6)} ${f.path} (mode ${mode}${size}${modeChange}${extra})`);
    if (opts.diff !== false && isText(f.content)) {
      const d = unifiedDiff(f.before ?? '', f.content, f.before === undefined ? '/dev/null' : `a${f.path}`, `b${f.path}`);
      if (d) out.push(d.trimEnd().split('\n').map((l) => `    ${l}`).join('\n'));
    }
  }
  const unchanged = plan.files.length - changed.length;
  if (unchanged > 0) out.push(`  (${unchanged} file${unchanged === 1 ? '' : 's'} already up to date)`);
  if (plan.commands.length > 0) {
    out.push('commands:');
    for (const c of plan.commands) out.push(`  ${c.argv.join(' ')}    # ${c.why}`);
  }
  for (const n of plan.notes) out.push(`note: ${n}`);
  for (const w of plan.warnings) out.push(`warning: ${w}`);
  return `${out.join('\n')}\n`;
}
