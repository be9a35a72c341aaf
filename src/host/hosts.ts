/**
 * Registry host configuration: `certs.d/<host:port>/hosts.toml` with its
 * certificates beside it. Written so that containerd 1.6 reads it too: a
 * `[host."..."]` table is always present (1.6 rejects a file with only
 * `server`), and `ca`/`client`/`skip_verify` are set at the top level as well
 * (otherwise a fall-through to `server` happens without the CA).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { parse } from 'smol-toml';
import { OcictlError } from '../errors.js';
import { ALL_CAPABILITIES, type HostCapability } from '../transport/hosts-dir.js';
import { emptyPlan, exists, hostPath, planTextFile, readIfExists, type FileChange, type Plan } from './plan.js';
import { getPath } from './tomledit.js';

export const DEFAULT_HOSTS_DIR = '/etc/containerd/certs.d';
/** What `registry add` writes by default (containerd 1.6 and 1.7 refuse `referrers`). */
export const CAPABILITIES = ['pull', 'resolve', 'push'] as const;
export { ALL_CAPABILITIES };
export type Capability = HostCapability;

/** Validates `host[:port]` and returns it lower-cased. */
export function validateHost(host: string): string {
  const h = host.trim().toLowerCase();
  if (h === '_default') return h;
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)(:(\d{1,5}))?$/.exec(h);
  if (!m || (m[6] !== undefined && (Number(m[6]) < 1 || Number(m[6]) > 65535))) {
    throw new OcictlError('INVALID_ARGUMENT', `not a registry host: ${JSON.stringify(host)}`, {
      hint: 'give HOST or HOST:PORT, without scheme or path (e.g. 192.168.2.250:443)',
    });
  }
  return h;
}

/** The upstream for a host name: docker.io is served by registry-1.docker.io. */
export function defaultServer(host: string): string {
  return host === 'docker.io' ? 'https://registry-1.docker.io' : `https://${host}`;
}

export function parseCapabilities(list: string | undefined): Capability[] {
  if (list === undefined) return [...CAPABILITIES];
  const caps = list.split(',').map((s) => s.trim()).filter(Boolean);
  for (const c of caps) {
    if (!(ALL_CAPABILITIES as readonly string[]).includes(c)) {
      throw new OcictlError('INVALID_ARGUMENT', `unknown capability ${JSON.stringify(c)}`, { hint: 'use pull, resolve, push (and referrers for containerd 2.x)' });
    }
  }
  if (caps.length === 0) throw new OcictlError('INVALID_ARGUMENT', 'empty --capabilities', { hint: 'use pull,resolve[,push]' });
  return caps as Capability[];
}

export interface HostsFile {
  /** Upstream server URL (top-level `server`). */
  server: string;
  /** `[host."URL"]` entries, tried in order before `server`. */
  hosts: { url: string; capabilities: readonly string[] }[];
  /** Paths as written into the file (relative ones are relative to it). */
  ca?: string;
  client?: [string, string];
  skipVerify?: boolean;
}

const q = (s: string): string => JSON.stringify(s);

export function renderHostsToml(f: HostsFile, header = '# Written by ocictl containerd registry add. Files are re-read on every pull.'): string {
  const tls: string[] = [];
  if (f.ca !== undefined) tls.push(`ca = ${q(f.ca)}`);
  if (f.client !== undefined) tls.push(`client = [[${q(f.client[0])}, ${q(f.client[1])}]]`);
  if (f.skipVerify) tls.push('skip_verify = true');
  const lines = [header, `server = ${q(f.server)}`, ...tls];
  for (const h of f.hosts) {
    lines.push('', `[host.${q(h.url)}]`, `  capabilities = [${h.capabilities.map(q).join(', ')}]`, ...tls.map((l) => `  ${l}`));
  }
  return `${lines.join('\n')}\n`;
}

