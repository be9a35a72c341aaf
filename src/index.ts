/** ocictl's public library API. */
export * from './api.js';
export { OcictlError, RegistryError, type ErrorCode, isOcictlError } from './errors.js';
export { Reference, parseReference, parseRepository, normaliseServer, familiarName, parseAnyReference, type AnyReference } from './reference/reference.js';
export { parsePlatform, formatPlatform, normalizePlatform, platformMatcher, hostPlatform, type PlatformMatcher } from './oci/platform.js';
export { loadHostsDir, hostsFor, type HostEndpoint, type HostCapability, type RegistryHostEntry, type HostsForOptions } from './transport/hosts-dir.js';
export { RegistryClient, type RegistryClientOptions } from './registry/client.js';
export { LocalStore, defaultDataRoot } from './store/local-store.js';
export { ContainerdStore, type ContainerdStoreOptions } from './store/containerd-store.js';
export { DEFAULT_CONTAINERD_ADDRESS, type StoreSelectOptions } from './store/select.js';
export type { ImageStore, ContentStore, ImageRecord, IngestWriter, IngestOptions, ContentSource, Lease, SetImageOptions, Unpacker, UnpackTarget, UnpackResult } from './store/types.js';
export { type Credentials, type CredentialSource, DockerConfigCredentials, StaticCredentials, ChainCredentials } from './auth/credentials.js';
export { parseChallenges, type Challenge } from './auth/challenge.js';
export type { Descriptor, Platform } from './oci/descriptor.js';
export { MediaType } from './oci/media-types.js';
export { parseManifest, type ImageManifest, type ImageIndex, type ParsedManifest } from './oci/manifest.js';
export type { ProgressEvent } from './image/events.js';
export { parseLocation, formatLocation } from './image/transports.js';
export * from './api-copy.js';
export * from './doctor/index.js';
// containerd's gRPC API client; grpc-js and protobufjs load only when a client connects.
export {
  ContainerdClient,
  ContainerdError,
  GrpcCode,
  isContainerdError,
  criSnapshotter,
  criSnapshotterInfo,
  defaultAddress as defaultContainerdAddress,
  probeSocket as probeContainerdSocket,
  checkSocket as checkContainerdSocket,
  type SnapshotService,
  type ContainerdClientOptions,
  type ContainerdDescriptor,
  type ContentInfo,
  type ContentStatus,
  type ContentWriter,
  type ImageInfo,
  type LeaseInfo,
  type LeaseResource,
  type Mount,
  type PluginInfo,
  type SnapshotInfo,
  type SnapshotKind,
  type SnapshotUsage,
} from './containerd/index.js';
export * from './api-sync.js';
