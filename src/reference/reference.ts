/**
 * Image references, normalised the way Docker and nerdctl do (distribution/reference v0.6):
 * `nginx:1.23.1` → `docker.io/library/nginx:1.23.1`; a first path component
 * containing `.` or `:`, equal to `localhost`, or with an upper-case letter, is a registry host.
 */
import { OcictlError } from '../errors.js';

export const DOCKER_HUB = 'docker.io';
/** The host that actually serves Docker Hub's registry API. */
export const DOCKER_HUB_API = 'registry-1.docker.io';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;
const HOST_LABEL = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const MAX_NAME = 255;
const IMAGE_ID = /^[a-f0-9]{64}$/;
const IPV6_HOST = /^\[[a-fA-F0-9:]+\]$/;

export interface ReferenceParts {
  /** Normalised registry host, with port when given (`docker.io`, `127.0.0.1:5000`). */
  registry: string;
  /** Repository path inside the registry (`library/nginx`). */
  repository: string;
  tag?: string;
  digest?: string;
}

export class Reference implements ReferenceParts {
  readonly registry: string;
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;

  constructor(parts: ReferenceParts) {
    this.registry = parts.registry;
    this.repository = parts.repository;
    if (parts.tag !== undefined) this.tag = parts.tag;
    if (parts.digest !== undefined) this.digest = parts.digest;
  }

  /** `registry/repository`, no tag or digest. */
  get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  /** The digest when there is one, else the tag (default `latest`). */
  get identifier(): string {
    return this.digest ?? this.tag ?? 'latest';
  }

  /** The full normalised string: `docker.io/library/nginx:1.23.1`, `host/repo@sha256:...`. */
  toString(): string {
    let s = this.name;
    if (this.tag) s += `:${this.tag}`;
    if (this.digest) s += `@${this.digest}`;
    return s;
  }

  /** The short form Docker prints (`nginx:1.23.1` for Docker Hub library images). */
  familiar(): string {
    let repo = this.name;
    if (this.registry === DOCKER_HUB) {
      repo = this.repository.startsWith('library/') && this.repository.split('/').length === 2
        ? this.repository.slice('library/'.length)
        : this.repository;
    }
    let s = repo;
    if (this.tag) s += `:${this.tag}`;
    if (this.digest) s += `@${this.digest}`;
    return s;
  }

  withTag(tag: string): Reference {
    if (!TAG.test(tag)) throw invalid(tag, `tag "${tag}" is invalid (allowed: [A-Za-z0-9_.-], at most 128 characters, not starting with . or -)`);
    return new Reference({ registry: this.registry, repository: this.repository, tag });
  }

  withDigest(digest: string): Reference {
    validateDigest(digest, digest);
    return new Reference({ registry: this.registry, repository: this.repository, digest });
  }

  /** The host that serves this registry's API (Docker Hub maps to registry-1.docker.io). */
  get apiHost(): string {
    return this.registry === DOCKER_HUB ? DOCKER_HUB_API : this.registry;
  }
}

function invalid(input: string, why: string): OcictlError {
  return new OcictlError('INVALID_REFERENCE', `invalid reference ${shown(input)}: ${printable(why).slice(0, 400)}`);
}

/** Untrusted text in a one-line message: control characters escaped, long input cut. */
function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function shown(input: string): string {
  return `"${printable(input.length > 200 ? `${input.slice(0, 200)}…` : input)}"`;
}

export function validateDigest(input: string, digest: string): void {
  const m = DIGEST.exec(digest);
  if (!m) throw invalid(input, `digest "${digest}" is not of the form algorithm:hex`);
  const [, alg, hex] = m as unknown as [string, string, string];
  if (alg === 'sha256') {
    if (!/^[a-f0-9]{64}$/.test(hex)) throw invalid(input, `sha256 digest must be 64 lower-case hex characters, got ${hex.length} characters`);
  } else if (alg === 'sha512') {
    if (!/^[a-f0-9]{128}$/.test(hex)) throw invalid(input, 'sha512 digest must be 128 lower-case hex characters');
  } else {
    throw invalid(input, `digest algorithm "${alg}" is not supported (use sha256)`);
  }
}

