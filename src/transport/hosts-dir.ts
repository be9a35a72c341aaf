/**
 * Per-host endpoints and TLS settings from containerd-style hosts directories
 * (`<dir>/<host:port>/hosts.toml`, `<dir>/<host_port_>/`, `<dir>/_default/`)
 * and Docker-style certs.d files (`*.crt` CA, `*.cert` + `*.key` client pair),
 * read as containerd's `remotes/docker/config` reads them: `[host."…"]` tables in
 * file order, then `server` (or the registry itself); default capabilities
 * pull, resolve, push and referrers; `localhost:80` on plain HTTP; an `http://`
 * host with TLS settings tried on HTTPS first.
 */
import { promises as fs } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { OcictlError } from '../errors.js';
import type { TlsSettings } from './dispatchers.js';

export const DEFAULT_HOSTS_DIRS = ['/etc/containerd/certs.d', '/etc/docker/certs.d'];

/** Every capability containerd reads; `referrers` is containerd 2.x only. */
export const ALL_CAPABILITIES = ['pull', 'resolve', 'push', 'referrers'] as const;
/** What a host may be used for, as containerd's `capabilities`. */
export type HostCapability = (typeof ALL_CAPABILITIES)[number];

export interface HostEndpoint {
  /** `https://host:port` or `http://host:port`, with its path prefix (`/v2` unless `override_path`). */
  url: string;
  capabilities: HostCapability[];
  /** CA certificates (PEM contents). */
  ca: string[];
  /** The CA files they came from. */
  caFiles: string[];
  /** Client certificate and key (PEM contents; the first pair of `client`). */
  clientCert?: string;
  clientKey?: string;
  /** Every `client` pair as files: `[certificate, key]`, the key `''` when it is in the certificate file. */
  clientFiles: Array<[string, string]>;
  skipVerify: boolean;
  /** Whether `skip_verify` was set (to true or false) — it counts as a TLS setting. */
  skipVerifySet: boolean;
  /** Extra request headers, also sent to the token service. */
  headers: Record<string, string>;
  /** `override_path = true`: the URL's path is used as is, without `/v2` added. */
  overridePath: boolean;
  /** `dial_timeout`, in milliseconds, when set. */
  dialTimeoutMs?: number;
  /** Where these settings came from, for messages. */
  source: string;
  /** Whether `url` was chosen by configuration (a `[host]` table or `server`), not by default. */
  explicit: boolean;
}

export interface HostSettings {
  /** Endpoints in the order to try, as configured. Empty when nothing is configured. */
  endpoints: HostEndpoint[];
  /** The directory that was (or would be) used for this host, for error hints. */
  dir: string;
}

/** `host` with brackets around an IPv6 address (`::1` → `[::1]`), as a URL needs it. */
export function bracketHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

/** The host name and port of `host[:port]` (`[::1]:5000`, bare `::1`), port `''` when none. */
export function splitHostPort(host: string): { name: string; port: string } {
  if (isIP(host) === 6) return { name: host, port: '' };
  const m = /^\[([^\]]*)\](?::(\d*))?$/.exec(host) ?? /^([^:]*)(?::(\d*))?$/.exec(host);
  return m ? { name: m[1] as string, port: m[2] ?? '' } : { name: host, port: '' };
}

/** Whether a registry host is this machine (`localhost`, `127.0.0.0/8`, `::1`), as containerd's IsLocalhost. */
export function isLoopbackHost(host: string): boolean {
  const { name } = splitHostPort(host);
  if (name === 'localhost') return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  if (isIP(name) === 6) return name === '::1' || /^(0{0,4}:){1,7}0{0,3}1$/.test(name) || /^::ffff:127\./i.test(name);
  return false;
}

/** Directory names a hosts dir may use for `host`, in containerd's order: `host_port_`, then `host:port` (and `[v6]`). */
export function dirNames(host: string): string[] {
  const names: string[] = [];
  const idx = host.lastIndexOf(':');
  if (idx > 0) names.push(`${host.slice(0, idx)}_${host.slice(idx + 1)}_`);
  names.push(host);
  if (isIP(host) === 6) names.push(`[${host}]`);
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

/**
 * The endpoints configured for `host` (`host[:port]`) in the first hosts directory that has an
 * entry for it (`host_port_`, `host:port`, then `_default`), in the order containerd tries them.
 * The `server` entry (last) has `explicit: false` when the file names no `server`.
 */
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
  if (text) return parseHostsToml(text, tomlPath, host);
  return loadCertsD(dir, host);
}

