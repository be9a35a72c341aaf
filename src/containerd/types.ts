/**
 * The plain objects ContainerdClient takes and returns: camelCase fields,
 * digests as strings, sizes as numbers, timestamps as Date, labels as
 * Record<string, string>.
 */

export type Labels = Record<string, string>;

export interface ContainerdClientOptions {
  /** The socket: a path or `unix://PATH`. */
  address: string;
  /** containerd namespace sent with every call (`containerd-namespace`). */
  namespace: string;
  /** Deadline of each unary call, in ms (default 60 000). Streams and diff.apply have none of their own. */
  timeoutMs?: number;
}

/** A content descriptor as containerd's API carries it. */
export interface ContainerdDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Labels;
}

export interface Mount {
  type: string;
  source: string;
  /** containerd 1.6+: usually empty. */
  target?: string;
  options: string[];
}

export interface PluginPlatform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface PluginInfo {
  type: string;
  id: string;
  requires: string[];
  platforms: PluginPlatform[];
  exports: Labels;
  capabilities: string[];
  /** Set when the plugin failed to load: containerd's message. */
  initErr?: string;
}

export interface NamespaceInfo {
  name: string;
  labels: Labels;
}

export interface ContentInfo {
  digest: string;
  size: number;
  createdAt: Date;
  updatedAt: Date;
  labels: Labels;
}

/** An ingest in progress (a ref being written). */
export interface ContentStatus {
  ref: string;
  offset: number;
  total: number;
  expected: string;
  startedAt: Date;
  updatedAt: Date;
}

export interface ImageInfo {
  name: string;
  labels: Labels;
  target: ContainerdDescriptor;
  createdAt?: Date;
  updatedAt?: Date;
}

export interface LeaseInfo {
  id: string;
  labels: Labels;
  createdAt: Date;
}

export interface LeaseResource {
  id: string;
  /** `content`, `snapshots/<snapshotter>`, `ingests`, ... */
  type: string;
}

export type SnapshotKind = 'unknown' | 'view' | 'active' | 'committed';

export interface SnapshotInfo {
  name: string;
  parent: string;
  kind: SnapshotKind;
  labels: Labels;
  createdAt?: Date;
  updatedAt?: Date;
}

export interface SnapshotUsage {
  size: number;
  inodes: number;
}

export interface AnyPayload {
  typeUrl: string;
  value: Buffer;
}

/** Resumable ingest through content's Write stream. */
export interface ContentWriter {
  readonly ref: string;
  /**
   * The bytes containerd holds for this ref when the writer opened (resume
   * from here), then the running offset of what was handed to the stream.
   * Equals `total` when the blob is already present (`exists`).
   */
  readonly offset: number;
  /** True when containerd already has the blob: nothing needs writing, commit() resolves. */
  readonly exists: boolean;
  /** Sends a WRITE at the running offset; resolves once the chunk is serialised and the stream takes more. The chunk may be reused afterwards. */
  write(chunk: Buffer): Promise<void>;
  /** Like write() without waiting: the writer keeps the chunk (do not reuse it); false asks the caller to await ready(). */
  push(chunk: Buffer): boolean;
  /** Resolves when push() may be called again; rejects when the stream failed. */
  ready(): Promise<void>;
  /** COMMIT with total and expected digest; containerd verifies both. Resolves if the blob is already present. */
  commit(labels?: Labels): Promise<void>;
  /** Closes the stream and aborts the ref (what was written is discarded). */
  abort(): Promise<void>;
  /** Closes the stream, keeping what containerd holds for the ref (a later writer resumes from it). */
  close(): void;
}

export interface WriterOptions {
  total: number;
  expected: string;
  labels?: Labels;
  /** false: start from 0 even if containerd holds part of the ref (its bytes are truncated). Default true. */
  resume?: boolean;
}
