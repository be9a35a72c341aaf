/**
 * `containerd lint`: what people get wrong in config.toml and hosts.toml,
 * each finding with its line, why it matters and the fix; `--fix` applies
 * the safe ones. Reads files only, unless `probe` is set (then it connects to
 * the registries named in hosts.toml to check their certificate).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { parse, TomlError } from 'smol-toml';
import { KEYS, type Schema } from './config.js';
import { DEFAULT_HOSTS_DIR, defaultServer, renderHostsToml, type HostsFile } from './hosts.js';
import { emptyPlan, hostPath, type Plan } from './plan.js';
import { isSystemdRunning } from './runner.js';
import { formatKey, getPath, startsWith, TomlDocument, type TomlStatement } from './tomledit.js';

export interface Finding {
  id: string;
  severity: 'error' | 'warning';
  /** File (path on this machine). */
  file: string;
  line?: number;
  message: string;
  why: string;
  fix: string;
  /** True when `--fix` applies it. */
  fixable: boolean;
  /** The registry host the finding is about (registry.mirrors/configs keys), when it is about one. */
  host?: string;
}

export interface LintOptions {
  root: string;
  /** config.toml on this machine (default <root>/etc/containerd/config.toml). */
  config?: string;
  /** Hosts directory as on the target (default: config_path of the config). */
  hostsDir?: string;
  fix?: boolean;
  probe?: boolean;
  /** Whether the target runs systemd (default: detected). */
  systemdHost?: boolean;
  /** Probe timeout (ms). */
  probeTimeoutMs?: number;
}

export interface LintResult {
  configFile: string;
  findings: Finding[];
  /** Findings left once the fixes are applied (equal to findings without fix). */
  remaining: Finding[];
  /** The fixes, as a plan on this machine's paths (root `/`). */
  plan?: Plan;
  readError?: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);
const nonEmpty = (v: unknown): v is Obj => isObj(v) && Object.keys(v).length > 0;

/** In-memory overlay so that "after the fix" can be linted without writing. */
class View {
  constructor(private readonly overlay = new Map<string, { text: string; mode: number }>()) {}
  set(file: string, text: string, mode: number): void {
    this.overlay.set(file, { text, mode });
  }
  async read(file: string): Promise<{ text: string; mode: number } | undefined> {
    const o = this.overlay.get(file);
    if (o) return o;
    try {
      const [text, st] = await Promise.all([fsp.readFile(file, 'utf8'), fsp.stat(file)]);
      return { text, mode: st.mode & 0o7777 };
    } catch {
      return undefined;
    }
  }
  async exists(file: string): Promise<boolean> {
    return this.overlay.has(file) || existsSync(file);
  }
  async listDirs(dir: string): Promise<string[]> {
    const names = new Set<string>();
    try {
      for (const d of await fsp.readdir(dir, { withFileTypes: true })) if (d.isDirectory()) names.add(d.name);
    } catch {
      // missing directory
    }
    for (const k of this.overlay.keys()) {
      if (path.dirname(path.dirname(k)) === dir) names.add(path.basename(path.dirname(k)));
    }
    return [...names].sort();
  }
}

function detectSystemdHost(root: string): boolean {
  if (root === '/') return isSystemdRunning();
  return existsSync(path.join(root, 'lib/systemd/systemd')) || existsSync(path.join(root, 'usr/lib/systemd/systemd'));
}

/** First statement (header or key) at or below `p`. */
function lineOf(doc: TomlDocument, p: readonly string[]): number | undefined {
  const s = doc.statements().find((x) => (x.kind === 'table' || x.kind === 'array-table' || x.kind === 'kv') && startsWith(x.kind === 'kv' ? [...x.table, ...x.key!] : x.table, p));
  return s?.line;
}

interface ConfigAnalysis {
  findings: Finding[];
  /** The file as TOML, when it parses. */
  parsed?: Record<string, unknown>;
  /** The fixed text, when fixes apply. */
  fixedText?: string;
  fixedMode?: number;
  /** hosts.toml files to write (path on this machine → text). */
  hostsFiles: Map<string, string>;
  hostsDirs: string[];
  notes: string[];
}

function sanitiseHostDir(h: string): string {
  return h.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
}

