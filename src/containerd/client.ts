/**
 * containerd's gRPC API over its Unix socket: content, images, leases,
 * snapshots, diff, namespaces, introspection and version, as plain objects.
 * Every call carries the namespace (`containerd-namespace`) and, when set, a
 * lease (`containerd-lease`). grpc-js and protobufjs load on connect(), not
 * when this module is imported.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { OcictlError } from '../errors.js';
import { ContainerdError, GrpcCode, fromGrpc } from './errors.js';
import { checkSocket, socketPath } from './socket.js';
import { abortIngest, openContentWriter } from './content-writer.js';
import type { CallContext, Channel, Message } from './rpc.js';
import type {
  AnyPayload,
  ContainerdClientOptions,
  ContainerdDescriptor,
  ContentInfo,
  ContentStatus,
  ContentWriter,
  ImageInfo,
  Labels,
  LeaseInfo,
  LeaseResource,
  Mount,
  NamespaceInfo,
  PluginInfo,
  SnapshotInfo,
  SnapshotKind,
  SnapshotUsage,
  WriterOptions,
} from './types.js';

export type * from './types.js';

// ---- conversions between containerd's messages and ocictl's plain objects ----

type Ts = { seconds?: unknown; nanos?: unknown } | null | undefined;

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v ?? 0);
}
function labels(v: unknown): Labels {
  return v && typeof v === 'object' ? { ...(v as Labels) } : {};
}
function strs(v: unknown): string[] {
  return Array.isArray(v) ? v.map(String) : [];
}
function msgs(v: unknown): Message[] {
  return Array.isArray(v) ? (v as Message[]) : [];
}
/** A protobuf Timestamp as a Date (containerd's zero time, year 1, as undefined). */
function date(v: unknown): Date | undefined {
  const t = v as Ts;
  if (!t) return undefined;
  const s = num(t.seconds);
  if (s <= -62135596800) return undefined;
  return new Date(s * 1000 + Math.floor(num(t.nanos) / 1e6));
}
function dateOrEpoch(v: unknown): Date {
  return date(v) ?? new Date(0);
}
function timestamp(d: Date | undefined): { seconds: number; nanos: number } | undefined {
  if (!d) return undefined;
  const ms = d.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1e6 };
}

function descriptorOut(v: unknown): ContainerdDescriptor {
  const m = (v ?? {}) as Message;
  const d: ContainerdDescriptor = { mediaType: str(m['mediaType']), digest: str(m['digest']), size: num(m['size']) };
  const a = labels(m['annotations']);
  if (Object.keys(a).length) d.annotations = a;
  return d;
}
function descriptorIn(d: ContainerdDescriptor): Message {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size, annotations: d.annotations ?? {} };
}
function mountOut(v: Message): Mount {
  const m: Mount = { type: str(v['type']), source: str(v['source']), options: strs(v['options']) };
  if (str(v['target'])) m.target = str(v['target']);
  return m;
}
function mountIn(m: Mount): Message {
  return { type: m.type, source: m.source, target: m.target ?? '', options: m.options };
}
function contentInfo(v: unknown): ContentInfo {
  const m = (v ?? {}) as Message;
  return { digest: str(m['digest']), size: num(m['size']), createdAt: dateOrEpoch(m['createdAt']), updatedAt: dateOrEpoch(m['updatedAt']), labels: labels(m['labels']) };
}
function contentStatus(v: unknown): ContentStatus {
  const m = (v ?? {}) as Message;
  return {
    ref: str(m['ref']),
    offset: num(m['offset']),
    total: num(m['total']),
    expected: str(m['expected']),
    startedAt: dateOrEpoch(m['startedAt']),
    updatedAt: dateOrEpoch(m['updatedAt']),
  };
}
function imageOut(v: unknown): ImageInfo {
  const m = (v ?? {}) as Message;
  const img: ImageInfo = { name: str(m['name']), labels: labels(m['labels']), target: descriptorOut(m['target']) };
  const c = date(m['createdAt']);
  const u = date(m['updatedAt']);
  if (c) img.createdAt = c;
  if (u) img.updatedAt = u;
  return img;
}
function imageIn(img: ImageInfo): Message {
  const m: Message = { name: img.name, labels: img.labels ?? {}, target: descriptorIn(img.target) };
  if (img.createdAt) m['createdAt'] = timestamp(img.createdAt);
  if (img.updatedAt) m['updatedAt'] = timestamp(img.updatedAt);
  return m;
}
const KINDS: SnapshotKind[] = ['unknown', 'view', 'active', 'committed'];
function snapshotOut(v: unknown): SnapshotInfo {
  const m = (v ?? {}) as Message;
  const s: SnapshotInfo = { name: str(m['name']), parent: str(m['parent']), kind: KINDS[num(m['kind'])] ?? 'unknown', labels: labels(m['labels']) };
  const c = date(m['createdAt']);
  const u = date(m['updatedAt']);
  if (c) s.createdAt = c;
  if (u) s.updatedAt = u;
  return s;
}
function snapshotIn(s: Partial<SnapshotInfo> & { name: string }): Message {
  return { name: s.name, parent: s.parent ?? '', kind: Math.max(0, KINDS.indexOf(s.kind ?? 'unknown')), labels: s.labels ?? {} };
}
function pluginOut(v: Message): PluginInfo {
  const p: PluginInfo = {
    type: str(v['type']),
    id: str(v['id']),
    requires: strs(v['requires']),
    platforms: msgs(v['platforms']).map((pl) => {
      const o = { os: str(pl['os']), architecture: str(pl['architecture']) };
      return str(pl['variant']) ? { ...o, variant: str(pl['variant']) } : o;
    }),
    exports: labels(v['exports']),
    capabilities: strs(v['capabilities']),
  };
  const err = v['initErr'] as Message | null | undefined;
  if (err && (num(err['code']) !== 0 || str(err['message']))) p.initErr = str(err['message']) || `code ${num(err['code'])}`;
  return p;
}

