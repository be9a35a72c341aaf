/**
 * The OCI distribution API over {@link RegistryHost}: manifests by tag or
 * digest, blobs (HEAD, GET with Range, mount, upload), tags with Link
 * pagination, deletes, and login checks.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { DockerConfigCredentials, type CredentialSource, type Credentials } from '../auth/credentials.js';
import { repositoryScope } from '../auth/scope.js';
import { OcictlError } from '../errors.js';
import { type Descriptor, assertDigest } from '../oci/descriptor.js';
import { MANIFEST_ACCEPT, MediaType } from '../oci/media-types.js';
import { type ImageIndex as ImageIndexDoc, MAX_MANIFEST_BYTES, type ParsedManifest, parseManifest } from '../oci/manifest.js';
import type { Reference } from '../reference/reference.js';
import { DispatcherPool } from '../transport/dispatchers.js';
import { isTransportError, networkError } from '../transport/errors.js';
import type { ReleasingBody } from '../transport/fast-http.js';
import { DEFAULT_RETRY } from '../transport/retry.js';
import { registryError } from './errors.js';
import { type HostResponse, RegistryHost, type ResponseBody, readSmall } from './host.js';

export interface RegistryClientOptions {
  /** Where credentials come from (default: Docker's config.json and its helpers). */
  credentials?: CredentialSource;
  /** Hosts directories for hosts.toml / ca.crt (default /etc/containerd/certs.d, /etc/docker/certs.d). */
  hostsDirs?: string[];
  /** Insecure registries: skip TLS verification, fall back to plain HTTP. `true` for every host. */
  insecure?: boolean | string[];
  /** Retries for idempotent requests (default 3). */
  retries?: number;
  /** Stall timeout in ms (default 60000). */
  timeoutMs?: number;
  /** Receives one line per HTTP exchange (no secrets). */
  debug?: (line: string) => void;
  userAgent?: string;
  /** Connections per origin (default 8). */
  connections?: number;
  /**
   * The HTTP client: `fast` (transport/fast-http, the default) or `undici`
   * (the environment variable OCICTL_HTTP=undici chooses it too).
   */
  http?: 'fast' | 'undici';
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
  parsed: ParsedManifest;
}

export type MountResult = { mounted: true } | { mounted: false; location: string };

function hexOf(d: string): string {
  return d.slice(d.indexOf(':') + 1);
}

export class RegistryClient {
  private hosts = new Map<string, RegistryHost>();
  readonly pool: DispatcherPool;
  readonly credentials: CredentialSource;

