/**
 * A registry as either end of a copy: reads manifests and blobs through one
 * {@link RegistryClient}, writes through another (each side has its own
 * credentials and TLS settings). Uploads mount from the source repository
 * when both are on one registry.
 */
import type { Readable } from 'node:stream';
import { type BorrowedSink, pumpBody } from '../transport/fast-http.js';
import { OcictlError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import type { Reference } from '../reference/reference.js';
import type { FetchedManifest, RegistryClient } from '../registry/client.js';
import type { BlobState } from './events.js';
import { type BlobWrite, type ImageDestination, type ImageSource, type SourceImage, asReadable, checkBytes } from './endpoint.js';
import { uploadFrom } from './push.js';

export class RegistrySource implements ImageSource {
  readonly label: string;
  readonly mountSource: { registry: string; repository: string };
  private readonly fetched = new Map<string, Buffer>();

  constructor(private readonly client: RegistryClient, readonly ref: Reference) {
    this.label = ref.toString();
    this.mountSource = { registry: ref.registry, repository: ref.repository };
  }

  /** The top manifest as served (kept, so it is fetched once). */
  async top(): Promise<FetchedManifest> {
    const m = await this.client.getManifest(this.ref);
    this.fetched.set(m.digest, m.bytes);
    return m;
  }

  async images(): Promise<SourceImage[]> {
    const m = await this.top();
    return [{ desc: { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length }, names: this.ref.tag ? [`${this.ref.name}:${this.ref.tag}`] : [] }];
  }

  async manifest(desc: Descriptor): Promise<Buffer> {
    const have = this.fetched.get(desc.digest);
    if (have) return checkBytes(have, desc, this.label);
    const m = await this.client.getManifest(this.ref.withDigest(desc.digest));
    return checkBytes(m.bytes, desc, this.label);
  }

  async blob(desc: Descriptor): Promise<Readable> {
    const { body } = await this.client.openBlob(this.ref, desc);
    return asReadable(body);
  }

  async pumpBlob(desc: Descriptor, sink: BorrowedSink): Promise<void> {
    const { body } = await this.client.openBlob(this.ref, desc);
    await pumpBody(body, sink);
  }

  async close(): Promise<void> {
    /* the client is closed by its owner */
  }
}

export interface RegistryDestinationOptions {
  /** Retries of one blob upload after a broken transfer. */
  blobRetries?: number;
  /** Blobs uploaded at once. */
  concurrency?: number;
}

export class RegistryDestination implements ImageDestination {
  readonly label: string;
  readonly maxConcurrency: number;

  constructor(private readonly client: RegistryClient, readonly ref: Reference, private readonly opts: RegistryDestinationOptions = {}) {
    this.label = ref.toString();
    this.maxConcurrency = opts.concurrency ?? 6;
  }

  hasBlob(desc: Descriptor): Promise<boolean> {
    return this.client.hasBlob(this.ref, desc.digest, true);
  }

  async putBlob(w: BlobWrite): Promise<BlobState> {
    const mountFrom = w.mountSource && w.mountSource.registry === this.ref.registry && w.mountSource.repository !== this.ref.repository ? w.mountSource.repository : undefined;
    let state: BlobState = 'uploaded';
    const listener = w.onProgress;
    await uploadFrom(
      this.client,
      this.ref,
      w.desc,
      w.kind,
      w.open,
      {
        ...(mountFrom ? { mountFrom } : {}),
        ...(this.opts.blobRetries !== undefined ? { blobRetries: this.opts.blobRetries } : {}),
        ...(w.openSlabs ? { openSlabs: w.openSlabs } : {}),
        onProgress: (e) => {
          if (e.type === 'blob-done') state = e.state;
          listener(e);
        },
      },
      w.stats,
    );
    return state;
  }

  async putManifest(desc: Descriptor, bytes: Buffer): Promise<void> {
    await this.client.putManifest(this.ref.withDigest(desc.digest), bytes, desc.mediaType);
  }

  async commitImage(desc: Descriptor, bytes: Buffer): Promise<string> {
    // A destination without a tag (repo@digest, or a bare repository) is written by digest.
    const target = this.ref.tag ? this.ref : this.ref.withDigest(desc.digest);
    if (this.ref.digest && this.ref.digest !== desc.digest) {
      throw new OcictlError('DIGEST_MISMATCH', `destination ${this.ref} names digest ${this.ref.digest}, but the image copied is ${desc.digest}`, { hint: 'name the destination by tag' });
    }
    const digest = await this.client.putManifest(target, bytes, desc.mediaType);
    if (digest !== desc.digest) throw new OcictlError('INTERNAL', `manifest digest changed on the way: ${desc.digest} became ${digest}`);
    return target.toString();
  }

  async close(): Promise<void> {
    /* nothing buffered */
  }
}