/** undefined for NotFound, else the error again. */
function notFoundAsUndefined(e: unknown): undefined {
  if (e instanceof ContainerdError && e.isNotFound) return undefined;
  throw e;
}

/** The RFC 3339 expiry label containerd's GC reads on a lease. */
export const LEASE_EXPIRE_LABEL = 'containerd.io/gc.expire';
/** Introspection's plugin type of snapshotters. */
export const SNAPSHOTTER_PLUGIN_TYPE = 'io.containerd.snapshotter.v1';

// ---- the client ----

/** Snapshot calls on one snapshotter. */
export interface SnapshotService {
  readonly snapshotter: string;
  prepare(key: string, parent: string, labels?: Labels): Promise<Mount[]>;
  view(key: string, parent: string, labels?: Labels): Promise<Mount[]>;
  mounts(key: string): Promise<Mount[]>;
  commit(name: string, key: string, labels?: Labels): Promise<void>;
  remove(key: string): Promise<void>;
  stat(key: string): Promise<SnapshotInfo | undefined>;
  update(info: Partial<SnapshotInfo> & { name: string }, fieldpaths: string[]): Promise<SnapshotInfo>;
  list(filters?: string[]): Promise<SnapshotInfo[]>;
  usage(key: string): Promise<SnapshotUsage>;
}

export class ContainerdClient {
  readonly address: string;
  readonly namespace: string;
  /** The lease every call carries, if any. */
  readonly lease: string | undefined;

  private constructor(
    private readonly chan: Channel,
    ctx: CallContext,
    /** containerd's Version answer, as connect() got it (the same daemon for the channel's life). */
    private readonly daemonVersion: { version: string; revision: string },
  ) {
    this.address = chan.address;
    this.namespace = ctx.namespace;
    this.lease = ctx.lease;
  }

  private get ctx(): CallContext {
    return this.lease ? { namespace: this.namespace, lease: this.lease } : { namespace: this.namespace };
  }