async function readPem(file: string, what: string): Promise<string> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw new OcictlError('INVALID_ARGUMENT', `cannot read ${what} ${file}: ${(e as Error).message}`);
  }
}

export function parseCertificate(pem: string, file: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (e) {
    throw new OcictlError('INVALID_ARGUMENT', `${file} is not a PEM certificate: ${(e as Error).message}`);
  }
}

/** Reads the hosts directory from config.toml's `config_path` (first entry), else the default. */
export async function resolveHostsDir(root: string, explicit?: string): Promise<string> {
  if (explicit) return explicit;
  const cfg = await readIfExists(hostPath(root, '/etc/containerd/config.toml'));
  if (cfg) {
    try {
      const doc = parse(cfg.text);
      for (const p of [
        ['plugins', 'io.containerd.grpc.v1.cri', 'registry', 'config_path'],
        ['plugins', 'io.containerd.cri.v1.images', 'registry', 'config_path'],
      ]) {
        const v = getPath(doc, p);
        if (typeof v === 'string' && v !== '') return v.split(':')[0]!;
      }
    } catch {
      // unreadable config: lint reports it; use the default here
    }
  }
  return DEFAULT_HOSTS_DIR;
}

export interface RegistryAddOptions {
  root: string;
  host: string;
  hostsDir?: string;
  ca?: string;
  cert?: string;
  key?: string;
  skipVerify?: boolean;
  server?: string;
  capabilities?: readonly Capability[];
}

/** Plans `registry add`: hosts.toml plus copies of the certificates. */
export async function planRegistryAdd(o: RegistryAddOptions): Promise<Plan> {
  const host = validateHost(o.host);
  if ((o.cert === undefined) !== (o.key === undefined)) {
    throw new OcictlError('INVALID_ARGUMENT', '--cert and --key go together', { hint: 'give both for client-certificate auth' });
  }
  let server = defaultServer(host);
  if (o.server !== undefined) {
    let u: URL;
    try {
      u = new URL(o.server);
    } catch {
      throw new OcictlError('INVALID_ARGUMENT', `--server ${o.server} is not a URL`, { hint: 'e.g. https://192.168.2.250:443' });
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new OcictlError('INVALID_ARGUMENT', `--server must be http(s)://, got ${o.server}`);
    server = o.server.replace(/\/+$/, '');
  }
  const hostsDir = await resolveHostsDir(o.root, o.hostsDir);
  const dir = path.posix.join(hostsDir, host);
  const plan = emptyPlan(o.root);
  const file: HostsFile = { server, hosts: [{ url: server, capabilities: o.capabilities ?? [...CAPABILITIES] }] };
  if (o.ca !== undefined) {
    const pem = await readPem(o.ca, 'CA certificate');
    const ca = parseCertificate(pem, o.ca);
    if (!ca.ca) plan.warnings.push(`${o.ca} is not a CA certificate (basicConstraints CA:FALSE); it verifies only if it is the registry's own certificate`);
    plan.files.push(await planTextFile(o.root, `${dir}/ca.crt`, pem, 0o644));
    file.ca = 'ca.crt';
  }
  if (o.cert !== undefined && o.key !== undefined) {
    const certPem = await readPem(o.cert, 'client certificate');
    const keyPem = await readPem(o.key, 'client key');
    const cert = parseCertificate(certPem, o.cert);
    let key;
    try {
      key = createPrivateKey(keyPem);
    } catch (e) {
      throw new OcictlError('INVALID_ARGUMENT', `${o.key} is not a PEM private key: ${(e as Error).message}`);
    }
    if (!cert.checkPrivateKey(key)) throw new OcictlError('INVALID_ARGUMENT', `${o.key} does not belong to ${o.cert}`, { hint: 'pass the key of that certificate' });
    plan.files.push(await planTextFile(o.root, `${dir}/client.cert`, certPem, 0o644));
    plan.files.push(await planTextFile(o.root, `${dir}/client.key`, keyPem, 0o600));
    file.client = ['client.cert', 'client.key'];
  }
  if (o.skipVerify) {
    file.skipVerify = true;
    plan.warnings.push(`skip_verify = true: TLS certificates of ${host} are not checked; prefer --ca`);
  }
  plan.files.push(await planTextFile(o.root, `${dir}/hosts.toml`, renderHostsToml(file), 0o644));
  plan.notes.push(`credentials are not stored here: run \`ocictl login ${host}\` (Kubernetes: an imagePullSecret)`);
  return plan;
}

export interface RegistryInfo {
  host: string;
  dir: string;
  kind: 'hosts.toml' | 'docker-certs';
  server?: string;
  hosts: { url: string; capabilities: string[] }[];
  ca: string[];
  skipVerify: boolean;
  error?: string;
}

function asStrings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap((x) => asStrings(x));
  return [];
}