/**
 * Whether the first component of a name is a registry host: `.` or `:` in it, `localhost`, or
 * an upper-case letter (repository paths are lower case, so `LOCALDOMAIN/foo` names a host).
 */
export function isRegistryHost(s: string): boolean {
  return s.includes('.') || s.includes(':') || s === 'localhost' || s !== s.toLowerCase();
}

function validateHost(input: string, host: string): void {
  let h = host;
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) throw invalid(input, `registry host "${host}" has an unclosed [`);
    if (!IPV6_HOST.test(h.slice(0, end + 1))) throw invalid(input, `registry host "${host}" is not an IPv6 address in brackets (hex digits and ":" only, no zone)`);
    const rest = h.slice(end + 1);
    if (rest) {
      if (!rest.startsWith(':')) throw invalid(input, `registry host "${host}" has a bad port`);
      validatePort(input, rest.slice(1));
    }
    return;
  }
  const colon = h.lastIndexOf(':');
  if (colon >= 0) {
    validatePort(input, h.slice(colon + 1));
    h = h.slice(0, colon);
  }
  if (!h) throw invalid(input, 'registry host is empty');
  for (const label of h.split('.')) {
    if (!HOST_LABEL.test(label)) throw invalid(input, `registry host "${host}" is not a valid host name`);
  }
}

function validatePort(input: string, port: string): void {
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535 || Number(port) === 0) {
    throw invalid(input, `registry port "${port}" is not a number between 1 and 65535`);
  }
}

export interface ParseOptions {
  /** Tag used when the reference has neither tag nor digest (default `latest`; `null` for none). */
  defaultTag?: string | null;
}

/** Parses and normalises an image reference; throws INVALID_REFERENCE saying which part is wrong. */
export function parseReference(input: string, options: ParseOptions = {}): Reference {
  if (typeof input !== 'string' || input.length === 0) throw invalid(String(input ?? ''), 'reference is empty');
  if (/\s/.test(input)) throw invalid(input, 'reference contains white space');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input)) throw invalid(input, 'a reference has no URL scheme (remove "http://" or "https://")');
  if (IMAGE_ID.test(input)) throw invalid(input, 'a 64-character hex string is an image ID, not a repository name (prefix it with a registry, e.g. docker.io/)');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    validateDigest(input, digest);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw invalid(input, `tag "${tag}" is invalid (allowed: [A-Za-z0-9_.-], at most 128 characters, not starting with . or -)`);
  }
  if (!rest) throw invalid(input, 'repository name is empty');
  let registry: string;
  let repository: string;
  const firstSlash = rest.indexOf('/');
  const first = firstSlash >= 0 ? rest.slice(0, firstSlash) : rest;
  if (firstSlash >= 0 && isRegistryHost(first)) {
    registry = first;
    repository = rest.slice(firstSlash + 1);
    validateHost(input, registry);
    if (registry.toLowerCase() === 'index.docker.io' || registry.toLowerCase() === DOCKER_HUB || registry === DOCKER_HUB_API) registry = DOCKER_HUB;
  } else {
    registry = DOCKER_HUB;
    repository = rest;
  }
  if (!repository) throw invalid(input, 'repository name is empty');
  // the length first: a path over the limit is refused without running the component patterns over it
  if (repository.length + (registry === DOCKER_HUB && !repository.includes('/') ? 'library/'.length : 0) > MAX_NAME) {
    throw invalid(input, `repository path is longer than ${MAX_NAME} characters`);
  }
  for (const component of repository.split('/')) {
    if (!component) throw invalid(input, 'repository path has an empty component (double or trailing "/")');
    if (!COMPONENT.test(component)) {
      const why = /[A-Z]/.test(component)
        ? `repository name must be lower case ("${component}")`
        : `repository component "${component}" is invalid (allowed: lower-case letters, digits, and . _ - separators)`;
      throw invalid(input, why);
    }
  }
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (tag === undefined && digest === undefined && options.defaultTag !== null) tag = options.defaultTag ?? 'latest';
  const parts: ReferenceParts = { registry, repository };
  if (tag !== undefined) parts.tag = tag;
  if (digest !== undefined) parts.digest = digest;
  return new Reference(parts);
}

