// The blob ledger of a sync run: one write per blob and repository however many images need it at
// once (distribution rewrites a repository's link file on every upload or mount, and a manifest PUT
// racing the rewrite finds the blob unknown), and a mount from the repository written first for the others.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BlobWrite, ImageDestination } from '../src/image/endpoint.js';
import type { BlobState } from '../src/image/events.js';
import { BlobLedger } from '../src/sync/ledger.js';

const desc = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${'a'.repeat(64)}`, size: 10 };

/** A destination that records the writes it is asked for and finishes them when told. */
function recorder(repository: string, log: { repository: string; mountFrom?: string }[], gate: Promise<void>, fail = false): ImageDestination {
  return {
    label: repository,
    maxConcurrency: 4,
    hasBlob: async () => false,
    putBlob: async (w: BlobWrite): Promise<BlobState> => {
      log.push({ repository, ...(w.mountSource ? { mountFrom: w.mountSource.repository } : {}) });
      await gate;
      if (fail) throw new Error('upload broke');
      return w.mountSource ? 'mounted' : 'uploaded';
    },
    putManifest: async () => undefined,
    commitImage: async () => undefined,
    close: async () => undefined,
  };
}

function write(): BlobWrite {
  return { desc, kind: 'layer', open: async () => { throw new Error('not read'); }, onProgress: () => undefined, stats: { uploaded: 0 } };
}

test('images needing one blob at once: one upload per repository, the other repositories mount it', async () => {
  const ledger = new BlobLedger('dst:5000');
  const log: { repository: string; mountFrom?: string }[] = [];
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const a1 = ledger.wrap(recorder('prod/a', log, gate), 'prod/a');
  const a2 = ledger.wrap(recorder('prod/a', log, gate), 'prod/a');
  const b1 = ledger.wrap(recorder('prod/b', log, gate), 'prod/b');
  const b2 = ledger.wrap(recorder('prod/b', log, gate), 'prod/b');
  const all = Promise.all([a1.putBlob(write()), a2.putBlob(write()), b1.putBlob(write()), b2.putBlob(write())]);
  await new Promise((r) => setImmediate(r));
  open();
  const states = await all;
  assert.deepEqual(states, ['uploaded', 'exists', 'mounted', 'exists']);
  assert.deepEqual(log, [{ repository: 'prod/a' }, { repository: 'prod/b', mountFrom: 'prod/a' }]);
});

test('a failed write is not taken as done: the next image writes the blob itself', async () => {
  const ledger = new BlobLedger('dst:5000');
  const log: { repository: string; mountFrom?: string }[] = [];
  const first = ledger.wrap(recorder('prod/a', log, Promise.resolve(), true), 'prod/a');
  await assert.rejects(first.putBlob(write()), /upload broke/);
  const second = ledger.wrap(recorder('prod/a', log, Promise.resolve()), 'prod/a');
  assert.equal(await second.putBlob(write()), 'uploaded');
  const other = ledger.wrap(recorder('prod/b', log, Promise.resolve()), 'prod/b');
  assert.equal(await other.putBlob(write()), 'mounted');
  assert.deepEqual(log, [{ repository: 'prod/a' }, { repository: 'prod/a' }, { repository: 'prod/b', mountFrom: 'prod/a' }]);
});

test('the destination is asked about a layer it may hold, not about a blob this run wrote nor an image config', async () => {
  const ledger = new BlobLedger('dst:5000');
  const asked: string[] = [];
  const log: { repository: string; mountFrom?: string }[] = [];
  const asking = (repository: string): ImageDestination => ({
    ...recorder(repository, log, Promise.resolve()),
    hasBlob: async (d) => {
      asked.push(`${repository} ${d.digest.slice(7, 8)}`);
      return false;
    },
  });
  const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'c'.repeat(64)}`, size: 1500 };
  const bigConfig = { ...config, digest: `sha256:${'d'.repeat(64)}`, size: 100 * 1024 };
  const dockerConfig = { ...config, mediaType: 'application/vnd.docker.container.image.v1+json', digest: `sha256:${'e'.repeat(64)}` };
  const a = ledger.wrap(asking('prod/a'), 'prod/a');
  const b = ledger.wrap(asking('prod/b'), 'prod/b');
  assert.equal(await a.hasBlob(config), false);
  assert.equal(await a.hasBlob(dockerConfig), false);
  assert.deepEqual(asked, []);
  assert.equal(await a.hasBlob(bigConfig), false);
  assert.equal(await a.hasBlob(desc), false);
  assert.deepEqual(asked, ['prod/a d', 'prod/a a']);
  // Once this run wrote the layer to prod/a, neither repository is asked about it: prod/a has it, prod/b mounts it.
  assert.equal(await a.putBlob(write()), 'uploaded');
  asked.length = 0;
  assert.equal(await a.hasBlob(desc), false);
  assert.equal(await a.putBlob(write()), 'exists');
  assert.equal(await b.hasBlob(desc), false);
  assert.equal(await b.putBlob(write()), 'mounted');
  assert.deepEqual(asked, []);
  assert.deepEqual(log, [{ repository: 'prod/a' }, { repository: 'prod/b', mountFrom: 'prod/a' }]);
});