async function loadCertsD(dir: string, host: string): Promise<HostEndpoint[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  const files = entries.filter((e) => !e.isDirectory()).map((e) => e.name).sort();
  const ca: string[] = [];
  const caFiles: string[] = [];
  const clientFiles: Array<[string, string]> = [];
  let clientCert: string | undefined;
  let clientKey: string | undefined;
  for (const f of files) {
    const p = path.join(dir, f);
    if (f.endsWith('.crt')) {
      ca.push(await readPem(p, 'CA certificate'));
      caFiles.push(p);
    } else if (f.endsWith('.cert')) {
      const key = path.join(dir, `${f.slice(0, -'.cert'.length)}.key`);
      clientFiles.push([p, key]);
      if (!clientCert) {
        clientCert = await readPem(p, 'client certificate');
        clientKey = await readPem(key, 'client key');
      }
    }
  }
  if (ca.length === 0 && !clientCert) return [];
  const ep: HostEndpoint = {
    url: defaultServerUrl(host),
    capabilities: [...ALL_CAPABILITIES],
    ca,
    caFiles,
    clientFiles,
    skipVerify: false,
    skipVerifySet: false,
    headers: {},
    overridePath: false,
    source: dir,
    explicit: false,
  };
  if (clientCert && clientKey) {
    ep.clientCert = clientCert;
    ep.clientKey = clientKey;
  }
  return [ep];
}

/**
 * Where a registry is reached when no `server` is configured, as containerd defaults it:
 * Docker Hub at `https://registry-1.docker.io`, `localhost:80` (and other loopback hosts on
 * port 80) on plain HTTP, everything else on HTTPS.
 */
export function defaultServerUrl(host: string): string {
  if (host === 'docker.io') return 'https://registry-1.docker.io/v2';
  const { name, port } = splitHostPort(host);
  const authority = port ? `${bracketHost(name)}:${port}` : bracketHost(name);
  if (isLoopbackHost(host) && port === '80') return `http://${authority}/v2`;
  return `https://${authority}/v2`;
}

/** Go's time.ParseDuration for the units a dial timeout uses; milliseconds. */
function parseDuration(s: string): number | undefined {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  if (!/^(?:\d+(?:\.\d*)?(?:ns|us|µs|ms|s|m|h))+$/.test(s)) return s === '0' ? 0 : undefined;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d*)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * (units[m[2] as string] as number);
  return total;
}

