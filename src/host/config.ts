/**
 * /etc/containerd/config.toml: generated from containerd's own default
 * (`containerd config default`, else the built-in copy), then edited in place,
 * line by line, so that comments and unrelated settings survive. Schema v2
 * for containerd 1.6/1.7, v3 for 2.x.
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OcictlError } from '../errors.js';
import { DEFAULT_CONFIG_V2, DEFAULT_CONFIG_V3 } from './defaults.js';
import { DEFAULT_HOSTS_DIR, defaultServer, renderHostsToml, validateHost } from './hosts.js';
import { emptyPlan, hostPath, planTextFile, readIfExists, type Plan } from './plan.js';
import { execCapture, isSystemdRunning, type Exec } from './runner.js';
import { getPath, parseTomlOrThrow, TomlDocument, type TomlLiteral } from './tomledit.js';
import { findContainerd, schemaForVersion, type InstalledContainerd } from './version.js';

export const CONFIG_FILE = '/etc/containerd/config.toml';

/** Where each setting lives, per schema. */
export const KEYS = {
  2: {
    sandboxImage: { table: ['plugins', 'io.containerd.grpc.v1.cri'], key: 'sandbox_image' },
    systemdCgroup: { table: ['plugins', 'io.containerd.grpc.v1.cri', 'containerd', 'runtimes', 'runc', 'options'], key: 'SystemdCgroup' },
    configPath: { table: ['plugins', 'io.containerd.grpc.v1.cri', 'registry'], key: 'config_path' },
    registry: ['plugins', 'io.containerd.grpc.v1.cri', 'registry'],
  },
  3: {
    sandboxImage: { table: ['plugins', 'io.containerd.cri.v1.images', 'pinned_images'], key: 'sandbox' },
    systemdCgroup: { table: ['plugins', 'io.containerd.cri.v1.runtime', 'containerd', 'runtimes', 'runc', 'options'], key: 'SystemdCgroup' },
    configPath: { table: ['plugins', 'io.containerd.cri.v1.images', 'registry'], key: 'config_path' },
    registry: ['plugins', 'io.containerd.cri.v1.images', 'registry'],
  },
} as const;

export type Schema = 2 | 3;

export interface Mirror {
  host: string;
  url: string;
}

/** Parses `--mirror docker.io=https://mirror.example`. */
export function parseMirror(spec: string): Mirror {
  const i = spec.indexOf('=');
  if (i <= 0) throw new OcictlError('INVALID_ARGUMENT', `--mirror ${spec}: expected HOST=URL`, { hint: 'e.g. --mirror docker.io=https://mirror.example.com' });
  const host = validateHost(spec.slice(0, i));
  const url = spec.slice(i + 1).replace(/\/+$/, '');
  try {
    const u = new URL(url);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('scheme');
  } catch {
    throw new OcictlError('INVALID_ARGUMENT', `--mirror ${spec}: ${url} is not an http(s) URL`);
  }
  return { host, url };
}

export interface ConfigOptions {
  root: string;
  sandboxImage?: string;
  /** undefined: true where systemd is PID 1, else left as it is. */
  systemdCgroup?: boolean;
  /** The registry hosts directory written as `config_path` (default /etc/containerd/certs.d). */
  configPath?: string;
  mirrors?: readonly Mirror[];
  /** Forces the containerd version instead of asking the installed binary. */
  containerdVersion?: string;
  /** Overrides systemd detection. */
  systemd?: boolean;
  /** Check the result with `containerd config dump` when the binary matches (default true). */
  validate?: boolean;
  exec?: Exec;
}

export interface ConfigResult {
  plan: Plan;
  schema: Schema;
  version?: string;
  source: 'existing' | 'containerd config default' | 'built-in default';
  text: string;
}

/** The default text: the installed containerd's own, else the built-in one. */
export async function defaultConfigText(
  schema: Schema,
  bin: InstalledContainerd | undefined,
  exec: Exec = execCapture,
): Promise<{ text: string; source: ConfigResult['source'] }> {
  if (bin?.version && schemaForVersion(bin.version) === schema) {
    const r = await exec([bin.hostPath, 'config', 'default'], { timeoutMs: 15_000 });
    if (r.code === 0 && r.stdout.includes('version')) return { text: r.stdout, source: 'containerd config default' };
  }
  const builtIn = schema === 2 ? DEFAULT_CONFIG_V2 : DEFAULT_CONFIG_V3;
  const arch = process.arch === 'x64' ? 'amd64' : process.arch === 'ia32' ? '386' : process.arch;
  return { text: builtIn.replace('platforms = ["linux/amd64"]', `platforms = ["linux/${arch}"]`), source: 'built-in default' };
}

function nonEmptyTable(v: unknown): boolean {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0;
}

