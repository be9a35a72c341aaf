/**
 * The part of containerd's gRPC API that ocictl speaks, written down here as
 * field numbers and types (the wire contract), and turned into protobufjs
 * reflection types at run time. Nothing is generated and no .proto file is
 * shipped: test/containerd-client-proto.test.ts checks every message, field,
 * enum and RPC below against the .proto files containerd itself publishes.
 *
 * Only services and fields that containerd 1.6 already has are used, so that
 * 1.6, 1.7 and 2.x all answer.
 *
 * A field is written `[repeated ]TYPE = NUMBER` or `map<KEY,VALUE> = NUMBER`;
 * an RPC is `Request -> Response`, with `stream` before either side that
 * streams. Field names are protobufjs' camelCase form of the .proto names.
 */
import protobuf from 'protobufjs';

export type FieldSpec = string;
export interface PackageSpec {
  messages?: Record<string, Record<string, FieldSpec>>;
  enums?: Record<string, Record<string, number>>;
  services?: Record<string, Record<string, string>>;
}

const TS = '.google.protobuf.Timestamp';
const EMPTY = '.google.protobuf.Empty';
const MASK = '.google.protobuf.FieldMask';
const DESC = '.containerd.types.Descriptor';
const MOUNT = '.containerd.types.Mount';

