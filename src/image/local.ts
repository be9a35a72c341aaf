/** Local image operations on the store: find, tag, remove, list, inspect. */
import { OcictlError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, type ImageConfig, type ImageManifest, parseConfig, parseManifest } from '../oci/manifest.js';
import { bestMatch, formatPlatform, hostPlatform } from '../oci/platform.js';
import { type Reference, parseReference } from '../reference/reference.js';
import type { ImageRecord, ImageStore } from '../store/types.js';
import { storeName } from './pull.js';

/** Finds an image by name (`nginx:1.23.1` is normalised) or by ID (digest or a hex prefix of at least 4 characters). */
export async function findImage(store: ImageStore, nameOrId: string): Promise<ImageRecord> {
  const all = await store.list();
  let ref: Reference | undefined;
  try {
    ref = parseReference(nameOrId);
  } catch {
    ref = undefined;
  }
  if (ref) {
    const byName = all.find((r) => r.name === storeName(ref as Reference)) ?? all.find((r) => r.name === ref?.toString());
    if (byName) return byName;
  }
  const hex = nameOrId.replace(/^sha256:/, '');
  if (/^[a-f0-9]{4,64}$/.test(hex)) {
    const matches = all.filter((r) => r.target.digest.slice(7).startsWith(hex));
    const ids = new Set(matches.map((m) => m.target.digest));
    if (ids.size === 1) return matches[0] as ImageRecord;
    if (ids.size > 1) throw new OcictlError('INVALID_ARGUMENT', `image ID ${nameOrId} is ambiguous`, { hint: 'give more characters of the ID' });
  }
  throw new OcictlError('NOT_FOUND', `no such image: ${nameOrId} (namespace ${store.namespace})`, { hint: `pull it first: ocictl -n ${store.namespace} pull ${nameOrId}` });
}

export async function tagImage(store: ImageStore, source: string, target: string): Promise<{ name: string; digest: string }> {
  const rec = await findImage(store, source);
  const dst = parseReference(target);
  const name = storeName(dst);
  await store.set(name, rec.target, [rec.target.digest]);
  return { name, digest: rec.target.digest };
}

export interface RemoveResult {
  removed: string[];
  blobsRemoved: number;
  bytesFreed: number;
}

/** Removes images by name or ID (an ID removes every name pointing at it), then collects garbage. */
export async function removeImages(store: ImageStore, namesOrIds: string[]): Promise<RemoveResult> {
  const names: string[] = [];
  const all = await store.list();
  for (const n of namesOrIds) {
    const rec = await findImage(store, n);
    const isId = !(n === rec.name || safeName(n) === rec.name);
    if (isId) names.push(...all.filter((r) => r.target.digest === rec.target.digest).map((r) => r.name));
    else names.push(rec.name);
  }
  const removed = await store.remove([...new Set(names)]);
  const gc = await store.gc();
  return { removed, blobsRemoved: gc.removed, bytesFreed: gc.bytes };
}

function safeName(n: string): string | undefined {
  try {
    return storeName(parseReference(n));
  } catch {
    return undefined;
  }
}

export interface ImageSummary {
  name: string;
  /** Repository part of the name and the tag (`<none>` when pulled by digest). */
  repository: string;
  tag: string;
  digest: string;
  mediaType: string;
  /** Platforms present in the store. */
  platforms: string[];
  /** Compressed size of the blobs present (config + layers of the platforms held). */
  size: number;
  created?: string;
  updatedAt: string;
}

interface Resolved {
  manifest: ImageManifest;
  desc: Descriptor;
  config?: ImageConfig;
}

