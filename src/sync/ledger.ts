/**
 * The blobs one sync run has written to its destination registry, and where.
 * Images of a plan share layers (a base image under many repositories and
 * tags): the first image to need a blob uploads it; an image copied at the
 * same time into the same repository waits for that upload instead of
 * racing it; one in another repository mounts it from where it went
 * (cross-repository mount) instead of reading it from the source again.
 */
import type { BlobState } from '../image/events.js';
import type { BlobWrite, ImageDestination } from '../image/endpoint.js';
import type { Descriptor } from '../oci/descriptor.js';

interface Placed {
  repository: string;
  /** Resolves true once the blob is there, false when its upload failed. */
  done: Promise<boolean>;
}

export class BlobLedger {
  private readonly placed = new Map<string, Placed[]>();

  constructor(readonly registry: string) {}

  /** `dst` (a destination in `repository` of this registry) with its blob writes shared through the ledger. */
  wrap(dst: ImageDestination, repository: string): ImageDestination {
    return new LedgerDestination(this, dst, repository);
  }

  /** Where the blob is (or is being written), this repository first. */
  find(digest: string, repository: string): Placed | undefined {
    const list = this.placed.get(digest);
    return list?.find((p) => p.repository === repository) ?? list?.[0];
  }

  record(digest: string, repository: string, done: Promise<boolean>): void {
    const list = this.placed.get(digest) ?? [];
    list.push({ repository, done });
    this.placed.set(digest, list);
  }
}

class LedgerDestination implements ImageDestination {
  readonly label: string;
  readonly maxConcurrency: number;

  constructor(
    private readonly ledger: BlobLedger,
    private readonly inner: ImageDestination,
    private readonly repository: string,
  ) {
    this.label = inner.label;
    this.maxConcurrency = inner.maxConcurrency;
  }

  hasBlob(desc: Descriptor): Promise<boolean> {
    return this.inner.hasBlob(desc);
  }

  async putBlob(w: BlobWrite): Promise<BlobState> {
    const known = this.ledger.find(w.desc.digest, this.repository);
    let mountFrom: string | undefined;
    if (known && (await known.done)) {
      if (known.repository === this.repository) {
        w.onProgress({ type: 'blob-done', digest: w.desc.digest, size: w.desc.size, state: 'exists', kind: w.kind });
        return 'exists';
      }
      mountFrom = known.repository;
    }
    let finish!: (ok: boolean) => void;
    this.ledger.record(w.desc.digest, this.repository, new Promise<boolean>((r) => (finish = r)));
    try {
      // A mount from the source's own repository (same registry) beats one from another destination repository.
      const sameRegistrySource = w.mountSource?.registry === this.ledger.registry;
      const write: BlobWrite = mountFrom && !sameRegistrySource ? { ...w, mountSource: { registry: this.ledger.registry, repository: mountFrom } } : w;
      const state = await this.inner.putBlob(write);
      finish(true);
      return state;
    } catch (e) {
      finish(false);
      throw e;
    }
  }

  putManifest(desc: Descriptor, bytes: Buffer): Promise<void> {
    return this.inner.putManifest(desc, bytes);
  }

  commitImage(desc: Descriptor, bytes: Buffer, sourceName: string | undefined, content: string[]): Promise<string | undefined> {
    return this.inner.commitImage(desc, bytes, sourceName, content);
  }

  close(ok: boolean): Promise<void> {
    return this.inner.close(ok);
  }
}