  /**
   * Opens a channel to containerd's socket and calls Version. A missing
   * socket, one we may not open, one nothing listens on, or one that does not
   * answer containerd's API is an OcictlError 'CONTAINERD' with one line
   * naming the socket and what to do.
   */
  static async connect(o: ContainerdClientOptions): Promise<ContainerdClient> {
    if (!o.namespace) throw new OcictlError('INVALID_ARGUMENT', 'a containerd namespace is needed');
    const timeoutMs = o.timeoutMs ?? 60_000;
    const check = await checkSocket(o.address, Math.min(timeoutMs, 5000));
    if (check.error) throw check.error;
    const { Channel } = await import('./rpc.js');
    const chan = new Channel(socketPath(o.address), o.address, timeoutMs);
    let answer: Message;
    try {
      answer = await chan.unary({ namespace: o.namespace }, 'version', 'Version', {}, Math.min(timeoutMs, 10_000));
    } catch (e) {
      chan.close();
      const ce = e instanceof ContainerdError ? e : undefined;
      if (ce?.grpcCode === GrpcCode.PERMISSION_DENIED) {
        throw new OcictlError('CONTAINERD', `permission denied on containerd socket ${check.path}`, { hint: 'run with sudo, pass --address SOCKET, or use --store local', cause: e });
      }
      const why = ce ? ce.message.replace(/^containerd version\.Version: /, '') : String(e);
      throw new OcictlError('CONTAINERD', `${check.path} does not answer as containerd (${why})`, {
        hint: 'pass --address with containerd\'s socket, or use --store local',
        cause: e,
      });
    }
    return new ContainerdClient(chan, { namespace: o.namespace }, { version: str(answer['version']), revision: str(answer['revision']) });
  }

  /** The same channel, another namespace. */
  withNamespace(ns: string): ContainerdClient {
    return new ContainerdClient(this.chan, this.lease ? { namespace: ns, lease: this.lease } : { namespace: ns }, this.daemonVersion);
  }

  /** The same channel; every call carries `containerd-lease: leaseId` (undefined: none). */
  withLease(leaseId: string | undefined): ContainerdClient {
    return new ContainerdClient(this.chan, leaseId ? { namespace: this.namespace, lease: leaseId } : { namespace: this.namespace }, this.daemonVersion);
  }

  async version(): Promise<{ version: string; revision: string }> {
    const r = await this.chan.unary(this.ctx, 'version', 'Version', {});
    return { version: str(r['version']), revision: str(r['revision']) };
  }

  /** What version() answered when connect() opened the channel (no call). */
  get connectedVersion(): { version: string; revision: string } {
    return { ...this.daemonVersion };
  }

  /** Introspection: the daemon's plugins (filters as containerd reads them, e.g. `type==io.containerd.snapshotter.v1`). */
  async plugins(filters: string[] = []): Promise<PluginInfo[]> {
    const r = await this.chan.unary(this.ctx, 'introspection', 'Plugins', { filters });
    return msgs(r['plugins']).map(pluginOut);
  }

  /**
   * The CRI runtime service's verbose Status `info` (keys such as `config`, a JSON
   * of the CRI plugin's config). Unimplemented when containerd runs without CRI.
   */
  async criStatus(): Promise<Labels> {
    const r = await this.chan.unary(this.ctx, 'cri', 'Status', { verbose: true });
    return labels(r['info']);
  }

  /** The snapshotters that loaded (no init error). */
  async snapshotters(): Promise<string[]> {
    return (await this.plugins([`type==${SNAPSHOTTER_PLUGIN_TYPE}`])).filter((p) => !p.initErr).map((p) => p.id);
  }

  readonly namespaces = {
    list: async (): Promise<string[]> => {
      const r = await this.chan.unary(this.ctx, 'namespaces', 'List', {});
      return msgs(r['namespaces']).map((n) => str(n['name']));
    },
    create: async (name: string, lbls: Labels = {}): Promise<void> => {
      await this.chan.unary(this.ctx, 'namespaces', 'Create', { namespace: { name, labels: lbls } });
    },
    /** undefined when containerd has no such namespace (its Get answers an empty one for any name, so this lists). */
    get: async (name: string): Promise<NamespaceInfo | undefined> => {
      const r = await this.chan.unary(this.ctx, 'namespaces', 'List', {});
      const n = msgs(r['namespaces']).find((x) => str(x['name']) === name);
      return n ? { name, labels: labels(n['labels']) } : undefined;
    },
    update: async (ns: NamespaceInfo, fieldpaths: string[] = []): Promise<NamespaceInfo> => {
      const r = await this.chan.unary(this.ctx, 'namespaces', 'Update', { namespace: { name: ns.name, labels: ns.labels }, updateMask: { paths: fieldpaths } });
      const n = (r['namespace'] ?? {}) as Message;
      return { name: str(n['name']), labels: labels(n['labels']) };
    },
    delete: async (name: string): Promise<void> => {
      await this.chan.unary(this.ctx, 'namespaces', 'Delete', { name });
    },
  };

