/**
 * Which store a command uses, and why: containerd's (over its socket) or the
 * embedded local one. Loads no gRPC code: `ocictl images` on the local store
 * stays as light as before.
 *
 * Order: an explicit store (`--store`, `OCICTL_STORE`); an explicit socket
 * (`--address`, `CONTAINERD_ADDRESS`) means containerd; an explicit data root
 * (`--data-root`, `OCICTL_DATA_ROOT`) means local; else containerd when its
 * default socket answers, else local.
 */
import { DEFAULT_CONTAINERD_ADDRESS, checkSocket } from '../containerd/socket.js';
import { OcictlError } from '../errors.js';
import { defaultDataRoot } from './local-store.js';

export { DEFAULT_CONTAINERD_ADDRESS };

export type StoreKind = 'containerd' | 'local';

export interface StoreSelectOptions {
  /** `containerd` or `local` (env OCICTL_STORE); default: see the module doc. */
  store?: StoreKind;
  /** containerd's socket (env CONTAINERD_ADDRESS; default /run/containerd/containerd.sock). */
  address?: string;
  /** Snapshotter to unpack into (env CONTAINERD_SNAPSHOTTER; default the CRI plugin's, else overlayfs). */
  snapshotter?: string;
  /** Local store root (default $OCICTL_DATA_ROOT, else $XDG_DATA_HOME/ocictl). */
  dataRoot?: string;
  namespace?: string;
}

export type StoreChoice =
  | { store: 'local'; dataRoot: string; namespace: string; why: string }
  | { store: 'containerd'; address: string; namespace: string; snapshotter?: string; why: string };

function kindOf(v: string, from: string): StoreKind {
  if (v === 'containerd' || v === 'local') return v;
  throw new OcictlError('INVALID_ARGUMENT', `${from} must be containerd or local, not "${v}"`, { hint: 'pass --store containerd or --store local' });
}

export async function selectStore(o: StoreSelectOptions, env: NodeJS.ProcessEnv = process.env): Promise<StoreChoice> {
  const namespace = o.namespace ?? 'default';
  const snapshotter = o.snapshotter ?? (env.CONTAINERD_SNAPSHOTTER || undefined);
  const containerd = (address: string, why: string): StoreChoice => ({ store: 'containerd', address, namespace, ...(snapshotter ? { snapshotter } : {}), why });
  const local = (why: string): StoreChoice => ({ store: 'local', dataRoot: o.dataRoot ?? defaultDataRoot(env), namespace, why });
  const envAddress = env.CONTAINERD_ADDRESS || undefined;
  const address = o.address ?? envAddress ?? DEFAULT_CONTAINERD_ADDRESS;
  const addressWhy = o.address ? '--address was given' : envAddress ? 'CONTAINERD_ADDRESS is set' : 'the default socket';
  const explicit = o.store ?? (env.OCICTL_STORE ? kindOf(env.OCICTL_STORE, 'OCICTL_STORE') : undefined);
  if (explicit !== undefined) {
    const kind = kindOf(explicit, '--store');
    const from = o.store ? '--store' : 'OCICTL_STORE';
    return kind === 'containerd' ? containerd(address, `${from} containerd (socket: ${addressWhy})`) : local(`${from} local`);
  }
  if (o.address || envAddress) return containerd(address, addressWhy);
  if (o.dataRoot) return local('--data-root was given');
  if (env.OCICTL_DATA_ROOT) return local('OCICTL_DATA_ROOT is set');
  const probe = (await checkSocket(DEFAULT_CONTAINERD_ADDRESS, 500)).state;
  if (probe === 'ok') return containerd(DEFAULT_CONTAINERD_ADDRESS, `containerd answers on ${DEFAULT_CONTAINERD_ADDRESS}`);
  if (probe === 'denied') {
    return local(`${DEFAULT_CONTAINERD_ADDRESS} exists but this user may not open it (use sudo, or --store containerd to be told so)`);
  }
  return local(`no containerd answers on ${DEFAULT_CONTAINERD_ADDRESS} (${probe})`);
}
