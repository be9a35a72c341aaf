/**
 * One gRPC channel to containerd's socket, and typed-enough calls on it:
 * plain objects in, plain objects out (encoded with the definitions in
 * proto.ts). Loaded lazily by ContainerdClient.connect, so that nothing that
 * does not talk to containerd pays for grpc-js and protobufjs.
 */
import grpc from '@grpc/grpc-js';
import { apiRoot, codec, type Codec } from './proto.js';
import { fromGrpc } from './errors.js';

/** The services ocictl calls, by short name. */
export const SERVICES = {
  version: 'containerd.services.version.v1.Version',
  introspection: 'containerd.services.introspection.v1.Introspection',
  namespaces: 'containerd.services.namespaces.v1.Namespaces',
  content: 'containerd.services.content.v1.Content',
  images: 'containerd.services.images.v1.Images',
  leases: 'containerd.services.leases.v1.Leases',
  snapshots: 'containerd.services.snapshots.v1.Snapshots',
  diff: 'containerd.services.diff.v1.Diff',
  cri: 'runtime.v1.RuntimeService',
} as const;
export type ServiceName = keyof typeof SERVICES;

/** What goes in every call's metadata. */
export interface CallContext {
  namespace: string;
  lease?: string;
}

export type Message = Record<string, unknown>;

interface MethodInfo {
  path: string;
  name: string;
  req: Codec;
  res: Codec;
}

const methods = new Map<string, MethodInfo>();
function method(svc: ServiceName, name: string): MethodInfo {
  const key = `${svc}.${name}`;
  let m = methods.get(key);
  if (!m) {
    const s = apiRoot().lookupService(SERVICES[svc]);
    const def = s.methods[name];
    if (!def || !def.resolvedRequestType || !def.resolvedResponseType) throw new Error(`containerd API: no method ${key}`);
    m = {
      path: `/${SERVICES[svc]}/${name}`,
      name: key,
      req: codec(def.resolvedRequestType.fullName.slice(1)),
      res: codec(def.resolvedResponseType.fullName.slice(1)),
    };
    methods.set(key, m);
  }
  return m;
}

export type DuplexCall = grpc.ClientDuplexStream<Message, Message>;
export type ReadableCall = grpc.ClientReadableStream<Message>;

export class Channel {
  readonly client: grpc.Client;
  closed = false;
  private readonly closers: (() => void)[] = [];
  constructor(
    /** Absolute socket path. */
    readonly socket: string,
    /** For messages: the address as the user gave it. */
    readonly address: string,
    readonly timeoutMs: number,
  ) {
    this.client = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 << 20,
      'grpc.max_send_message_length': 64 << 20,
      'grpc.default_authority': 'localhost',
    });
  }

  metadata(ctx: CallContext): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set('containerd-namespace', ctx.namespace);
    if (ctx.lease) md.set('containerd-lease', ctx.lease);
    return md;
  }

  /** A unary call; `timeoutMs` null means no deadline. Errors are ContainerdError. */
  unary(ctx: CallContext, svc: ServiceName, name: string, req: object, timeoutMs: number | null = this.timeoutMs): Promise<Message> {
    const m = method(svc, name);
    const opts: grpc.CallOptions = timeoutMs === null ? {} : { deadline: Date.now() + timeoutMs };
    return new Promise<Message>((resolve, reject) => {
      this.client.makeUnaryRequest<object, Message>(m.path, m.req.encode, m.res.decode, req, this.metadata(ctx), opts, (err, res) => {
        if (err) reject(fromGrpc(err, m.name, this.address));
        else resolve(res ?? {});
      });
    });
  }

  /** A server-streaming call (no deadline). */
  serverStream(ctx: CallContext, svc: ServiceName, name: string, req: object): ReadableCall {
    const m = method(svc, name);
    return this.client.makeServerStreamRequest<object, Message>(m.path, m.req.encode, m.res.decode, req, this.metadata(ctx), {});
  }

  /** Collects every message of a server stream. */
  collect(ctx: CallContext, svc: ServiceName, name: string, req: object): Promise<Message[]> {
    const call = this.serverStream(ctx, svc, name, req);
    return new Promise<Message[]>((resolve, reject) => {
      const out: Message[] = [];
      call.on('data', (d: Message) => out.push(d));
      call.on('error', (e) => reject(fromGrpc(e, `${svc}.${name}`, this.address)));
      call.on('end', () => resolve(out));
    });
  }

  /** A bidirectional stream (no deadline). */
  bidi(ctx: CallContext, svc: ServiceName, name: string): DuplexCall {
    const m = method(svc, name);
    return this.client.makeBidiStreamRequest<object, Message>(m.path, m.req.encode, m.res.decode, this.metadata(ctx), {});
  }

  /** Runs `fn` when the channel closes (what else was opened on its socket). */
  onClose(fn: () => void): void {
    this.closers.push(fn);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
    for (const fn of this.closers.splice(0)) fn();
  }
}
