/**
 * The referrers of an image as a whole: those of its top manifest and, for a
 * multi-platform index, those of each platform manifest that goes with it
 * (`cosign sign --recursive` and buildx attestations sign or describe each
 * platform's digest, not only the index's). Built on the one-subject
 * functions of referrers.ts: `copyReferrers` to copy them, `referrerTree` to
 * say what a copy would do without writing anything.
 */
import type { Descriptor } from '../oci/descriptor.js';
import { isIndexType } from '../oci/media-types.js';
import type { Reference } from '../reference/reference.js';
import type { RegistryClient } from '../registry/client.js';
import { type CopyReferrersOptions, type Referrer, type ReferrerCopyCounts, type ReferrerSource, copyReferrers, referrerTree } from './referrers.js';
import { type PlatformChoice, selectChildren } from './select.js';

/** A platform manifest of an index: its descriptor (with `platform` when the index gives one). */
export type PlatformManifest = Descriptor;

/**
 * The platform manifests an index lists at a registry (nested indexes
 * followed), narrowed to a platform choice when one is given; none when
 * `digest` is not an index.
 */
export async function platformManifests(client: RegistryClient, repo: Reference, digest: string, choice: PlatformChoice = { allPlatforms: true }): Promise<PlatformManifest[]> {
  const m = await client.getManifest(repo.withDigest(digest));
  if (m.parsed.kind !== 'index') return [];
  const out: PlatformManifest[] = [];
  for (const c of selectChildren(m.parsed.index.manifests, choice, `${repo.name}@${digest}`)) {
    const nested = isIndexType(c.mediaType) ? await platformManifests(client, repo, c.digest) : [];
    if (nested.length > 0) out.push(...nested);
    else out.push(c);
  }
  return out;
}

/** The subjects whose referrers go with an image: its top digest (when it is one of them), then each platform manifest's, each once. */
export function referrerSubjects(top: string | undefined, platforms: readonly PlatformManifest[]): string[] {
  return [...new Set([...(top ? [top] : []), ...platforms.map((p) => p.digest)])];
}

/**
 * Copies the referrers of an image's top manifest and of the platform
 * manifests given (the ones its copy took), recursively, with
 * `copyReferrers`; one count for all. A referrer reachable from two subjects
 * is copied once.
 */
export async function copyImageReferrers(
  src: RegistryClient,
  srcRepo: Reference,
  dst: RegistryClient,
  dstRepo: Reference,
  top: string | undefined,
  platforms: readonly PlatformManifest[],
  o: CopyReferrersOptions = {},
): Promise<ReferrerCopyCounts> {
  const subjects = referrerSubjects(top, platforms);
  const seen = new Set<string>(subjects);
  const counts: ReferrerCopyCounts = { copied: 0, existing: 0, indexesUpdated: 0, blobs: 0 };
  for (const s of subjects) await copyReferrers(src, srcRepo, dst, dstRepo, s, o, counts, 0, seen);
  return counts;
}

/** One referrer a copy would carry (what `--dry-run` lists). */
export interface PlannedReferrer {
  digest: string;
  mediaType: string;
  artifactType?: string;
  /** cosign's tag when it is found by one (`sha256-<hex>.sig`). */
  tag?: string;
  /** The digest it refers to: the image, a platform manifest, or another referrer. */
  subject: string;
  foundBy: ReferrerSource;
  /** The destination has it already (a copy would only check it). */
  there: boolean;
}

/**
 * What `copyImageReferrers` would do, read-only: every referrer of the
 * subjects, recursively, each with whether the destination has it (one
 * manifest HEAD there each; nothing is written anywhere).
 */
export async function planImageReferrers(
  src: RegistryClient,
  srcRepo: Reference,
  dst: RegistryClient,
  dstRepo: Reference,
  top: string,
  platforms: readonly PlatformManifest[],
): Promise<PlannedReferrer[]> {
  const subjects = referrerSubjects(top, platforms);
  const seen = new Set<string>(subjects);
  const out: PlannedReferrer[] = [];
  const visit = async (list: Referrer[]): Promise<void> => {
    for (const r of list) {
      const have = await dst.findManifest(r.tag ? dstRepo.withTag(r.tag) : dstRepo.withDigest(r.digest));
      out.push({
        digest: r.digest,
        mediaType: r.mediaType,
        ...(r.artifactType ? { artifactType: r.artifactType } : {}),
        ...(r.tag ? { tag: r.tag } : {}),
        subject: r.subject,
        foundBy: r.foundBy,
        there: have?.digest === r.digest,
      });
      await visit(r.referrers);
    }
  };
  for (const s of subjects) await visit(await referrerTree(src, srcRepo, s, 0, seen));
  return out;
}
