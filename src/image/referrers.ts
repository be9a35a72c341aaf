/**
 * Referrers: the signatures, SBOMs and attestations that point at an image.
 * Found three ways, as the tools that write them store them:
 * - the OCI 1.1 referrers API (`GET /v2/<name>/referrers/<digest>`), where
 *   the registry has it (Harbor ≥ 2.8);
 * - else the referrers tag schema: an index tagged `sha256-<hex>` listing
 *   the manifests whose `subject` is that digest (what OCI 1.1 clients write
 *   to a registry without the API, such as distribution 2.8);
 * - cosign's own tags `sha256-<hex>.sig`, `.att` and `.sbom`.
 * Copying them is recursive (a signature of an SBOM goes too), goes through
 * the copy engine (digests kept), and at a destination without the API adds
 * them to the `sha256-<hex>` index there, merged with what it lists already.
 */
import { OcictlError, isOcictlError } from '../errors.js';
import { type Descriptor, digestHex } from '../oci/descriptor.js';
import { type ImageIndex, parseManifest } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import type { Reference } from '../reference/reference.js';
import type { FetchedManifest, RegistryClient } from '../registry/client.js';
import { copyImage } from './copy.js';
import type { ImageDestination } from './endpoint.js';
import type { ProgressListener } from './events.js';
import { RegistryDestination, RegistrySource } from './registry-endpoint.js';

/** cosign's tag suffixes: signatures, attestations, SBOMs. */
export const COSIGN_SUFFIXES = ['sig', 'att', 'sbom'] as const;

/** Deepest chain of referrers followed (a signature of an attestation of an SBOM of an image is 3). */
export const MAX_REFERRER_DEPTH = 8;

export type ReferrerSource = 'referrers-api' | 'tag-schema' | 'cosign-tag';

export interface Referrer {
  digest: string;
  mediaType: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  /** The digest it refers to. */
  subject: string;
  /** How it was found. */
  foundBy: ReferrerSource;
  /** cosign's tag (`sha256-<hex>.sig`) when found by tag. */
  tag?: string;
  /** What refers to this one in turn. */
  referrers: Referrer[];
}

/** The tag of the referrers tag schema for a digest: `sha256-<hex>`. */
export function fallbackTag(digest: string): string {
  return `sha256-${digestHex(digest)}`;
}

/** The manifests that refer to `subject` directly (through the referrers API, else the tag schema, and cosign's tags). */
export async function directReferrers(client: RegistryClient, repo: Reference, subject: string): Promise<Referrer[]> {
  const out: Referrer[] = [];
  let index = await client.getReferrers(repo, subject);
  let foundBy: ReferrerSource = 'referrers-api';
  if (!index) {
    foundBy = 'tag-schema';
    index = await fallbackIndex(client, repo, subject);
  }
  for (const d of index?.manifests ?? []) {
    out.push({
      digest: d.digest,
      mediaType: d.mediaType,
      size: d.size,
      ...(d.artifactType ? { artifactType: d.artifactType } : {}),
      ...(d.annotations ? { annotations: d.annotations } : {}),
      subject,
      foundBy,
      referrers: [],
    });
  }
  for (const suffix of COSIGN_SUFFIXES) {
    const tag = `${fallbackTag(subject)}.${suffix}`;
    const d = await client.findManifest(repo.withTag(tag));
    if (!d) continue;
    out.push({ digest: d.digest, mediaType: d.mediaType, size: d.size, artifactType: `cosign ${suffix === 'sig' ? 'signature' : suffix === 'att' ? 'attestation' : 'SBOM'}`, subject, foundBy: 'cosign-tag', tag, referrers: [] });
  }
  return out;
}

/** The `sha256-<hex>` index of the tag schema, when the repository has one. */
async function fallbackIndex(client: RegistryClient, repo: Reference, subject: string): Promise<ImageIndex | undefined> {
  const ref = repo.withTag(fallbackTag(subject));
  let m: FetchedManifest;
  try {
    m = await client.getManifest(ref);
  } catch (e) {
    if (isOcictlError(e) && e.code === 'NOT_FOUND') return undefined;
    throw e;
  }
  if (m.parsed.kind !== 'index') throw new OcictlError('MANIFEST_INVALID', `${ref} is a tag of the referrers schema but not an index`, { hint: 'delete or retag it; the referrers tag schema keeps an image index there' });
  return m.parsed.index;
}

/** Every referrer of `subject`, recursively (referrers of referrers under each). */
export async function referrerTree(client: RegistryClient, repo: Reference, subject: string, depth = 0, seen = new Set<string>([subject])): Promise<Referrer[]> {
  if (depth >= MAX_REFERRER_DEPTH) return [];
  const referrers = await directReferrers(client, repo, subject);
  const out: Referrer[] = [];
  for (const r of referrers) {
    if (seen.has(r.digest)) continue;
    seen.add(r.digest);
    r.referrers = await referrerTree(client, repo, r.digest, depth + 1, seen);
    out.push(r);
  }
  return out;
}

