/**
 * A store (ocictl's own, or containerd's) as either end of a copy
 * (`store:NAME` / `containerd:NAME`, and what `save` reads and `load`
 * writes). Writes go through the store's verified ingest under a lease, so a
 * concurrent rmi cannot collect them half-way; a store that unpacks images
 * unpacks each layer as soon as it and its parent are in, and the name is
 * recorded only after that.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { OcictlError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { MAX_MANIFEST_BYTES } from '../oci/manifest.js';
import { parseReference } from '../reference/reference.js';
import type { ImageManifest } from '../oci/manifest.js';
import type { ImageStore, Lease, UnpackResult } from '../store/types.js';
import type { BlobState } from './events.js';
import { type BlobWrite, type ImageDestination, type ImageSource, type SourceImage, checkBytes } from './endpoint.js';
import { findImage } from './local.js';
import { Arrivals, storeName } from './pull.js';

export class StoreSource implements ImageSource {
  readonly label: string;

  constructor(private readonly store: ImageStore, private readonly names: string[], private readonly prefix = 'store') {
    this.label = names.length === 1 ? `${prefix}:${names[0]}` : `${prefix} (namespace ${store.namespace})`;
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
  private readonly arrivals = new Arrivals();
  private unpacks: Promise<UnpackResult | undefined>[] = [];

  /** `name`: the name to record (else the source's). */
  constructor(private readonly store: ImageStore, private readonly name?: string, private readonly opts: { prefix?: string; pin?: boolean } = {}) {
    const prefix = opts.prefix ?? 'store';
    this.label = name ? `${prefix}:${name}` : `${prefix} (namespace ${store.namespace})`;
  }

  /** Starts unpacking each image as its blobs arrive (stores that unpack only). */
  plan(images: { desc: Descriptor; manifest: ImageManifest }[]): void {
    const unpacker = this.store.unpacker;
    if (!unpacker) return;
    for (const i of images) {
      const u = unpacker.unpack({ manifest: i.desc, config: i.manifest.config, layers: i.manifest.layers }, this.arrivals.wait);
      u.catch(() => undefined);
      this.unpacks.push(u);
    }
  }

  private async held(): Promise<Lease> {
    if (!this.lease) this.lease = await this.store.lease();
    return this.lease;
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    await (await this.held()).add(desc.digest);
    const has = (await this.store.size(desc.digest)) === desc.size;
    if (has) this.arrivals.arrived(desc.digest);
    return has;
  }

  async putBlob(w: BlobWrite): Promise<BlobState> {
    await (await this.held()).add(w.desc.digest);
    w.onProgress({ type: 'blob-start', digest: w.desc.digest, size: w.desc.size, kind: w.kind });
    const writer = await this.store.ingest(w.desc, w.mountSource ? { source: w.mountSource } : {});
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
      this.arrivals.fail(e);
      throw e;
    }
    this.written.push(w.desc.digest);
    this.arrivals.arrived(w.desc.digest);
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
    // Unpacked first: nothing half-done gets a name.
    const unpacks = this.unpacks;
    this.unpacks = [];
    this.arrivals.fail(new OcictlError('UNSUPPORTED', `${desc.digest} has layers that were not copied (foreign layers); they cannot be unpacked`));
    await Promise.all(unpacks);
    await this.store.set(name, { mediaType: desc.mediaType, digest: desc.digest, size: desc.size }, [desc.digest, ...content], this.opts.pin ? { pinned: true } : {});
    return name;
  }

  async close(ok = true): Promise<void> {
    if (!ok || this.unpacks.length) {
      this.arrivals.fail(new Error('copy stopped'));
      await Promise.allSettled(this.unpacks);
      this.unpacks = [];
    }
    await this.lease?.release();
    this.lease = undefined;
  }
}
