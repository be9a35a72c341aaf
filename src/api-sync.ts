/**
 * The library API of promotion at scale: `sync` (a skopeo-format plan to a
 * destination registry, sharded, idempotent, with referrers) and
 * `listReferrers`.
 *
 * ```ts
 * import { sync } from 'ocictl';
 * const s = await sync('plan.yaml', 'harbor.example.com/prod', { shard: '2/3', jobs: 4, referrers: true });
 * console.log(s.copied, s.skipped, s.failed); // image counts; s.images has each with its reason
 *
 * const plan = await sync('plan.yaml', 'harbor.example.com/prod', { dryRun: true, referrers: true });
 * for (const i of plan.images) console.log(i.destination, i.plannedReferrers); // what would go, nothing written
 * ```
 */
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ChainCredentials, StaticCredentials } from './auth/credentials.js';
import { type ClientOptions, createClient, withClient } from './api.js';
import { OcictlError } from './errors.js';
import type { ProgressListener } from './image/events.js';
import { type PlannedReferrer, platformManifests } from './image/image-referrers.js';
import { type Referrer, type ReferrerCopyCounts, referrerTree } from './image/referrers.js';
import { isIndexType } from './oci/media-types.js';
import { formatPlatform } from './oci/platform.js';
import { type Reference, parseReference } from './reference/reference.js';
import type { RegistryClient } from './registry/client.js';
import { type PlanRegistry, type SyncPlan, readPlan } from './sync/plan.js';
import { type SyncEvent, type SyncedImage, runSync } from './sync/run.js';
import { selectImages } from './sync/select.js';
import { type Shard, parseShard } from './sync/shard.js';

/** `client` of ClientOptions is not used: sync makes one client per source registry of the plan and one for the destination. */
export interface SyncOptions extends Omit<ClientOptions, 'client'> {
  /** Keep the source host and full repository path under DEST (skopeo's --scoped). */
  scoped?: boolean;
  /** This job's part of the plan: `i/n` or {index, count}. */
  shard?: string | Shard;
  /** Images copied at once (default 8). */
  jobs?: number;
  /** Blobs copied at once per image (default 6). */
  concurrency?: number;
  /** Only say what would be copied. */
  dryRun?: boolean;
  /**
   * Copy signatures, SBOMs and attestations (OCI referrers and cosign tags) too, recursively: those of each
   * image and, for a multi-platform index, of each platform manifest. With `dryRun`, each image's
   * `plannedReferrers` lists them instead (nothing is written).
   */
  referrers?: boolean;
  /** Options for the destination registry only, over the common ones. */
  destinationOptions?: ClientOptions;
  /** One event per image finished. */
  onImage?: (e: SyncEvent) => void;
  onProgress?: ProgressListener;
}

export interface SyncSummary {
  plan: string;
  destination: string;
  shard?: Shard;
  /** Images the whole plan selects (every shard). */
  planned: number;
  /** Images of this shard. */
  selected: number;
  copied: number;
  skipped: number;
  failed: number;
  /** With dryRun: images that would be copied. */
  wouldCopy: number;
  /** With dryRun and referrers: referrers (of every image, recursively) a run would copy, and those the destination has. */
  referrerPlan?: { wouldCopy: number; there: number };
  images: SyncedImage[];
}

/** Client settings of one source registry of the plan: its credentials, TLS verification and cert-dir. */
async function sourceClient(o: SyncOptions, reg: PlanRegistry, tmp: () => Promise<string>): Promise<RegistryClient> {
  const c: ClientOptions = { ...o };
  if (reg.credentials) {
    const mine = new StaticCredentials({ username: reg.credentials.username, password: reg.credentials.password });
    c.credentials = o.credentials ? new ChainCredentials([mine, o.credentials]) : mine;
  }
  if (reg.tlsVerify === false) c.insecure = o.insecure === true ? true : [...(Array.isArray(o.insecure) ? o.insecure : []), reg.registry];
  if (reg.certDir) {
    // cert-dir holds that registry's ca.crt / client.cert / client.key: a hosts dir entry named for the host.
    const dir = path.join(await tmp(), reg.registry.replace(/[/:]/g, '_'));
    await mkdir(dir, { recursive: true });
    await symlink(path.resolve(reg.certDir), path.join(dir, reg.registry));
    c.hostsDirs = [dir, ...(o.hostsDirs ?? [])];
  }
  return createClient(c);
}

/**
 * Copies every image a skopeo-format sync plan selects to `destination`
 * (`host[:port]/prefix`), or this shard's part of them. Images already there
 * with the same digest are skipped after two HEADs; a failing image is
 * reported and the rest continue (see `failed` and each image's reason).
 */