/** Package name → its messages, enums and services, as ocictl uses them. */
export const API: Record<string, PackageSpec> = {
  'google.protobuf': {
    messages: {
      Timestamp: { seconds: 'int64 = 1', nanos: 'int32 = 2' },
      Empty: {},
      FieldMask: { paths: 'repeated string = 1' },
      Any: { typeUrl: 'string = 1', value: 'bytes = 2' },
    },
  },
  'google.rpc': {
    messages: {
      Status: { code: 'int32 = 1', message: 'string = 2', details: 'repeated .google.protobuf.Any = 3' },
    },
  },
  'containerd.types': {
    messages: {
      Descriptor: { mediaType: 'string = 1', digest: 'string = 2', size: 'int64 = 3', annotations: 'map<string,string> = 5' },
      Mount: { type: 'string = 1', source: 'string = 2', target: 'string = 3', options: 'repeated string = 4' },
      Platform: { os: 'string = 1', architecture: 'string = 2', variant: 'string = 3' },
    },
  },
  'containerd.services.version.v1': {
    messages: { VersionResponse: { version: 'string = 1', revision: 'string = 2' } },
    services: { Version: { Version: `${EMPTY} -> VersionResponse` } },
  },
  'containerd.services.introspection.v1': {
    messages: {
      Plugin: {
        type: 'string = 1',
        id: 'string = 2',
        requires: 'repeated string = 3',
        platforms: 'repeated .containerd.types.Platform = 4',
        exports: 'map<string,string> = 5',
        capabilities: 'repeated string = 6',
        initErr: '.google.rpc.Status = 7',
      },
      PluginsRequest: { filters: 'repeated string = 1' },
      PluginsResponse: { plugins: 'repeated Plugin = 1' },
    },
    services: { Introspection: { Plugins: 'PluginsRequest -> PluginsResponse' } },
  },
  'containerd.services.namespaces.v1': {
    messages: {
      Namespace: { name: 'string = 1', labels: 'map<string,string> = 2' },
      GetNamespaceRequest: { name: 'string = 1' },
      GetNamespaceResponse: { namespace: 'Namespace = 1' },
      ListNamespacesRequest: { filter: 'string = 1' },
      ListNamespacesResponse: { namespaces: 'repeated Namespace = 1' },
      CreateNamespaceRequest: { namespace: 'Namespace = 1' },
      CreateNamespaceResponse: { namespace: 'Namespace = 1' },
      UpdateNamespaceRequest: { namespace: 'Namespace = 1', updateMask: `${MASK} = 2` },
      UpdateNamespaceResponse: { namespace: 'Namespace = 1' },
      DeleteNamespaceRequest: { name: 'string = 1' },
    },
    services: {
      Namespaces: {
        Get: 'GetNamespaceRequest -> GetNamespaceResponse',
        List: 'ListNamespacesRequest -> ListNamespacesResponse',
        Create: 'CreateNamespaceRequest -> CreateNamespaceResponse',
        Update: 'UpdateNamespaceRequest -> UpdateNamespaceResponse',
        Delete: `DeleteNamespaceRequest -> ${EMPTY}`,
      },
    },
  },
  'containerd.services.content.v1': {
    messages: {
      Info: { digest: 'string = 1', size: 'int64 = 2', createdAt: `${TS} = 3`, updatedAt: `${TS} = 4`, labels: 'map<string,string> = 5' },
      InfoRequest: { digest: 'string = 1' },
      InfoResponse: { info: 'Info = 1' },
      UpdateRequest: { info: 'Info = 1', updateMask: `${MASK} = 2` },
      UpdateResponse: { info: 'Info = 1' },
      ListContentRequest: { filters: 'repeated string = 1' },
      ListContentResponse: { info: 'repeated Info = 1' },
      DeleteContentRequest: { digest: 'string = 1' },
      ReadContentRequest: { digest: 'string = 1', offset: 'int64 = 2', size: 'int64 = 3' },
      ReadContentResponse: { offset: 'int64 = 1', data: 'bytes = 2' },
      Status: { startedAt: `${TS} = 1`, updatedAt: `${TS} = 2`, ref: 'string = 3', offset: 'int64 = 4', total: 'int64 = 5', expected: 'string = 6' },
      StatusRequest: { ref: 'string = 1' },
      StatusResponse: { status: 'Status = 1' },
      ListStatusesRequest: { filters: 'repeated string = 1' },
      ListStatusesResponse: { statuses: 'repeated Status = 1' },
      WriteContentRequest: {
        action: 'WriteAction = 1',
        ref: 'string = 2',
        total: 'int64 = 3',
        expected: 'string = 4',
        offset: 'int64 = 5',
        data: 'bytes = 6',
        labels: 'map<string,string> = 7',
      },
      WriteContentResponse: {
        action: 'WriteAction = 1',
        startedAt: `${TS} = 2`,
        updatedAt: `${TS} = 3`,
        offset: 'int64 = 4',
        total: 'int64 = 5',
        digest: 'string = 6',
      },
      AbortRequest: { ref: 'string = 1' },
    },
    enums: { WriteAction: { STAT: 0, WRITE: 1, COMMIT: 2 } },
    services: {
      Content: {
        Info: 'InfoRequest -> InfoResponse',
        Update: 'UpdateRequest -> UpdateResponse',
        List: 'ListContentRequest -> stream ListContentResponse',
        Delete: `DeleteContentRequest -> ${EMPTY}`,
        Read: 'ReadContentRequest -> stream ReadContentResponse',
        Status: 'StatusRequest -> StatusResponse',
        ListStatuses: 'ListStatusesRequest -> ListStatusesResponse',
        Write: 'stream WriteContentRequest -> stream WriteContentResponse',
        Abort: `AbortRequest -> ${EMPTY}`,
      },
    },
  },
  'containerd.services.images.v1': {
    messages: {
      Image: { name: 'string = 1', labels: 'map<string,string> = 2', target: `${DESC} = 3`, createdAt: `${TS} = 7`, updatedAt: `${TS} = 8` },
      GetImageRequest: { name: 'string = 1' },
      GetImageResponse: { image: 'Image = 1' },
      CreateImageRequest: { image: 'Image = 1' },
      CreateImageResponse: { image: 'Image = 1' },
      UpdateImageRequest: { image: 'Image = 1', updateMask: `${MASK} = 2` },
      UpdateImageResponse: { image: 'Image = 1' },
      ListImagesRequest: { filters: 'repeated string = 1' },
      ListImagesResponse: { images: 'repeated Image = 1' },
      DeleteImageRequest: { name: 'string = 1', sync: 'bool = 2' },
    },
    services: {
      Images: {
        Get: 'GetImageRequest -> GetImageResponse',
        List: 'ListImagesRequest -> ListImagesResponse',
        Create: 'CreateImageRequest -> CreateImageResponse',
        Update: 'UpdateImageRequest -> UpdateImageResponse',
        Delete: `DeleteImageRequest -> ${EMPTY}`,
      },
    },
  },
  'containerd.services.leases.v1': {
    messages: {
      Lease: { id: 'string = 1', createdAt: `${TS} = 2`, labels: 'map<string,string> = 3' },
      CreateRequest: { id: 'string = 1', labels: 'map<string,string> = 3' },
      CreateResponse: { lease: 'Lease = 1' },
      DeleteRequest: { id: 'string = 1', sync: 'bool = 2' },
      ListRequest: { filters: 'repeated string = 1' },
      ListResponse: { leases: 'repeated Lease = 1' },
      Resource: { id: 'string = 1', type: 'string = 2' },
      AddResourceRequest: { id: 'string = 1', resource: 'Resource = 2' },
      DeleteResourceRequest: { id: 'string = 1', resource: 'Resource = 2' },
      ListResourcesRequest: { id: 'string = 1' },
      ListResourcesResponse: { resources: 'repeated Resource = 1' },
    },
    services: {
      Leases: {
        Create: 'CreateRequest -> CreateResponse',
        Delete: `DeleteRequest -> ${EMPTY}`,
        List: 'ListRequest -> ListResponse',
        AddResource: `AddResourceRequest -> ${EMPTY}`,
        DeleteResource: `DeleteResourceRequest -> ${EMPTY}`,
        ListResources: 'ListResourcesRequest -> ListResourcesResponse',
      },
    },
  },
  'containerd.services.snapshots.v1': {
    messages: {
      PrepareSnapshotRequest: { snapshotter: 'string = 1', key: 'string = 2', parent: 'string = 3', labels: 'map<string,string> = 4' },
      PrepareSnapshotResponse: { mounts: `repeated ${MOUNT} = 1` },
      ViewSnapshotRequest: { snapshotter: 'string = 1', key: 'string = 2', parent: 'string = 3', labels: 'map<string,string> = 4' },
      ViewSnapshotResponse: { mounts: `repeated ${MOUNT} = 1` },
      MountsRequest: { snapshotter: 'string = 1', key: 'string = 2' },
      MountsResponse: { mounts: `repeated ${MOUNT} = 1` },
      RemoveSnapshotRequest: { snapshotter: 'string = 1', key: 'string = 2' },
      CommitSnapshotRequest: { snapshotter: 'string = 1', name: 'string = 2', key: 'string = 3', labels: 'map<string,string> = 4' },
      StatSnapshotRequest: { snapshotter: 'string = 1', key: 'string = 2' },
      Info: { name: 'string = 1', parent: 'string = 2', kind: 'Kind = 3', createdAt: `${TS} = 4`, updatedAt: `${TS} = 5`, labels: 'map<string,string> = 6' },
      StatSnapshotResponse: { info: 'Info = 1' },
      UpdateSnapshotRequest: { snapshotter: 'string = 1', info: 'Info = 2', updateMask: `${MASK} = 3` },
      UpdateSnapshotResponse: { info: 'Info = 1' },
      ListSnapshotsRequest: { snapshotter: 'string = 1', filters: 'repeated string = 2' },
      ListSnapshotsResponse: { info: 'repeated Info = 1' },
      UsageRequest: { snapshotter: 'string = 1', key: 'string = 2' },
      UsageResponse: { size: 'int64 = 1', inodes: 'int64 = 2' },
    },
    enums: { Kind: { UNKNOWN: 0, VIEW: 1, ACTIVE: 2, COMMITTED: 3 } },
    services: {
      Snapshots: {
        Prepare: 'PrepareSnapshotRequest -> PrepareSnapshotResponse',
        View: 'ViewSnapshotRequest -> ViewSnapshotResponse',
        Mounts: 'MountsRequest -> MountsResponse',
        Commit: `CommitSnapshotRequest -> ${EMPTY}`,
        Remove: `RemoveSnapshotRequest -> ${EMPTY}`,
        Stat: 'StatSnapshotRequest -> StatSnapshotResponse',
        Update: 'UpdateSnapshotRequest -> UpdateSnapshotResponse',
        List: 'ListSnapshotsRequest -> stream ListSnapshotsResponse',
        Usage: 'UsageRequest -> UsageResponse',
      },
    },
  },
  'containerd.services.diff.v1': {
    messages: {
      ApplyRequest: { diff: `${DESC} = 1`, mounts: `repeated ${MOUNT} = 2`, payloads: 'map<string,.google.protobuf.Any> = 3' },
      ApplyResponse: { applied: `${DESC} = 1` },
      DiffRequest: { left: `repeated ${MOUNT} = 1`, right: `repeated ${MOUNT} = 2`, mediaType: 'string = 3', ref: 'string = 4', labels: 'map<string,string> = 5' },
      DiffResponse: { diff: `${DESC} = 3` },
    },
    services: {
      Diff: {
        Apply: 'ApplyRequest -> ApplyResponse',
        Diff: 'DiffRequest -> DiffResponse',
      },
    },
  },
  // The CRI runtime service containerd serves on the same socket (Kubernetes' CRI API, not containerd's own
  // .proto files; the proto test cannot see it, so test/containerd-client.test.ts checks it on the wire:
  // the verbose Status names the snapshotter a test configured). Only the `info` map is read.
  'runtime.v1': {
    messages: {
      StatusRequest: { verbose: 'bool = 1' },
      StatusResponse: { info: 'map<string,string> = 2' },
    },
    services: { RuntimeService: { Status: 'StatusRequest -> StatusResponse' } },
  },
};

