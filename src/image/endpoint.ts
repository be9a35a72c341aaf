/**
 * The two ends of a copy. A source lists the images a location names and
 * serves their manifests and blobs; a destination stores blobs and manifests
 * and records names. Registries, ocictl's store, OCI layouts and archives
 * each implement both, so `copy`, `save` and `load` are one engine.
 */
import { createHash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { OcictlError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import type { ImageManifest } from '../oci/manifest.js';
import type { BorrowedSink, ReleasingBody } from '../transport/fast-http.js';
import type { BlobState, ProgressListener } from './events.js';

/** An image a source names: its top manifest (or index) and the names it carries. */
export interface SourceImage {
  desc: Descriptor;
  /** Names the source knows the image by (a registry reference, RepoTags, ref.name annotations); may be empty. */
  names: string[];
}

export interface ImageSource {
  /** For messages: `127.0.0.1:5000/lidabai/busybox:1.0`, `oci-archive:x.tar`. */
  readonly label: string;
  /** The images the location names (one, unless it is an archive or layout read whole). */
  images(): Promise<SourceImage[]>;
  /** Manifest bytes, verified against the descriptor's digest. */
  manifest(desc: Descriptor): Promise<Buffer>;
  /** Whether the source holds a manifest (a store may hold some platforms of an index only). */
  hasManifest?(desc: Descriptor): Promise<boolean>;
  /** The blob's bytes as stored; the copier verifies them while streaming. */
  blob(desc: Descriptor): Promise<Readable>;
  /** The blob's bytes handed to a sink that copies them (no buffer per chunk); the copier verifies them. */
  pumpBlob?(desc: Descriptor, sink: BorrowedSink): Promise<void>;
  /** A registry source's registry and repository (destinations on the same registry mount from it). */
  readonly mountSource?: { registry: string; repository: string };
  /** Set when the source built the manifests itself (e.g. a classic docker-archive), so digests are new. */
  readonly synthesized?: boolean;
  close(): Promise<void>;
}

export interface BlobWrite {
  desc: Descriptor;
  kind: 'layer' | 'config';
  /** Opens the blob's verified bytes; may be called again to retry. */
  open: () => Promise<Readable>;
  /** The same as a body of reused buffers, verified before its last byte (for a destination that takes one). */
  openSlabs?: () => ReleasingBody;
  mountSource?: { registry: string; repository: string };
  onProgress: ProgressListener;
  stats: { uploaded: number };
}

export interface ImageDestination {
  readonly label: string;
  /** Blobs written at once at most (archives write one at a time). */
  readonly maxConcurrency: number;
  /** Whether the destination can only hold one platform per image (a docker-archive). */
  readonly singlePlatform?: boolean;
  /**
   * The image manifests about to be copied, before any blob: a destination
   * that unpacks starts on each layer as soon as it and its parent are in.
   */
  plan?(images: { desc: Descriptor; manifest: ImageManifest }[]): void;
  hasBlob(desc: Descriptor): Promise<boolean>;
  /** Writes a blob; returns how it got there. */
  putBlob(w: BlobWrite): Promise<BlobState>;
  /** Stores a manifest by digest (children of an index, before the index). */
  putManifest(desc: Descriptor, bytes: Buffer): Promise<void>;
  /**
   * Stores the top manifest and records it under a name: the destination's
   * own (a tag in its location), else `sourceName`. `content` lists every
   * digest below it (child manifests, configs, layers). Returns the name used.
   */
  commitImage(desc: Descriptor, bytes: Buffer, sourceName: string | undefined, content: string[]): Promise<string | undefined>;
  /** Finishes (an archive is written out) or discards what was written when `ok` is false. */
  close(ok: boolean): Promise<void>;
}

/**
 * A pass-through that hashes and counts a blob's bytes. It holds back the
 * latest batch of bytes, so when the size or digest is wrong the stream fails
 * before its last byte is passed on and a streamed upload can never complete.
 */
export class VerifyingStream extends Transform {
  private readonly hash = createHash('sha256');
  private seen = 0;
  /** The batch passed on last: released only when more bytes follow, or after verification. */
  private held: Buffer | undefined;
  /** Small chunks gathered into ~1 MiB batches (fewer, larger writes downstream). */
  private pending: Buffer[] = [];
  private pendingLen = 0;

  constructor(private readonly desc: Descriptor, private readonly where: string) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.desc.size) {
      cb(new OcictlError('SIZE_MISMATCH', `blob ${this.desc.digest} from ${this.where} is larger than its descriptor says (${this.desc.size} bytes)`, { hint: 'the source served wrong content; nothing was stored' }));
      return;
    }
    this.hash.update(chunk);
    this.pending.push(chunk);
    this.pendingLen += chunk.length;
    if (this.pendingLen < BATCH) {
      cb();
      return;
    }
    const prev = this.held;
    this.held = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingLen);
    this.pending = [];
    this.pendingLen = 0;
    cb(null, prev);
  }

  override _flush(cb: TransformCallback): void {
    if (this.seen !== this.desc.size) {
      cb(new OcictlError('SIZE_MISMATCH', `blob ${this.desc.digest} from ${this.where} is ${this.seen} bytes, its descriptor says ${this.desc.size}`, { hint: 'the source served wrong content; nothing was stored' }));
      return;
    }
    const got = `sha256:${this.hash.digest('hex')}`;
    if (got !== this.desc.digest) {
      cb(new OcictlError('DIGEST_MISMATCH', `blob ${this.desc.digest} from ${this.where} failed verification: its content hashes to ${got}`, { hint: 'the source served wrong content; nothing was stored' }));
      return;
    }
    if (this.held) this.push(this.held);
    if (this.pendingLen) this.push(Buffer.concat(this.pending, this.pendingLen));
    this.held = undefined;
    this.pending = [];
    cb();
  }
}

const BATCH = 1024 * 1024;

/** `source` piped through a {@link VerifyingStream}; errors of either end surface on the result. */
export function verified(source: Readable, desc: Descriptor, where: string): Readable {
  const v = new VerifyingStream(desc, where);
  source.on('error', (e) => v.destroy(e));
  v.on('close', () => {
    if (!source.destroyed && !source.readableEnded) source.destroy();
  });
  source.pipe(v);
  return v;
}

/** A readable over a body that is async-iterable (an undici body is already a Readable). */
export function asReadable(body: AsyncIterable<Buffer>): Readable {
  return body instanceof Readable ? body : Readable.from(body, { objectMode: false });
}

/** Verifies small bytes (a manifest) against a descriptor. */
export function checkBytes(bytes: Buffer, desc: Descriptor, where: string): Buffer {
  if (bytes.length !== desc.size) {
    throw new OcictlError('SIZE_MISMATCH', `manifest ${desc.digest} in ${where} is ${bytes.length} bytes, its descriptor says ${desc.size}`);
  }
  const got = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (got !== desc.digest) throw new OcictlError('DIGEST_MISMATCH', `manifest ${desc.digest} in ${where} hashes to ${got}`, { hint: 'the source is corrupt' });
  return bytes;
}
