/** Which children of an index to take: the host's platform, a chosen one, or all. */
import { OcictlError } from '../errors.js';
import type { Descriptor, Platform } from '../oci/descriptor.js';
import { isKnownManifestType } from '../oci/media-types.js';
import { bestMatch, formatPlatform, hostPlatform, parsePlatform } from '../oci/platform.js';

export interface PlatformChoice {
  /** `os/arch[/variant]` strings; empty = the host's. */
  platforms?: string[];
  allPlatforms?: boolean;
}

export function selectChildren(manifests: Descriptor[], choice: PlatformChoice, where: string): Descriptor[] {
  const images = manifests.filter((d) => isKnownManifestType(d.mediaType));
  if (choice.allPlatforms) return images;
  const wanted: Platform[] = choice.platforms?.length ? choice.platforms.map(parsePlatform) : [hostPlatform()];
  const out: Descriptor[] = [];
  for (const w of wanted) {
    const m = bestMatch(w, images.filter((d) => !out.includes(d)), (d) => d.platform);
    if (!m) {
      const avail = images.map((d) => formatPlatform(d.platform)).filter(Boolean).join(', ') || 'none';
      throw new OcictlError('NOT_FOUND', `${where} has no image for platform ${formatPlatform(w)} (it has: ${avail})`, { hint: 'pass --platform with one of those, or --all-platforms' });
    }
    out.push(m);
  }
  return out;
}