/** Packages defined from Kubernetes' CRI API rather than containerd's .proto files. */
export const CRI_PACKAGES = ['runtime.v1'];

interface FieldJson {
  type: string;
  id: number;
  rule?: 'repeated';
  keyType?: string;
}

/** Parses one field spec; throws on a spec this module cannot read (a programming error). */
export function parseFieldSpec(spec: FieldSpec): FieldJson {
  const m = /^(?:(repeated) )?(?:map<(\w+),([\w.]+)>|([\w.]+)) = (\d+)$/.exec(spec);
  if (!m) throw new Error(`containerd proto: bad field spec "${spec}"`);
  const id = Number(m[5]);
  if (m[2] !== undefined) return { type: m[3]!, keyType: m[2], id };
  return m[1] ? { type: m[4]!, id, rule: 'repeated' } : { type: m[4]!, id };
}

/** Parses one RPC spec (`[stream ]Req -> [stream ]Res`). */
export function parseRpcSpec(spec: string): { requestType: string; responseType: string; requestStream?: boolean; responseStream?: boolean } {
  const m = /^(stream )?([\w.]+) -> (stream )?([\w.]+)$/.exec(spec);
  if (!m) throw new Error(`containerd proto: bad rpc spec "${spec}"`);
  return {
    requestType: m[2]!,
    responseType: m[4]!,
    ...(m[1] ? { requestStream: true } : {}),
    ...(m[3] ? { responseStream: true } : {}),
  };
}