/** Lists the hosts directory. */
export async function listRegistries(root: string, hostsDir?: string): Promise<RegistryInfo[]> {
  const dir = await resolveHostsDir(root, hostsDir);
  let names: string[];
  try {
    names = (await fsp.readdir(hostPath(root, dir), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: RegistryInfo[] = [];
  for (const name of names.sort()) {
    const targetDir = path.posix.join(dir, name);
    const toml = await readIfExists(hostPath(root, `${targetDir}/hosts.toml`));
    const info: RegistryInfo = { host: name.replace(/^(.*)_(\d+)_$/, '$1:$2'), dir: targetDir, kind: 'hosts.toml', hosts: [], ca: [], skipVerify: false };
    if (toml) {
      try {
        const doc = parse(toml.text);
        if (typeof doc.server === 'string') info.server = doc.server;
        info.ca = asStrings(doc.ca);
        info.skipVerify = doc.skip_verify === true;
        const hosts = doc.host;
        if (hosts && typeof hosts === 'object' && !Array.isArray(hosts)) {
          for (const [url, v] of Object.entries(hosts as Record<string, unknown>)) {
            const caps = getPath(v, ['capabilities']);
            info.hosts.push({ url, capabilities: Array.isArray(caps) ? caps.map(String) : [...CAPABILITIES] });
            for (const c of asStrings(getPath(v, ['ca']))) if (!info.ca.includes(c)) info.ca.push(c);
            if (getPath(v, ['skip_verify']) === true) info.skipVerify = true;
          }
        }
      } catch (e) {
        info.error = (e as Error).message.split('\n')[0]!;
      }
    } else {
      const files = await fsp.readdir(hostPath(root, targetDir));
      if (!files.some((f) => /\.(crt|cert|key)$/.test(f))) continue;
      info.kind = 'docker-certs';
      info.ca = files.filter((f) => f.endsWith('.crt'));
    }
    out.push(info);
  }
  return out;
}

/** Plans `registry rm`: deletes the host's directory (hosts.toml and certificates). */
export async function planRegistryRm(root: string, host: string, hostsDir?: string): Promise<Plan> {
  const h = validateHost(host);
  const dir = await resolveHostsDir(root, hostsDir);
  const plan = emptyPlan(root);
  const candidates = [h, h.replace(/^(.*):(\d+)$/, '$1_$2_')];
  let found = false;
  for (const name of new Set(candidates)) {
    const target = path.posix.join(dir, name);
    const hp = hostPath(root, target);
    if (!(await exists(hp))) continue;
    found = true;
    const st = await fsp.lstat(hp);
    if (st.isDirectory()) {
      for (const f of (await fsp.readdir(hp)).sort()) {
        const change: FileChange = { path: `${target}/${f}`, action: 'delete', mode: 0 };
        plan.files.push(change);
      }
    }
    plan.files.push({ path: target, action: 'delete', mode: 0 });
  }
  if (!found) throw new OcictlError('NOT_FOUND', `no configuration for ${h} in ${dir}`, { hint: 'see ocictl containerd registry ls' });
  return plan;
}