  readonly content = {
    /** undefined when containerd has no such blob in this namespace. */
    info: async (digest: string): Promise<ContentInfo | undefined> => {
      try {
        return contentInfo((await this.chan.unary(this.ctx, 'content', 'Info', { digest }))['info']);
      } catch (e) {
        return notFoundAsUndefined(e);
      }
    },
    /** Updates the fields named in `fieldpaths` (`labels`, `labels.KEY`). */
    update: async (info: { digest: string; labels: Labels }, fieldpaths: string[]): Promise<ContentInfo> => {
      const r = await this.chan.unary(this.ctx, 'content', 'Update', { info: { digest: info.digest, labels: info.labels }, updateMask: { paths: fieldpaths } });
      return contentInfo(r['info']);
    },
    list: async (filters: string[] = []): Promise<ContentInfo[]> => {
      const parts = await this.chan.collect(this.ctx, 'content', 'List', { filters });
      return parts.flatMap((p) => msgs(p['info']).map(contentInfo));
    },
    delete: async (digest: string): Promise<void> => {
      await this.chan.unary(this.ctx, 'content', 'Delete', { digest });
    },
    /** Streams a blob's bytes (from `offset`, `size` bytes; 0 = to the end). */
    read: (digest: string, opts: { offset?: number; size?: number } = {}): Readable => {
      return this.readStream(digest, opts.offset ?? 0, opts.size ?? 0);
    },
    /** undefined when no ingest has this ref. */
    status: async (ref: string): Promise<ContentStatus | undefined> => {
      try {
        const r = await this.chan.unary(this.ctx, 'content', 'Status', { ref });
        return r['status'] ? contentStatus(r['status']) : undefined;
      } catch (e) {
        return notFoundAsUndefined(e);
      }
    },
    listStatuses: async (filters: string[] = []): Promise<ContentStatus[]> => {
      const r = await this.chan.unary(this.ctx, 'content', 'ListStatuses', { filters });
      return msgs(r['statuses']).map(contentStatus);
    },
    /** Drops an ingest (NotFound is not an error: nothing to drop). */
    abort: async (ref: string): Promise<void> => {
      await abortIngest(this.chan, this.ctx, ref);
    },
    /** Opens a resumable writer; `offset` says what containerd already holds for `ref`. */
    writer: async (ref: string, opts: WriterOptions): Promise<ContentWriter> => {
      return openContentWriter(this.chan, this.ctx, ref, opts);
    },
  };

  private readStream(digest: string, offset: number, size: number): Readable {
    const call = this.chan.serverStream(this.ctx, 'content', 'Read', { digest, offset, size });
    const address = this.address;
    let finished = false;
    const out = new Readable({
      highWaterMark: 1 << 20,
      read() {
        call.resume();
      },
      destroy(err, cb) {
        if (!finished) call.cancel();
        cb(err);
      },
    });
    call.on('data', (m: Message) => {
      const data = m['data'];
      if (Buffer.isBuffer(data) && data.length > 0 && !out.push(data)) call.pause();
      else if (data instanceof Uint8Array && !Buffer.isBuffer(data) && data.length > 0 && !out.push(Buffer.from(data))) call.pause();
    });
    call.on('error', (e) => {
      finished = true;
      out.destroy(fromGrpc(e, 'content.Read', address));
    });
    call.on('end', () => {
      finished = true;
      out.push(null);
    });
    return out;
  }

  readonly images = {
    get: async (name: string): Promise<ImageInfo | undefined> => {
      try {
        const r = await this.chan.unary(this.ctx, 'images', 'Get', { name });
        return r['image'] ? imageOut(r['image']) : undefined;
      } catch (e) {
        return notFoundAsUndefined(e);
      }
    },
    list: async (filters: string[] = []): Promise<ImageInfo[]> => {
      const r = await this.chan.unary(this.ctx, 'images', 'List', { filters });
      return msgs(r['images']).map(imageOut);
    },
    /** AlreadyExists is a ContainerdError with isAlreadyExists. */
    create: async (img: ImageInfo): Promise<ImageInfo> => {
      return imageOut((await this.chan.unary(this.ctx, 'images', 'Create', { image: imageIn(img) }))['image']);
    },
    /** Updates the named fields (`labels`, `labels.KEY`, `target`, `annotations`), or all when none are named. */
    update: async (img: ImageInfo, fieldpaths: string[] = []): Promise<ImageInfo> => {
      const r = await this.chan.unary(this.ctx, 'images', 'Update', { image: imageIn(img), updateMask: { paths: fieldpaths } });
      return imageOut(r['image']);
    },
    /** `sync`: wait until containerd's GC has run. */
    delete: async (name: string, opts: { sync?: boolean } = {}): Promise<void> => {
      await this.chan.unary(this.ctx, 'images', 'Delete', { name, sync: opts.sync ?? false });
    },
  };

