// Pieces of copy/save/load that need no server: location parsing, the verifying stream (a wrong blob never
// passes its last byte on), and the tar reader (long names, pax headers, links) against tar-stream and GNU tar.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import tar from 'tar-stream';
import { runOk, tmpDir } from '../fixtures/proc.js';
import { verified } from '../src/image/endpoint.js';
import { TarFile } from '../src/image/tar-file.js';
import { formatLocation, parseLocation } from '../src/image/transports.js';

let work: string;
before(async () => {
  work = await tmpDir('ocitest-copyunits');
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

test('locations: registry references, oci:, oci-archive:, docker-archive:, store:', () => {
  assert.deepEqual(formatLocation(parseLocation('busybox')), 'docker.io/library/busybox:latest');
  assert.deepEqual(formatLocation(parseLocation('docker://127.0.0.1:5000/a/b:1')), '127.0.0.1:5000/a/b:1');
  assert.deepEqual(parseLocation('oci:/tmp/lay:1.0'), { transport: 'oci', path: '/tmp/lay', tag: '1.0' });
  assert.deepEqual(parseLocation('oci:/tmp/lay'), { transport: 'oci', path: '/tmp/lay' });
  // The tag of an archive may itself be a reference with a port (split at the first ':').
  assert.deepEqual(parseLocation('docker-archive:x.tar:127.0.0.1:5000/a/b:1'), { transport: 'docker-archive', path: 'x.tar', tag: '127.0.0.1:5000/a/b:1' });
  assert.deepEqual(parseLocation('oci-archive:x.tar'), { transport: 'oci-archive', path: 'x.tar' });
  assert.deepEqual(parseLocation('store:nginx:1.23'), { transport: 'store', name: 'nginx:1.23' });
  const registry = parseLocation('127.0.0.1:5000/lidabai/busybox', { defaultTag: null });
  assert.equal(registry.transport === 'registry' && registry.ref.tag, undefined);
  assert.throws(() => parseLocation('oci:'), /has no path/);
  assert.throws(() => parseLocation('oci:/x:'), /empty tag/);
  assert.throws(() => parseLocation('containers-storage:foo'), (e: Error & { code?: string }) => e.code === 'UNSUPPORTED');
  assert.throws(() => parseLocation('store:'), /names no image/);
});

async function through(data: Buffer, chunk: number, digest: string, size: number): Promise<{ got: Buffer; error?: Error & { code?: string } }> {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) parts.push(data.subarray(i, i + chunk));
  const got: Buffer[] = [];
  try {
    await pipeline(
      verified(Readable.from(parts), { mediaType: 'x', digest, size }, 'test'),
      new Writable({
        write(c: Buffer, _e, cb) {
          got.push(c);
          cb();
        },
      }),
    );
    return { got: Buffer.concat(got) };
  } catch (e) {
    return { got: Buffer.concat(got), error: e as Error & { code?: string } };
  }
}

test('the verifying stream passes right bytes unchanged and never the last byte of wrong ones', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 3 * 1024 * 1024 }), fc.integer({ min: 1, max: 700_000 }), fc.boolean(), async (size, chunk, corrupt) => {
      const data = randomBytes(size);
      const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
      const sent = Buffer.from(data);
      if (corrupt) sent[size - 1] = (sent[size - 1]! ^ 1) & 0xff;
      const r = await through(sent, chunk, digest, size);
      if (!corrupt) {
        assert.equal(r.error, undefined);
        assert.ok(r.got.equals(data));
      } else {
        assert.equal(r.error?.code, 'DIGEST_MISMATCH');
        assert.ok(r.got.length < size, `${r.got.length} of ${size} bytes were passed on`);
      }
    }),
    { numRuns: 25 },
  );
  const long = await through(Buffer.alloc(100), 10, `sha256:${'0'.repeat(64)}`, 50);
  assert.equal(long.error?.code, 'SIZE_MISMATCH');
  assert.ok(long.got.length < 50);
  const short = await through(Buffer.alloc(10), 10, `sha256:${'0'.repeat(64)}`, 50);
  assert.equal(short.error?.code, 'SIZE_MISMATCH');
});

test('the tar reader finds members by long, pax and prefixed names and follows links', async () => {
  const file = path.join(work, 'a.tar');
  const pack = tar.pack();
  const out = pipeline(pack as unknown as Readable, createWriteStream(file));
  const long = `blobs/${'d'.repeat(120)}/${'x'.repeat(150)}.json`;
  const big = randomBytes(70_000);
  pack.entry({ name: './manifest.json' }, '[1]');
  pack.entry({ name: long }, 'long name');
  pack.entry({ name: 'dir/layer.tar', size: big.length }, big);
  pack.entry({ name: 'other/layer.tar', type: 'symlink', linkname: '../dir/layer.tar' });
  pack.entry({ name: 'hard.tar', type: 'link', linkname: 'dir/layer.tar' });
  pack.finalize();
  await out;
  const t = await TarFile.open(file);
  try {
    assert.equal((await t.read('manifest.json', 100))?.toString(), '[1]');
    assert.equal((await t.read(long, 100))?.toString(), 'long name');
    for (const n of ['dir/layer.tar', 'other/layer.tar', './hard.tar']) {
      const m = t.find(n);
      assert.ok(m, n);
      const chunks: Buffer[] = [];
      for await (const c of t.stream(m)) chunks.push(c as Buffer);
      assert.ok(Buffer.concat(chunks).equals(big), n);
    }
    assert.equal(t.find('missing'), undefined);
    await assert.rejects(t.read('dir/layer.tar', 10), /over the 10-byte limit/);
  } finally {
    await t.close();
  }
  // GNU tar's own long names (././@LongLink) and a gzip-compressed archive.
  const src = path.join(work, 'gnu');
  const deep = path.join('a'.repeat(60), 'b'.repeat(60), 'c'.repeat(60));
  await mkdir(path.join(src, deep), { recursive: true });
  await writeFile(path.join(src, deep, 'f.txt'), 'gnu');
  await symlink('f.txt', path.join(src, deep, 'link'));
  await runOk('tar', ['-C', src, '--format=gnu', '-czf', path.join(work, 'gnu.tgz'), '.']);
  const g = await TarFile.open(path.join(work, 'gnu.tgz'));
  try {
    assert.equal((await g.read(`${deep}/link`, 10))?.toString(), 'gnu');
  } finally {
    await g.close();
  }
  await assert.rejects(TarFile.open(path.join(work, 'nope.tar')), /no such file/);
  await writeFile(path.join(work, 'junk.tar'), randomBytes(2048));
  await assert.rejects(TarFile.open(path.join(work, 'junk.tar')), /not a tar archive/);
});