/** The image manifests of a record that are present in the store (index children filtered). */
export async function presentManifests(store: ImageStore, target: Descriptor, depth = 0): Promise<Resolved[]> {
  if (!(await store.has(target.digest)) || depth > 4) return [];
  const p = parseManifest(await store.read(target.digest, MAX_MANIFEST_BYTES), target.mediaType);
  if (p.kind === 'index') {
    const out: Resolved[] = [];
    for (const c of p.index.manifests) out.push(...(await presentManifests(store, c, depth + 1)));
    return out;
  }
  let config: ImageConfig | undefined;
  if (await store.has(p.manifest.config.digest)) {
    try {
      config = parseConfig(await store.read(p.manifest.config.digest, MAX_CONFIG_BYTES));
    } catch {
      config = undefined;
    }
  }
  return [{ manifest: p.manifest, desc: target, ...(config ? { config } : {}) }];
}

function splitName(name: string): { repository: string; tag: string } {
  const at = name.indexOf('@');
  const base = at >= 0 ? name.slice(0, at) : name;
  const colon = base.lastIndexOf(':');
  if (colon > base.lastIndexOf('/')) return { repository: base.slice(0, colon), tag: base.slice(colon + 1) };
  return { repository: base, tag: '<none>' };
}

export async function listImages(store: ImageStore): Promise<ImageSummary[]> {
  const out: ImageSummary[] = [];
  for (const r of await store.list()) {
    const ms = await presentManifests(store, r.target).catch(() => []);
    let size = 0;
    const seen = new Set<string>();
    for (const m of ms) {
      for (const d of [m.manifest.config, ...m.manifest.layers]) {
        if (seen.has(d.digest) || !(await store.has(d.digest))) continue;
        seen.add(d.digest);
        size += d.size;
      }
    }
    const platforms = ms.map((m) => formatPlatform(m.desc.platform ?? (m.config ? { os: m.config.os ?? '', architecture: m.config.architecture ?? '', ...(m.config.variant ? { variant: m.config.variant } : {}) } : undefined)));
    const created = ms.find((m) => m.config?.created)?.config?.created;
    out.push({ name: r.name, ...splitName(r.name), digest: r.target.digest, mediaType: r.target.mediaType, platforms, size, ...(created ? { created } : {}), updatedAt: r.updatedAt });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Docker-compatible inspect output (as `nerdctl image inspect` prints it). */
export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: string;
  Author: string;
  Config: Record<string, unknown>;
  Architecture: string;
  Variant?: string;
  Os: string;
  Size: number;
  RootFS: { Type: string; Layers: string[] };
  Metadata: { LastTagTime: string };
}

export async function inspectImage(store: ImageStore, nameOrId: string, platform?: string): Promise<ImageInspect> {
  const rec = await findImage(store, nameOrId);
  const ms = await presentManifests(store, rec.target);
  if (ms.length === 0) throw new OcictlError('NOT_FOUND', `the store has no manifest for ${rec.name}`, { hint: 'pull it again' });
  const want = platform ? (await import('../oci/platform.js')).parsePlatform(platform) : hostPlatform();
  const m = bestMatch(want, ms, (x) => x.desc.platform ?? (x.config ? { os: x.config.os ?? '', architecture: x.config.architecture ?? '', ...(x.config.variant ? { variant: x.config.variant } : {}) } : undefined)) ?? (ms[0] as Resolved);
  const all = await store.list();
  const same = all.filter((r) => r.target.digest === rec.target.digest);
  const cfg = m.config ?? {};
  return {
    Id: m.manifest.config.digest,
    RepoTags: same.filter((r) => !r.name.includes('@')).map((r) => r.name),
    RepoDigests: [...new Set(same.map((r) => `${splitName(r.name).repository}@${rec.target.digest}`))],
    Created: cfg.created ?? '',
    Author: cfg.author ?? '',
    Config: cfg.config ?? {},
    Architecture: cfg.architecture ?? '',
    ...(cfg.variant ? { Variant: cfg.variant } : {}),
    Os: cfg.os ?? '',
    Size: m.manifest.layers.reduce((s, l) => s + l.size, 0),
    RootFS: { Type: cfg.rootfs?.type ?? 'layers', Layers: cfg.rootfs?.diff_ids ?? [] },
    Metadata: { LastTagTime: rec.updatedAt },
  };
}
