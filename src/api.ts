/**
 * The library API: one typed function per command. The CLI is a thin layer
 * over these; scripts import them from the package.
 *
 * ```ts
 * import { login, pullImage, tagImage, pushImage } from 'ocictl';
 * await login('harbor.example.com', { username: 'robot$ci', password }, {});
 * await pullImage('harbor.example.com/lidabai/nginx:1.23.1', {});
 * ```
 */
import { ChainCredentials, type CredentialSource, type Credentials, DockerConfigCredentials, removeCredentials, saveCredentials } from './auth/credentials.js';
import { dockerConfigPath } from './auth/docker-config.js';
import { OcictlError } from './errors.js';
import type { ProgressListener } from './image/events.js';
import { findImage } from './image/local.js';
import { type StoreOptions, withStore } from './api-local.js';
import { type PullOptions, type PullResult, pull } from './image/pull.js';
import { type PushOptions, type PushResult, push } from './image/push.js';
import type { Descriptor } from './oci/descriptor.js';
import { type Reference, normaliseServer, parseReference, parseRepository } from './reference/reference.js';
import { type FetchedManifest, RegistryClient, type RegistryClientOptions } from './registry/client.js';

export interface ClientOptions {
  /** Docker config.json to read and write credentials (default $DOCKER_CONFIG/config.json or ~/.docker/config.json). */
  dockerConfig?: string;
  /** Extra credentials, tried before config.json (e.g. from environment variables in CI). */
  credentials?: CredentialSource;
  /** Hosts directories (default /etc/containerd/certs.d then /etc/docker/certs.d). */
  hostsDirs?: string[];
  /** Insecure registries (`true`: every registry this call names). */
  insecure?: boolean | string[];
  retries?: number;
  timeoutMs?: number;
  debug?: (line: string) => void;
  /** An existing client to reuse (its connections and tokens). */
  client?: RegistryClient;
}

export type CommonOptions = ClientOptions & StoreOptions;

export function createClient(o: ClientOptions = {}): RegistryClient {
  if (o.client) return o.client;
  const file = o.dockerConfig ?? dockerConfigPath();
  const creds: CredentialSource = o.credentials ? new ChainCredentials([o.credentials, new DockerConfigCredentials(file)]) : new DockerConfigCredentials(file);
  const opts: RegistryClientOptions = { credentials: creds };
  if (o.hostsDirs) opts.hostsDirs = o.hostsDirs;
  if (o.insecure !== undefined) opts.insecure = o.insecure;
  if (o.retries !== undefined) opts.retries = o.retries;
  if (o.timeoutMs !== undefined) opts.timeoutMs = o.timeoutMs;
  if (o.debug) opts.debug = o.debug;
  return new RegistryClient(opts);
}

/** Runs `fn` with the given client, or a new one that is closed afterwards. */
export async function withClient<T>(o: ClientOptions, fn: (c: RegistryClient) => Promise<T>): Promise<T> {
  const c = createClient(o);
  try {
    return await fn(c);
  } finally {
    if (!o.client) await c.close();
  }
}

export interface LoginResult {
  server: string;
  /** Where the credentials went: `config.json` or `docker-credential-<helper>`. */
  storedIn: string;
  configFile: string;
}

/** Verifies credentials against the registry, then saves them (config.json or its credential helper). */
export async function login(server: string | undefined, credentials: Credentials, o: ClientOptions = {}): Promise<LoginResult> {
  const host = normaliseServer(server);
  if (!credentials.identityToken && (!credentials.username || credentials.password === undefined || credentials.password === '')) {
    throw new OcictlError('INVALID_ARGUMENT', 'a user name and a password are needed to log in', { hint: 'pass -u USER and -p PASS, or --password-stdin' });
  }
  await withClient(o, (c) => c.login(host, credentials));
  const file = o.dockerConfig ?? dockerConfigPath();
  const r = await saveCredentials(file, host, credentials);
  return { server: r.key, storedIn: r.storedIn, configFile: file };
}

/** Removes saved credentials; returns whether there were any. */
export async function logout(server: string | undefined, o: { dockerConfig?: string } = {}): Promise<{ server: string; removed: boolean }> {
  const host = normaliseServer(server);
  const removed = await removeCredentials(o.dockerConfig ?? dockerConfigPath(), host);
  return { server: host === 'docker.io' ? 'https://index.docker.io/v1/' : host, removed };
}

export async function pullImage(ref: string | Reference, o: CommonOptions & PullOptions = {}): Promise<PullResult> {
  const r = typeof ref === 'string' ? parseReference(ref) : ref;
  return withStore(o, (store) => withClient(o, (c) => pull(c, store, r, o)));
}

/** Pushes an image held in the store under `source` (default: the same name) to `destination`. */
export async function pushImage(destination: string | Reference, o: CommonOptions & PushOptions & { source?: string } = {}): Promise<PushResult> {
  const dest = typeof destination === 'string' ? parseReference(destination) : destination;
  return withStore(o, async (store) => {
    const rec = await findImage(store, o.source ?? dest.toString());
    return withClient(o, (c) => push(c, store, rec.target, dest, o));
  });
}

/** The descriptor (digest, media type, size) a reference points to in its registry. */
export async function resolve(ref: string | Reference, o: ClientOptions = {}): Promise<Descriptor> {
  const r = typeof ref === 'string' ? parseReference(ref) : ref;
  return withClient(o, (c) => c.resolve(r));
}

/** The manifest as served (bytes unchanged), with its digest. */
export async function fetchManifest(ref: string | Reference, o: ClientOptions = {}): Promise<FetchedManifest> {
  const r = typeof ref === 'string' ? parseReference(ref) : ref;
  return withClient(o, (c) => c.getManifest(r));
}

/** Tags of a repository, sorted, following Link pagination. */
export async function listTags(repository: string | Reference, o: ClientOptions = {}): Promise<string[]> {
  const r = typeof repository === 'string' ? parseRepository(repository) : repository;
  return withClient(o, (c) => c.listTags(r));
}

export * from './api-local.js';
export type { ProgressListener, PullOptions, PullResult, PushOptions, PushResult, FetchedManifest };