async function endpointFrom(table: Record<string, unknown>, server: string | undefined, host: string, base: string, source: string): Promise<HostEndpoint> {
  const bad = (what: string): OcictlError => new OcictlError('CONFIG_INVALID', `${source}: ${what}`, { hint: 'see containerd docs/hosts.md for the format' });
  const abs = (p: string): string => (path.isAbsolute(p) ? p : path.join(base, p));
  const caFiles: string[] = [];
  if (typeof table.ca === 'string') caFiles.push(abs(table.ca));
  else if (Array.isArray(table.ca)) {
    for (const c of table.ca) {
      if (typeof c !== 'string') throw bad('"ca" must be a path or a list of paths');
      caFiles.push(abs(c));
    }
  } else if (table.ca !== undefined) throw bad('"ca" must be a path or a list of paths');
  const ca: string[] = [];
  for (const f of caFiles) ca.push(await readPem(f, 'CA certificate'));
  const clientFiles: Array<[string, string]> = [];
  const clientShape = '"client" must be a path, a list of paths, or a list of [cert, key] pairs';
  if (typeof table.client === 'string') clientFiles.push([abs(table.client), '']);
  else if (Array.isArray(table.client)) {
    for (const c of table.client) {
      if (typeof c === 'string') clientFiles.push([abs(c), '']);
      else if (Array.isArray(c) && c.length === 2 && typeof c[0] === 'string' && typeof c[1] === 'string') clientFiles.push([abs(c[0]), c[1] ? abs(c[1]) : '']);
      else throw bad(clientShape);
    }
  } else if (table.client !== undefined) throw bad(clientShape);
  let clientCert: string | undefined;
  let clientKey: string | undefined;
  const first = clientFiles[0];
  if (first) {
    clientCert = await readPem(first[0], 'client certificate');
    clientKey = first[1] ? await readPem(first[1], 'client key') : clientCert; // a combined PEM with certificate and key
  }
  if (table.skip_verify !== undefined && typeof table.skip_verify !== 'boolean') throw bad('"skip_verify" must be true or false');
  if (table.override_path !== undefined && typeof table.override_path !== 'boolean') throw bad('"override_path" must be true or false');
  let capabilities: HostCapability[];
  if (table.capabilities === undefined) capabilities = [...ALL_CAPABILITIES];
  else {
    if (!Array.isArray(table.capabilities)) throw bad('"capabilities" must be a list');
    capabilities = [];
    for (const c of table.capabilities) {
      const lc = typeof c === 'string' ? c.toLowerCase() : c;
      if (!(ALL_CAPABILITIES as readonly unknown[]).includes(lc)) throw bad(`unknown capability ${JSON.stringify(c)} (known: pull, resolve, push, referrers)`);
      if (!capabilities.includes(lc as HostCapability)) capabilities.push(lc as HostCapability);
    }
    if (capabilities.length === 0) capabilities = [...ALL_CAPABILITIES]; // an empty list means the default, as containerd reads it
  }
  const headers: Record<string, string> = {};
  if (table.header !== undefined) {
    if (typeof table.header !== 'object' || table.header === null || Array.isArray(table.header)) throw bad('"header" must be a table');
    for (const [k, v] of Object.entries(table.header as Record<string, unknown>)) {
      if (typeof v === 'string') headers[k] = v;
      else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) headers[k] = v.join(', ');
      else throw bad(`header ${JSON.stringify(k)} must be a string or a list of strings`);
    }
  }
  let dialTimeoutMs: number | undefined;
  if (table.dial_timeout !== undefined && table.dial_timeout !== '') {
    dialTimeoutMs = typeof table.dial_timeout === 'string' ? parseDuration(table.dial_timeout) : undefined;
    if (dialTimeoutMs === undefined) throw bad('"dial_timeout" must be a duration such as "3s" or "500ms"');
  }
  const overridePath = table.override_path === true;
  let url: string;
  if (server === undefined) url = defaultServerUrl(host);
  else {
    const withScheme = server.startsWith('http') ? server : `https://${server}`;
    let u: URL;
    try {
      u = new URL(withScheme);
    } catch {
      throw bad(`"${server}" is not a URL`);
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw bad(`"${server}" must use http or https`);
    let prefix = path.posix.normalize(u.pathname).replace(/\/+$/, '');
    if (!overridePath && !prefix.endsWith('/v2')) prefix = `${prefix}/v2`;
    // the authority as written: URL() drops a default port, which containerd's rules look at
    const authority = /^[a-z]+:\/\/([^/?#]*)/i.exec(withScheme)?.[1]?.replace(/^[^@]*@/, '') || u.host;
    url = `${u.protocol}//${authority.toLowerCase()}${prefix}`;
  }
  const ep: HostEndpoint = {
    url,
    capabilities,
    ca,
    caFiles,
    clientFiles,
    skipVerify: table.skip_verify === true,
    skipVerifySet: table.skip_verify !== undefined,
    headers,
    overridePath,
    source,
    explicit: server !== undefined,
  };
  if (dialTimeoutMs !== undefined) ep.dialTimeoutMs = dialTimeoutMs;
  if (clientCert) ep.clientCert = clientCert;
  if (clientKey) ep.clientKey = clientKey;
  return ep;
}

/** Parses one hosts.toml for `host`: its `[host."…"]` entries in file order, then the `server` entry. */
export async function parseHostsToml(text: string, source: string, host: string): Promise<HostEndpoint[]> {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    // the parser's error (a TomlError, with line and column) is the cause
    throw new OcictlError('CONFIG_INVALID', `${source} is not valid TOML: ${(e as Error).message.split('\n')[0]}`, { hint: 'fix the file or remove it', cause: e });
  }
  const base = path.dirname(source);
  const out: HostEndpoint[] = [];
  const hosts = doc.host;
  if (hosts !== undefined) {
    if (typeof hosts !== 'object' || hosts === null || Array.isArray(hosts)) {
      throw new OcictlError('CONFIG_INVALID', `${source}: [host] must be a table of [host."URL"] tables`);
    }
    for (const [url, table] of Object.entries(hosts as Record<string, unknown>)) {
      if (typeof table !== 'object' || table === null || Array.isArray(table)) throw new OcictlError('CONFIG_INVALID', `${source}: host ${JSON.stringify(url)} must be a table`);
      out.push(await endpointFrom(table as Record<string, unknown>, url, host, base, source));
    }
  }
  if (doc.server !== undefined && typeof doc.server !== 'string') throw new OcictlError('CONFIG_INVALID', `${source}: "server" must be a URL string`);
  out.push(await endpointFrom(doc, doc.server || undefined, host, base, source));
  return out;
}

/**
 * The hosts.toml (or certs.d) entries for `host` in a hosts directory — or the first of several
 * that has an entry for it — exactly as configured: `[host."…"]` tables in file order, then the
 * `server` entry (the registry itself when the file names no `server`). Empty when no directory
 * has an entry for the host.
 *
 * @example
 * const entries = await loadHostsDir('/etc/containerd/certs.d', 'docker.io');
 * for (const e of entries) console.log(e.url, e.capabilities.join(','), e.caFiles, e.skipVerify);
 * // https://mirror.example.com/v2 pull,resolve [] false
 * // https://registry-1.docker.io/v2 pull,resolve,push,referrers [] false
 */
export async function loadHostsDir(hostsDirs: string | string[], host: string): Promise<HostEndpoint[]> {
  return (await loadHostSettings(host, Array.isArray(hostsDirs) ? hostsDirs : [hostsDirs])).endpoints;
}

/** One host a registry is reached through, after containerd's defaults. */
export interface RegistryHostEntry extends HostEndpoint {
  /** `https:` or `http:` — the scheme tried first. */
  scheme: 'https:' | 'http:';
  /** `host[:port]` connected to. */
  host: string;
  /** Path prefix (`/v2`, `/us/v2`, or as configured with `override_path`). */
  path: string;
  /**
   * Whether plain HTTP is tried when the host does not speak TLS: an `http://` host with TLS
   * settings (tried on HTTPS first, as containerd does), or a loopback registry with no
   * hosts.toml on a port other than 80 and 443.
   */
  httpFallback: boolean;
}

export interface HostsForOptions {
  /** Hosts directories, first match wins (default `/etc/containerd/certs.d`, `/etc/docker/certs.d`). */
  hostsDirs?: string[];
}

/**
 * The ordered list of hosts ocictl tries for a registry, as containerd's `ConfigureHosts` builds it:
 * the `[host."…"]` mirrors in file order, then `server` — or, with no hosts.toml, the registry
 * itself (`docker.io` → `registry-1.docker.io`, `localhost:80` on HTTP). Reads go through the
 * hosts with `pull` (tags only through those with `resolve`), trying the next on failure; pushes
 * go to the first host with `push`.
 *
 * @example
 * const hosts = await hostsFor('192.168.2.250:443', { hostsDirs: ['/etc/containerd/certs.d'] });
 * hosts.map((h) => `${h.scheme}//${h.host}${h.path} ${h.capabilities}`);
 * // [ 'https://mirror.local/v2 pull', 'https://192.168.2.250:443/v2 pull,resolve,push,referrers' ]
 */
export async function hostsFor(host: string, options: HostsForOptions = {}): Promise<RegistryHostEntry[]> {
  return (await configuredHosts(host, options.hostsDirs)).entries;
}

/**
 * TLS settings for a host that is not the registry itself (a token service
 * on another host): the CA and skip_verify of that host's own hosts-dir entry.
 */
export async function otherHostTls(host: string, hostsDirs?: string[]): Promise<TlsSettings> {
  const e = (await loadHostSettings(host, hostsDirs)).endpoints[0];
  return { ...(e?.ca.length ? { ca: e.ca } : {}), skipVerify: e?.skipVerify === true };
}

/** {@link hostsFor}'s list, with the hosts directory it was read from (or would be: `<first dir>/<host>`). */
export async function configuredHosts(host: string, hostsDirs: string[] = DEFAULT_HOSTS_DIRS): Promise<{ dir: string; entries: RegistryHostEntry[] }> {
  const settings = await loadHostSettings(host, hostsDirs);
  const configured = settings.endpoints.length ? settings.endpoints : [await endpointFrom({}, undefined, host, settings.dir, settings.dir)];
  return { dir: settings.dir, entries: configured.map((e) => withDefaults(e, host)) };
}

/** Applies containerd's scheme rules to one configured entry. */
export function withDefaults(e: HostEndpoint, registry: string): RegistryHostEntry {
  const m = /^(https?:)\/\/([^/]*)(.*)$/.exec(e.url);
  let scheme = (m?.[1] ?? 'https:') as 'https:' | 'http:';
  const host = m?.[2] ?? registry;
  const prefix = (m?.[3] ?? '/v2').replace(/\/+$/, '');
  const { port } = splitHostPort(host);
  let httpFallback = false;
  const hasTls = e.caFiles.length > 0 || e.clientFiles.length > 0 || e.skipVerifySet;
  if (!e.explicit && scheme === 'https:' && isLoopbackHost(host) && registry !== 'docker.io') {
    // containerd's default for a loopback registry: HTTPS, and plain HTTP when it does not speak TLS,
    // except on 443 (HTTPS only) and 80 (HTTP only, see defaultServerUrl)
    if (port !== '' && port !== '443') httpFallback = true;
  }
  if (scheme === 'http:' && hasTls && port !== '80') {
    scheme = 'https:';
    httpFallback = true;
  }
  return { ...e, url: `${scheme}//${host}${prefix}`, scheme, host, path: prefix, httpFallback };
}
