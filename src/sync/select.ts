/**
 * What a sync plan selects: every (source image, destination) pair, after
 * listing the tags of repositories whose selector needs them, filtering by
 * regular expression or semver constraint, mapping each to its destination
 * as skopeo does, and keeping the pairs of one shard.
 *
 * Destinations follow `skopeo sync`: `DEST/<last path component of the
 * repository>:<tag>`; with `scoped`, `DEST/<source host>/<repository>:<tag>`
 * (a `:` in the host becomes `_`, since a repository path cannot hold it).
 */
import pLimit from 'p-limit';
import { OcictlError } from '../errors.js';
import { type Reference, isRegistryHost, parseReference } from '../reference/reference.js';
import type { RegistryClient } from '../registry/client.js';
import type { PlanRegistry, SyncPlan } from './plan.js';
import { matchesSemver } from './plan.js';
import { type Shard, inShard } from './shard.js';

/** Tag lists read at once. */
const LIST_CONCURRENCY = 8;

export interface SyncItem {
  source: Reference;
  destination: Reference;
  /** Which selectors chose it (`images`, `images-by-tag-regex`, `images-by-semver`). */
  selectedBy: string[];
  /** The plan entry the source belongs to. */
  registry: PlanRegistry;
}

export interface SelectionFailure {
  /** The repository (or image) that could not be listed or mapped. */
  source: string;
  destination?: string;
  reason: string;
  code: string;
}

export interface Selection {
  items: SyncItem[];
  /** Repositories whose tags could not be listed, and pairs that collide at the destination. */
  failures: SelectionFailure[];
  /** Pairs of the whole plan (before sharding). */
  total: number;
}

/** Parses DEST (`host[:port][/prefix]`): the registry and the repository prefix. */
export function parseDestination(dest: string): { registry: string; prefix: string } {
  const d = dest.replace(/^docker:\/\//, '').replace(/\/+$/, '');
  const slash = d.indexOf('/');
  const host = slash >= 0 ? d.slice(0, slash) : d;
  const prefix = slash >= 0 ? d.slice(slash + 1) : '';
  if (!isRegistryHost(host)) {
    throw new OcictlError('INVALID_ARGUMENT', `destination "${dest}" does not start with a registry host`, { hint: 'use host[:port]/prefix, e.g. harbor.example.com/prod' });
  }
  if (prefix) {
    const probe = parseReference(`${host}/${prefix}`, { defaultTag: null });
    if (probe.tag || probe.digest) throw new OcictlError('INVALID_ARGUMENT', `destination "${dest}" names a tag or digest`, { hint: 'name a registry and repository prefix only; tags come from the plan' });
  }
  return { registry: host, prefix };
}

/** Where a source image lands under DEST. */
export function destinationOf(source: Reference, dest: { registry: string; prefix: string }, scoped: boolean): Reference {
  const base = scoped ? `${source.registry.replace(/:/g, '_').toLowerCase()}/${source.repository}` : (source.repository.split('/').pop() as string);
  const repo = dest.prefix ? `${dest.prefix}/${base}` : base;
  const id = source.digest ? `@${source.digest}` : `:${source.tag ?? 'latest'}`;
  return parseReference(`${dest.registry}/${repo}${id}`);
}

export interface SelectOptions {
  destination: string;
  scoped?: boolean;
  shard?: Shard;
  /** The client for a plan entry's registry. */
  clientFor: (r: PlanRegistry) => RegistryClient;
}

/** An error as a sync summary gives it: one line and the stable code (INTERNAL for what is not an OcictlError). */
export function describeFailure(e: unknown): { reason: string; code: string } {
  if (e instanceof OcictlError) return { reason: e.oneLine(), code: e.code };
  return { reason: e instanceof Error ? e.message : String(e), code: 'INTERNAL' };
}

/** Expands the plan into (source, destination) pairs of the chosen shard, sorted by source. */
export async function selectImages(plan: SyncPlan, o: SelectOptions): Promise<Selection> {
  const dest = parseDestination(o.destination);
  const chosen = new Map<string, SyncItem>();
  const failures: SelectionFailure[] = [];
  const lists: (() => Promise<void>)[] = [];
  const add = (reg: PlanRegistry, source: Reference, by: string): void => {
    const key = source.toString();
    const have = chosen.get(key);
    if (have) {
      if (!have.selectedBy.includes(by)) have.selectedBy.push(by);
      return;
    }
    chosen.set(key, { source, destination: destinationOf(source, dest, o.scoped === true), selectedBy: [by], registry: reg });
  };
  for (const reg of plan.registries) {
    const client = o.clientFor(reg);
    const tagCache = new Map<string, Promise<string[]>>();
    const tagsOf = (repo: Reference): Promise<string[]> => {
      let p = tagCache.get(repo.name);
      if (!p) {
        p = client.listTags(repo);
        tagCache.set(repo.name, p);
      }
      return p;
    };
    const listed = async (repoName: string, by: string, keep: (tag: string) => boolean): Promise<void> => {
      const repo = parseReference(`${reg.registry}/${repoName}`, { defaultTag: null });
      try {
        const tags = await tagsOf(repo);
        for (const t of tags) if (keep(t)) add(reg, repo.withTag(t), by);
      } catch (e) {
        failures.push({ source: repo.name, ...describeFailure(e) });
      }
    };
    for (const [repoName, refs] of Object.entries(reg.images)) {
      if (refs.length === 0) {
        lists.push(() => listed(repoName, 'images', () => true));
        continue;
      }
      const repo = parseReference(`${reg.registry}/${repoName}`, { defaultTag: null });
      for (const r of refs) add(reg, r.startsWith('sha256:') ? repo.withDigest(r) : repo.withTag(r), 'images');
    }
    for (const [repoName, sel] of Object.entries(reg.imagesByTagRegex)) lists.push(() => listed(repoName, 'images-by-tag-regex', (t) => sel.regex.test(t)));
    for (const [repoName, sel] of Object.entries(reg.imagesBySemver)) lists.push(() => listed(repoName, 'images-by-semver', (t) => matchesSemver(t, sel)));
  }
  // Tag lists are read a few at once; what they add is sorted below, so the order they answer in does not matter.
  const limit = pLimit(LIST_CONCURRENCY);
  await Promise.all(lists.map((l) => limit(l)));
  // Two sources landing on one destination would overwrite each other: both fail, in every shard.
  const byDest = new Map<string, SyncItem[]>();
  for (const it of chosen.values()) {
    const k = it.destination.toString();
    byDest.set(k, [...(byDest.get(k) ?? []), it]);
  }
  const all = [...chosen.values()].sort((a, b) => (a.source.toString() < b.source.toString() ? -1 : a.source.toString() > b.source.toString() ? 1 : 0));
  const items: SyncItem[] = [];
  for (const it of all) {
    if (!inShard(it.source.name, it.source.digest ?? it.source.tag ?? 'latest', o.shard)) continue;
    const same = byDest.get(it.destination.toString()) ?? [];
    if (same.length > 1) {
      const others = same.filter((x) => x !== it).map((x) => x.source.toString());
      failures.push({
        source: it.source.toString(),
        destination: it.destination.toString(),
        code: 'INVALID_ARGUMENT',
        reason: `${others.join(', ')} would land on the same destination ${it.destination}: pass --scoped to keep the source path`,
      });
      continue;
    }
    items.push(it);
  }
  return { items, failures, total: all.length };
}
