/**
 * The local half of the library API: store operations that need no network.
 * Kept apart so that `ocictl images` and friends load no HTTP code.
 */
import { type ImageInspect, type ImageSummary, type RemoveResult, inspectImage, listImages, removeImages, tagImage } from './image/local.js';
import { LocalStore, defaultDataRoot } from './store/local-store.js';
import type { ImageStore } from './store/types.js';

export interface StoreOptions {
  /** Data root (default $OCICTL_DATA_ROOT, else $XDG_DATA_HOME/ocictl). */
  dataRoot?: string;
  /** Namespace (default `default`; `k8s.io` is what Kubernetes uses). */
  namespace?: string;
  /** fsync blobs before they enter the store (default true). */
  fsync?: boolean;
}

export async function openStore(o: StoreOptions = {}): Promise<ImageStore> {
  return LocalStore.open(o.dataRoot ?? defaultDataRoot(), o.namespace ?? 'default', o.fsync !== undefined ? { fsync: o.fsync } : {});
}

export async function tagImageLocal(source: string, target: string, o: StoreOptions = {}): Promise<{ name: string; digest: string }> {
  return tagImage(await openStore(o), source, target);
}

export async function listLocalImages(o: StoreOptions = {}): Promise<ImageSummary[]> {
  return listImages(await openStore(o));
}

export async function removeLocalImages(names: string[], o: StoreOptions = {}): Promise<RemoveResult> {
  return removeImages(await openStore(o), names);
}

export async function inspectLocalImage(name: string, o: StoreOptions & { platform?: string } = {}): Promise<ImageInspect> {
  return inspectImage(await openStore(o), name, o.platform);
}

export type { ImageSummary, ImageInspect, RemoveResult };
