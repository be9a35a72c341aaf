/**
 * Docker's `config.json` (`$DOCKER_CONFIG/config.json`, default
 * `~/.docker/config.json`): read, and rewritten atomically under a lock with
 * every unknown key kept, mode 0600 in a 0700 directory.
 */
import os from 'node:os';
import path from 'node:path';
import { OcictlError } from '../errors.js';
import { readFileIfExists, writeFileAtomic } from '../util/fs-atomic.js';
import { withLock } from '../util/lock.js';

export interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
  serveraddress?: string;
  email?: string;
  [key: string]: unknown;
}

export interface DockerConfig {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
/** The environment variable docker 28+ reads credentials from before config.json. */
export const DOCKER_AUTH_CONFIG = 'DOCKER_AUTH_CONFIG';
const MAX_CONFIG_FILE = 16 * 1024 * 1024;

export function dockerConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG && env.DOCKER_CONFIG.length > 0 ? env.DOCKER_CONFIG : path.join(os.homedir(), '.docker');
}

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(dockerConfigDir(env), 'config.json');
}

/** Reads and validates config.json; a missing file is an empty config. */
export async function readDockerConfig(file: string): Promise<DockerConfig> {
  const buf = await readFileIfExists(file);
  if (!buf || buf.length === 0) return {};
  if (buf.length > MAX_CONFIG_FILE) {
    throw new OcictlError('CONFIG_INVALID', `${file} is larger than ${MAX_CONFIG_FILE} bytes`, { hint: 'check the file; it is not a Docker config' });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new OcictlError('CONFIG_INVALID', `${file} is not valid JSON (${(e as Error).message})`, { hint: 'fix or move the file, then log in again' });
  }
  return validateDockerConfig(doc, file);
}

export function validateDockerConfig(doc: unknown, file: string): DockerConfig {
  const bad = (what: string): OcictlError => new OcictlError('CONFIG_INVALID', `${file}: ${what}`, { hint: 'fix or move the file, then log in again' });
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw bad('top level is not a JSON object');
  const c = doc as DockerConfig;
  if (c.auths !== undefined) {
    if (!c.auths || typeof c.auths !== 'object' || Array.isArray(c.auths)) throw bad('"auths" is not an object');
    for (const [k, v] of Object.entries(c.auths)) {
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad(`auths["${k.slice(0, 100)}"] is not an object`);
      for (const f of ['auth', 'username', 'password', 'identitytoken', 'registrytoken'] as const) {
        if (v[f] !== undefined && typeof v[f] !== 'string') throw bad(`auths["${k.slice(0, 100)}"].${f} is not a string`);
      }
    }
  }
  if (c.credsStore !== undefined && typeof c.credsStore !== 'string') throw bad('"credsStore" is not a string');
  if (c.credHelpers !== undefined) {
    if (!c.credHelpers || typeof c.credHelpers !== 'object' || Array.isArray(c.credHelpers)) throw bad('"credHelpers" is not an object');
    for (const [k, v] of Object.entries(c.credHelpers)) if (typeof v !== 'string') throw bad(`credHelpers["${k.slice(0, 100)}"] is not a string`);
  }
  return c;
}

/**
 * Read-modify-write of config.json under a lock file beside it, so that
 * concurrent logins from several processes keep every entry.
 */
export async function updateDockerConfig(file: string, mutate: (c: DockerConfig) => void | Promise<void>): Promise<DockerConfig> {
  const dir = path.dirname(file);
  const { mkdir } = await import('node:fs/promises');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return withLock(`${file}.lock`, async () => {
    const cfg = await readDockerConfig(file);
    await mutate(cfg);
    await writeFileAtomic(file, `${JSON.stringify(cfg, null, '\t')}\n`, { mode: 0o600, dirMode: 0o700 });
    return cfg;
  }, { what: 'docker config' });
}

