/**
 * Credentials for a registry host, from config.json's `auths`, `credsStore`
 * and `credHelpers` — looked up with nerdctl's normalisation (`h` = `h:443`,
 * legacy keys with scheme or path).
 */
import { helperErase, helperGet, helperStore } from './credential-helper.js';
import {
  type AuthEntry,
  type DockerConfig,
  configKey,
  decodeAuth,
  dockerConfigPath,
  encodeAuth,
  envAuthConfig,
  hostAliases,
  hostOfKey,
  readDockerConfig,
  updateDockerConfig,
} from './docker-config.js';

export interface Credentials {
  username?: string;
  password?: string;
  /** OAuth2 refresh token (config.json `identitytoken`). */
  identityToken?: string;
  /** A bearer token to send as is (config.json `registrytoken`). */
  registryToken?: string;
}

export interface CredentialSource {
  /** Credentials for `host` (host[:port], `docker.io` for Docker Hub), or undefined for anonymous. */
  get(host: string): Promise<Credentials | undefined>;
}

/** The credential helper that holds the credentials of `host` (credHelpers, then credsStore), if any. */
export function helperFor(cfg: DockerConfig, host: string): string | undefined {
  const helpers = cfg.credHelpers ?? {};
  for (const alias of hostAliases(host)) {
    for (const [k, v] of Object.entries(helpers)) if (hostOfKey(k) === alias && v) return v;
  }
  return cfg.credsStore || undefined;
}

function entryFor(cfg: DockerConfig, host: string): [string, AuthEntry] | undefined {
  const auths = cfg.auths ?? {};
  const aliases = hostAliases(host);
  const wanted = host === 'docker.io' ? [configKey(host)] : aliases;
  for (const k of wanted) if (auths[k]) return [k, auths[k]];
  for (const [k, v] of Object.entries(auths)) if (aliases.includes(hostOfKey(k))) return [k, v];
  return undefined;
}

function fromEntry(key: string, e: AuthEntry): Credentials | undefined {
  const c: Credentials = {};
  if (e.auth) {
    const { username, password } = decodeAuth(e.auth, key);
    c.username = username;
    c.password = password;
  } else if (e.username && e.password) {
    c.username = e.username;
    c.password = e.password;
  }
  if (e.identitytoken) c.identityToken = e.identitytoken;
  if (e.registrytoken) c.registryToken = e.registrytoken;
  return Object.keys(c).length > 0 ? c : undefined;
}

function fromHelper(h: { Username: string; Secret: string }): Credentials {
  if (!h.Username || h.Username === '<token>') return { identityToken: h.Secret };
  return { username: h.Username, password: h.Secret };
}

/**
 * Credentials as docker reads them: `DOCKER_AUTH_CONFIG` first (docker 28+), then config.json
 * (its credential helpers, then `auths`).
 */
export class DockerConfigCredentials implements CredentialSource {
  readonly file: string;
  private cache = new Map<string, Promise<Credentials | undefined>>();
  constructor(file: string = dockerConfigPath(), private readonly env: NodeJS.ProcessEnv = process.env) {
    this.file = file;
  }
  get(host: string): Promise<Credentials | undefined> {
    let p = this.cache.get(host);
    if (!p) {
      p = this.load(host);
      this.cache.set(host, p);
    }
    return p;
  }
  private async load(host: string): Promise<Credentials | undefined> {
    const fromEnv = envAuthConfig(this.env);
    if (fromEnv) {
      const e = entryFor({ auths: fromEnv }, host);
      if (e) return fromEntry(e[0], e[1]);
    }
    const cfg = await readDockerConfig(this.file);
    const helper = helperFor(cfg, host);
    if (helper) {
      for (const url of helperKeys(host)) {
        const h = await helperGet(helper, url);
        if (h) return fromHelper(h);
      }
      // A host entry in auths may still hold credentials written before the helper was set.
    }
    const e = entryFor(cfg, host);
    return e ? fromEntry(e[0], e[1]) : undefined;
  }
}

function helperKeys(host: string): string[] {
  if (host === 'docker.io') return [configKey(host)];
  const keys: string[] = [];
  for (const a of hostAliases(host)) keys.push(a, `https://${a}`);
  return keys;
}

/** Fixed credentials (library use: `{ username, password }` for one or all hosts). */
export class StaticCredentials implements CredentialSource {
  constructor(private readonly creds: Credentials | Record<string, Credentials>, private readonly perHost = false) {}
  async get(host: string): Promise<Credentials | undefined> {
    if (!this.perHost) return this.creds as Credentials;
    const m = this.creds as Record<string, Credentials>;
    for (const a of hostAliases(host)) if (m[a]) return m[a];
    return undefined;
  }
}

/** Chain: first source that has credentials for the host wins. */
export class ChainCredentials implements CredentialSource {
  constructor(private readonly sources: CredentialSource[]) {}
  async get(host: string): Promise<Credentials | undefined> {
    for (const s of this.sources) {
      const c = await s.get(host);
      if (c) return c;
    }
    return undefined;
  }
}

export interface SaveResult {
  /** Where they went: `config.json` or the helper's name. */
  storedIn: string;
  key: string;
}

/** Saves credentials for `host` (through the configured helper when there is one). */
export async function saveCredentials(file: string, host: string, creds: Credentials): Promise<SaveResult> {
  const key = configKey(host);
  const cfg = await readDockerConfig(file);
  const helper = helperFor(cfg, host);
  if (helper) {
    await helperStore(helper, {
      ServerURL: key,
      Username: creds.identityToken ? '<token>' : creds.username ?? '',
      Secret: creds.identityToken ?? creds.password ?? '',
    });
    await updateDockerConfig(file, (c) => {
      c.auths = c.auths ?? {};
      c.auths[key] = {};
    });
    return { storedIn: `docker-credential-${helper}`, key };
  }
  await updateDockerConfig(file, (c) => {
    c.auths = c.auths ?? {};
    const prev = c.auths[key] ?? {};
    const next: AuthEntry = { ...prev };
    delete next.username;
    delete next.password;
    delete next.identitytoken;
    delete next.auth;
    if (creds.identityToken) next.identitytoken = creds.identityToken;
    else next.auth = encodeAuth(creds.username ?? '', creds.password ?? '');
    c.auths[key] = next;
  });
  return { storedIn: 'config.json', key };
}

/** Removes credentials of `host`; returns whether any were there. */
export async function removeCredentials(file: string, host: string): Promise<boolean> {
  const cfg = await readDockerConfig(file);
  const helper = helperFor(cfg, host);
  let found = false;
  if (helper) {
    for (const url of helperKeys(host)) await helperErase(helper, url);
    found = true;
  }
  const matches = (k: string): boolean => k === configKey(host) || hostAliases(host).includes(hostOfKey(k));
  if (!Object.keys(cfg.auths ?? {}).some(matches)) return found;
  await updateDockerConfig(file, (c) => {
    const auths = c.auths ?? {};
    for (const k of Object.keys(auths)) {
      if (matches(k)) {
        delete auths[k];
        found = true;
      }
    }
  });
  return found;
}
