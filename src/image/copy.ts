/**
 * copy: one image from any source to any destination (registry, store, OCI
 * layout, archive). Manifest bytes travel unchanged, so the digest at the
 * destination is the source's; a multi-platform index goes whole, children
 * included, unless platforms are chosen (then the digest changes, and the
 * result says so). Blobs stream from the source straight into the
 * destination, verified on the way; blobs the destination has are skipped.
 */
import pLimit from 'p-limit';
import { OcictlError } from '../errors.js';
import { type Descriptor, sha256Digest } from '../oci/descriptor.js';
import { MAX_INDEX_DEPTH, type ParsedManifest, parseManifest } from '../oci/manifest.js';
import { isKnownManifestType } from '../oci/media-types.js';
import { formatPlatform } from '../oci/platform.js';
import type { BlobState, ProgressListener } from './events.js';
import type { ReferrerCopyCounts } from './referrers.js';
import { type ImageDestination, type ImageSource, type SourceImage, verified } from './endpoint.js';
import { type PlatformChoice, selectChildren } from './select.js';
import { VerifiedSlabPipe } from './slab-bodies.js';

export interface CopyImageOptions extends PlatformChoice {
  /** Blobs copied at once (default 6; archives write one at a time). */
  concurrency?: number;
  onProgress?: ProgressListener;
}

export interface BlobCounts {
  /** Blobs whose bytes were transferred. */
  copied: number;
  /** Blobs mounted from another repository of the same registry. */
  mounted: number;
  /** Blobs the destination had already. */
  existing: number;
  /** Bytes transferred. */
  bytes: number;
}

export interface CopiedImage {
  source: string;
  /** Where the image was recorded (a reference, a store name, a tag). */
  destination?: string;
  digest: string;
  mediaType: string;
  size: number;
  /** The digest of the source's top manifest (differs from `digest` when one platform was taken). */
  sourceDigest: string;
  /** The image manifests copied, one per platform. */
  manifests: Descriptor[];
  blobs: BlobCounts;
  /** Set when the destination's digest is not the source's. */
  note?: string;
  /** What was done with the image's referrers, when they were copied too. */
  referrers?: ReferrerCopyCounts;
}

interface Node {
  desc: Descriptor;
  bytes: Buffer;
  parsed?: ParsedManifest;
}

/** The manifests under an index, deepest first, and the image manifests among them. */
async function walkIndex(src: ImageSource, index: Node, depth: number, out: { children: Node[]; images: Node[] }): Promise<void> {
  if (depth > MAX_INDEX_DEPTH) throw new OcictlError('LIMIT_EXCEEDED', `${src.label} nests indexes more than ${MAX_INDEX_DEPTH} levels deep`);
  if (index.parsed?.kind !== 'index') return;
  for (const c of index.parsed.index.manifests) {
    const bytes = await src.manifest(c);
    const node: Node = { desc: c, bytes };
    if (isKnownManifestType(c.mediaType)) {
      node.parsed = parseManifest(bytes, c.mediaType, `manifest ${c.digest} of ${src.label}`);
      if (node.parsed.kind === 'index') await walkIndex(src, node, depth + 1, out);
      else out.images.push(node);
    }
    out.children.push(node);
  }
}

async function allPresent(src: ImageSource, index: Node): Promise<boolean> {
  if (!src.hasManifest || index.parsed?.kind !== 'index') return true;
  for (const c of index.parsed.index.manifests) if (!(await src.hasManifest(c))) return false;
  return true;
}