/** The config.json key for a registry host (`https://index.docker.io/v1/` for Docker Hub). */
export function configKey(host: string): string {
  return host === 'docker.io' ? DOCKER_HUB_KEY : host;
}

/**
 * Host (with port) named by a config.json key, however it was written (`https://h:p/v2/`, `h:p`),
 * as docker/cli's ConvertToHostname: a URL's unbracketed IPv6 host gets its brackets
 * (`https://::1:6555/v2/` → `[::1]:6555`).
 */
export function hostOfKey(key: string): string {
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(key);
  let s = key.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = s.indexOf('/');
  if (slash >= 0) s = s.slice(0, slash);
  if (hasScheme && !s.startsWith('[') && (s.match(/:/g) ?? []).length > 1) {
    const colon = s.lastIndexOf(':');
    const port = s.slice(colon + 1);
    s = /^\d+$/.test(port) && colon > 0 ? `[${s.slice(0, colon)}]:${port}` : `[${s}]`;
  }
  s = s.toLowerCase();
  if (s === 'index.docker.io' || s === 'registry-1.docker.io') return 'docker.io';
  return s;
}

/** Equivalent host spellings: `h` and `h:443` are one registry. */
export function hostAliases(host: string): string[] {
  const h = host.toLowerCase();
  if (h.endsWith(':443')) return [h, h.slice(0, -4)];
  if (!/:\d+$/.test(h) && !h.endsWith(']')) return [h, `${h}:443`];
  return [h];
}

export function encodeAuth(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
}

export function decodeAuth(auth: string, key: string): { username: string; password: string } {
  const s = Buffer.from(auth, 'base64').toString('utf8');
  const i = s.indexOf(':');
  if (i <= 0) throw new OcictlError('CONFIG_INVALID', `config.json: auths["${key}"].auth is not base64 of user:password`, { hint: `log in again: ocictl login ${key}` });
  return { username: s.slice(0, i), password: s.slice(i + 1).replace(/^\0+|\0+$/g, '') };
}

/**
 * Credentials from `DOCKER_AUTH_CONFIG` (docker 28+): `{"auths": {"host": {"auth": "base64(user:pass)"}}}`
 * and nothing else — as docker/cli reads it, every entry needs `auth` and no other key is allowed.
 * Returns undefined when the variable is unset or empty.
 */
export function envAuthConfig(env: NodeJS.ProcessEnv = process.env): Record<string, AuthEntry> | undefined {
  const raw = env[DOCKER_AUTH_CONFIG];
  if (!raw) return undefined;
  const bad = (what: string): OcictlError => new OcictlError('CONFIG_INVALID', `${DOCKER_AUTH_CONFIG}: ${what}`, { hint: 'set it to {"auths":{"HOST":{"auth":"BASE64(user:password)"}}}, or unset it' });
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch (e) {
    throw bad(`not one JSON object (${(e as Error).message.split('\n')[0]})`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw bad('not a JSON object');
  for (const k of Object.keys(doc)) if (k !== 'auths') throw bad(`unknown key ${JSON.stringify(k.slice(0, 50))} (only "auths")`);
  const auths = (doc as { auths?: unknown }).auths ?? {};
  if (!auths || typeof auths !== 'object' || Array.isArray(auths)) throw bad('"auths" is not an object');
  const out: Record<string, AuthEntry> = {};
  for (const [host, v] of Object.entries(auths as Record<string, unknown>)) {
    const shownHost = JSON.stringify(host.slice(0, 100));
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad(`auths[${shownHost}] is not an object`);
    for (const k of Object.keys(v)) if (k !== 'auth') throw bad(`auths[${shownHost}] has the unknown key ${JSON.stringify(k.slice(0, 50))} (only "auth")`);
    const auth = (v as { auth?: unknown }).auth;
    if (typeof auth !== 'string' || !auth) throw bad(`auths[${shownHost}] has no "auth"`);
    decodeAuth(auth, `${DOCKER_AUTH_CONFIG} ${host}`);
    out[host] = { auth };
  }
  return out;
}
