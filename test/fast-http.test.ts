// The minimal blob GET (src/transport/fast-http.ts) against real Node HTTP and TLS servers and a raw
// socket server that frames responses by hand: Content-Length, chunked (sizes split across reads,
// extensions, trailers), close-delimited, interim 1xx, truncation, stalls, backpressure, TLS trust.
// Direct reads into lent memory. Then the slab writer behind it (FileIngest.take/space): bytes on disk,
// digests, O_DIRECT and not.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { makePki, type Pki } from '../fixtures/pki.js';
import { tmpDir } from '../fixtures/proc.js';
import { LocalStore } from '../src/store/local-store.js';
import { SLAB_BYTES } from '../src/util/slabs.js';
import { isRetryableNetworkError, networkError } from '../src/transport/errors.js';
import type { TlsSettings } from '../src/transport/dispatchers.js';
import { type BorrowedSink, fastGet, fastRequest } from '../src/transport/fast-http.js';

let work: string;
let pki: Pki;
before(async () => {
  work = await tmpDir('ocitest-fastget');
  pki = await makePki(path.join(work, 'pki'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

/** A raw server: each connection gets the given pieces written with a pause between them, then closed (or left open). */
async function rawServer(pieces: (string | Buffer)[], opts: { gapMs?: number; keepOpen?: boolean } = {}): Promise<{ url: string; close(): void; requests: string[] }> {
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    let req = '';
    s.on('data', async (d) => {
      req += d.toString('latin1');
      if (!req.includes('\r\n\r\n')) return;
      requests.push(req);
      for (const p of pieces) {
        s.write(p);
        await new Promise((r) => setTimeout(r, opts.gapMs ?? 5));
      }
      if (!opts.keepOpen) s.end();
    });
    s.on('error', () => undefined);
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/v2/r/blobs/sha256:x`,
    requests,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** A sink that copies everything and asks to wait every `every` calls. */
function collector(every = 0, waitMs = 1): BorrowedSink & { bytes(): Buffer; calls: number } {
  const parts: Buffer[] = [];
  let calls = 0;
  return {
    take(c) {
      parts.push(Buffer.from(c));
      calls++;
      return every === 0 || calls % every !== 0;
    },
    ready: () => new Promise((r) => setTimeout(r, waitMs)),
    bytes: () => Buffer.concat(parts),
    get calls() {
      return calls;
    },
  };
}

test('Content-Length body through pump, with a sink that keeps asking to wait', async () => {
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const server = http.createServer((req, res) => {
    res.setHeader('content-length', data.length);
    res.setHeader('docker-content-digest', 'sha256:abc');
    res.end(data);
  });
  const port = await listen(server);
  try {
    const r = await fastGet({ url: `http://127.0.0.1:${port}/v2/x`, headers: { authorization: 'Bearer t' }, tls: {}, timeoutMs: 5000 });
    assert.equal(r.status, 200);
    assert.equal(r.headers['docker-content-digest'], 'sha256:abc');
    const sink = collector(3);
    await r.body.pump(sink);
    assert.ok(sink.bytes().equals(data), 'every byte, in order');
    assert.ok(sink.calls > 3);
  } finally {
    server.close();
  }
});

test('chunked bodies: sizes and CRLFs split across reads, extensions, trailers', async () => {
  const a = randomBytes(70_000);
  const b = randomBytes(5);
  const wire = Buffer.concat([
    Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'),
    Buffer.from(`${a.length.toString(16)};name=value\r\n`),
    a,
    Buffer.from(`\r\n${b.length.toString(16).toUpperCase()}\r\n`),
    b,
    Buffer.from('\r\n0\r\nx-trailer: 1\r\n\r\n'),
  ]);
  // Cut the wire at awkward places: inside the size line, between CR and LF, inside the data.
  const cuts = [20, 47, 49, 50, 1000, 70_049, 70_050, 70_052, wire.length - 3];
  const pieces: Buffer[] = [];
  let at = 0;
  for (const c of cuts) {
    pieces.push(wire.subarray(at, c));
    at = c;
  }
  pieces.push(wire.subarray(at));
  const srv = await rawServer(pieces, { keepOpen: true });
  try {
    const r = await fastGet({ url: srv.url, headers: {}, tls: {}, timeoutMs: 5000 });
    assert.equal(r.status, 200);
    const sink = collector(2);
    await r.body.pump(sink); // resolves at the last chunk, without waiting for the connection to close
    assert.ok(sink.bytes().equals(Buffer.concat([a, b])));
  } finally {
    srv.close();
  }
});

test('close-delimited body, an interim 100 response, repeated headers, and the request as sent', async () => {
  const srv = await rawServer(['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 200 OK\r\nWWW-Authenticate: Bearer a\r\nwww-authenticate: Basic b\r\n\r\nhello ', 'world']);
  try {
    const r = await fastGet({ url: `${srv.url}?n=1`, headers: { 'user-agent': 'ocictl-test', range: 'bytes=5-' }, tls: {}, timeoutMs: 5000 });
    assert.equal(r.status, 200);
    assert.deepEqual(r.headers['www-authenticate'], ['Bearer a', 'Basic b']);
    assert.equal(await r.body.text(), 'hello world');
    const req = srv.requests[0] as string;
    assert.match(req, /^GET \/v2\/r\/blobs\/sha256:x\?n=1 HTTP\/1\.1\r\n/);
    assert.match(req, /\r\nhost: 127\.0\.0\.1:\d+\r\n/);
    assert.match(req, /\r\nrange: bytes=5-\r\n/);
    assert.doesNotMatch(req, /\r\nconnection:/i, 'HTTP/1.1 keep-alive by default');
  } finally {
    srv.close();
  }
});

test('connections are reused; one the server closed while idle is replaced without the caller noticing; streamed bodies get their own', async () => {
  let connections = 0;
  const server = http.createServer((req, res) => {
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => {
      res.setHeader('x-received', String(n));
      res.end(req.method === 'HEAD' ? undefined : 'ok');
    });
  });
  server.on('connection', () => connections++);
  server.keepAliveTimeout = 60_000;
  const port = await listen(server);
  const url = `http://127.0.0.1:${port}/v2/`;
  const tlsSettings = {};
  try {
    for (let i = 0; i < 5; i++) {
      const r = await fastGet({ url, headers: {}, tls: tlsSettings, timeoutMs: 5000 });
      assert.equal(await r.body.text(), 'ok');
    }
    const head = await fastRequest({ method: 'HEAD', url, headers: {}, tls: tlsSettings, timeoutMs: 5000 });
    assert.equal(head.status, 200);
    await head.body.dump();
    const put = await fastRequest({ method: 'PUT', url, headers: {}, tls: tlsSettings, timeoutMs: 5000, body: Buffer.from('manifest') });
    assert.equal(put.headers['x-received'], '8');
    await put.body.text();
    assert.equal(connections, 1, 'one connection served GETs, a HEAD and a small PUT');
    // The server drops idle connections: the next request goes out on a new one and succeeds.
    server.closeIdleConnections();
    await new Promise((r) => setTimeout(r, 50));
    const again = await fastGet({ url, headers: {}, tls: tlsSettings, timeoutMs: 5000 });
    assert.equal(await again.body.text(), 'ok');
    assert.equal(connections, 2);
    // A streamed body is never sent on a reused connection.
    async function* parts(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(1000, 1);
      yield Buffer.alloc(24, 2);
    }
    const streamed = await fastRequest({ method: 'PUT', url, headers: { 'content-length': '1024' }, tls: tlsSettings, timeoutMs: 5000, body: parts() });
    assert.equal(streamed.headers['x-received'], '1024');
    await streamed.body.text();
    assert.equal(connections, 3);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('error bodies are read whole through the async iterator (text)', async () => {
  const body = JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry' }] });
  const server = http.createServer((req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(body);
  });
  const port = await listen(server);
  try {
    const r = await fastGet({ url: `http://127.0.0.1:${port}/v2/x`, headers: {}, tls: {}, timeoutMs: 5000 });
    assert.equal(r.status, 404);
    assert.equal(await r.body.text(), body);
  } finally {
    server.close();
  }
});

test('a body cut short is a retryable error; so is a stall (inactivity timeout)', async () => {
  const cut = await rawServer(['HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n', Buffer.alloc(400, 1)]);
  try {
    const r = await fastGet({ url: cut.url, headers: {}, tls: {}, timeoutMs: 5000 });
    const sink = collector();
    await assert.rejects(r.body.pump(sink), (e: unknown) => (e as { code?: string }).code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' && isRetryableNetworkError(e));
    assert.equal(sink.bytes().length, 400, 'what came before the cut was delivered (the verified offset to resume from)');
  } finally {
    cut.close();
  }
  const stall = await rawServer(['HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n', Buffer.alloc(10, 1)], { keepOpen: true });
  try {
    const r = await fastGet({ url: stall.url, headers: {}, tls: {}, timeoutMs: 300 });
    const t0 = Date.now();
    await assert.rejects(r.body.pump(collector()), (e: unknown) => {
      assert.equal(networkError(e, { host: 'h', timeoutMs: 300 }).code, 'TIMEOUT');
      return isRetryableNetworkError(e);
    });
    assert.ok(Date.now() - t0 < 3000);
  } finally {
    stall.close();
  }
  const silent = await rawServer([], { keepOpen: true });
  try {
    await assert.rejects(fastGet({ url: silent.url, headers: {}, tls: {}, timeoutMs: 300 }), (e: unknown) => (e as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT');
  } finally {
    silent.close();
  }
});

test('a sink that waits longer than the inactivity timeout does not time the transfer out', async () => {
  const data = randomBytes(2 * 1024 * 1024);
  const server = http.createServer((req, res) => {
    res.setHeader('content-length', data.length);
    res.end(data);
  });
  const port = await listen(server);
  try {
    const r = await fastGet({ url: `http://127.0.0.1:${port}/`, headers: {}, tls: {}, timeoutMs: 200 });
    const sink = collector(1, 350);
    let first = true;
    const slow: BorrowedSink = {
      take: (c) => {
        sink.take(c);
        const wait = first;
        first = false;
        return !wait;
      },
      ready: () => new Promise((res) => setTimeout(res, 500)),
    };
    await r.body.pump(slow);
    assert.ok(sink.bytes().equals(data));
  } finally {
    server.close();
  }
});

test('refused connections, bad status lines and header injection fail with a code', async () => {
  const srv = net.createServer();
  const port = await listen(srv);
  srv.close();
  await new Promise((r) => setTimeout(r, 50));
  await assert.rejects(fastGet({ url: `http://127.0.0.1:${port}/`, headers: {}, tls: {}, timeoutMs: 2000 }), (e: unknown) => (e as { code?: string }).code === 'ECONNREFUSED');
  const junk = await rawServer(['SSH-2.0-OpenSSH\r\n\r\n']);
  try {
    await assert.rejects(fastGet({ url: junk.url, headers: {}, tls: {}, timeoutMs: 2000 }), (e: Error & { code?: string }) => e.code === 'ERR_HTTP_PROTOCOL' && /not HTTP\/1\.x/.test(e.message));
  } finally {
    junk.close();
  }
  const ok = await rawServer(['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n']);
  try {
    await assert.rejects(fastGet({ url: ok.url, headers: { 'x-a': 'b\r\nx-injected: 1' }, tls: {}, timeoutMs: 2000 }), /invalid HTTP header/);
    assert.equal(ok.requests.length, 0, 'nothing was sent');
    const empty = await fastGet({ url: ok.url, headers: {}, tls: {}, timeoutMs: 2000 });
    const sink = collector();
    await empty.body.pump(sink);
    assert.equal(sink.bytes().length, 0);
  } finally {
    ok.close();
  }
});

test('TLS: verified against a given CA, refused without it, skipped with skipVerify, client certificates sent', async () => {
  const data = randomBytes(300_000);
  let sawClientCert = false;
  const server = https.createServer({ cert: await readFile(pki.serverCert), key: await readFile(pki.serverKey), ca: pki.caPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    sawClientCert = (req.socket as import('node:tls').TLSSocket).getPeerCertificate().subject !== undefined;
    res.setHeader('content-length', data.length);
    res.end(data);
  });
  const port = await listen(server);
  const url = `https://127.0.0.1:${port}/v2/x`;
  try {
    const r = await fastGet({ url, headers: {}, tls: { ca: [pki.caPem], clientCert: await readFile(pki.clientCert, 'utf8'), clientKey: await readFile(pki.clientKey, 'utf8') }, timeoutMs: 5000 });
    const sink = collector(4);
    await r.body.pump(sink);
    assert.ok(sink.bytes().equals(data));
    assert.ok(sawClientCert, 'the client certificate reached the server');
    await assert.rejects(fastGet({ url, headers: {}, tls: {}, timeoutMs: 5000 }), (e: unknown) => networkError(e, { host: '127.0.0.1' }).code === 'TLS_UNKNOWN_CA');
    const insecure = await fastGet({ url, headers: {}, tls: { skipVerify: true }, timeoutMs: 5000 });
    assert.equal(insecure.status, 200);
    await insecure.body.dump();
  } finally {
    server.close();
  }
});

/**
 * A sink that lends memory for direct reads (space/filled) in uneven pieces and asks to wait now and
 * then; it also takes copied bytes (take), which is what a body that cannot be read directly uses.
 */
function lender(size: number): BorrowedSink & { bytes(): Buffer; direct: number; copied: number; arena: Buffer } {
  const arena = Buffer.alloc(size + 64 * 1024, 0xa5);
  let pos = 0;
  let lent = 0;
  let calls = 0;
  const sink = {
    arena,
    direct: 0,
    copied: 0,
    take(c: Buffer): boolean {
      c.copy(arena, pos);
      pos += c.length;
      sink.copied += c.length;
      return ++calls % 5 !== 0;
    },
    ready: () => new Promise<void>((r) => setTimeout(r, 1)),
    space(max: number): Buffer {
      lent = Math.min(max, [7, 4096, 65_536, 300_000, 1 << 20][calls % 5] as number);
      return arena.subarray(pos, pos + lent);
    },
    filled(n: number): boolean {
      assert.ok(n > 0 && n <= lent, `filled ${n} of ${lent} lent`);
      pos += n;
      sink.direct += n;
      return ++calls % 5 !== 0;
    },
    bytes: () => arena.subarray(0, pos),
  };
  return sink;
}

test('direct reads: Content-Length bodies land straight in lent memory, exactly, over HTTP and TLS; the connection is reused intact', async () => {
  const first = randomBytes(2 * 1024 * 1024 + 333);
  const second = randomBytes(900_001);
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const data = req.url?.endsWith('/2') ? second : first;
    res.setHeader('content-length', data.length);
    res.end(data);
  };
  const plain = http.createServer(handler);
  const secure = https.createServer({ cert: await readFile(pki.serverCert), key: await readFile(pki.serverKey) }, handler);
  const plainPort = await listen(plain);
  const securePort = await listen(secure);
  try {
    for (const [base, tls] of [[`http://127.0.0.1:${plainPort}`, {}], [`https://127.0.0.1:${securePort}`, { ca: [pki.caPem] }]] as [string, TlsSettings][]) {
      let localPort: number | undefined;
      for (const [p, data] of [['/1', first], ['/2', second], ['/1', first]] as const) {
        const r = await fastGet({ url: `${base}/v2/x${p}`, headers: {}, tls, timeoutMs: 5000 });
        assert.equal(r.status, 200);
        const sink = lender(data.length);
        await r.body.pump(sink);
        assert.ok(sink.bytes().equals(data), `${base}${p}: every byte, in order`);
        // Copied: what came with the head, and the read chosen before pump() began (up to 256 KiB each).
        assert.ok(sink.copied <= 2 * 256 * 1024 && sink.direct === data.length - sink.copied, `${base}${p}: the rest read directly (${sink.direct} direct, ${sink.copied} copied)`);
        assert.ok(sink.arena.subarray(data.length).every((b) => b === 0xa5), `${base}${p}: nothing written past the body`);
        // The same connection served every request: nothing of the next response went into lent memory.
        const port = ((r.body as unknown as { socket: net.Socket }).socket).localPort;
        localPort ??= port;
        assert.equal(port, localPort, `${base}${p}: the connection is reused`);
      }
    }
    // A chunked body is never read directly: its framing is in the bytes.
    const chunked = http.createServer((_req, res) => {
      res.write(first.subarray(0, 100_000));
      res.end(first.subarray(100_000, 200_000));
    });
    const cPort = await listen(chunked);
    try {
      const r = await fastGet({ url: `http://127.0.0.1:${cPort}/v2/x`, headers: {}, tls: {}, timeoutMs: 5000 });
      const sink = lender(200_000);
      await r.body.pump(sink);
      assert.ok(sink.bytes().equals(first.subarray(0, 200_000)));
      assert.equal(sink.direct, 0);
    } finally {
      chunked.close();
    }
  } finally {
    plain.close();
    secure.close();
  }
});

test('slab writer: borrowed bytes in odd pieces land on disk exactly, verified; mixed with lent memory and owned chunks; aborted leaves nothing', async () => {
  for (const root of [path.join(work, 'store-disk'), '/dev/shm']) {
    const dataRoot = root === '/dev/shm' ? await mkdtemp('/dev/shm/ocitest-fastget-') : root;
    try {
      const store = await LocalStore.open(dataRoot, 'default');
      const data = randomBytes(2 * SLAB_BYTES + 12_345);
      const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
      const w = await store.ingest({ mediaType: 'application/octet-stream', digest, size: data.length });
      const scratch = Buffer.alloc(200_000);
      let at = 0;
      let n = 0;
      while (at < data.length) {
        let len = Math.min(data.length - at, [1, 4095, 65_536, 199_999, 77][n++ % 5] as number);
        if (n % 3 === 0) {
          // Lent memory, as a socket reading straight into the slab: at most what was asked, up to the slab's end.
          const room = w.space(len);
          assert.ok(room.length > 0 && room.length <= len);
          len = room.length;
          data.copy(room, 0, at, at + len);
          if (!w.filled(len)) await w.ready();
        } else if (n % 7 === 0) {
          await w.write(Buffer.from(data.subarray(at, at + len))); // an owned chunk between borrowed ones
        } else {
          data.copy(scratch, 0, at, at + len);
          if (!w.take(scratch.subarray(0, len))) await w.ready();
          scratch.fill(0xee); // the writer must have copied: the borrowed bytes are gone now
        }
        at += len;
      }
      assert.equal(w.offset, data.length);
      await w.commit();
      const onDisk = await readFile(path.join(dataRoot, 'default', 'blobs', 'sha256', digest.slice(7)));
      assert.ok(onDisk.equals(data), `bytes on disk under ${root}`);

      const bad = randomBytes(SLAB_BYTES + 1);
      const w2 = await store.ingest({ mediaType: 'application/octet-stream', digest: `sha256:${'0'.repeat(64)}`, size: bad.length });
      w2.take(bad);
      await assert.rejects(w2.commit(), (e: unknown) => (e as { code?: string }).code === 'DIGEST_MISMATCH');
      assert.throws(() => {
        const w3 = w2 as unknown as { take(b: Buffer): boolean };
        w3.take(Buffer.alloc(1));
      });
      assert.deepEqual(await readdir(path.join(dataRoot, 'default', 'ingest')), [], 'no partial file is left');
      assert.ok(!(await store.has(`sha256:${'0'.repeat(64)}`)));
    } finally {
      if (root === '/dev/shm') await rm(dataRoot, { recursive: true, force: true });
    }
  }
});
