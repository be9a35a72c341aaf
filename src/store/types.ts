/**
 * The store interface. The embedded implementation is an OCI image layout on
 * disk ({@link LocalStore}); a containerd-backed one (content + images
 * services, so that `-n k8s.io` is what kubelet sees) can implement the same.
 */
import type { Readable } from 'node:stream';
import type { Descriptor } from '../oci/descriptor.js';

export interface ImageRecord {
  /** Full normalised name: `docker.io/library/nginx:1.23.1`. */
  name: string;
  target: Descriptor;
  /** When ocictl recorded the name (ISO 8601). */
  updatedAt: string;
}

/** A blob being written: bytes are hashed as they arrive; only commit() makes it visible. */
export interface IngestWriter {
  /** Bytes written and hashed so far (the verified offset to resume from). */
  readonly offset: number;
  /** Writes a chunk the writer may keep. */
  write(chunk: Buffer): Promise<void>;
  /**
   * Copies bytes valid only during the call (a socket's read buffer); false
   * asks the caller to wait for `ready()` before the next call.
   */
  take(chunk: Buffer): boolean;
  /** Resolves when `take()` can be called again; rejects when a write failed. */
  ready(): Promise<void>;
  /** Writable memory for the next bytes (at most `max`), so a socket reads straight into it; reported with `filled()`. */
  space(max: number): Buffer;
  /** `n` bytes were put into the memory `space()` gave; false as for `take()`. */
  filled(n: number): boolean;
  /** Verifies size and digest, then moves the blob into place. Throws DIGEST_MISMATCH / SIZE_MISMATCH. */
  commit(): Promise<void>;
  /** Discards what was written. */
  abort(): Promise<void>;
}

/** Content that must not be collected while an operation is under way. */
export interface Lease {
  add(digest: string): Promise<void>;
  release(): Promise<void>;
}

export interface ContentStore {
  has(digest: string): Promise<boolean>;
  size(digest: string): Promise<number | undefined>;
  /** Reads a small blob whole (manifests, configs), refusing more than `maxBytes`. */
  read(digest: string, maxBytes: number): Promise<Buffer>;
  /** Streams a blob. */
  open(digest: string): Promise<Readable>;
  /** The local file that holds a blob, where the store keeps blobs as files (uploads then read it into reused buffers). */
  blobFile?(digest: string): string;
  /** Starts writing a blob that must match `desc`. */
  ingest(desc: Descriptor): Promise<IngestWriter>;
  /** Writes a small blob whose bytes are in memory (verified against its digest). */
  put(desc: Descriptor, bytes: Buffer): Promise<void>;
}

export interface ImageStore extends ContentStore {
  readonly namespace: string;
  list(): Promise<ImageRecord[]>;
  get(name: string): Promise<ImageRecord | undefined>;
  /**
   * Points `name` at `target`. Every digest in `content` must be present
   * (checked under the store lock), else STORE error with code `missing`.
   */
  set(name: string, target: Descriptor, content?: string[]): Promise<void>;
  /** Removes names; returns the ones that existed. */
  remove(names: string[]): Promise<string[]>;
  /** Deletes blobs no image and no live lease references. */
  gc(): Promise<{ removed: number; bytes: number }>;
  lease(): Promise<Lease>;
}