/** The API above as a protobufjs JSON namespace tree. */
export function toJson(api: Record<string, PackageSpec>): protobuf.INamespace {
  const root: protobuf.INamespace = { nested: {} };
  for (const [pkg, spec] of Object.entries(api)) {
    let ns = root;
    for (const part of pkg.split('.')) {
      ns.nested ??= {};
      ns = (ns.nested[part] ??= { nested: {} }) as protobuf.INamespace;
    }
    ns.nested ??= {};
    for (const [name, fields] of Object.entries(spec.messages ?? {})) {
      const f: Record<string, FieldJson> = {};
      for (const [fname, fspec] of Object.entries(fields)) f[fname] = parseFieldSpec(fspec);
      ns.nested[name] = { fields: f } as protobuf.IType;
    }
    for (const [name, values] of Object.entries(spec.enums ?? {})) ns.nested[name] = { values } as protobuf.IEnum;
    for (const [name, methods] of Object.entries(spec.services ?? {})) {
      const m: Record<string, protobuf.IMethod> = {};
      for (const [mname, mspec] of Object.entries(methods)) m[mname] = { ...parseRpcSpec(mspec), comment: null } as unknown as protobuf.IMethod;
      ns.nested[name] = { methods: m } as protobuf.IService;
    }
  }
  return root;
}

/** A resolved protobufjs root holding every type of {@link API}. */
export function buildRoot(api: Record<string, PackageSpec> = API): protobuf.Root {
  const root = protobuf.Root.fromJSON(toJson(api));
  root.resolveAll();
  return root;
}

let cached: protobuf.Root | undefined;
/** The shared root for {@link API}. */
export function apiRoot(): protobuf.Root {
  return (cached ??= buildRoot());
}

const CONVERT: protobuf.IConversionOptions = { longs: Number, enums: Number, defaults: true, arrays: true, objects: true };

/** A message type's encoder and decoder, working on plain objects. */
export interface Codec {
  encode(value: object): Buffer;
  decode(buf: Buffer): Record<string, unknown>;
}

const codecs = new Map<string, Codec>();
/** The codec of a fully-qualified message type (`containerd.types.Descriptor`). */
export function codec(fullName: string): Codec {
  let c = codecs.get(fullName);
  if (!c) {
    const t = apiRoot().lookupType(fullName);
    c = {
      encode: (value) => {
        const w = t.encode(t.fromObject(value)).finish();
        return Buffer.from(w.buffer, w.byteOffset, w.byteLength);
      },
      decode: (buf) => t.toObject(t.decode(buf), CONVERT),
    };
    codecs.set(fullName, c);
  }
  return c;
}
