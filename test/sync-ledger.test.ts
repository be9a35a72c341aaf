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