  constructor(readonly options: RegistryClientOptions = {}) {
    this.pool = new DispatcherPool({
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.connections !== undefined ? { connections: options.connections } : {}),
    });
    this.credentials = options.credentials ?? new DockerConfigCredentials();
  }

  isInsecure(registry: string): boolean {
    const i = this.options.insecure;
    if (i === true) return true;
    if (Array.isArray(i)) return i.includes(registry) || i.includes(registry.replace(/:443$/, ''));
    return false;
  }

  host(registry: string): RegistryHost {
    let h = this.hosts.get(registry);
    if (!h) {
      h = new RegistryHost({
        host: registry,
        ...(this.options.hostsDirs ? { hostsDirs: this.options.hostsDirs } : {}),
        insecure: this.isInsecure(registry),
        credentials: this.credentials,
        pool: this.pool,
        retry: { ...DEFAULT_RETRY, ...(this.options.retries !== undefined ? { retries: this.options.retries } : {}) },
        ...(this.options.timeoutMs !== undefined ? { timeoutMs: this.options.timeoutMs } : {}),
        ...(this.options.userAgent ? { userAgent: this.options.userAgent } : {}),
        ...(this.options.debug ? { debug: this.options.debug } : {}),
        http: this.options.http ?? (process.env.OCICTL_HTTP === 'undici' ? 'undici' : 'fast'),
      });
      this.hosts.set(registry, h);
    }
    return h;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  private async fail(res: HostResponse, ref: Reference, what: string, push = false): Promise<never> {
    const text = await readSmall(res.body);
    const creds = await this.host(ref.registry).authorizer.getCredentials().catch(() => undefined);
    throw registryError(res.status, text, { host: ref.registry, what, push, authenticated: !!creds });
  }

  // ---- login -----------------------------------------------------------

  /**
   * Checks credentials against the registry as `docker login` does: GET /v2/,
   * then through the token service (Bearer) or Basic auth. Throws UNAUTHORIZED when refused.
   */
  async login(registry: string, creds: Credentials): Promise<void> {
    const h = this.host(registry);
    h.authorizer.setCredentials(creds);
    const res = await h.request({ method: 'GET', path: '/', scopes: [], noAuthRetry: true, serverOnly: true });
    await res.body.dump().catch(() => undefined);
    if (res.status === 200) return;
    if (res.status !== 401) throw registryError(res.status, '', { host: registry, what: `login to ${registry}` });
    await h.assertCredentialsAllowed();
    await h.authorizer.unauthorized(res.headers['www-authenticate'], [], undefined);
    const ch = h.authorizer.knownChallenge;
    if (!ch) throw new OcictlError('REGISTRY_ERROR', `${registry} asked for authentication without a usable challenge`);
    if (ch.scheme === 'bearer') await h.authorizer.verifyCredentials(creds);
    const again = await h.request({ method: 'GET', path: '/', scopes: [], noAuthRetry: true, serverOnly: true });
    await again.body.dump().catch(() => undefined);
    if (again.status === 401) {
      throw new OcictlError('UNAUTHORIZED', `login to ${registry} failed: the user name or password was not accepted`, { hint: 'check them and try again' });
    }
    if (again.status >= 400) throw registryError(again.status, '', { host: registry, what: `login to ${registry}` });
  }

  // ---- manifests -------------------------------------------------------

  /** GETs a manifest (all four media types accepted) and verifies its digest. */
  async getManifest(ref: Reference, opts: { scopes?: string[]; push?: boolean } = {}): Promise<FetchedManifest> {
    const h = this.host(ref.registry);
    const res = await h.request({
      method: 'GET',
      path: `/${ref.repository}/manifests/${ref.digest ?? ref.tag ?? 'latest'}`,
      headers: { accept: MANIFEST_ACCEPT },
      scopes: opts.scopes ?? [repositoryScope(ref.repository, ['pull'])],
      capability: opts.push ? 'push' : ref.digest ? 'pull' : 'resolve',
    });
    if (res.status !== 200) await this.fail(res, ref, `manifest ${ref}`);
    const len = Number(res.headers['content-length'] ?? '0');
    if (len > MAX_MANIFEST_BYTES) {
      res.body.destroy();
      throw new OcictlError('LIMIT_EXCEEDED', `manifest ${ref} is ${len} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`);
    }
    const chunks: Buffer[] = [];
    let n = 0;
    try {
      for await (const c of res.body) {
        n += c.length;
        if (n > MAX_MANIFEST_BYTES) {
          res.body.destroy();
          throw new OcictlError('LIMIT_EXCEEDED', `manifest ${ref} is over the ${MAX_MANIFEST_BYTES}-byte limit`);
        }
        chunks.push(c);
      }
    } catch (e) {
      throw isTransportError(e) ? networkError(e, { host: ref.registry, ...(this.options.timeoutMs !== undefined ? { timeoutMs: this.options.timeoutMs } : {}) }) : e;
    }
    const bytes = Buffer.concat(chunks);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (ref.digest && ref.digest !== digest) {
      throw new OcictlError('DIGEST_MISMATCH', `manifest ${ref} from ${ref.registry} has digest ${digest}, not the one asked for`, { hint: 'the registry served wrong content; do not use it' });
    }
    const headerDigest = res.headers['docker-content-digest'];
    if (!ref.digest && typeof headerDigest === 'string' && headerDigest.startsWith('sha256:') && headerDigest !== digest) {
      throw new OcictlError('DIGEST_MISMATCH', `manifest ${ref} from ${ref.registry} does not match its Docker-Content-Digest ${headerDigest}`);
    }
    const ct = typeof res.headers['content-type'] === 'string' ? res.headers['content-type'] : undefined;
    const parsed = parseManifest(bytes, ct, `manifest ${ref}`);
    return { bytes, mediaType: parsed.mediaType, digest, parsed };
  }

  /**
   * One manifest HEAD: the status, and the descriptor when the registry answered 200 with a digest
   * and a type (else the caller GETs, which tells all: a registry that sends no digest header, or an
   * error whose message a HEAD cannot carry).
   */
  private async headManifest(ref: Reference): Promise<{ status: number; desc?: Descriptor }> {
    const h = this.host(ref.registry);
    const res = await h.request({
      method: 'HEAD',
      path: `/${ref.repository}/manifests/${ref.digest ?? ref.tag ?? 'latest'}`,
      headers: { accept: MANIFEST_ACCEPT },
      scopes: [repositoryScope(ref.repository, ['pull'])],
      capability: ref.digest ? 'pull' : 'resolve',
    });
    await res.body.dump().catch(() => undefined);
    const digest = res.headers['docker-content-digest'];
    const ct = res.headers['content-type'];
    if (res.status === 200 && typeof digest === 'string' && digest.startsWith('sha256:') && typeof ct === 'string') {
      assertDigest(digest, 'Docker-Content-Digest');
      if (ref.digest && digest !== ref.digest) throw new OcictlError('DIGEST_MISMATCH', `${ref} resolved to another digest ${digest}`);
      return { status: res.status, desc: { mediaType: ct.split(';')[0] as string, digest, size: Number(res.headers['content-length'] ?? 0) } };
    }
    return { status: res.status };
  }

  /** HEADs a manifest: its descriptor, or NOT_FOUND. A failed HEAD is repeated as GET for the registry's message. */
  async resolve(ref: Reference): Promise<Descriptor> {
    const head = await this.headManifest(ref);
    if (head.desc) return head.desc;
    const m = await this.getManifest(ref);
    return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
  }

  /** HEADs a manifest: its descriptor, or undefined when the registry has none under that tag or digest. */
  async findManifest(ref: Reference): Promise<Descriptor | undefined> {
    const head = await this.headManifest(ref);
    if (head.desc) return head.desc;
    if (head.status === 404) return undefined;
    // No digest header, or an error without a body: the GET tells all.
    try {
      const m = await this.getManifest(ref);
      return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
    } catch (e) {
      if (e instanceof OcictlError && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
  }

  /**
   * The OCI 1.1 referrers API (`GET /v2/<name>/referrers/<digest>`): the
   * index of manifests whose `subject` is `digest`, or undefined when the
   * registry does not have the API (distribution 2.8 answers 404 to the route).
   */
  async getReferrers(ref: Reference, digest: string): Promise<ImageIndexDoc | undefined> {
    assertDigest(digest);
    const h = this.host(ref.registry);
    const res = await h.request({
      method: 'GET',
      path: `/${ref.repository}/referrers/${digest}`,
      headers: { accept: MediaType.OciIndex },
      scopes: [repositoryScope(ref.repository, ['pull'])],
      capability: 'pull',
    });
    const ct = typeof res.headers['content-type'] === 'string' ? res.headers['content-type'].split(';')[0]?.trim() : '';
    if (res.status === 404 || res.status === 405 || (res.status === 200 && ct !== MediaType.OciIndex)) {
      await res.body.dump().catch(() => undefined);
      return undefined;
    }
    if (res.status !== 200) await this.fail(res, ref, `referrers of ${ref.name}@${digest}`);
    const text = await readSmall(res.body, MAX_MANIFEST_BYTES);
    const parsed = parseManifest(Buffer.from(text, 'utf8'), MediaType.OciIndex, `referrers of ${ref.name}@${digest}`);
    if (parsed.kind !== 'index') throw new OcictlError('REGISTRY_ERROR', `${ref.registry} answered the referrers of ${ref.name}@${digest} with a manifest, not an index`);
    return parsed.index;
  }

  /** PUTs a manifest under a tag or its digest; returns the digest. */
  async putManifest(ref: Reference, bytes: Buffer, mediaType: string): Promise<string> {
    const h = this.host(ref.registry);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const target = ref.tag ?? ref.digest ?? digest;
    const res = await h.request({
      method: 'PUT',
      path: `/${ref.repository}/manifests/${target}`,
      headers: { 'content-type': mediaType },
      body: bytes,
      scopes: [repositoryScope(ref.repository, ['pull', 'push'])],
      capability: 'push',
    });
    if (res.status !== 201 && res.status !== 200 && res.status !== 202) await this.fail(res, ref, `push manifest ${ref.name}:${target}`, true);
    await res.body.dump().catch(() => undefined);
    const got = res.headers['docker-content-digest'];
    if (typeof got === 'string' && got.startsWith('sha256:') && got !== digest) {
      throw new OcictlError('DIGEST_MISMATCH', `${ref.registry} stored manifest ${ref.name}:${target} as ${got}, expected ${digest}`);
    }
    return digest;
  }

  async deleteManifest(ref: Reference, digest: string): Promise<void> {
    assertDigest(digest);
    const h = this.host(ref.registry);
    const res = await h.request({
      method: 'DELETE',
      path: `/${ref.repository}/manifests/${digest}`,
      scopes: [repositoryScope(ref.repository, ['pull', 'push', 'delete'])],
      capability: 'push',
    });
    if (res.status !== 202 && res.status !== 200 && res.status !== 204) await this.fail(res, ref, `delete ${ref.name}@${digest}`, true);
    await res.body.dump().catch(() => undefined);
  }

  // ---- blobs -----------------------------------------------------------

  /** Whether the repository has the blob (HEAD). */
  async hasBlob(ref: Reference, digest: string, push = false): Promise<boolean> {
    const h = this.host(ref.registry);
    const res = await h.request({
      method: 'HEAD',
      path: `/${ref.repository}/blobs/${digest}`,
      scopes: [repositoryScope(ref.repository, push ? ['pull', 'push'] : ['pull'])],
      capability: push ? 'push' : 'pull',
    });
    await res.body.dump().catch(() => undefined);
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    // HEAD has no body: ask again with GET for the registry's message.
    const get = await h.request({ method: 'GET', path: `/${ref.repository}/blobs/${digest}`, headers: { range: 'bytes=0-0' }, scopes: [repositoryScope(ref.repository, push ? ['pull', 'push'] : ['pull'])], capability: push ? 'push' : 'pull' });
    if (get.status === 200 || get.status === 206) {
      await get.body.dump().catch(() => undefined);
      return true;
    }
    return this.fail(get, ref, `${push ? 'push' : 'pull'} ${ref}: blob ${digest}`, push);
  }

  /**
   * Opens a blob for reading from `offset` (Range); the caller verifies the
   * bytes. The body is a FastBody, best read with `pumpBody()`, unless undici
   * is the HTTP client.
   */
  async openBlob(ref: Reference, desc: Descriptor, offset = 0): Promise<{ body: ResponseBody; offset: number }> {
    const h = this.host(ref.registry);
    const res = await h.request({
      method: 'GET',
      path: `/${ref.repository}/blobs/${desc.digest}`,
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      scopes: [repositoryScope(ref.repository, ['pull'])],
    });
    if (res.status === 206 && offset > 0) return { body: res.body, offset };
    if (res.status === 200) return { body: res.body, offset: 0 };
    return this.fail(res, ref, `pull ${ref}: blob ${desc.digest}`);
  }

  /** Tries a cross-repository mount; returns the upload session opened instead when the registry does not mount. */
  async mountBlob(ref: Reference, digest: string, fromRepository: string): Promise<MountResult> {
    const h = this.host(ref.registry);
    const scopes = [repositoryScope(ref.repository, ['pull', 'push']), repositoryScope(fromRepository, ['pull'])];
    const res = await h.request({
      method: 'POST',
      path: `/${ref.repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(fromRepository)}`,
      scopes,
      capability: 'push',
      retry: true,
    });
    await res.body.dump().catch(() => undefined);
    if (res.status === 201) return { mounted: true };
    if (res.status === 202 && typeof res.headers.location === 'string') return { mounted: false, location: new URL(res.headers.location, res.url).toString() };
    // Harbor answers 401 when the source project is not readable: upload normally.
    return { mounted: false, location: await this.startUpload(ref) };
  }

  /** Opens an upload session; returns its absolute URL. */
  async startUpload(ref: Reference): Promise<string> {
    const h = this.host(ref.registry);
    const res = await h.request({
      method: 'POST',
      path: `/${ref.repository}/blobs/uploads/`,
      scopes: [repositoryScope(ref.repository, ['pull', 'push'])],
      capability: 'push',
      retry: true,
    });
    if (res.status !== 202 || typeof res.headers.location !== 'string') await this.fail(res, ref, `push ${ref}`, true);
    await res.body.dump().catch(() => undefined);
    return new URL(res.headers.location as string, res.url).toString();
  }

  /** Completes an upload in one streamed PUT. Throws a RegistryError on refusal. */
  async putUpload(ref: Reference, location: string, desc: Descriptor, body: () => Readable | ReleasingBody | Promise<Readable | ReleasingBody>): Promise<void> {
    const h = this.host(ref.registry);
    const u = new URL(location);
    u.searchParams.set('digest', desc.digest);
    const res = await h.request({
      method: 'PUT',
      path: u.toString(),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
      body,
      scopes: [repositoryScope(ref.repository, ['pull', 'push'])],
      capability: 'push',
      retry: false,
    });
    if (res.status !== 201 && res.status !== 204) await this.fail(res, ref, `push ${ref}: blob ${desc.digest}`, true);
    await res.body.dump().catch(() => undefined);
  }

  /** Uploads in chunks with PATCH, then a closing PUT (for registries that refuse a monolithic PUT). */
  async chunkedUpload(
    ref: Reference,
    location: string,
    desc: Descriptor,
    source: () => Readable | Promise<Readable>,
    chunkSize = 16 * 1024 * 1024,
    /** Resume a session at `offset` (source yields the bytes from there); `onLocation` hears each accepted chunk. */
    session: { offset?: number; onLocation?: (location: string, offset: number) => void } = {},
  ): Promise<void> {
    const h = this.host(ref.registry);
    const scopes = [repositoryScope(ref.repository, ['pull', 'push'])];
    let loc = location;
    let offset = session.offset ?? 0;
    const stream = await source();
    let pending: Buffer[] = [];
    let pendingLen = 0;
    const flush = async (): Promise<void> => {
      if (pendingLen === 0) return;
      const chunk = Buffer.concat(pending, pendingLen);
      pending = [];
      pendingLen = 0;
      const res = await h.request({
        method: 'PATCH',
        path: loc,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(chunk.length), 'content-range': `${offset}-${offset + chunk.length - 1}` },
        body: chunk,
        scopes,
        capability: 'push',
        retry: false,
      });
      if (res.status !== 202) await this.fail(res, ref, `push ${ref}: blob ${desc.digest}`, true);
      await res.body.dump().catch(() => undefined);
      if (typeof res.headers.location === 'string') loc = new URL(res.headers.location, res.url).toString();
      offset += chunk.length;
      session.onLocation?.(loc, offset);
    };
    for await (const c of stream as AsyncIterable<Buffer>) {
      pending.push(c);
      pendingLen += c.length;
      if (pendingLen >= chunkSize) await flush();
    }
    await flush();
    const u = new URL(loc);
    u.searchParams.set('digest', desc.digest);
    const res = await h.request({ method: 'PUT', path: u.toString(), headers: { 'content-length': '0' }, scopes, capability: 'push', retry: false });
    if (res.status !== 201 && res.status !== 204) await this.fail(res, ref, `push ${ref}: blob ${desc.digest}`, true);
    await res.body.dump().catch(() => undefined);
  }

  /** How many bytes an upload session holds (GET on its URL answers `Range: 0-N`). */
  async uploadOffset(ref: Reference, location: string): Promise<number | undefined> {
    const h = this.host(ref.registry);
    const res = await h.request({ method: 'GET', path: location, scopes: [repositoryScope(ref.repository, ['pull', 'push'])], capability: 'push' });
    await res.body.dump().catch(() => undefined);
    if (res.status !== 204) return undefined;
    const r = res.headers.range;
    const m = typeof r === 'string' ? /^(?:bytes=)?0-(\d+)$/.exec(r) : null;
    // distribution answers `0-0` for an empty session as for one byte: taken as empty (at most a byte is sent again).
    const last = m ? Number(m[1]) : 0;
    return last > 0 ? last + 1 : 0;
  }

  // ---- tags, catalog -----------------------------------------------------

  /** All tags of a repository, following `Link` pagination, sorted. */
  async listTags(ref: Reference, opts: { pageSize?: number } = {}): Promise<string[]> {
    const h = this.host(ref.registry);
    const tags = new Set<string>();
    let path = `/${ref.repository}/tags/list${opts.pageSize ? `?n=${opts.pageSize}` : ''}`;
    for (let page = 0; page < 10_000; page++) {
      const res = await h.request({ method: 'GET', path, scopes: [repositoryScope(ref.repository, ['pull'])], serverOnly: true });
      if (res.status !== 200) await this.fail(res, ref, `tags of ${ref.name}`);
      const text = await readSmall(res.body, 64 * 1024 * 1024);
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        throw new OcictlError('REGISTRY_ERROR', `${ref.registry} answered tags of ${ref.name} with invalid JSON`);
      }
      const list = (v as { tags?: unknown }).tags;
      if (list !== null && list !== undefined && !Array.isArray(list)) throw new OcictlError('REGISTRY_ERROR', `${ref.registry} answered tags of ${ref.name} without a tags array`);
      for (const t of (list ?? []) as unknown[]) if (typeof t === 'string') tags.add(t);
      const next = nextLink(res.headers.link);
      if (!next) break;
      const base = await h.baseUrl('pull', true);
      const abs = new URL(next, base);
      path = abs.toString().startsWith(base) ? abs.toString().slice(base.length) : abs.toString();
    }
    return [...tags].sort();
  }
}

/** The `rel="next"` target of a Link header. */
export function nextLink(link: string | string[] | undefined): string | undefined {
  if (!link) return undefined;
  for (const l of Array.isArray(link) ? link : [link]) {
    for (const part of l.split(/,(?=\s*<)/)) {
      const m = /<([^>]*)>\s*;(.*)/.exec(part.trim());
      if (m && /rel="?next"?/i.test(m[2] as string)) return m[1];
    }
  }
  return undefined;
}

export { hexOf, MediaType };