/** Parses a repository (no tag, no digest). */
export function parseRepository(input: string): Reference {
  const ref = parseReference(input, { defaultTag: null });
  if (ref.tag || ref.digest) throw invalid(input, 'expected a repository without tag or digest');
  return ref;
}

/**
 * Normalises a server argument of `login`/`logout` the way nerdctl and docker
 * do: strips a scheme and path; empty or docker.io means Docker Hub.
 * Returns the host[:port] used as config.json key.
 */
export function normaliseServer(input: string | undefined): string {
  if (!input) return DOCKER_HUB;
  let s = input.trim();
  s = s.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = s.indexOf('/');
  if (slash >= 0) s = s.slice(0, slash);
  if (!s) throw new OcictlError('INVALID_ARGUMENT', `invalid registry address "${input}"`, { hint: 'give host[:port], e.g. harbor.example.com or 127.0.0.1:5000' });
  const lower = s.toLowerCase();
  if (lower === 'docker.io' || lower === 'index.docker.io' || lower === 'registry-1.docker.io') return DOCKER_HUB;
  validateHost(input, s);
  return s;
}

/**
 * The short repository name Docker prints, without tag or digest (distribution's
 * `FamiliarName`): Docker Hub's `docker.io/` and `library/` are dropped, other registries kept.
 *
 * @example
 * familiarName('docker.io/library/nginx:1.23.1'); // 'nginx'
 * familiarName('docker.io/bitnami/nginx');        // 'bitnami/nginx'
 * familiarName('harbor.example.com/lidabai/app'); // 'harbor.example.com/lidabai/app'
 * @throws OcictlError INVALID_REFERENCE when a string is not a valid reference
 */
export function familiarName(ref: Reference | string): string {
  const r = typeof ref === 'string' ? parseReference(ref, { defaultTag: null }) : ref;
  return new Reference({ registry: r.registry, repository: r.repository }).familiar();
}

/** What `parseAnyReference` found: a content digest / image ID, or a named reference. */
export type AnyReference =
  | { kind: 'digest'; /** `algorithm:hex` (a bare 64-hex ID becomes `sha256:` + it) */ digest: string }
  | { kind: 'named'; reference: Reference };

/**
 * Parses what a user may type where an image is expected (distribution's `ParseAnyReference`):
 * a bare 64-hex image ID, a digest `sha256:…`, or an image reference.
 *
 * @example
 * parseAnyReference('0123…cdef');       // { kind: 'digest', digest: 'sha256:0123…cdef' } (64 hex characters)
 * parseAnyReference('sha256:0123…cdef'); // { kind: 'digest', digest: 'sha256:0123…cdef' }
 * parseAnyReference('nginx:1.23.1');     // { kind: 'named', reference: docker.io/library/nginx:1.23.1 }
 * @throws OcictlError INVALID_REFERENCE for anything else
 */
export function parseAnyReference(input: string, options: ParseOptions = {}): AnyReference {
  if (typeof input === 'string' && IMAGE_ID.test(input)) return { kind: 'digest', digest: `sha256:${input}` };
  if (typeof input === 'string' && /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/.test(input)) {
    try {
      validateDigest(input, input);
      return { kind: 'digest', digest: input };
    } catch {
      // as upstream: not a digest ocictl knows, so `algorithm:hex` is read as `name:tag`
    }
  }
  return { kind: 'named', reference: parseReference(input, options) };
}
