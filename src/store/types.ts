/**
 * The store interface. Two implementations: the embedded OCI image layout on
 * disk (`LocalStore`) and containerd's own store over its API
 * (`ContainerdStore`: content, images, leases, snapshots), so that
 * `-n k8s.io` is what kubelet sees. The copy engine (pull, push, copy, save,
 * load) speaks only this interface; what one backend needs and the other does
 * not (unpacking into snapshots, where content came from, pinning) are
 * general operations a store may ignore.
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

/** Where content came from: a store may record it (containerd's `containerd.io/distribution.source.<host>` label). */
export interface ContentSource {
  registry: string;
  repository: string;
}

export interface IngestOptions {
  source?: ContentSource;
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
  /**
   * Makes a blob present without downloading it, from a copy the store can
   * reach cheaply (another namespace of the same root); false when it cannot.
   */
  linkFromSibling?(digest: string): Promise<boolean>;
  /** Starts writing a blob that must match `desc`. */
  ingest(desc: Descriptor, opts?: IngestOptions): Promise<IngestWriter>;
  /**
   * Writes a small blob whose bytes are in memory (verified against its
   * digest). A store that references content by labels derives a manifest's
   * or index's references to its children from these bytes.
   */
  put(desc: Descriptor, bytes: Buffer, opts?: IngestOptions): Promise<void>;
  /** Records where content already present came from (a store without such records ignores it). */
  noteSource?(digest: string, source: ContentSource): Promise<void>;
}

export interface SetImageOptions {
  /** Keep the image from the image garbage collection of its consumers (kubelet: `io.cri-containerd.pinned`). */
  pinned?: boolean;
}

/** One image manifest to unpack: its config (the diff IDs) and its layers, in order. */
export interface UnpackTarget {
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
}

export interface UnpackResult {
  /** The chain ID of the top layer (the image's root file system). */
  chainId: string;
  /** Layers applied now (the others were already unpacked). */
  applied: number;
}

/** What a store that unpacks images (into snapshots) offers the engine. */
export interface Unpacker {
  /**
   * Unpacks one image. `available(digest)` resolves once that blob (the
   * config, a layer) is in the store and rejects when it will not come; so a
   * layer is unpacked as soon as it and its parent are in, while later ones
   * still download. Resolves with undefined when the image is not for this
   * host's platform (nothing to unpack).
   */
  unpack(target: UnpackTarget, available: (digest: string) => Promise<void>): Promise<UnpackResult | undefined>;
}

export interface ImageStore extends ContentStore {
  readonly namespace: string;
  list(): Promise<ImageRecord[]>;
  get(name: string): Promise<ImageRecord | undefined>;
  /**
   * Points `name` at `target`. Every digest in `content` must be present
   * (checked under the store lock), else STORE error with code `missing`.
   */
  set(name: string, target: Descriptor, content?: string[], opts?: SetImageOptions): Promise<void>;
  /** Removes names; returns the ones that existed. */
  remove(names: string[]): Promise<string[]>;
  /** Deletes blobs no image and no live lease references. */
  gc(): Promise<{ removed: number; bytes: number }>;
  lease(): Promise<Lease>;
  /** Present on stores that keep images unpacked (containerd's snapshots); the engine then unpacks as blobs arrive. */
  readonly unpacker?: Unpacker;
  /** Releases connections (a gRPC channel); the store is not used afterwards. */
  close?(): Promise<void>;
}
