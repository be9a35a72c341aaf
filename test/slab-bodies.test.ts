// Upload bodies of reused slabs (src/image/slab-bodies.ts): a store file read ahead into slabs, and the
// verifying pipe a registry GET pumps into for copy — right bytes pass unchanged, the last byte of wrong
// ones never does, and slabs are not reused while the socket still holds them.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { tmpDir } from '../fixtures/proc.js';
import { FileSlabBody, VerifiedSlabPipe, counting } from '../src/image/slab-bodies.js';
import type { BorrowedSink, ReleasingBody } from '../src/transport/fast-http.js';

let work: string;
before(async () => {
  work = await tmpDir('ocitest-slabbodies');
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Drains a body as the HTTP client does, releasing each chunk a little later (a write in flight). */
async function drain(body: ReleasingBody): Promise<{ got: Buffer; error?: Error & { code?: string } }> {
  const got: Buffer[] = [];
  const pending: Promise<void>[] = [];
  try {
    for (;;) {
      const c = await body.nextChunk();
      if (!c) break;
      const copy = Buffer.from(c.chunk);
      got.push(copy);
      pending.push(
        new Promise<void>((r) =>
          setImmediate(() => {
            // The slab must still hold what was handed out until it is released.
            assert.ok(c.chunk.equals(copy), 'a slab changed before it was released');
            c.release();
            r();
          }),
        ),
      );
    }
    await Promise.all(pending);
    return { got: Buffer.concat(got) };
  } catch (e) {
    await Promise.all(pending);
    body.cancel();
    return { got: Buffer.concat(got), error: e as Error & { code?: string } };
  }
}

/** A source handing `data` over in pieces of `chunk` bytes; `yieldEach`: back to the event loop after each (as socket reads are). */
function pumpOf(data: Buffer, chunk: number, yieldEach = false): (sink: BorrowedSink) => Promise<void> {
  return async (sink) => {
    const scratch = Buffer.alloc(chunk);
    for (let at = 0; at < data.length; at += chunk) {
      const n = Math.min(chunk, data.length - at);
      data.copy(scratch, 0, at, at + n);
      const more = sink.take(scratch.subarray(0, n));
      scratch.fill(0x5a); // borrowed bytes: gone after the call
      if (!more) await sink.ready();
      if (yieldEach) await new Promise((r) => setImmediate(r));
    }
  };
}

/**
 * A source as a socket with direct reads feeds the pipe: after every read (and also while the sink makes
 * it wait) it asks for memory to read the next bytes into, and reads there when given some, else into its
 * own buffer; reads are at most `chunk` bytes. The first read is its own (it holds the response head).
 */
function directPumpOf(data: Buffer, chunk: number): (sink: BorrowedSink) => Promise<void> {
  return async (sink) => {
    const scratch = Buffer.alloc(chunk);
    let lent: Buffer | undefined;
    let more = true;
    let at = 0;
    while (at < data.length) {
      if (!more) await sink.ready();
      if (lent && lent.length) {
        const n = Math.min(chunk, data.length - at, lent.length);
        data.copy(lent, 0, at, at + n);
        at += n;
        more = (sink.filled as (n: number) => boolean)(n);
      } else {
        const n = Math.min(chunk, data.length - at);
        data.copy(scratch, 0, at, at + n);
        at += n;
        more = sink.take(scratch.subarray(0, n));
        scratch.fill(0x5a);
      }
      lent = at < data.length ? (sink.space as (max: number) => Buffer)(data.length - at) : undefined;
      await new Promise((r) => setImmediate(r));
    }
  };
}

test('the pipe never waits on itself: reads that end exactly on slab boundaries, one event-loop turn each', async () => {
  // Socket reads of 64 or 256 KiB fill 1 MiB slabs exactly; the consumer looks in between reads.
  for (const chunk of [16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024]) {
    const data = randomBytes(6 * 1024 * 1024 + (chunk === 16 * 1024 ? 0 : 777));
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    for (const direct of [false, true]) {
      const t0 = Date.now();
      const r = await Promise.race([
        drain(new VerifiedSlabPipe({ mediaType: 'x', digest, size: data.length }, 'src', direct ? directPumpOf(data, chunk) : pumpOf(data, chunk, true))),
        new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`stuck with ${chunk}-byte ${direct ? 'direct ' : ''}reads`)), 10_000)),
      ]);
      assert.equal(r.error, undefined);
      assert.ok(r.got.equals(data));
      assert.ok(Date.now() - t0 < 10_000);
    }
  }
});

test('the verifying slab pipe passes right bytes unchanged and never the last byte of wrong ones', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 5 * 1024 * 1024 }), fc.integer({ min: 1, max: 700_000 }), fc.boolean(), fc.boolean(), async (size, chunk, corrupt, direct) => {
      const data = randomBytes(size);
      const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
      const sent = Buffer.from(data);
      if (corrupt && size > 0) sent[size - 1] = (sent[size - 1]! ^ 1) & 0xff;
      let progress = 0;
      const r = await drain(counting(new VerifiedSlabPipe({ mediaType: 'x', digest, size }, 'src', direct ? directPumpOf(sent, chunk) : pumpOf(sent, chunk)), (n) => (progress = n)));
      if (!corrupt || size === 0) {
        assert.equal(r.error, undefined);
        assert.ok(r.got.equals(data));
        assert.equal(progress, size);
      } else {
        assert.equal(r.error?.code, 'DIGEST_MISMATCH');
        assert.ok(r.got.length < size, `${r.got.length} of ${size} bytes were passed on`);
      }
    }),
    { numRuns: 30 },
  );
  const long = await drain(new VerifiedSlabPipe({ mediaType: 'x', digest: `sha256:${'0'.repeat(64)}`, size: 50 }, 'src', pumpOf(Buffer.alloc(100), 10)));
  assert.equal(long.error?.code, 'SIZE_MISMATCH');
  assert.ok(long.got.length < 50);
  const short = await drain(new VerifiedSlabPipe({ mediaType: 'x', digest: `sha256:${'0'.repeat(64)}`, size: 50 }, 'src', pumpOf(Buffer.alloc(10), 10)));
  assert.equal(short.error?.code, 'SIZE_MISMATCH');
  // A source that fails half-way fails the body.
  const broken = await drain(
    new VerifiedSlabPipe({ mediaType: 'x', digest: `sha256:${'0'.repeat(64)}`, size: 3 << 20 }, 'src', async (sink) => {
      sink.take(Buffer.alloc(1 << 20));
      throw Object.assign(new Error('reset'), { code: 'ECONNRESET' });
    }),
  );
  assert.equal(broken.error?.code, 'ECONNRESET');
});

test('a file body reads the file exactly, ahead, in slabs; a short file is an error', async () => {
  for (const size of [0, 1, 1024 * 1024, 3 * 1024 * 1024 + 5]) {
    const data = randomBytes(size);
    const f = path.join(work, `f${size}`);
    await writeFile(f, data);
    const r = await drain(new FileSlabBody(f, size));
    assert.equal(r.error, undefined);
    assert.ok(r.got.equals(data), `${size} bytes`);
  }
  const f = path.join(work, 'short');
  await writeFile(f, randomBytes(1000));
  const r = await drain(new FileSlabBody(f, 5000));
  assert.equal(r.error?.code, 'STORE');
  assert.match(r.error?.message ?? '', /shorter than the 5000 bytes/);
});