/** Analyses config.toml text; computes the fix at the same time. */
export function analyseConfig(text: string, mode: number, file: string, opts: { root: string; systemdHost: boolean; hostsDir?: string }): ConfigAnalysis {
  const findings: Finding[] = [];
  const res: ConfigAnalysis = { findings, hostsFiles: new Map(), hostsDirs: [], notes: [] };
  const add = (f: Omit<Finding, 'file'>): void => {
    findings.push({ file, ...f });
  };
  let parsed: Obj;
  try {
    parsed = parse(text) as Obj;
  } catch (e) {
    const line = e instanceof TomlError ? e.line : undefined;
    add({
      id: 'toml-syntax',
      severity: 'error',
      ...(line !== undefined ? { line } : {}),
      message: `not valid TOML: ${(e as Error).message.split('\n')[0]}`,
      why: 'containerd refuses to start with a config it cannot parse',
      fix: 'correct the syntax at that line',
      fixable: false,
    });
    return res;
  }
  res.parsed = parsed;
  const doc = new TomlDocument(text);
  const fixDoc = new TomlDocument(text);
  let fixed = false;

  // 1. singular `plugin` tables: silently ignored.
  const singular = doc.statements().filter((s) => ((s.kind === 'table' || s.kind === 'array-table') && s.table[0] === 'plugin') || (s.kind === 'kv' && s.table.length === 0 && s.key![0] === 'plugin'));
  const headers = singular.filter((s) => s.kind === 'table' || s.kind === 'array-table');
  let effectiveText = text;
  let renameOk = true;
  if (headers.length > 0) {
    const trial = new TomlDocument(text);
    for (const h of [...headers].reverse()) {
      const s = trial.statements().find((x) => x.line === h.line)!;
      trial.renameHeader(s, ['plugins', ...h.table.slice(1)]);
    }
    try {
      parse(trial.text);
      effectiveText = trial.text;
    } catch {
      renameOk = false;
    }
  }
  for (const s of singular) {
    const p = s.kind === 'kv' ? [...s.table, ...s.key!] : s.table;
    const isHeader = s.kind !== 'kv';
    add({
      id: 'plugin-singular',
      severity: 'error',
      line: s.line,
      message: `${isHeader ? `[${formatKey(p)}]` : formatKey(p)} is spelled with "plugin", not "plugins"`,
      why: 'containerd reads only [plugins."..."]: this table is silently ignored, so none of its settings apply',
      fix: `rename it to [${formatKey(['plugins', ...p.slice(1)])}]`,
      fixable: isHeader && renameOk,
    });
  }
  if (headers.length > 0 && renameOk) {
    for (const h of [...headers].reverse()) {
      const s = fixDoc.statements().find((x) => x.line === h.line)!;
      fixDoc.renameHeader(s, ['plugins', ...h.table.slice(1)]);
    }
    fixed = true;
  }
  // From here on, analyse the file as containerd would read it once the spelling is fixed.
  const eff = renameOk ? (parse(effectiveText) as Obj) : parsed;
  const effDoc = new TomlDocument(effectiveText);

  // 2. version and schema.
  const version = eff.version;
  const plugins = isObj(eff.plugins) ? eff.plugins : {};
  const names = Object.keys(plugins);
  const v2Cri = isObj(plugins['io.containerd.grpc.v1.cri']) ? (plugins['io.containerd.grpc.v1.cri'] as Obj) : undefined;
  const v3Names = names.filter((n) => n.startsWith('io.containerd.cri.v1.'));
  let schema: Schema = version === 3 ? 3 : 2;
  if (version === undefined) {
    const longNames = names.some((n) => n.startsWith('io.containerd.'));
    add({
      id: 'no-version',
      severity: 'error',
      line: 1,
      message: 'no `version` line: containerd reads the file as the deprecated version 1 schema',
      why: 'in version 1, plugin sections are named [plugins.cri]; the [plugins."io.containerd..."] sections here are ignored',
      fix: longNames ? 'add `version = 2` as the first line (containerd 1.6/1.7; 2.x: version = 3)' : 'regenerate with `ocictl containerd config`',
      fixable: longNames,
    });
    if (longNames) {
      fixDoc.set([], 'version', 2);
      fixed = true;
    }
  } else if (version === 3 && v2Cri) {
    const allowed = new Set(['disable_tcp_service', 'stream_server_address', 'stream_server_port', 'stream_idle_timeout', 'enable_tls_streaming', 'x509_key_pair_streaming']);
    for (const k of Object.keys(v2Cri).filter((k) => !allowed.has(k))) {
      add({
        id: 'v2-key-in-v3',
        severity: 'error',
        ...lineField(lineOf(effDoc, ['plugins', 'io.containerd.grpc.v1.cri', k])),
        message: `plugins."io.containerd.grpc.v1.cri".${formatKey([k])} is a version 2 key in a version 3 file`,
        why: 'containerd 2.x moved these to io.containerd.cri.v1.images / io.containerd.cri.v1.runtime; the old key has no effect',
        fix: `move it (sandbox_image → [plugins."io.containerd.cri.v1.images".pinned_images] sandbox; registry → [plugins."io.containerd.cri.v1.images".registry]; containerd.* → [plugins."io.containerd.cri.v1.runtime".containerd]), or run \`containerd config migrate\``,
        fixable: false,
      });
    }
  } else if (version === 2 && v3Names.length > 0) {
    for (const n of v3Names) {
      add({
        id: 'v3-key-in-v2',
        severity: 'error',
        ...lineField(lineOf(effDoc, ['plugins', n])),
        message: `plugins.${formatKey([n])} is a version 3 (containerd 2.x) section in a version 2 file`,
        why: 'containerd 1.6/1.7 has no such plugin: the section is ignored',
        fix: 'use [plugins."io.containerd.grpc.v1.cri"] keys (sandbox_image, registry, containerd.runtimes...), or set version = 3 on containerd 2.x',
        fixable: false,
      });
    }
  }
  if (version === 3) schema = 3;
  const keys = KEYS[schema];

  // 3. registry: config_path with mirrors/configs, deprecated settings, secrets.
  const reg = getPath(eff, [...keys.registry]);
  const configPath = isObj(reg) && typeof reg.config_path === 'string' ? reg.config_path : '';
  const hostsDirTarget = opts.hostsDir ?? (configPath !== '' ? configPath.split(':')[0]! : undefined);
  res.hostsDirs = opts.hostsDir ? [opts.hostsDir] : configPath !== '' ? configPath.split(':').filter(Boolean) : [DEFAULT_HOSTS_DIR];
  const mirrors = isObj(reg) ? reg.mirrors : undefined;
  const configs = isObj(reg) ? reg.configs : undefined;
  const auths = isObj(reg) ? reg.auths : undefined;
  const migrateDir = hostsDirTarget ?? DEFAULT_HOSTS_DIR;
  const toMigrate: { hostDir: string; file: HostsFile }[] = [];
  const tlsOf = (h: string): Pick<HostsFile, 'ca' | 'client' | 'skipVerify'> => {
    const t = isObj(configs) ? getPath(configs, [h, 'tls']) : undefined;
    if (!isObj(t)) return {};
    const out: Pick<HostsFile, 'ca' | 'client' | 'skipVerify'> = {};
    if (typeof t.ca_file === 'string' && t.ca_file !== '') out.ca = t.ca_file;
    if (typeof t.cert_file === 'string' && t.cert_file !== '' && typeof t.key_file === 'string' && t.key_file !== '') out.client = [t.cert_file, t.key_file];
    if (t.insecure_skip_verify === true) out.skipVerify = true;
    return out;
  };
  if (nonEmpty(mirrors)) {
    for (const [host, m] of Object.entries(mirrors)) {
      const endpoints = isObj(m) && Array.isArray(m.endpoint) ? m.endpoint.map(String) : [];
      const line = lineOf(effDoc, [...keys.registry, 'mirrors', host]);
      if (configPath !== '') {
        add({
          id: 'mirrors-with-config-path',
          host,
          severity: 'error',
          ...lineField(line),
          message: `registry.mirrors."${host}" is set together with config_path = "${configPath}"`,
          why: 'the CRI plugin refuses to load: "`mirrors` cannot be set when `config_path` is provided" (and kubelet cannot pull or run pods)',
          fix: `move it to ${path.posix.join(migrateDir, host)}/hosts.toml and delete the mirrors table`,
          fixable: true,
        });
      } else {
        add({
          id: 'deprecated-mirrors',
          host,
          severity: 'warning',
          ...lineField(line),
          message: `registry.mirrors."${host}" is deprecated (since containerd 1.5, removal planned)`,
          why: 'only the CRI plugin reads it (not ctr, nerdctl or ocictl), and it cannot be changed without a restart',
          fix: `set config_path = "${DEFAULT_HOSTS_DIR}" and write ${DEFAULT_HOSTS_DIR}/${host}/hosts.toml instead`,
          fixable: true,
        });
      }
      const hosts = endpoints.map((url) => ({ url: url.replace(/\/+$/, ''), capabilities: ['pull', 'resolve'] }));
      const firstTls = endpoints.length > 0 ? tlsOf(sanitiseHostDir(endpoints[0]!)) : {};
      toMigrate.push({ hostDir: host, file: { server: defaultServer(host), hosts, ...firstTls } });
    }
  }
  if (nonEmpty(configs)) {
    for (const [host, c] of Object.entries(configs)) {
      if (!isObj(c)) continue;
      if (nonEmpty(c.tls)) {
        const line = lineOf(effDoc, [...keys.registry, 'configs', host, 'tls']);
        if (configPath !== '') {
          add({
            id: 'configs-tls-with-config-path',
          host,
            severity: 'error',
            ...lineField(line),
            message: `registry.configs."${host}".tls is set together with config_path = "${configPath}"`,
            why: 'the CRI plugin refuses to load: "`configs.tls` cannot be set when `config_path` is provided"',
            fix: `move ca_file/cert_file/key_file to ${path.posix.join(migrateDir, host)}/hosts.toml (ca, client, skip_verify) and delete the tls table`,
            fixable: true,
          });
        } else {
          add({
            id: 'deprecated-configs',
          host,
            severity: 'warning',
            ...lineField(line),
            message: `registry.configs."${host}".tls is deprecated`,
            why: 'only the CRI plugin reads it; nerdctl and ctr ignore it, which is how "x509: certificate signed by unknown authority" happens',
            fix: `write ${DEFAULT_HOSTS_DIR}/${host}/hosts.toml with ca/client instead, and set config_path`,
            fixable: true,
          });
        }
        if (!toMigrate.some((t) => t.hostDir === host)) {
          const server = `https://${host}`;
          toMigrate.push({ hostDir: host, file: { server, hosts: [{ url: server, capabilities: ['pull', 'resolve', 'push'] }], ...tlsOf(host) } });
        }
      }
      if (nonEmpty(c.auth)) {
        add({
          id: 'deprecated-configs-auth',
          host,
          severity: 'warning',
          ...lineField(lineOf(effDoc, [...keys.registry, 'configs', host, 'auth'])),
          message: `registry.configs."${host}".auth is deprecated`,
          why: 'credentials in config.toml apply to every pod on the node and are readable by anyone who can read the file',
          fix: 'give credentials per pod (Kubernetes imagePullSecrets) or per user (`ocictl login`), then delete the auth table',
          fixable: false,
        });
      }
    }
  }
  if (nonEmpty(auths)) {
    add({
      id: 'deprecated-auths',
      severity: 'warning',
      ...lineField(lineOf(effDoc, [...keys.registry, 'auths'])),
      message: 'registry.auths is deprecated (since containerd 1.3)',
      why: 'it is scheduled for removal and applies credentials to every pod on the node',
      fix: 'use imagePullSecrets or `ocictl login`, then delete the table',
      fixable: false,
    });
  }
  // secrets in plain text, wherever they sit under the registry table
  const worldReadable = (mode & 0o044) !== 0;
  for (const s of effDoc.statements()) {
    if (s.kind !== 'kv') continue;
    const full = [...s.table, ...s.key!];
    const k = full[full.length - 1]!;
    if (!['password', 'auth', 'identitytoken'].includes(k)) continue;
    if (!startsWith(full, [...keys.registry]) && full[0] !== 'plugin') continue;
    const v = getPath(eff, full);
    if (typeof v !== 'string' || v === '') continue;
    const regLen = keys.registry.length;
    const about = startsWith(full, [...keys.registry]) && (full[regLen] === 'configs' || full[regLen] === 'auths') ? full[regLen + 1] : undefined;
    add({
      id: 'plaintext-password',
      ...(about !== undefined ? { host: about } : {}),
      severity: 'error',
      line: s.line,
      message: `${k} for a registry in plain text${worldReadable ? ` in a file readable by others (mode ${mode.toString(8).padStart(4, '0')})` : ''}`,
      why: 'anyone who can read config.toml (or a backup of it) can push to and pull from the registry with it',
      fix: `${worldReadable ? 'chmod 600 the file now; then ' : ''}remove it and give credentials with imagePullSecrets or \`ocictl login\``,
      fixable: worldReadable,
    });
  }
  const fixMode = findings.some((f) => f.id === 'plaintext-password' && f.fixable) ? 0o600 : mode;

  // 4. cgroup driver.
  if (opts.systemdHost) {
    const cgPath = [...keys.systemdCgroup.table, keys.systemdCgroup.key];
    const v = getPath(eff, cgPath);
    if (v !== true) {
      add({
        id: 'systemd-cgroup-off',
        severity: 'error',
        ...lineField(lineOf(effDoc, cgPath) ?? lineOf(effDoc, keys.systemdCgroup.table)),
        message: `SystemdCgroup is ${v === false ? 'false' : 'not set (false)'} on a systemd host`,
        why: 'kubelet uses the systemd cgroup driver (kubeadm default since 1.22); two cgroup managers on one host make pods unstable under resource pressure',
        fix: `set SystemdCgroup = true under [${formatKey(keys.systemdCgroup.table)}]`,
        fixable: true,
      });
      fixDoc.set(keys.systemdCgroup.table, keys.systemdCgroup.key, true);
      fixed = true;
    }
  }

  // 5. the migration fix: hosts.toml files, then drop mirrors and configs.*.tls.
  if (toMigrate.length > 0) {
    for (const t of toMigrate) {
      const target = path.posix.join(migrateDir, t.hostDir, 'hosts.toml');
      const hp = hostPath(opts.root, target);
      if (existsSync(hp)) {
        res.notes.push(`${target} exists: left as it is (compare it with the settings removed from config.toml)`);
        continue;
      }
      if (t.file.hosts.length === 0) t.file.hosts.push({ url: t.file.server, capabilities: ['pull', 'resolve', 'push'] });
      res.hostsFiles.set(hp, renderHostsToml(t.file, '# Migrated by ocictl containerd lint --fix from registry.mirrors/configs in config.toml.'));
    }
    // remove in the fix document, whose table names are the fixed ones
    const regPath = [...keys.registry];
    removeSubtree(fixDoc, [...regPath, 'mirrors']);
    if (isObj(configs)) for (const host of Object.keys(configs)) if (isObj(configs[host]) && nonEmpty((configs[host] as Obj).tls)) removeSubtree(fixDoc, [...regPath, 'configs', host, 'tls']);
    if (configPath === '') fixDoc.set(regPath, 'config_path', migrateDir);
    fixed = true;
  }
  if (fixed || fixMode !== mode) {
    res.fixedText = fixDoc.text;
    res.fixedMode = fixMode;
  }
  return res;
}

