/**
 * Looking at images in a registry without pulling them: the manifest of one
 * platform, the config and layers of each platform, and deletion by digest.
 */
import { createHash } from 'node:crypto';
import { OcictlError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { MAX_CONFIG_BYTES, type ImageConfig, parseConfig } from '../oci/manifest.js';
import { isKnownManifestType } from '../oci/media-types.js';
import { bestMatch, formatPlatform, parsePlatform, platformMatches } from '../oci/platform.js';
import type { Reference } from '../reference/reference.js';
import type { FetchedManifest, RegistryClient } from '../registry/client.js';

export interface RemotePlatformImage {
  /** `os/arch[/variant]` from the index, else from the config. */
  Platform: string;
  Digest: string;
  MediaType: string;
  Size: number;
  Config: { Digest: string; MediaType: string; Size: number };
  Created?: string;
  Author?: string;
  Architecture?: string;
  Os?: string;
  Variant?: string;
  /** The config's `config` section (Env, Cmd, Entrypoint, Labels, ...). */
  ImageConfig: Record<string, unknown>;
  Layers: { Digest: string; MediaType: string; Size: number }[];
  /** Compressed size of config and layers. */
  TotalSize: number;
  DiffIds: string[];
}

export interface RemoteImageInspect {
  /** `registry/repository` */
  Name: string;
  Reference: string;
  Digest: string;
  MediaType: string;
  Size: number;
  /** One entry per platform (one for a single-platform image). */
  Images: RemotePlatformImage[];
}

/** Reads and verifies an image config blob (at most 8 MiB). */
export async function fetchConfig(client: RegistryClient, ref: Reference, desc: Descriptor): Promise<{ bytes: Buffer; config: ImageConfig }> {
  if (desc.size > MAX_CONFIG_BYTES) throw new OcictlError('LIMIT_EXCEEDED', `config of ${ref} is ${desc.size} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`);
  const { body } = await client.openBlob(ref, desc);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += c.length;
    if (n > desc.size) {
      body.destroy();
      throw new OcictlError('SIZE_MISMATCH', `config ${desc.digest} of ${ref} is larger than its descriptor says`);
    }
    chunks.push(c);
  }
  const bytes = Buffer.concat(chunks);
  const got = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (got !== desc.digest) throw new OcictlError('DIGEST_MISMATCH', `config ${desc.digest} of ${ref} hashes to ${got}`, { hint: 'the registry served wrong content' });
  return { bytes, config: parseConfig(bytes, `config of ${ref}`) };
}

/** The manifest a reference names, or with `platform` the matching child of an index. */
export async function manifestFor(client: RegistryClient, ref: Reference, platform?: string): Promise<FetchedManifest> {
  const top = await client.getManifest(ref);
  if (!platform || top.parsed.kind !== 'index') return top;
  const want = parsePlatform(platform);
  const child = bestMatch(want, top.parsed.index.manifests.filter((d) => isKnownManifestType(d.mediaType)), (d) => d.platform);
  if (!child) {
    const have = top.parsed.index.manifests.map((d) => formatPlatform(d.platform)).filter(Boolean).join(', ') || 'none';
    throw new OcictlError('NOT_FOUND', `${ref} has no image for platform ${formatPlatform(want)} (it has: ${have})`, { hint: 'pass --platform with one of those' });
  }
  return client.getManifest(ref.withDigest(child.digest));
}

export async function inspectRemoteImage(client: RegistryClient, ref: Reference, platform?: string): Promise<RemoteImageInspect> {
  const top = await client.getManifest(ref);
  const images: RemotePlatformImage[] = [];
  const want = platform ? parsePlatform(platform) : undefined;
  const one = async (m: FetchedManifest, desc: Descriptor): Promise<void> => {
    if (m.parsed.kind !== 'manifest') return;
    const man = m.parsed.manifest;
    const { config } = await fetchConfig(client, ref, man.config);
    const p = desc.platform ?? (config.os && config.architecture ? { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) } : undefined);
    if (want && !platformMatches(want, p)) return;
    images.push({
      Platform: formatPlatform(p),
      Digest: desc.digest,
      MediaType: desc.mediaType,
      Size: desc.size,
      Config: { Digest: man.config.digest, MediaType: man.config.mediaType, Size: man.config.size },
      ...(config.created ? { Created: config.created } : {}),
      ...(config.author ? { Author: config.author } : {}),
      ...(config.architecture ? { Architecture: config.architecture } : {}),
      ...(config.os ? { Os: config.os } : {}),
      ...(config.variant ? { Variant: config.variant } : {}),
      ImageConfig: config.config ?? {},
      Layers: man.layers.map((l) => ({ Digest: l.digest, MediaType: l.mediaType, Size: l.size })),
      TotalSize: man.config.size + man.layers.reduce((s, l) => s + l.size, 0),
      DiffIds: config.rootfs?.diff_ids ?? [],
    });
  };
  const topDesc: Descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length };
  if (top.parsed.kind === 'index') {
    for (const c of top.parsed.index.manifests) {
      if (!isKnownManifestType(c.mediaType)) continue;
      if (want && c.platform && !platformMatches(want, c.platform)) continue;
      await one(await client.getManifest(ref.withDigest(c.digest)), c);
    }
  } else {
    await one(top, topDesc);
  }
  if (want && images.length === 0) throw new OcictlError('NOT_FOUND', `${ref} has no image for platform ${formatPlatform(want)}`);
  return { Name: ref.name, Reference: ref.toString(), Digest: top.digest, MediaType: top.mediaType, Size: top.bytes.length, Images: images };
}

/** Deletes a manifest by digest; a tag is resolved to its digest first. Returns the digest deleted. */
export async function deleteRemoteImage(client: RegistryClient, ref: Reference): Promise<string> {
  const digest = ref.digest ?? (await client.resolve(ref)).digest;
  await client.deleteManifest(ref, digest);
  return digest;
}
