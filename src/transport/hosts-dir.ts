/**
 * Per-host TLS and endpoint settings from containerd-style hosts directories
 * (`<dir>/<host:port>/hosts.toml`, `<dir>/<host_port_>/`, `<dir>/_default/`)
 * and Docker-style certs.d files (`*.crt` CA, `*.cert` + `*.key` client pair).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { OcictlError } from '../errors.js';

export const DEFAULT_HOSTS_DIRS = ['/etc/containerd/certs.d', '/etc/docker/certs.d'];

export interface HostEndpoint {
  /** `https://host:port` or `http://host:port`, with an optional path prefix (default `/v2`). */
  url: string;
  capabilities: ('pull' | 'resolve' | 'push')[];
  /** CA certificates (PEM contents). */
  ca: string[];
  /** Client certificate and key (PEM contents). */
  clientCert?: string;
  clientKey?: string;
  skipVerify: boolean;
  headers: Record<string, string>;
  /** Where these settings came from, for messages. */
  source: string;
  /** Whether `url` was chosen by configuration (hosts.toml), not by default. */
  explicit: boolean;
}

export interface HostSettings {
  /** Endpoints in the order to try. Empty when nothing is configured. */
  endpoints: HostEndpoint[];
  /** The directory that was (or would be) used for this host, for error hints. */
  dir: string;
}