function lineField(line: number | undefined): { line?: number } {
  return line === undefined ? {} : { line };
}

function removeSubtree(doc: TomlDocument, p: readonly string[]): void {
  doc.removeTable(p);
  for (;;) {
    const s = doc.statements().find((x: TomlStatement) => x.kind === 'kv' && startsWith([...x.table, ...x.key!], p));
    if (!s) break;
    doc.removeKey([...s.table, ...s.key!]);
  }
}

function asPaths(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap((x) => asPaths(x));
  return [];
}

interface HostsAnalysis {
  findings: Finding[];
  fixes: Map<string, string>;
  probes: { url: string; cas: string[]; file: string }[];
}

/** Lints one hosts directory (host paths). */
async function analyseHostsDir(view: View, root: string, dir: string): Promise<HostsAnalysis> {
  const res: HostsAnalysis = { findings: [], fixes: new Map(), probes: [] };
  for (const name of await view.listDirs(dir)) {
    const hdir = path.join(dir, name);
    const file = path.join(hdir, 'hosts.toml');
    const f = await view.read(file);
    const add = (x: Omit<Finding, 'file'>, at = file): void => {
      res.findings.push({ file: at, ...x });
    };
    if (!f) {
      // docker-style directory: *.crt are CAs
      let files: string[] = [];
      try {
        files = await fsp.readdir(hdir);
      } catch {
        continue;
      }
      for (const c of files.filter((x) => x.endsWith('.crt'))) await checkCert(path.join(hdir, c), 'ca', (x) => add(x, path.join(hdir, c)));
      continue;
    }
    let doc: Obj;
    try {
      doc = parse(f.text) as Obj;
    } catch (e) {
      add({ id: 'toml-syntax', severity: 'error', ...(e instanceof TomlError ? { line: e.line } : {}), message: `not valid TOML: ${(e as Error).message.split('\n')[0]}`, why: 'containerd ignores the whole file and falls back to its defaults', fix: 'correct the syntax', fixable: false });
      continue;
    }
    const hostName = name.replace(/^(.*)_(\d+)_$/, '$1:$2');
    const server = typeof doc.server === 'string' ? doc.server : name === '_default' ? undefined : defaultServer(hostName);
    const hostTables = isObj(doc.host) ? (doc.host as Obj) : {};
    const tdoc = new TomlDocument(f.text);
    const fix = new TomlDocument(f.text);
    let changed = false;
    const topCa = asPaths(doc.ca);
    if (Object.keys(hostTables).length === 0) {
      add({
        id: 'hosts-no-host-table',
        severity: 'error',
        line: 1,
        message: 'no [host."..."] table',
        why: 'containerd 1.6 rejects such a file ("invalid `host` tree") and silently falls back to its defaults (plain HTTP for localhost, system CAs otherwise)',
        fix: `add [host.${JSON.stringify(server ?? 'https://HOST')}] with capabilities and the same ca/client as the top level`,
        fixable: server !== undefined,
      });
      if (server !== undefined) {
        const lines = [`[host.${JSON.stringify(server)}]`, `  capabilities = ["pull", "resolve", "push"]`];
        for (const k of ['ca', 'client', 'skip_verify']) {
          const st = tdoc.findKey([k]);
          if (st) lines.push(`  ${k} = ${tdoc.valueText(st)}`);
        }
        const text = f.text;
        res.fixes.set(file, `${text.endsWith('\n') ? text : `${text}\n`}\n${lines.join('\n')}\n`);
      }
    } else if (topCa.length === 0) {
      const withCa = Object.entries(hostTables).filter(([, v]) => asPaths(getPath(v, ['ca'])).length > 0);
      if (withCa.length > 0 && server !== undefined) {
        const first = withCa[0]!;
        const st = tdoc.findKey(['host', first[0], 'ca']);
        add({
          id: 'hosts-ca-only-in-host',
          severity: 'warning',
          ...(st ? { line: st.line } : {}),
          message: `ca is set only inside [host.${JSON.stringify(first[0])}]`,
          why: 'when that host answers 404, containerd 1.6 falls through to `server` without the CA and reports a misleading "x509: certificate signed by unknown authority"',
          fix: `also set ca = ${st ? tdoc.valueText(st) : '...'} at the top level`,
          fixable: st !== undefined,
        });
        if (st) {
          fix.set([], 'ca', asPaths(getPath(first[1], ['ca'])).length === 1 ? asPaths(getPath(first[1], ['ca']))[0]! : asPaths(getPath(first[1], ['ca'])));
          changed = true;
        }
      }
    }
    if (changed) res.fixes.set(file, fix.text);
    // certificate files
    const resolve = (p: string): string => (path.isAbsolute(p) ? hostPath(root, p) : path.join(hdir, p));
    const checkAt = async (p: string, kind: 'ca' | 'cert' | 'key', st: TomlStatement | undefined): Promise<void> => {
      if (checked.has(`${kind}:${resolve(p)}`)) return;
      checked.add(`${kind}:${resolve(p)}`);
      await checkCert(resolve(p), kind, (x) => add({ ...x, ...(st ? { line: st.line } : {}) }));
    };
    const cas = new Set<string>();
    const checked = new Set<string>();
    for (const [prefix, tbl] of [[[] as string[], doc] as const, ...Object.entries(hostTables).map(([u, v]) => [['host', u], v] as const)]) {
      for (const p of asPaths(getPath(tbl, ['ca']))) {
        await checkAt(p, 'ca', tdoc.findKey([...prefix, 'ca']));
        cas.add(resolve(p));
      }
      const client = getPath(tbl, ['client']);
      const pairs: string[][] = typeof client === 'string' ? [[client]] : Array.isArray(client) ? client.map((c) => (Array.isArray(c) ? c.map(String) : [String(c)])) : [];
      for (const pair of pairs) {
        const st = tdoc.findKey([...prefix, 'client']);
        await checkAt(pair[0]!, 'cert', st);
        if (pair[1] !== undefined) {
          await checkAt(pair[1], 'key', st);
          if (!checked.has(`pair:${resolve(pair[0]!)}`)) {
            checked.add(`pair:${resolve(pair[0]!)}`);
            await checkPair(resolve(pair[0]!), resolve(pair[1]), (x) => add({ ...x, ...(st ? { line: st.line } : {}) }));
          }
        }
      }
    }
    const urls = new Set<string>([...Object.keys(hostTables), ...(server ? [server] : [])]);
    for (const u of urls) if (u.startsWith('https://')) res.probes.push({ url: u, cas: [...cas], file });
  }
  return res;
}

