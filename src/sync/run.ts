/**
 * Runs a selection: each image through the copy engine (digests kept,
 * multi-platform indexes whole, blobs streamed, mounts within a registry),
 * `jobs` images at once. An image whose digest the destination already has
 * under that tag costs two manifest HEADs and nothing else. A failing image is
 * recorded with its reason and the rest go on. With referrers, those of the
 * image and of each of its platform manifests go too; with dryRun they are
 * listed, not copied.
 */
import pLimit from 'p-limit';
import { OcictlError } from '../errors.js';
import { copyImage } from '../image/copy.js';
import type { ProgressListener } from '../image/events.js';
import { type PlannedReferrer, type PlatformManifest, copyImageReferrers, planImageReferrers, platformManifests } from '../image/image-referrers.js';
import type { ReferrerCopyCounts } from '../image/referrers.js';
import { isIndexType } from '../oci/media-types.js';
import { RegistryDestination, RegistrySource } from '../image/registry-endpoint.js';
import type { RegistryClient } from '../registry/client.js';
import { BlobLedger } from './ledger.js';
import type { PlanRegistry } from './plan.js';
import { type SelectionFailure, type SyncItem, describeFailure } from './select.js';

export type SyncState = 'copied' | 'skipped' | 'failed' | 'would-copy';

export interface SyncedImage {
  source: string;
  destination: string;
  state: SyncState;
  /** The image's digest (at the source; the destination's is the same once copied). */
  digest?: string;
  /** Why it was skipped or failed. */
  reason?: string;
  /** The error code of a failure. */
  code?: string;
  blobs?: { copied: number; mounted: number; existing: number; bytes: number };
  referrers?: ReferrerCopyCounts;
  /** With dryRun and referrers: the referrers a copy would carry (of the image and of each platform manifest), recursively; `there` marks those the destination has. */
  plannedReferrers?: PlannedReferrer[];
}

export interface SyncEvent {
  type: 'image';
  /** How many images are done, this one included. */
  done: number;
  total: number;
  image: SyncedImage;
}

export interface RunOptions {
  /** Images at once (default 8). */
  jobs?: number;
  /** Blobs at once per image (default 6). */
  concurrency?: number;
  dryRun?: boolean;
  /** Copy referrers (signatures, SBOMs, attestations) too. */
  referrers?: boolean;
  onImage?: (e: SyncEvent) => void;
  onProgress?: ProgressListener;
}

async function syncOne(item: SyncItem, src: RegistryClient, dst: RegistryClient, ledger: BlobLedger, o: RunOptions): Promise<SyncedImage> {
  const base = { source: item.source.toString(), destination: item.destination.toString() };
  // Both HEADs at once: an image already there costs one round trip.
  const [at, there] = await Promise.all([src.findManifest(item.source), dst.findManifest(item.destination)]);
  if (!at) throw new OcictlError('NOT_FOUND', `${item.source} does not exist`, { hint: 'check the tag in the plan' });
  const srcRepo = item.source.withDigest(at.digest);
  const dstRepo = item.destination.withDigest(at.digest);
  // Referrers go with the top digest and, for an index, with each platform manifest copied (all of them: sync copies indexes whole).
  const platforms = async (copied?: PlatformManifest[]): Promise<PlatformManifest[]> => copied ?? (isIndexType(at.mediaType) ? platformManifests(src, srcRepo, at.digest) : []);
  const referrers = async (copied?: PlatformManifest[]): Promise<ReferrerCopyCounts | undefined> =>
    o.referrers && !o.dryRun
      ? copyImageReferrers(src, srcRepo, dst, dstRepo, at.digest, await platforms(copied), {
          wrapDestination: (d, repository) => ledger.wrap(d, repository),
          ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
          ...(o.onProgress ? { onProgress: o.onProgress } : {}),
        })
      : undefined;
  const planned = async (): Promise<{ plannedReferrers?: PlannedReferrer[] }> =>
    o.referrers && o.dryRun ? { plannedReferrers: await planImageReferrers(src, srcRepo, dst, dstRepo, at.digest, await platforms()) } : {};
  if (there?.digest === at.digest) {
    const r = await referrers();
    return { ...base, state: 'skipped', digest: at.digest, reason: 'the destination has this digest', ...(r ? { referrers: r } : {}), ...(await planned()) };
  }
  if (o.dryRun) return { ...base, state: 'would-copy', digest: at.digest, ...(there ? { reason: `the destination has ${there.digest}` } : {}), ...(await planned()) };
  const source = new RegistrySource(src, item.source);
  const [image] = await source.images();
  if (!image) throw new OcictlError('NOT_FOUND', `${item.source} names no image`);
  const target = ledger.wrap(new RegistryDestination(dst, item.destination, o.concurrency !== undefined ? { concurrency: o.concurrency } : {}), item.destination.repository);
  const copied = await copyImage(source, image, target, {
    allPlatforms: true,
    ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
  const r = await referrers(copied.manifests);
  return { ...base, state: 'copied', digest: copied.digest, blobs: copied.blobs, ...(r ? { referrers: r } : {}) };
}

/** Syncs every item; never throws for one image: its failure is in the result. */
export async function runSync(
  items: SyncItem[],
  earlier: SelectionFailure[],
  clients: { source: (r: PlanRegistry) => RegistryClient; destination: RegistryClient },
  o: RunOptions = {},
): Promise<SyncedImage[]> {
  const total = items.length + earlier.length;
  let done = 0;
  const report = (image: SyncedImage): SyncedImage => {
    done++;
    o.onImage?.({ type: 'image', done, total, image });
    return image;
  };
  const out: SyncedImage[] = earlier.map((f) => report({ source: f.source, destination: f.destination ?? '', state: 'failed', reason: f.reason, code: f.code }));
  const limit = pLimit(Math.max(1, o.jobs ?? 8));
  const ledger = new BlobLedger(items[0]?.destination.registry ?? '');
  const results = await Promise.all(
    items.map((it) =>
      limit(async () => {
        try {
          return report(await syncOne(it, clients.source(it.registry), clients.destination, ledger, o));
        } catch (e) {
          return report({ source: it.source.toString(), destination: it.destination.toString(), state: 'failed', ...describeFailure(e) });
        }
      }),
    ),
  );
  return [...out, ...results];
}