  readonly leases = {
    /** Creates a lease (a random id unless given); `expireAfterMs` sets containerd.io/gc.expire. */
    create: async (o: { id?: string; labels?: Labels; expireAfterMs?: number } = {}): Promise<{ id: string }> => {
      const id = o.id ?? `ocictl-${Date.now()}-${randomBytes(6).toString('hex')}`;
      const lbls: Labels = { ...(o.labels ?? {}) };
      if (o.expireAfterMs !== undefined) lbls[LEASE_EXPIRE_LABEL] = new Date(Date.now() + o.expireAfterMs).toISOString();
      const r = await this.chan.unary(this.ctx, 'leases', 'Create', { id, labels: lbls });
      const l = (r['lease'] ?? {}) as Message;
      return { id: str(l['id']) || id };
    },
    /** `sync`: wait until containerd's GC has run. */
    delete: async (id: string, opts: { sync?: boolean } = {}): Promise<void> => {
      await this.chan.unary(this.ctx, 'leases', 'Delete', { id, sync: opts.sync ?? false });
    },
    list: async (filters: string[] = []): Promise<LeaseInfo[]> => {
      const r = await this.chan.unary(this.ctx, 'leases', 'List', { filters });
      return msgs(r['leases']).map((l) => ({ id: str(l['id']), labels: labels(l['labels']), createdAt: dateOrEpoch(l['createdAt']) }));
    },
    addResource: async (id: string, r: LeaseResource): Promise<void> => {
      await this.chan.unary(this.ctx, 'leases', 'AddResource', { id, resource: { id: r.id, type: r.type } });
    },
    deleteResource: async (id: string, r: LeaseResource): Promise<void> => {
      await this.chan.unary(this.ctx, 'leases', 'DeleteResource', { id, resource: { id: r.id, type: r.type } });
    },
    listResources: async (id: string): Promise<LeaseResource[]> => {
      const r = await this.chan.unary(this.ctx, 'leases', 'ListResources', { id });
      return msgs(r['resources']).map((x) => ({ id: str(x['id']), type: str(x['type']) }));
    },
  };

  /** Snapshot calls on `snapshotter`; one that containerd lacks fails with one line saying which it has. */
  snapshots(snapshotter: string): SnapshotService {
    const call = async (name: string, req: Message): Promise<Message> => {
      try {
        return await this.chan.unary(this.ctx, 'snapshots', name, { snapshotter, ...req });
      } catch (e) {
        throw await this.snapshotterError(snapshotter, e);
      }
    };
    const mounts = (r: Message) => msgs(r['mounts']).map(mountOut);
    return {
      snapshotter,
      prepare: async (key, parent, lbls = {}) => mounts(await call('Prepare', { key, parent, labels: lbls })),
      view: async (key, parent, lbls = {}) => mounts(await call('View', { key, parent, labels: lbls })),
      mounts: async (key) => mounts(await call('Mounts', { key })),
      commit: async (name, key, lbls = {}) => {
        await call('Commit', { name, key, labels: lbls });
      },
      remove: async (key) => {
        await call('Remove', { key });
      },
      stat: async (key) => {
        try {
          return snapshotOut((await call('Stat', { key }))['info']);
        } catch (e) {
          return notFoundAsUndefined(e);
        }
      },
      update: async (info, fieldpaths) => snapshotOut((await call('Update', { info: snapshotIn(info), updateMask: { paths: fieldpaths } }))['info']),
      list: async (filters = []) => {
        try {
          const parts = await this.chan.collect(this.ctx, 'snapshots', 'List', { snapshotter, filters });
          return parts.flatMap((p) => msgs(p['info']).map(snapshotOut));
        } catch (e) {
          throw await this.snapshotterError(snapshotter, e);
        }
      },
      usage: async (key) => {
        const r = await call('Usage', { key });
        return { size: num(r['size']), inodes: num(r['inodes']) };
      },
    };
  }

