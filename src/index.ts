/** ocictl's public library API. */
export * from './api.js';
export { OcictlError, RegistryError, type ErrorCode, isOcictlError } from './errors.js';
export { Reference, parseReference, parseRepository, normaliseServer } from './reference/reference.js';
export { RegistryClient, type RegistryClientOptions } from './registry/client.js';
export { LocalStore, defaultDataRoot } from './store/local-store.js';
export type { ImageStore, ContentStore, ImageRecord, IngestWriter, Lease } from './store/types.js';
export { type Credentials, type CredentialSource, DockerConfigCredentials, StaticCredentials, ChainCredentials } from './auth/credentials.js';
export { parseChallenges, type Challenge } from './auth/challenge.js';
export type { Descriptor, Platform } from './oci/descriptor.js';
export { MediaType } from './oci/media-types.js';
export { parseManifest, type ImageManifest, type ImageIndex, type ParsedManifest } from './oci/manifest.js';
export type { ProgressEvent } from './image/events.js';
export { parseLocation, formatLocation } from './image/transports.js';
export * from './api-copy.js';
export * from './api-sync.js';
