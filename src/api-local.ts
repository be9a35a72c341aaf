/**
 * The local half of the library API: store operations that need no network.
 * Kept apart so that `ocictl images` and friends load no HTTP code; the
 * containerd store (and gRPC) is loaded only when it is the one selected.
 */
import { type ImageInspect, type ImageSummary, type RemoveResult, inspectImage, listImages, removeImages, tagImage } from './image/local.js';
import { LocalStore } from './store/local-store.js';
import { type StoreChoice, type StoreSelectOptions, selectStore } from './store/select.js';
import type { ImageStore } from './store/types.js';

export interface StoreOptions extends StoreSelectOptions {
  /** Data root of the local store (default $OCICTL_DATA_ROOT, else $XDG_DATA_HOME/ocictl). */
  dataRoot?: string;
  /** Namespace (default `default`; `k8s.io` is what Kubernetes uses). In containerd's store, containerd's namespace. */
  namespace?: string;
  /** fsync blobs before they enter the local store (default true). */
  fsync?: boolean;
  /** containerd store: expiry of the leases that protect an operation's content, in ms (default 24 h). */
  leaseExpiryMs?: number;
}

/** Opens the selected store (see {@link selectStore}); close it with `store.close?.()`. */
export async function openStore(o: StoreOptions = {}): Promise<ImageStore> {
  return openChosen(await selectStore(o), o);
}

async function openChosen(c: StoreChoice, o: StoreOptions): Promise<ImageStore> {
  if (c.store === 'containerd') {
    const { ContainerdStore } = await import('./store/containerd-store.js');
    return ContainerdStore.open({
      address: c.address,
      namespace: c.namespace,
      ...(c.snapshotter ? { snapshotter: c.snapshotter } : {}),
      ...(o.leaseExpiryMs !== undefined ? { leaseExpiryMs: o.leaseExpiryMs } : {}),
    });
  }
  return LocalStore.open(c.dataRoot, c.namespace, o.fsync !== undefined ? { fsync: o.fsync } : {});
}

/** Runs `fn` on the selected store, closed afterwards. */
export async function withStore<T>(o: StoreOptions, fn: (s: ImageStore) => Promise<T>): Promise<T> {
  const s = await openStore(o);
  try {
    return await fn(s);
  } finally {
    await s.close?.();
  }
}

export interface StoreInfo {
  store: 'containerd' | 'local';
  /** Why this store was chosen. */
  why: string;
  namespace: string;
  /** Local store: its root directory. */
  dataRoot?: string;
  /** containerd: the socket, the snapshotter images are unpacked into, containerd's version. */
  address?: string;
  snapshotter?: string;
  containerdVersion?: string;
}

/** Which store commands use with these options, and why (`ocictl info`); a containerd store is connected to and checked. */
export async function storeInfo(o: StoreOptions = {}): Promise<StoreInfo> {
  const c = await selectStore(o);
  if (c.store === 'local') return { store: 'local', why: c.why, namespace: c.namespace, dataRoot: c.dataRoot };
  const s = (await openChosen(c, o)) as import('./store/containerd-store.js').ContainerdStore;
  try {
    return { store: 'containerd', why: c.why, namespace: c.namespace, address: s.address, snapshotter: s.snapshotter, containerdVersion: s.version };
  } finally {
    await s.close();
  }
}

export async function tagImageLocal(source: string, target: string, o: StoreOptions = {}): Promise<{ name: string; digest: string }> {
  return withStore(o, (s) => tagImage(s, source, target));
}

export async function listLocalImages(o: StoreOptions = {}): Promise<ImageSummary[]> {
  return withStore(o, (s) => listImages(s));
}

export async function removeLocalImages(names: string[], o: StoreOptions = {}): Promise<RemoveResult> {
  return withStore(o, (s) => removeImages(s, names));
}

export async function inspectLocalImage(name: string, o: StoreOptions & { platform?: string } = {}): Promise<ImageInspect> {
  return withStore(o, (s) => inspectImage(s, name, o.platform));
}

export { selectStore, type StoreChoice, type StoreKind } from './store/select.js';
export type { ImageSummary, ImageInspect, RemoveResult };