export async function sync(plan: string | SyncPlan, destination: string, o: SyncOptions = {}): Promise<SyncSummary> {
  const p = typeof plan === 'string' ? await readPlan(plan) : plan;
  const shard = typeof o.shard === 'string' ? parseShard(o.shard) : o.shard;
  let tmpDir: string | undefined;
  const tmp = async (): Promise<string> => (tmpDir ??= await mkdtemp(path.join(os.tmpdir(), 'ocictl-sync-')));
  const sources = new Map<PlanRegistry, RegistryClient>();
  const dstOpts: ClientOptions = { ...o, ...(o.destinationOptions ?? {}) };
  delete dstOpts.client;
  if (o.destinationOptions?.credentials && o.credentials) dstOpts.credentials = new ChainCredentials([o.destinationOptions.credentials, o.credentials]);
  const dst = createClient(dstOpts);
  try {
    for (const reg of p.registries) sources.set(reg, await sourceClient(o, reg, tmp));
    const clientFor = (r: PlanRegistry): RegistryClient => {
      const c = sources.get(r);
      if (!c) throw new OcictlError('INTERNAL', `no client for ${r.registry}`);
      return c;
    };
    const sel = await selectImages(p, { destination, scoped: o.scoped === true, ...(shard ? { shard } : {}), clientFor });
    const images = await runSync(sel.items, sel.failures, { source: clientFor, destination: dst }, {
      ...(o.jobs !== undefined ? { jobs: o.jobs } : {}),
      ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
      ...(o.dryRun ? { dryRun: true } : {}),
      ...(o.referrers ? { referrers: true } : {}),
      ...(o.onImage ? { onImage: o.onImage } : {}),
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    });
    const count = (s: SyncedImage['state']): number => images.filter((i) => i.state === s).length;
    const planned = images.flatMap((i) => i.plannedReferrers ?? []);
    return {
      plan: p.file,
      destination,
      ...(shard ? { shard } : {}),
      planned: sel.total,
      selected: images.length,
      copied: count('copied'),
      skipped: count('skipped'),
      failed: count('failed'),
      wouldCopy: count('would-copy'),
      ...(o.dryRun && o.referrers ? { referrerPlan: { wouldCopy: planned.filter((r) => !r.there).length, there: planned.filter((r) => r.there).length } } : {}),
      images,
    };
  } finally {
    await Promise.all([dst.close(), ...[...sources.values()].map((c) => c.close())]);
    if (tmpDir) await rm(tmpDir, { recursive: true, force: true });
  }
}

export interface ReferrersListing {
  reference: string;
  digest: string;
  /** Direct referrers, each with its own referrers. */
  referrers: Referrer[];
  /** With `allPlatforms` or `platforms`, for an index: each platform manifest chosen, with its referrers. */
  platforms?: PlatformReferrers[];
}

/** A platform manifest of an index and what refers to it. */
export interface PlatformReferrers {
  digest: string;
  mediaType: string;
  /** `os/arch[/variant]`, when the index gives it. */
  platform?: string;
  referrers: Referrer[];
}

export interface ListReferrersOptions extends ClientOptions {
  /** For an index, also list the referrers of every platform manifest (`cosign sign --recursive` signs each). */
  allPlatforms?: boolean;
  /** For an index, also list the referrers of these platforms' manifests (`os/arch[/variant]`). */
  platforms?: string[];
}

/**
 * What refers to an image (signatures, SBOMs, attestations), recursively, as
 * `oras discover` shows it. With `allPlatforms` or `platforms`, an index's
 * platform manifests are listed too, each with its referrers (`platforms`
 * stays absent when neither is given or the image is not an index).
 */
export async function listReferrers(ref: string | Reference, o: ListReferrersOptions = {}): Promise<ReferrersListing> {
  const r = typeof ref === 'string' ? parseReference(ref) : ref;
  const { allPlatforms, platforms: chosen, ...client } = o;
  return withClient(client, async (c) => {
    const d = await c.resolve(r);
    const listing: ReferrersListing = { reference: r.toString(), digest: d.digest, referrers: await referrerTree(c, r, d.digest) };
    if ((allPlatforms || chosen?.length) && isIndexType(d.mediaType)) {
      const children = await platformManifests(c, r, d.digest, allPlatforms ? { allPlatforms: true } : { platforms: chosen ?? [] });
      listing.platforms = [];
      for (const p of children) {
        listing.platforms.push({
          digest: p.digest,
          mediaType: p.mediaType,
          ...(p.platform ? { platform: formatPlatform(p.platform) } : {}),
          referrers: await referrerTree(c, r, p.digest),
        });
      }
    }
    return listing;
  });
}

export type { PlannedReferrer, Referrer, ReferrerCopyCounts, SyncEvent, SyncedImage, SyncPlan, Shard };
export { parsePlan, readPlan } from './sync/plan.js';
export { parseShard, shardOf } from './sync/shard.js';