/** Plans writing config.toml (and hosts.toml files for mirrors). */
export async function planConfig(o: ConfigOptions): Promise<ConfigResult> {
  const exec = o.exec ?? execCapture;
  const plan = emptyPlan(o.root);
  const file = hostPath(o.root, CONFIG_FILE);
  const existing = await readIfExists(file);
  const bin = await findContainerd(o.root, exec);
  const version = o.containerdVersion ?? bin?.version;
  let schema: Schema;
  let text: string;
  let source: ConfigResult['source'];
  if (existing) {
    const doc = parseTomlOrThrow(existing.text, file);
    const v = doc.version;
    if (v === undefined || v === 1) {
      throw new OcictlError('CONFIG_INVALID', `${CONFIG_FILE} has no \`version = 2\` (it is read as the deprecated version 1 schema)`, {
        hint: 'move it aside and run ocictl containerd config again, or run ocictl containerd lint',
      });
    }
    if (v !== 2 && v !== 3) throw new OcictlError('CONFIG_INVALID', `${CONFIG_FILE}: unknown config version ${String(v)}`);
    schema = v;
    if (version && schemaForVersion(version) === 2 && schema === 3) {
      throw new OcictlError('CONFIG_INVALID', `${CONFIG_FILE} is version 3 but containerd ${version} reads version 2`, {
        hint: 'containerd 1.x ignores v3 plugin names; regenerate the file (move it aside first)',
      });
    }
    const reg = getPath(doc, [...KEYS[schema].registry]);
    for (const k of ['mirrors', 'configs']) {
      if (nonEmptyTable(getPath(reg, [k]))) {
        throw new OcictlError('CONFIG_INVALID', `${CONFIG_FILE} sets registry.${k}, which cannot be combined with config_path`, {
          hint: 'run `ocictl containerd lint --fix` to move it to certs.d/<host>/hosts.toml first',
        });
      }
    }
    text = existing.text;
    source = 'existing';
  } else {
    schema = version ? schemaForVersion(version) : 2;
    if (!version) plan.notes.push('no containerd found under the root and no --containerd-version: writing the version 2 schema (containerd 1.6/1.7)');
    ({ text, source } = await defaultConfigText(schema, bin, exec));
  }

  const keys = KEYS[schema];
  const doc = new TomlDocument(text);
  const expect: { table: readonly string[]; key: string; value: TomlLiteral }[] = [];
  const set = (loc: { table: readonly string[]; key: string }, value: TomlLiteral): void => {
    doc.set(loc.table, loc.key, value);
    expect.push({ table: loc.table, key: loc.key, value });
  };
  if (o.sandboxImage !== undefined) set(keys.sandboxImage, o.sandboxImage);
  const systemd = o.systemd ?? isSystemdRunning();
  const cg = o.systemdCgroup ?? (systemd ? true : undefined);
  if (cg !== undefined) set(keys.systemdCgroup, cg);
  if (cg === false && systemd) plan.warnings.push('SystemdCgroup = false on a systemd host: kubelet and containerd will disagree on the cgroup driver');
  const hostsDir = o.configPath ?? DEFAULT_HOSTS_DIR;
  set(keys.configPath, hostsDir);

  const out = doc.text;
  const parsed = parseTomlOrThrow(out, `${CONFIG_FILE} (generated)`);
  for (const e of expect) {
    const got = getPath(parsed, [...e.table, e.key]);
    if (JSON.stringify(got) !== JSON.stringify(e.value)) {
      throw new OcictlError('INTERNAL', `editing ${CONFIG_FILE} did not set ${[...e.table, e.key].join('.')}`, { hint: 'please report this with the file' });
    }
  }
  if (o.validate !== false && bin?.version && schemaForVersion(bin.version) === schema) {
    await validateWithContainerd(bin.hostPath, out, exec);
  }
  plan.files.push(await planTextFile(o.root, CONFIG_FILE, out, 0o644, { backup: true, keepMode: true }));

  for (const m of o.mirrors ?? []) {
    const server = defaultServer(m.host);
    const toml = renderHostsToml(
      { server, hosts: [{ url: m.url, capabilities: ['pull', 'resolve'] }] },
      `# Written by ocictl containerd config --mirror: ${m.host} is pulled from ${m.url} first, then ${server}.`,
    );
    plan.files.push(await planTextFile(o.root, path.posix.join(hostsDir, m.host, 'hosts.toml'), toml, 0o644));
  }
  const restart = plan.files.some((f) => f.path === CONFIG_FILE && f.action !== 'unchanged');
  if (restart) plan.notes.push('restart containerd to apply config.toml (systemctl restart containerd); hosts.toml changes apply without a restart');
  return { plan, schema, ...(version ? { version } : {}), source, text: out };
}

/** Runs `containerd --config F config dump` on the text; throws CONFIG_INVALID when containerd rejects it. */
export async function validateWithContainerd(bin: string, text: string, exec: Exec = execCapture): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ocictl-cfg-'));
  try {
    const f = path.join(dir, 'config.toml');
    await fsp.writeFile(f, text, { mode: 0o600 });
    const r = await exec([bin, '--config', f, 'config', 'dump'], { timeoutMs: 15_000 });
    if (r.code !== 0) {
      const msg = (r.stderr || r.stdout).trim().split('\n').pop() ?? '';
      throw new OcictlError('CONFIG_INVALID', `containerd rejects the generated config: ${msg}`, { hint: 'nothing was written' });
    }
    return r.stdout;
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}