async function checkCert(file: string, kind: 'ca' | 'cert' | 'key', add: (f: Omit<Finding, 'file'>) => void): Promise<void> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    add({
      id: 'cert-missing',
      severity: 'error',
      message: `${kind === 'key' ? 'key' : 'certificate'} file ${file} does not exist`,
      why: kind === 'ca' ? 'pulls fail with "x509: certificate signed by unknown authority" (or containerd drops the host)' : 'the TLS client setup fails and the host is skipped',
      fix: 'copy the file there, or fix the path (relative paths are relative to hosts.toml)',
      fixable: false,
    });
    return;
  }
  try {
    if (kind === 'key') createPrivateKey(text);
    else {
      const c = new X509Certificate(text);
      if (kind === 'ca' && !c.ca) {
        add({ id: 'ca-not-ca', severity: 'warning', message: `${file} is not a CA certificate (CA:FALSE)`, why: 'it verifies only the one certificate it is, and breaks when the registry renews it', fix: 'use the CA that signed the registry certificate', fixable: false });
      }
      if (Date.parse(c.validTo) < Date.now()) {
        add({ id: 'cert-expired', severity: 'error', message: `${file} expired on ${c.validTo}`, why: 'TLS verification fails with an expired certificate', fix: 'install a renewed certificate', fixable: false });
      }
    }
  } catch (e) {
    add({
      id: 'cert-invalid',
      severity: 'error',
      message: `${file} does not parse as a PEM ${kind === 'key' ? 'private key' : 'certificate'}: ${(e as Error).message}`,
      why: 'containerd fails to load it and the host cannot be used',
      fix: 'convert it to PEM (openssl x509 -inform der -in F -out F.crt) or fix the path',
      fixable: false,
    });
  }
}