  private async snapshotterError(snapshotter: string, e: unknown): Promise<unknown> {
    if (!(e instanceof ContainerdError) || !/snapshotter not loaded/i.test(e.message)) return e;
    let have = '';
    try {
      have = (await this.snapshotters()).join(', ');
    } catch {
      /* the original error says enough */
    }
    return new ContainerdError('CONTAINERD', `containerd at ${this.address} has no snapshotter "${snapshotter}"${have ? ` (it has: ${have})` : ''}`, e.grpcCode, e.rpc, {
      hint: 'pass --snapshotter NAME with one it has',
      cause: e,
    });
  }

  readonly diff = {
    /**
     * Applies a layer blob (in containerd's content store) onto mounts (what
     * Prepare returned); containerd decompresses and checks it. Returns the
     * applied (uncompressed) descriptor. No deadline unless `timeoutMs`.
     */
    apply: async (desc: ContainerdDescriptor, mounts: Mount[], opts: { payloads?: Record<string, AnyPayload>; timeoutMs?: number } = {}): Promise<ContainerdDescriptor> => {
      const payloads: Record<string, Message> = {};
      for (const [k, v] of Object.entries(opts.payloads ?? {})) payloads[k] = { typeUrl: v.typeUrl, value: v.value };
      const r = await this.chan.unary(this.ctx, 'diff', 'Apply', { diff: descriptorIn(desc), mounts: mounts.map(mountIn), payloads }, opts.timeoutMs ?? null);
      return descriptorOut(r['applied']);
    },
    /** Computes the diff between two sets of mounts, written to content under `ref`. */
    diff: async (left: Mount[], right: Mount[], opts: { mediaType?: string; ref?: string; labels?: Labels; timeoutMs?: number } = {}): Promise<ContainerdDescriptor> => {
      const r = await this.chan.unary(
        this.ctx,
        'diff',
        'Diff',
        { left: left.map(mountIn), right: right.map(mountIn), mediaType: opts.mediaType ?? '', ref: opts.ref ?? '', labels: opts.labels ?? {} },
        opts.timeoutMs ?? null,
      );
      return descriptorOut(r['diff']);
    },
  };

  /** Closes the channel (shared by every client made with withNamespace / withLease). */
  close(): void {
    this.chan.close();
  }
}

/**
 * The CRI plugin's snapshotter, and where that answer came from. `plugins`:
 * the daemon's plugin list when the caller has it already (else it is asked for).
 */
export async function criSnapshotterInfo(client: ContainerdClient, plugins?: PluginInfo[]): Promise<{ snapshotter: string; from: 'cri' | 'default' }> {
  // containerd 2.x may export it through introspection.
  try {
    for (const p of plugins ?? (await client.plugins())) {
      const isCri = (p.type === 'io.containerd.grpc.v1' && p.id === 'cri') || p.type === 'io.containerd.cri.v1';
      const s = isCri ? (p.exports['snapshotter'] ?? p.exports['Snapshotter']) : undefined;
      if (s) return { snapshotter: s, from: 'cri' };
    }
  } catch {
    /* fall through to CRI */
  }
  // 1.6 / 1.7: the CRI runtime service's verbose Status carries the plugin's config.
  const s = snapshotterFromCriConfig((await client.criStatus().catch(() => ({}) as Labels))['config']);
  return s ? { snapshotter: s, from: 'cri' } : { snapshotter: 'overlayfs', from: 'default' };
}

/** The snapshotter named in the CRI plugin's config (JSON, as its verbose Status reports it), if any. */
export function snapshotterFromCriConfig(json: string | undefined): string | undefined {
  if (!json) return undefined;
  let cfg: unknown;
  try {
    cfg = JSON.parse(json);
  } catch {
    return undefined;
  }
  const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' ? (v as Record<string, unknown>) : {});
  const ctd = obj(obj(cfg)['containerd']);
  const direct = ctd['snapshotter'];
  if (typeof direct === 'string' && direct) return direct;
  const runtimeName = ctd['defaultRuntimeName'];
  const rt = typeof runtimeName === 'string' ? obj(obj(ctd['runtimes'])[runtimeName]) : {};
  if (typeof rt['snapshotter'] === 'string' && rt['snapshotter']) return rt['snapshotter'];
  const top = obj(cfg)['snapshotter'];
  return typeof top === 'string' && top ? top : undefined;
}

/** The snapshotter CRI uses (introspection or the CRI plugin's config when it says), else 'overlayfs'. */
export async function criSnapshotter(client: ContainerdClient): Promise<string> {
  return (await criSnapshotterInfo(client)).snapshotter;
}
