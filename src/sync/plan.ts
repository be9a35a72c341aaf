/**
 * A sync plan in skopeo sync's YAML format (`skopeo sync --src yaml`): the
 * top-level keys are source registries, each with `images` (repository →
 * tags or digests; an empty list means every tag), `images-by-tag-regex`
 * (repository → regular expression), `images-by-semver` (repository →
 * constraint such as `">= 1.1.0, < 2.0.0"`), `tls-verify`, `cert-dir` and
 * `credentials` {username, password}. Unlike skopeo, an unknown key, a bad
 * regular expression or a bad constraint is an error naming the file, line
 * and key, so a typo never silently syncs less.
 */
import { readFile } from 'node:fs/promises';
import semver from 'semver';
import { type Node, type Pair, LineCounter, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { OcictlError } from '../errors.js';
import { isDigest } from '../oci/descriptor.js';
import { isRegistryHost, parseReference } from '../reference/reference.js';

export interface TagRegexSelector {
  /** The expression as written in the plan. */
  source: string;
  regex: RegExp;
}

export interface SemverSelector {
  /** The constraint as written in the plan (Masterminds syntax, as skopeo reads it). */
  source: string;
  /** The same constraint in npm semver's range syntax. */
  range: string;
}

export interface PlanRegistry {
  /** The registry host as written (`registry.example.com`, `127.0.0.1:5000`). */
  registry: string;
  /** Repository → tags or digests; an empty list means every tag. */
  images: Record<string, string[]>;
  imagesByTagRegex: Record<string, TagRegexSelector>;
  imagesBySemver: Record<string, SemverSelector>;
  /** `false` skips TLS verification (and allows plain HTTP), as `--insecure-registry`. Absent: verify. */
  tlsVerify?: boolean;
  /** Directory with the registry's CA (`*.crt`) and client certificate (`*.cert` + `*.key`). */
  certDir?: string;
  credentials?: { username: string; password: string };
}

export interface SyncPlan {
  /** Where the plan came from, for messages. */
  file: string;
  registries: PlanRegistry[];
}

const REGISTRY_KEYS = ['images', 'images-by-tag-regex', 'images-by-semver', 'tls-verify', 'cert-dir', 'credentials'] as const;
const CREDENTIAL_KEYS = ['username', 'password'] as const;

class PlanReader {
  constructor(
    readonly file: string,
    private readonly lines: LineCounter,
  ) {}

  where(node: unknown): string {
    const o = node as { range?: [number, number, number]; key?: { range?: [number, number, number] } } | null | undefined;
    const range = o?.range ?? o?.key?.range;
    if (!range) return this.file;
    const { line } = this.lines.linePos(range[0]);
    return `${this.file}:${line}`;
  }

  fail(node: unknown, key: string, message: string, hint?: string): never {
    throw new OcictlError('CONFIG_INVALID', `${this.where(node)}: ${key}: ${message}`, hint ? { hint } : { hint: 'fix the plan; its format is skopeo sync\'s YAML' });
  }
}

function keyOf(p: Pair): string {
  return isScalar(p.key) ? String(p.key.value) : String(p.key);
}

function stringOf(r: PlanReader, node: unknown, key: string): string {
  if (!isScalar(node) || (typeof node.value !== 'string' && typeof node.value !== 'number')) r.fail(node as Node, key, 'expected a string');
  // A plain 1.10 is a tag, as Go's YAML reads it into a string: the text as written, not the number.
  return typeof node.value === 'number' && typeof node.source === 'string' ? node.source : String(node.value);
}

function checkRepository(r: PlanReader, registry: string, repo: string, node: Node | Pair, key: string): void {
  try {
    const ref = parseReference(`${registry}/${repo}`, { defaultTag: null });
    if (ref.tag || ref.digest) throw new Error('a repository has no tag or digest');
  } catch (e) {
    r.fail(node, key, `"${repo}" is not a repository name (${e instanceof OcictlError ? e.message : (e as Error).message})`);
  }
}

/** A Go (RE2) regular expression as JavaScript reads it; a leading `(?i)` becomes the `i` flag. */
export function compileTagRegex(source: string): RegExp {
  const m = /^\(\?([imsU]+)\)/.exec(source);
  let flags = '';
  let body = source;
  if (m) {
    for (const f of m[1] as string) {
      if (f === 'i') flags += 'i';
      else if (f === 's') flags += 's';
      else if (f === 'm') flags += 'm';
      else throw new SyntaxError(`flag ${f} is not supported`);
    }
    body = source.slice(m[0].length);
  }
  return new RegExp(body, flags);
}

/**
 * A constraint in skopeo's syntax (Masterminds semver: `,` between the
 * comparisons that must all hold, `||` between alternatives) as an npm
 * semver range; throws when it does not parse.
 */
export function semverRange(constraint: string): string {
  const alternatives = constraint.split('||').map((alt) =>
    alt
      .split(',')
      .map((c) => c.trim().replace(/^(>=|<=|>|<|=|~|\^)\s+/, '$1'))
      .filter(Boolean)
      .join(' '),
  );
  if (alternatives.some((a) => a.length === 0)) throw new SyntaxError('empty comparison');
  const range = alternatives.join(' || ');
  if (semver.validRange(range) === null) throw new SyntaxError('not a semver constraint');
  return range;
}

/**
 * A tag read as a version the way skopeo does (Masterminds' NewVersion): an
 * optional `v`, one to three numbers, an optional pre-release and build
 * (`v1.2`, `1.2.3-rc.1`). Undefined when the tag is not a version.
 */
export function tagVersion(tag: string): semver.SemVer | undefined {
  const m = /^v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$/.exec(tag);
  if (!m) return undefined;
  const text = `${m[1]}.${m[2] ?? '0'}.${m[3] ?? '0'}${m[4] ? `-${m[4]}` : ''}${m[5] ? `+${m[5]}` : ''}`;
  return semver.parse(text) ?? undefined;
}

/** Whether a tag satisfies a semver selector (tags that are not versions never do). */
export function matchesSemver(tag: string, sel: SemverSelector): boolean {
  const v = tagVersion(tag);
  return v !== undefined && semver.satisfies(v, sel.range);
}

function readRegistry(r: PlanReader, registry: string, value: unknown, keyNode: Pair): PlanRegistry {
  if (!isRegistryHost(registry) && !/^[a-z0-9.-]+$/i.test(registry)) r.fail(keyNode, registry, 'is not a registry host');
  const out: PlanRegistry = { registry, images: {}, imagesByTagRegex: {}, imagesBySemver: {} };
  if (value === null || (isScalar(value) && value.value === null)) r.fail(keyNode, registry, 'names no images', 'add images, images-by-tag-regex or images-by-semver');
  if (!isMap(value)) r.fail(value as Node, registry, 'expected a mapping of images, images-by-tag-regex, images-by-semver, tls-verify, cert-dir, credentials');
  for (const p of value.items) {
    const k = keyOf(p);
    const key = `${registry}.${k}`;
    switch (k) {
      case 'images': {
        if (!isMap(p.value)) r.fail(p.value ?? p, key, 'expected a mapping of repository to a list of tags or digests');
        for (const ip of p.value.items) {
          const repo = keyOf(ip);
          const rkey = `${key}.${repo}`;
          checkRepository(r, registry, repo, ip, rkey);
          const tags: string[] = [];
          if (ip.value === null || (isScalar(ip.value) && ip.value.value === null)) {
            /* `repo:` with nothing: every tag, as an empty list */
          } else {
            if (!isSeq(ip.value)) r.fail(ip.value ?? ip, rkey, 'expected a list of tags or digests ([] for every tag)');
            for (const t of ip.value.items) {
              const s = stringOf(r, t, rkey);
              if (s.startsWith('sha256:')) {
                if (!isDigest(s)) r.fail(t as Node, rkey, `"${s}" is not a sha256 digest`);
              } else if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(s)) {
                r.fail(t as Node, rkey, `"${s}" is not a tag`);
              }
              tags.push(s);
            }
          }
          out.images[repo] = tags;
        }
        break;
      }
      case 'images-by-tag-regex': {
        if (!isMap(p.value)) r.fail(p.value ?? p, key, 'expected a mapping of repository to a regular expression');
        for (const ip of p.value.items) {
          const repo = keyOf(ip);
          const rkey = `${key}.${repo}`;
          checkRepository(r, registry, repo, ip, rkey);
          const source = stringOf(r, ip.value, rkey);
          let regex: RegExp;
          try {
            regex = compileTagRegex(source);
          } catch (e) {
            r.fail(ip.value as Node, rkey, `regular expression "${source}" does not parse (${(e as Error).message})`);
          }
          out.imagesByTagRegex[repo] = { source, regex };
        }
        break;
      }
      case 'images-by-semver': {
        if (!isMap(p.value)) r.fail(p.value ?? p, key, 'expected a mapping of repository to a semver constraint');
        for (const ip of p.value.items) {
          const repo = keyOf(ip);
          const rkey = `${key}.${repo}`;
          checkRepository(r, registry, repo, ip, rkey);
          const source = stringOf(r, ip.value, rkey);
          let range: string;
          try {
            range = semverRange(source);
          } catch {
            r.fail(ip.value as Node, rkey, `semver constraint "${source}" does not parse`, 'write comparisons such as ">= 1.1.0, < 2.0.0", "~1.2" or "^2"');
          }
          out.imagesBySemver[repo] = { source, range };
        }
        break;
      }
      case 'tls-verify':
        if (!isScalar(p.value) || typeof p.value.value !== 'boolean') r.fail(p.value ?? p, key, 'expected true or false');
        out.tlsVerify = p.value.value;
        break;
      case 'cert-dir':
        out.certDir = stringOf(r, p.value, key);
        break;
      case 'credentials': {
        if (!isMap(p.value)) r.fail(p.value ?? p, key, 'expected username and password');
        const c: Record<string, string> = {};
        for (const cp of p.value.items) {
          const ck = keyOf(cp);
          if (!(CREDENTIAL_KEYS as readonly string[]).includes(ck)) r.fail(cp, `${key}.${ck}`, 'unknown key', 'credentials take username and password');
          c[ck] = stringOf(r, cp.value, `${key}.${ck}`);
        }
        if (c.username === undefined || c.password === undefined) r.fail(p, key, 'needs both username and password');
        out.credentials = { username: c.username, password: c.password };
        break;
      }
      default:
        r.fail(p, key, 'unknown key', `a registry takes ${REGISTRY_KEYS.join(', ')}`);
    }
  }
  if (Object.keys(out.images).length + Object.keys(out.imagesByTagRegex).length + Object.keys(out.imagesBySemver).length === 0) {
    r.fail(keyNode, registry, 'names no images', 'add images, images-by-tag-regex or images-by-semver');
  }
  return out;
}

/** Parses plan text; `file` names it in messages. */
export function parsePlan(text: string, file = 'plan'): SyncPlan {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  const r: PlanReader = new PlanReader(file, lines);
  const err = doc.errors[0];
  if (err) {
    const line = err.linePos?.[0]?.line;
    throw new OcictlError('CONFIG_INVALID', `${file}${line ? `:${line}` : ''}: not valid YAML (${(err.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')})`, { hint: 'fix the plan; its format is skopeo sync\'s YAML' });
  }
  const root = doc.contents;
  if (!isMap(root)) r.fail(root, '(top level)', 'expected a mapping of source registries');
  const registries: PlanRegistry[] = [];
  for (const p of root.items) {
    registries.push(readRegistry(r, keyOf(p), p.value, p));
  }
  if (registries.length === 0) r.fail(root, '(top level)', 'names no registry');
  return { file, registries };
}

/** Reads and parses a plan file. */
export async function readPlan(file: string): Promise<SyncPlan> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new OcictlError('INVALID_ARGUMENT', `cannot read plan ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { hint: 'name an existing YAML file' });
  }
  return parsePlan(text, file);
}