async function checkPair(certFile: string, keyFile: string, add: (f: Omit<Finding, 'file'>) => void): Promise<void> {
  try {
    const cert = new X509Certificate(await fsp.readFile(certFile, 'utf8'));
    const key = createPrivateKey(await fsp.readFile(keyFile, 'utf8'));
    if (!cert.checkPrivateKey(key)) {
      add({ id: 'client-key-mismatch', severity: 'error', message: `${keyFile} is not the key of ${certFile}`, why: 'the TLS handshake fails', fix: 'pair the certificate with its own key', fixable: false });
    }
  } catch {
    // reported by checkCert
  }
}

/** Connects to `url` and checks that one of `cas` signs the certificate it presents. */
export async function probeCertificate(url: string, cas: readonly string[], timeoutMs = 5000): Promise<{ ok: boolean; detail: string }> {
  const u = new URL(url);
  const port = Number(u.port || 443);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const caPems = await Promise.all(cas.map((c) => fsp.readFile(c, 'utf8').catch(() => '')));
  const ca = caPems.filter(Boolean);
  return new Promise((resolve) => {
    const sock = tls.connect({ host, port, ...(ca.length > 0 ? { ca } : {}), rejectUnauthorized: false, ...(!/^[\d.]+$|:/.test(host) ? { servername: host } : {}), ALPNProtocols: ['http/1.1'] });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ ok: false, detail: `no TLS answer from ${host}:${port} within ${timeoutMs} ms` });
    }, timeoutMs);
    sock.once('secureConnect', () => {
      clearTimeout(timer);
      const peer = sock.getPeerCertificate();
      const idErr = tls.checkServerIdentity(host, peer);
      const ok = sock.authorized && !idErr;
      const detail = !sock.authorized ? `certificate of ${host}:${port} does not verify${ca.length > 0 ? ' against the configured CA' : ''}: ${String(sock.authorizationError)}` : idErr ? idErr.message : `certificate of ${host}:${port} verifies`;
      sock.end();
      resolve({ ok, detail });
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      resolve({ ok: false, detail: `cannot connect to ${host}:${port}: ${e.message}` });
    });
  });
}