/** Copies one image a source names to a destination. */
export async function copyImage(src: ImageSource, image: SourceImage, dst: ImageDestination, options: CopyImageOptions = {}): Promise<CopiedImage> {
  const emit = options.onProgress ?? (() => undefined);
  const rootBytes = await src.manifest(image.desc);
  const root: Node = { desc: image.desc, bytes: rootBytes, parsed: parseManifest(rootBytes, image.desc.mediaType, `manifest of ${src.label}`) };
  emit({ type: 'resolved', ref: src.label, digest: root.desc.digest, mediaType: root.desc.mediaType });
  let top: Node = root;
  let note: string | undefined;
  const walked: { children: Node[]; images: Node[] } = { children: [], images: [] };
  if (root.parsed?.kind === 'index') {
    const choose = (!!options.platforms?.length && !options.allPlatforms) || dst.singlePlatform === true || !(await allPresent(src, root));
    if (!choose) {
      await walkIndex(src, root, 0, walked);
    } else {
      let candidates = root.parsed.index.manifests;
      if (src.hasManifest) {
        const present: Descriptor[] = [];
        for (const c of candidates) if (await src.hasManifest(c)) present.push(c);
        candidates = present;
      }
      const picked = selectChildren(candidates, options.allPlatforms && !dst.singlePlatform ? { allPlatforms: true } : { platforms: options.platforms ?? [] }, src.label);
      if (picked.length === 1) {
        const c = picked[0] as Descriptor;
        const bytes = await src.manifest(c);
        top = { desc: { mediaType: c.mediaType, digest: c.digest, size: c.size }, bytes, parsed: parseManifest(bytes, c.mediaType, `manifest ${c.digest} of ${src.label}`) };
        if (top.parsed?.kind === 'index') await walkIndex(src, top, 1, walked);
        else walked.images.push(top);
        note = `copied only platform ${formatPlatform(c.platform) || c.digest}: the digest ${c.digest} differs from the multi-platform index ${root.desc.digest}`;
      } else {
        const index = { ...root.parsed.index, manifests: picked };
        const bytes = Buffer.from(JSON.stringify(index));
        const mediaType = root.parsed.mediaType;
        top = { desc: { mediaType, digest: sha256Digest(bytes), size: bytes.length }, bytes, parsed: parseManifest(bytes, mediaType) };
        await walkIndex(src, top, 0, walked);
        note = `copied platforms ${picked.map((p) => formatPlatform(p.platform)).join(', ')} into a new index: its digest ${top.desc.digest} differs from ${root.desc.digest}`;
      }
      emit({ type: 'note', message: note });
    }
  } else {
    walked.images.push(root);
  }
  if (src.synthesized && !note) {
    note = `${src.label} holds no manifest: one was made for it (digest ${top.desc.digest})`;
  }

  // Blobs of every image, each once; the largest first so the tail is short.
  const blobs = new Map<string, { desc: Descriptor; kind: 'layer' | 'config' }>();
  for (const m of walked.images) {
    if (m.parsed?.kind !== 'manifest') continue;
    const man = m.parsed.manifest;
    blobs.set(man.config.digest, { desc: man.config, kind: 'config' });
    for (const l of man.layers) {
      if (l.urls?.length && /foreign|nondistributable/.test(l.mediaType)) continue;
      if (!blobs.has(l.digest)) blobs.set(l.digest, { desc: l, kind: 'layer' });
    }
    emit({ type: 'manifest', digest: m.desc.digest, mediaType: m.desc.mediaType, ...(m.desc.platform ? { platform: formatPlatform(m.desc.platform) } : {}) });
  }
  dst.plan?.(walked.images.flatMap((m) => (m.parsed?.kind === 'manifest' ? [{ desc: m.desc, manifest: m.parsed.manifest }] : [])));
  const counts: BlobCounts = { copied: 0, mounted: 0, existing: 0, bytes: 0 };
  const stats = { uploaded: 0 };
  const limit = pLimit(Math.max(1, Math.min(options.concurrency ?? 6, dst.maxConcurrency)));
  const ordered = [...blobs.values()].sort((a, b) => b.desc.size - a.desc.size);
  await Promise.all(
    ordered.map((b) =>
      limit(async () => {
        if (await dst.hasBlob(b.desc)) {
          counts.existing++;
          emit({ type: 'blob-done', digest: b.desc.digest, size: b.desc.size, state: 'exists', kind: b.kind });
          return;
        }
        const state: BlobState = await dst.putBlob({
          desc: b.desc,
          kind: b.kind,
          open: async () => verified(await src.blob(b.desc), b.desc, src.label),
          ...(src.pumpBlob ? { openSlabs: () => new VerifiedSlabPipe(b.desc, src.label, (sink) => (src.pumpBlob as NonNullable<typeof src.pumpBlob>).call(src, b.desc, sink)) } : {}),
          ...(src.mountSource ? { mountSource: src.mountSource } : {}),
          onProgress: emit,
          stats,
        });
        if (state === 'mounted') counts.mounted++;
        else if (state === 'exists') counts.existing++;
        else {
          counts.copied++;
          counts.bytes += b.desc.size;
        }
      }),
    ),
  );

  // Children before the index that names them.
  for (const c of walked.children) {
    await dst.putManifest(c.desc, c.bytes);
  }
  const content = [...walked.children.map((c) => c.desc.digest), ...blobs.keys()];
  const destination = await dst.commitImage(top.desc, top.bytes, image.names[0], content);
  return {
    source: src.label,
    ...(destination ? { destination } : {}),
    digest: top.desc.digest,
    mediaType: top.desc.mediaType,
    size: top.bytes.length,
    sourceDigest: root.desc.digest,
    manifests: walked.images.map((m) => ({ mediaType: m.desc.mediaType, digest: m.desc.digest, size: m.desc.size, ...(m.desc.platform ? { platform: m.desc.platform } : {}) })),
    blobs: counts,
    ...(note ? { note } : {}),
  };
}

