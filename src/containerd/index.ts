/**
 * containerd's gRPC API client (src/containerd). Importing this costs no
 * gRPC start-up: grpc-js and protobufjs load when a client connects.
 */
export { ContainerdClient, criSnapshotter, criSnapshotterInfo, snapshotterFromCriConfig, LEASE_EXPIRE_LABEL, SNAPSHOTTER_PLUGIN_TYPE, type SnapshotService } from './client.js';
export type * from './types.js';
export { ContainerdError, GrpcCode, isContainerdError, type GrpcCodeName } from './errors.js';
export { defaultAddress, probeSocket, checkSocket, socketPath, type SocketCheck, type SocketState } from './socket.js';