/** Lints config.toml and the hosts directories it names. */
export async function lint(o: LintOptions): Promise<LintResult> {
  const configFile = o.config ?? hostPath(o.root, '/etc/containerd/config.toml');
  const systemdHost = o.systemdHost ?? detectSystemdHost(o.root);
  let text: string;
  let mode: number;
  try {
    text = await fsp.readFile(configFile, 'utf8');
    mode = (await fsp.stat(configFile)).mode & 0o7777;
  } catch (e) {
    return { configFile, findings: [], remaining: [], readError: `cannot read ${configFile}: ${(e as Error).message}` };
  }
  const run = async (view: View, t: string, m: number): Promise<{ a: ConfigAnalysis; h: HostsAnalysis[] }> => {
    const a = analyseConfig(t, m, configFile, { root: o.root, systemdHost, ...(o.hostsDir ? { hostsDir: o.hostsDir } : {}) });
    const h: HostsAnalysis[] = [];
    for (const d of a.hostsDirs) h.push(await analyseHostsDir(view, o.root, hostPath(o.root, d)));
    return { a, h };
  };
  const view = new View();
  const first = await run(view, text, mode);
  const findings = [...first.a.findings, ...first.h.flatMap((x) => x.findings)];
  if (o.probe) {
    for (const p of first.h.flatMap((x) => x.probes)) {
      const r = await probeCertificate(p.url, p.cas, o.probeTimeoutMs);
      if (!r.ok) {
        findings.push({ id: 'ca-does-not-sign', severity: 'error', file: p.file, message: r.detail, why: 'pulls from this host fail with an x509 error', fix: 'install the CA that signed the registry certificate (ocictl containerd registry add HOST --ca FILE)', fixable: false });
      }
    }
  }
  const result: LintResult = { configFile, findings, remaining: findings };
  if (!o.fix) return result;
  const plan = emptyPlan('/');
  const hostsFixes = new Map<string, string>([...first.a.hostsFiles, ...first.h.flatMap((x) => [...x.fixes])]);
  if (first.a.fixedText !== undefined) {
    const changedText = first.a.fixedText !== text;
    plan.files.push({
      path: configFile,
      action: 'update',
      mode: first.a.fixedMode ?? mode,
      content: first.a.fixedText,
      before: text,
      ...(changedText ? { backup: `${configFile}.bak-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-')}` } : {}),
      ...(first.a.fixedMode !== undefined && first.a.fixedMode !== mode ? { beforeMode: mode } : {}),
    });
  }
  for (const [f, t] of hostsFixes) {
    const old = await view.read(f).catch(() => undefined);
    const exists = existsSync(f);
    plan.files.push({ path: f, action: exists ? 'update' : 'create', mode: 0o644, content: t, ...(exists && old ? { before: old.text } : {}) });
  }
  plan.notes.push(...first.a.notes);
  if (plan.files.some((f) => f.path === configFile)) plan.notes.push('restart containerd to apply config.toml');
  // lint again, as if the fixes were written
  const after = new View();
  for (const f of plan.files) if (typeof f.content === 'string' && f.path !== configFile) after.set(f.path, f.content, f.mode);
  const second = await run(after, first.a.fixedText ?? text, first.a.fixedMode ?? mode);
  result.remaining = [...second.a.findings, ...second.h.flatMap((x) => x.findings)];
  result.plan = plan;
  return result;
}

export function renderFindings(r: LintResult): string {
  if (r.readError) return `ocictl: ${r.readError}\n`;
  if (r.findings.length === 0) return `${r.configFile}: no findings\n`;
  const out: string[] = [];
  for (const f of r.findings) {
    out.push(`${f.file}${f.line !== undefined ? `:${f.line}` : ''}: ${f.severity}: ${f.message} [${f.id}]`);
    out.push(`    why: ${f.why}`);
    out.push(`    fix: ${f.fix}${f.fixable ? ' (--fix does this)' : ''}`);
  }
  const fixable = r.findings.filter((f) => f.fixable).length;
  out.push(`${r.findings.length} finding${r.findings.length === 1 ? '' : 's'}, ${fixable} fixable with --fix`);
  return `${out.join('\n')}\n`;
}

