/**
 * ocictl's own store as either end of a copy (`store:NAME`, and what `save`
 * reads and `load` writes). Writes go through the store's verified ingest
 * under a lease, so a concurrent rmi cannot collect them half-way.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import type { Descriptor } from '../oci/descriptor.js';
import { MAX_MANIFEST_BYTES } from '../oci/manifest.js';
import { parseReference } from '../reference/reference.js';
import type { Lease } from '../store/types.js';
import type { LocalStore } from '../store/local-store.js';
import type { BlobState } from './events.js';
import { type BlobWrite, type ImageDestination, type ImageSource, type SourceImage, checkBytes } from './endpoint.js';
import { findImage } from './local.js';
import { storeName } from './pull.js';

export class StoreSource implements ImageSource {
  readonly label: string;

  constructor(private readonly store: LocalStore, private readonly names: string[]) {
    this.label = names.length === 1 ? `store:${names[0]}` : `store (namespace ${store.namespace})`;
  }

  async images(): Promise<SourceImage[]> {
    const out: SourceImage[] = [];
    for (const n of this.names) {
      const rec = await findImage(this.store, n);
      const all = await this.store.list();
      const names = all.filter((r) => r.target.digest === rec.target.digest && (r.name === rec.name || n.replace(/^sha256:/, '') !== n)).map((r) => r.name);
      out.push({ desc: rec.target, names: names.length ? names : [rec.name] });
    }
    return out;
  }

  async manifest(desc: Descriptor): Promise<Buffer> {
    return checkBytes(await this.store.read(desc.digest, MAX_MANIFEST_BYTES), desc, this.label);
  }

  hasManifest(desc: Descriptor): Promise<boolean> {
    return this.store.has(desc.digest);
  }

  blob(desc: Descriptor): Promise<Readable> {
    return this.store.open(desc.digest);
  }

  async close(): Promise<void> {
    /* nothing held */
  }
}

export class StoreDestination implements ImageDestination {
  readonly label: string;
  readonly maxConcurrency = 4;
  private lease: Lease | undefined;
  private readonly written: string[] = [];

  /** `name`: the name to record (else the source's). */
  constructor(private readonly store: LocalStore, private readonly name?: string) {
    this.label = name ? `store:${name}` : `store (namespace ${store.namespace})`;
  }

  private async held(): Promise<Lease> {
    if (!this.lease) this.lease = await this.store.lease();
    return this.lease;
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    await (await this.held()).add(desc.digest);
    return (await this.store.size(desc.digest)) === desc.size;
  }

  async putBlob(w: BlobWrite): Promise<BlobState> {
    await (await this.held()).add(w.desc.digest);
    w.onProgress({ type: 'blob-start', digest: w.desc.digest, size: w.desc.size, kind: w.kind });
    const writer = await this.store.ingest(w.desc);
    let last = 0;
    try {
      await pipeline(
        await w.open(),
        new Writable({
          highWaterMark: 1024 * 1024,
          write: (chunk: Buffer, _enc, cb) => {
            writer.write(chunk).then(() => {
              if (writer.offset - last >= 1 << 20) {
                last = writer.offset;
                w.onProgress({ type: 'blob-progress', digest: w.desc.digest, bytes: writer.offset, size: w.desc.size });
              }
              cb();
            }, cb);
          },
        }),
      );
      await writer.commit();
    } catch (e) {
      await writer.abort();
      throw e;
    }
    this.written.push(w.desc.digest);
    w.onProgress({ type: 'blob-done', digest: w.desc.digest, size: w.desc.size, state: 'downloaded', kind: w.kind });
    return 'downloaded';
  }

  async putManifest(desc: Descriptor, bytes: Buffer): Promise<void> {
    await (await this.held()).add(desc.digest);
    if (!(await this.store.has(desc.digest))) await this.store.put(desc, bytes);
  }

  async commitImage(desc: Descriptor, bytes: Buffer, sourceName: string | undefined, content: string[]): Promise<string | undefined> {
    await this.putManifest(desc, bytes);
    const wanted = this.name ?? sourceName;
    const name = storeName(parseReference(wanted ?? `import-${new Date().toISOString().slice(0, 10)}@${desc.digest}`));
    await this.store.set(name, { mediaType: desc.mediaType, digest: desc.digest, size: desc.size }, [desc.digest, ...content]);
    return name;
  }

  async close(): Promise<void> {
    await this.lease?.release();
    this.lease = undefined;
  }
}
