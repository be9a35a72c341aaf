// Garbage collection in the local store against operations that take no lock: a pull adds a digest
// to its lease and then looks for the blob. Whatever the interleaving, a blob the pull saw after its
// lease entry must still be there when gc is done; a blob no one names goes; a gc killed half-way
// loses nothing.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { tmpDir } from '../fixtures/proc.js';
import type { Descriptor } from '../src/oci/descriptor.js';
import { LocalStore } from '../src/store/local-store.js';

let work: string;
before(async () => {
  work = await tmpDir('ocitest-storegc');
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

function blob(n: number): { desc: Descriptor; bytes: Buffer } {
  const bytes = randomBytes(n);
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  return { desc: { mediaType: 'application/octet-stream', digest, size: n }, bytes };
}

test('gc removes what nothing names and keeps what a lease names', async () => {
  const store = await LocalStore.open(path.join(work, 'plain'));
  const kept = blob(1000);
  const gone = blob(1000);
  await store.put(kept.desc, kept.bytes);
  await store.put(gone.desc, gone.bytes);
  const lease = await store.lease();
  await lease.add(kept.desc.digest);
  const r = await store.gc();
  assert.deepEqual(r, { removed: 1, bytes: 1000 });
  assert.equal(await store.size(kept.desc.digest), 1000);
  assert.equal(await store.has(gone.desc.digest), false);
  await lease.release();
  assert.equal((await store.gc()).removed, 1);
  assert.deepEqual(await fs.readdir(path.join(store.dir, 'trash')), [], 'nothing is left aside');
});

/**
 * Runs `gc` with the file-system calls it makes counted: before its call number `at[i]`, step i of
 * `steps` runs to completion (its own calls pass straight through).
 */
async function gcWithSteps(store: LocalStore, at: number[], steps: (() => Promise<void>)[]): Promise<number> {
  const names = ['readdir', 'readFile', 'rename', 'stat', 'rm', 'link', 'open', 'writeFile', 'unlink', 'mkdir', 'access', 'appendFile'] as const;
  const real = new Map<string, unknown>();
  const p = fs as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  let calls = 0;
  let inStep = false;
  let next = 0;
  for (const n of names) {
    const orig = p[n] as (...a: unknown[]) => Promise<unknown>;
    real.set(n, orig);
    p[n] = async (...a: unknown[]) => {
      if (!inStep) {
        while (next < steps.length && (at[next] as number) <= calls) {
          inStep = true;
          try {
            await (steps[next++] as () => Promise<void>)();
          } finally {
            inStep = false;
          }
        }
        calls++;
      }
      return orig.apply(fs, a);
    };
  }
  try {
    await store.gc();
  } finally {
    for (const [n, f] of real) p[n] = f as (...a: unknown[]) => Promise<unknown>;
  }
  inStep = true;
  while (next < steps.length) await (steps[next++] as () => Promise<void>)();
  return calls;
}

test('a blob a pull found after adding it to its lease survives a racing gc, at every interleaving', async () => {
  const store = await LocalStore.open(path.join(work, 'race'));
  // How many calls one gc makes with one unnamed blob and one lease.
  const probe = blob(64);
  await store.put(probe.desc, probe.bytes);
  const l0 = await store.lease();
  const total = await gcWithSteps(store, [], []);
  await l0.release();
  let relied = 0;
  let downloaded = 0;
  // The pull adds its lease entry before gc's call number i and looks for the blob before call j.
  for (let i = 0; i <= total; i++) {
    for (let j = i; j <= total; j++) {
      const b = blob(64);
      await store.put(b.desc, b.bytes); // present, but no image refers to it (an rmi has just run)
      const lease = await store.lease();
      let seen = '';
      await gcWithSteps(store, [i, j], [
        () => lease.add(b.desc.digest),
        async () => {
          if ((await store.size(b.desc.digest)) === b.desc.size) {
            seen = 'relied on';
            relied++;
          } else {
            seen = 'downloaded';
            downloaded++;
            await store.put(b.desc, b.bytes);
          }
        },
      ]);
      assert.equal(await store.size(b.desc.digest), b.desc.size, `lease entry before gc call ${i}, look before call ${j}: the pull ${seen} the blob, gc removed it`);
      await lease.release();
      await store.gc();
    }
  }
  assert.ok(relied > 0 && downloaded > 0, `both outcomes occur (relied ${relied}, downloaded ${downloaded})`);
});

test('blobs a killed gc had moved aside are put back on the next open', async () => {
  const root = path.join(work, 'killed');
  const store = await LocalStore.open(root);
  const b = blob(500);
  await store.put(b.desc, b.bytes);
  const trash = path.join(store.dir, 'trash');
  await fs.mkdir(trash, { recursive: true });
  // As a gc left it when kill -9 came between moving aside and deciding (PID 2^22+1 is not running).
  await fs.rename(store.blobPath(b.desc.digest), path.join(trash, `${b.desc.digest.slice(7)}.4194305`));
  assert.equal(await store.has(b.desc.digest), false);
  const again = await LocalStore.open(root);
  assert.equal(await again.size(b.desc.digest), 500);
  assert.deepEqual(await fs.readdir(trash), []);
});