/** Directory names a hosts dir may use for `host`: `host:port` and `host_port_` (as containerd looks them up). */
export function dirNames(host: string): string[] {
  const names = [host];
  const m = /^(.*):(\d+)$/.exec(host);
  if (m) names.push(`${m[1]}_${m[2]}_`);
  return names;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function readPem(file: string, what: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new OcictlError('CONFIG_INVALID', `cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { hint: 'fix the path in hosts.toml' });
  }
}

function asList(v: unknown): unknown[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/** Resolves the settings for `host` (host[:port]) from the first hosts dir that has an entry for it. */
export async function loadHostSettings(host: string, hostsDirs: string[] = DEFAULT_HOSTS_DIRS): Promise<HostSettings> {
  let firstDir: string | undefined;
  for (const root of hostsDirs) {
    for (const name of [...dirNames(host), '_default']) {
      const dir = path.join(root, name);
      if (!firstDir && name === host) firstDir = dir;
      if (!(await isDir(dir))) continue;
      const endpoints = await loadDir(dir, host);
      if (endpoints.length > 0) return { endpoints, dir };
    }
  }
  return { endpoints: [], dir: firstDir ?? path.join(hostsDirs[0] ?? DEFAULT_HOSTS_DIRS[0] as string, host) };
}

async function loadDir(dir: string, host: string): Promise<HostEndpoint[]> {
  const tomlPath = path.join(dir, 'hosts.toml');
  let text: string | undefined;
  try {
    text = await fs.readFile(tomlPath, 'utf8');
  } catch {
    text = undefined;
  }
  if (text !== undefined) return parseHostsToml(text, tomlPath, host);
  return loadCertsD(dir, host);
}

async function loadCertsD(dir: string, host: string): Promise<HostEndpoint[]> {
  const files = (await fs.readdir(dir)).sort();
  const ca: string[] = [];
  let clientCert: string | undefined;
  let clientKey: string | undefined;
  for (const f of files) {
    const p = path.join(dir, f);
    if (f.endsWith('.crt')) ca.push(await readPem(p, 'CA certificate'));
    else if (f.endsWith('.cert') && !clientCert) {
      const key = path.join(dir, `${f.slice(0, -'.cert'.length)}.key`);
      clientCert = await readPem(p, 'client certificate');
      clientKey = await readPem(key, 'client key');
    }
  }
  if (ca.length === 0 && !clientCert) return [];
  const ep: HostEndpoint = {
    url: `https://${host}/v2`,
    capabilities: ['pull', 'resolve', 'push'],
    ca,
    skipVerify: false,
    headers: {},
    source: dir,
    explicit: false,
  };
  if (clientCert && clientKey) {
    ep.clientCert = clientCert;
    ep.clientKey = clientKey;
  }
  return [ep];
}

async function endpointFrom(table: Record<string, unknown>, url: string, base: string, source: string): Promise<HostEndpoint> {
  const bad = (what: string): OcictlError => new OcictlError('CONFIG_INVALID', `${source}: ${what}`, { hint: 'see containerd docs/hosts.md for the format' });
  const resolve = (p: string): string => (path.isAbsolute(p) ? p : path.join(base, p));
  const ca: string[] = [];
  for (const c of asList(table.ca)) {
    if (typeof c !== 'string') throw bad('"ca" must be a path or a list of paths');
    ca.push(await readPem(resolve(c), 'CA certificate'));
  }
  let clientCert: string | undefined;
  let clientKey: string | undefined;
  for (const c of asList(table.client)) {
    if (typeof c === 'string') {
      clientCert = await readPem(resolve(c), 'client certificate');
      clientKey = clientCert; // a combined PEM with certificate and key
    } else if (Array.isArray(c) && c.length === 2 && typeof c[0] === 'string' && typeof c[1] === 'string') {
      clientCert = await readPem(resolve(c[0]), 'client certificate');
      clientKey = await readPem(resolve(c[1]), 'client key');
    } else throw bad('"client" must be a path, a list of paths, or a list of [cert, key] pairs');
    break;
  }
  if (table.skip_verify !== undefined && typeof table.skip_verify !== 'boolean') throw bad('"skip_verify" must be true or false');
  const caps = asList(table.capabilities ?? ['pull', 'resolve', 'push']);
  for (const c of caps) if (c !== 'pull' && c !== 'resolve' && c !== 'push') throw bad(`unknown capability ${JSON.stringify(c)}`);
  const headers: Record<string, string> = {};
  if (table.header !== undefined) {
    if (typeof table.header !== 'object' || table.header === null) throw bad('"header" must be a table');
    for (const [k, v] of Object.entries(table.header as Record<string, unknown>)) {
      if (typeof v === 'string') headers[k] = v;
      else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) headers[k] = v.join(', ');
    }
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad(`"${url}" is not a URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw bad(`"${url}" must use http or https`);
  let prefix = u.pathname.replace(/\/+$/, '');
  if (table.override_path !== true && !prefix.endsWith('/v2')) prefix = `${prefix}/v2`;
  const ep: HostEndpoint = {
    url: `${u.protocol}//${u.host}${prefix}`,
    capabilities: caps as HostEndpoint['capabilities'],
    ca,
    skipVerify: table.skip_verify === true,
    headers,
    source,
    explicit: true,
  };
  if (clientCert) ep.clientCert = clientCert;
  if (clientKey) ep.clientKey = clientKey;
  return ep;
}

export async function parseHostsToml(text: string, source: string, host: string): Promise<HostEndpoint[]> {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    throw new OcictlError('CONFIG_INVALID', `${source} is not valid TOML: ${(e as Error).message.split('\n')[0]}`, { hint: 'fix the file or remove it' });
  }
  const base = path.dirname(source);
  const out: HostEndpoint[] = [];
  const hosts = doc.host;
  if (hosts !== undefined) {
    if (typeof hosts !== 'object' || hosts === null || Array.isArray(hosts)) {
      throw new OcictlError('CONFIG_INVALID', `${source}: [host] must be a table of [host."URL"] tables`);
    }
    for (const [url, table] of Object.entries(hosts as Record<string, unknown>)) {
      if (typeof table !== 'object' || table === null) continue;
      out.push(await endpointFrom(table as Record<string, unknown>, url.includes('://') ? url : `https://${url}`, base, source));
    }
  }
  const server = typeof doc.server === 'string' ? doc.server : `https://${host}`;
  out.push(await endpointFrom(doc, server, base, source));
  return out;
}
