/**
 * The blobs one sync run has written to its destination registry, and where.
 * Images of a plan share layers (a base image under many repositories and
 * tags): the first image to need a blob uploads it; an image copied at the
 * same time into the same repository waits for that upload instead of
 * racing it; one in another repository mounts it from where it went
 * (cross-repository mount) instead of reading it from the source again.
 *
 * The ledger also spares the destination questions (on a 2-core machine the
 * two registries' CPU binds a sync, at ~2 ms per request): a blob this run
 * wrote is not asked about again (the write answers: it is there, or it is
 * mounted from where it went), and an image's config of at most
 * {@link UPLOAD_WITHOUT_ASKING_BYTES} is uploaded without a HEAD first. A
 * config is its image's own (it lists the image's layer digests and
 * history), and a sync only copies an image whose manifest the destination
 * lacks, so the question would nearly always be answered "no"; the upload
 * costs about what the question does, and the registry keeps one copy
 * either way. Layers, shared between images, are asked about.
 */
import type { BlobState } from '../image/events.js';
import type { BlobWrite, ImageDestination } from '../image/endpoint.js';
import type { Descriptor } from '../oci/descriptor.js';
import { MediaType } from '../oci/media-types.js';

/** Image configs up to this size are uploaded without asking the destination whether it has them. */
export const UPLOAD_WITHOUT_ASKING_BYTES = 64 * 1024;

const CONFIG_TYPES: ReadonlySet<string> = new Set([MediaType.OciConfig, MediaType.DockerConfig]);

interface Placed {
  repository: string;
  /** Resolves true once the blob is there, false when its upload failed. */
  done: Promise<boolean>;
}

export class BlobLedger {
  /** digest → repository → the latest write there. */
  private readonly placed = new Map<string, Map<string, Placed>>();

  constructor(readonly registry: string) {}

  /** `dst` (a destination in `repository` of this registry) with its blob writes shared through the ledger. */
  wrap(dst: ImageDestination, repository: string): ImageDestination {
    return new LedgerDestination(this, dst, repository);
  }

  /** The write of the blob to this repository, if one was started. */
  here(digest: string, repository: string): Placed | undefined {
    return this.placed.get(digest)?.get(repository);
  }

  /** A write of the blob to another repository of the registry. */
  elsewhere(digest: string, repository: string): Placed | undefined {
    for (const p of this.placed.get(digest)?.values() ?? []) if (p.repository !== repository) return p;
    return undefined;
  }

  record(digest: string, repository: string, done: Promise<boolean>): void {
    let m = this.placed.get(digest);
    if (!m) {
      m = new Map();
      this.placed.set(digest, m);
    }
    m.set(repository, { repository, done });
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

  async hasBlob(desc: Descriptor): Promise<boolean> {
    // Written (or being written) here by this run: putBlob waits for that write and says 'exists'.
    if (this.ledger.here(desc.digest, this.repository)) return false;
    // Written to another repository by this run: putBlob mounts it from there.
    const other = this.ledger.elsewhere(desc.digest, this.repository);
    if (other && (await other.done)) return false;
    if (CONFIG_TYPES.has(desc.mediaType) && desc.size <= UPLOAD_WITHOUT_ASKING_BYTES) return false;
    return this.inner.hasBlob(desc);
  }

  async putBlob(w: BlobWrite): Promise<BlobState> {
    // One writer per blob and repository: distribution rewrites a repository's link file in place on every
    // upload or mount of a blob, so a manifest PUT racing a second write of it can find it empty.
    const mine = this.ledger.here(w.desc.digest, this.repository);
    if (mine && (await mine.done)) {
      w.onProgress({ type: 'blob-done', digest: w.desc.digest, size: w.desc.size, state: 'exists', kind: w.kind });
      return 'exists';
    }
    let finish!: (ok: boolean) => void;
    this.ledger.record(w.desc.digest, this.repository, new Promise<boolean>((r) => (finish = r)));
    try {
      const other = this.ledger.elsewhere(w.desc.digest, this.repository);
      const mountFrom = other && (await other.done) ? other.repository : undefined;
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
