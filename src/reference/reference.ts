/**
 * Image references, normalised the way Docker and nerdctl do:
 * `nginx:1.23.1` → `docker.io/library/nginx:1.23.1`; a first path component
 * containing `.` or `:`, or equal to `localhost`, is a registry host.
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

/** Whether `s` looks like a registry host (`.` or `:` in it, or `localhost`). */
export function isRegistryHost(s: string): boolean {
  return s.includes('.') || s.includes(':') || s === 'localhost' || /^\[.*\]/.test(s);
}

function validateHost(input: string, host: string): void {
  let h = host;
  let port: string | undefined;
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) throw invalid(input, `registry host "${host}" has an unclosed [`);
    const rest = h.slice(end + 1);
    if (rest && !/^:\d+$/.test(rest)) throw invalid(input, `registry host "${host}" has a bad port`);
    return;
  }
  const colon = h.lastIndexOf(':');
  if (colon >= 0) {
    port = h.slice(colon + 1);
    h = h.slice(0, colon);
    if (!/^\d{1,5}$/.test(port) || Number(port) > 65535 || Number(port) === 0) {
      throw invalid(input, `registry port "${port}" is not a number between 1 and 65535`);
    }
  }
  if (!h) throw invalid(input, 'registry host is empty');
  for (const label of h.split('.')) {
    if (!HOST_LABEL.test(label)) throw invalid(input, `registry host "${host}" is not a valid host name`);
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
  if (registry.length + 1 + repository.length > MAX_NAME) throw invalid(input, `repository name is longer than ${MAX_NAME} characters`);
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