export interface ReferrerCopyCounts {
  /** Referrer manifests copied (with their blobs). */
  copied: number;
  /** Referrers the destination had already. */
  existing: number;
  /** `sha256-<hex>` indexes written or updated at the destination. */
  indexesUpdated: number;
  /** Blobs transferred for them. */
  blobs: number;
}

export interface CopyReferrersOptions {
  concurrency?: number;
  onProgress?: ProgressListener;
  /** Wraps each destination (sync shares blob writes across images through it). */
  wrapDestination?: (dst: ImageDestination, repository: string) => ImageDestination;
}

/** The descriptor a referrers index lists for a manifest (artifactType and annotations from the manifest). */
function indexEntry(r: Referrer, bytes: Buffer | undefined): Descriptor {
  let artifactType = r.foundBy === 'cosign-tag' ? undefined : r.artifactType;
  let annotations = r.annotations;
  if (bytes && (!artifactType || !annotations)) {
    const p = parseManifest(bytes, r.mediaType, `referrer ${r.digest}`);
    const doc = p.kind === 'index' ? p.index : p.manifest;
    artifactType ??= doc.artifactType ?? (p.kind === 'manifest' ? p.manifest.config.mediaType : undefined);
    annotations ??= doc.annotations;
  }
  return { mediaType: r.mediaType, digest: r.digest, size: r.size, ...(artifactType ? { artifactType } : {}), ...(annotations ? { annotations } : {}) };
}

/**
 * Copies what refers to `subject` in `srcRepo` to `dstRepo`, recursively;
 * digests kept. Referrers the destination has cost one HEAD each; at a
 * destination without the referrers API the `sha256-<hex>` index is merged
 * with the one there and written only when something is missing from it.
 */
export async function copyReferrers(
  src: RegistryClient,
  srcRepo: Reference,
  dst: RegistryClient,
  dstRepo: Reference,
  subject: string,
  o: CopyReferrersOptions = {},
  counts: ReferrerCopyCounts = { copied: 0, existing: 0, indexesUpdated: 0, blobs: 0 },
  depth = 0,
  seen = new Set<string>([subject]),
): Promise<ReferrerCopyCounts> {
  if (depth >= MAX_REFERRER_DEPTH) return counts;
  const referrers = await directReferrers(src, srcRepo, subject);
  const listed: Descriptor[] = [];
  for (const r of referrers) {
    if (seen.has(r.digest)) continue;
    seen.add(r.digest);
    const target = r.tag ? dstRepo.withTag(r.tag) : dstRepo.withDigest(r.digest);
    const have = await dst.findManifest(target);
    let bytes: Buffer | undefined;
    if (have?.digest === r.digest) {
      counts.existing++;
    } else {
      const source = new RegistrySource(src, srcRepo.withDigest(r.digest));
      const [image] = await source.images();
      const plain = new RegistryDestination(dst, target, o.concurrency !== undefined ? { concurrency: o.concurrency } : {});
      const done = await copyImage(source, image as NonNullable<typeof image>, o.wrapDestination ? o.wrapDestination(plain, target.repository) : plain, {
        allPlatforms: true,
        ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
        ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      });
      if (done.digest !== r.digest) throw new OcictlError('INTERNAL', `referrer ${r.digest} arrived as ${done.digest}`);
      counts.copied++;
      counts.blobs += done.blobs.copied + done.blobs.mounted;
      bytes = await source.manifest({ mediaType: r.mediaType, digest: r.digest, size: r.size });
    }
    if (r.foundBy !== 'cosign-tag') listed.push(indexEntry(r, bytes));
    await copyReferrers(src, srcRepo, dst, dstRepo, r.digest, o, counts, depth + 1, seen);
  }
  if (listed.length > 0 && (await dst.getReferrers(dstRepo, subject)) === undefined) {
    if (await mergeFallbackIndex(dst, dstRepo, subject, listed)) counts.indexesUpdated++;
  }
  return counts;
}

/** Adds descriptors to the `sha256-<hex>` index at a registry without the referrers API; returns whether it wrote one. */
export async function mergeFallbackIndex(client: RegistryClient, repo: Reference, subject: string, add: Descriptor[]): Promise<boolean> {
  const existing = await fallbackIndex(client, repo, subject);
  const manifests = [...(existing?.manifests ?? [])];
  let changed = false;
  for (const d of add) {
    if (manifests.some((m) => m.digest === d.digest)) continue;
    manifests.push(d);
    changed = true;
  }
  if (!changed) return false;
  const index: ImageIndex = { ...(existing ?? {}), schemaVersion: 2, mediaType: MediaType.OciIndex, manifests };
  await client.putManifest(repo.withTag(fallbackTag(subject)), Buffer.from(JSON.stringify(index)), MediaType.OciIndex);
  return true;
}
