// Pull under injected faults: connection resets at random offsets, 5xx/429 with Retry-After,
// stalls, truncated bodies and wrong bytes, through fixtures/fault-proxy.ts in front of a real
// docker-registry. Downloads must resume with Range from the verified offset, retries must be
// bounded, and unverified bytes must never enter the store.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type FaultProxy } from '../fixtures/fault-proxy.js';
import { buildImage, skopeoPush, type BuiltImage } from '../fixtures/images.js';
import { tmpDir } from '../fixtures/proc.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { pullImage } from '../src/api.js';
import { assertOneLineError, checkStore, ingestFiles, ocictl, type CliEnv } from './faults-lib.js';

const LAYERS = 25;
const ROUNDS = 4; // 25 layers x 4 pulls = 100 cut transfers

describe('pull under faults', { timeout: 180_000 }, () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let work: string;
  let img: BuiltImage;
  let ref: string;
  let env: CliEnv;
  let n = 0;
  const freshEnv = async (): Promise<CliEnv> => {
    n++;
    const d = path.join(work, `run${n}`);
    await fs.mkdir(d, { recursive: true });
    return { dockerConfig: path.join(d, 'docker'), dataRoot: path.join(d, 'data') };
  };

  before(async () => {
    work = await tmpDir('ocitest-faults-pull');
    reg = await startRegistry();
    proxy = await startFaultProxy({ target: reg.url });
    const layout = path.join(work, 'layout');
    // Seeded sizes between 64 KiB and ~1.2 MiB, incompressible.
    const layers = Array.from({ length: LAYERS }, (_, i) => ({ size: 64 * 1024 + ((i * 7919 * 1031) % (1200 * 1024)), seed: 100 + i }));
    img = await buildImage(layout, 'v1', { layers });
    await skopeoPush(layout, 'v1', `docker://${reg.host}/faults/many:v1`, ['--dest-tls-verify=false']);
    ref = `${proxy.host}/faults/many:v1`;
    env = await freshEnv();
  });

  after(async () => {
    await proxy?.stop();
    await reg?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('100 blob transfers each cut at a random offset all complete, verified, resumed with Range', async (t) => {
    const layerDigests = new Set(img.layers.map((l) => l.digest));
    const layerBytes = img.layers.reduce((s, l) => s + l.size, 0);
    const layerPath = new RegExp(`/blobs/(${[...layerDigests].join('|')})$`);
    const cuts: number[] = [];
    let served = 0;
    let clientRefetched = 0;
    let rangeRequests = 0;
    for (let round = 0; round < ROUNDS; round++) {
      proxy.clearRules();
      proxy.resetLog();
      const rule = proxy.addRule({
        method: 'GET',
        path: layerPath,
        ranged: false,
        perPath: true,
        times: 1,
        action: {
          kind: 'reset',
          afterBytes: (total) => {
            const at = 1 + Math.floor(Math.random() * (total - 1));
            cuts.push(at);
            return at;
          },
        },
      });
      const e = await freshEnv();
      const r = await pullImage(ref, { dataRoot: e.dataRoot, dockerConfig: path.join(e.dockerConfig, 'config.json'), insecure: [proxy.host], concurrency: 4, retries: 5 });
      assert.equal(r.digest, img.manifestDigest);
      assert.equal(rule.hits, LAYERS, 'every layer transfer was cut once');
      const check = await checkStore(e.dataRoot);
      for (const d of layerDigests) assert.ok(check.reachable.has(d), `layer ${d} stored`);
      assert.deepEqual(await ingestFiles(e.dataRoot), [], 'no ingest leftovers');
      served += proxy.bytesServed(layerPath);
      clientRefetched += r.refetchedBytes;
      rangeRequests += proxy.log.filter((l) => layerPath.test(l.path) && l.range).length;
      // Every resumed request asked for the rest from a non-zero offset.
      for (const l of proxy.log.filter((x) => layerPath.test(x.path) && x.range)) assert.match(l.range as string, /^bytes=[1-9]\d*-$/);
    }
    const needed = layerBytes * ROUNDS;
    const refetched = served - needed;
    const restartCost = cuts.reduce((s, c) => s + c, 0);
    const figures = {
      transfers: cuts.length,
      completedVerified: cuts.length,
      bytesNeeded: needed,
      bytesServedByProxy: served,
      bytesFetchedAgain: refetched,
      bytesFetchedAgainByClientCount: clientRefetched,
      rangeRequests,
      bytesARestartFromZeroWouldRefetch: restartCost,
    };
    t.diagnostic(`FIGURES ${JSON.stringify(figures)}`);
    console.log(`FIGURES ${JSON.stringify(figures)}`);
    assert.equal(cuts.length, 100);
    assert.equal(rangeRequests, 100, 'each cut transfer resumed once with Range');
    assert.ok(refetched >= 0, 'the proxy served at least every byte once');
    // Resuming refetches only what was in flight (socket buffers) when the connection was reset, well below a restart.
    assert.ok(refetched < restartCost / 3, `bytes fetched again (${refetched}) should be well below a restart's ${restartCost}`);
  });

  it('retries 503 and 429 honouring Retry-After, then succeeds (--retries)', async () => {
    proxy.clearRules();
    proxy.resetLog();
    proxy.addRule({ method: 'GET', path: /\/manifests\//, times: 2, action: { kind: 'status', status: 503, retryAfter: '1' } });
    proxy.addRule({ method: 'GET', path: /\/blobs\//, times: 1, action: { kind: 'status', status: 429, retryAfter: '1' } });
    proxy.addRule({ method: 'GET', path: /\/blobs\//, times: 1, action: { kind: 'status', status: 500 } });
    proxy.addRule({ method: 'GET', path: /\/blobs\//, times: 1, action: { kind: 'status', status: 502 } });
    const e = await freshEnv();
    const t0 = Date.now();
    const r = await ocictl(['--insecure-registry', '--retries', '3', 'pull', '-q', ref], e);
    assert.equal(r.code, 0, r.stderr);
    const m = proxy.log.filter((l) => /\/manifests\//.test(l.path) && l.method === 'GET');
    assert.deepEqual(m.slice(0, 3).map((l) => l.status), [503, 503, 200]);
    assert.ok((m[1] as { at: number }).at - (m[0] as { at: number }).at >= 950, 'waited Retry-After: 1 between attempts');
    assert.ok((m[2] as { at: number }).at - (m[1] as { at: number }).at >= 950, 'waited Retry-After: 1 between attempts');
    assert.ok(proxy.log.some((l) => l.status === 429) && proxy.log.some((l) => l.status === 500) && proxy.log.some((l) => l.status === 502));
    assert.ok(Date.now() - t0 < 30_000);
    await checkStore(e.dataRoot);
  });

  it('gives up after --retries attempts with one clear line', async () => {
    proxy.clearRules();
    proxy.resetLog();
    proxy.addRule({ method: 'GET', path: /\/manifests\//, action: { kind: 'status', status: 503, retryAfter: '1' } });
    const e = await freshEnv();
    const t0 = Date.now();
    const r = await ocictl(['--insecure-registry', '--retries', '2', 'pull', '-q', ref], e);
    const line = assertOneLineError(r, 'pull against a registry answering 503');
    assert.match(line, /503|unavailable/i);
    const tries = proxy.log.filter((l) => /\/manifests\//.test(l.path) && l.method === 'GET').length;
    assert.equal(tries, 3, 'one attempt plus two retries');
    assert.ok(Date.now() - t0 >= 1900 && Date.now() - t0 < 30_000, 'honoured Retry-After, bounded in time');
  });

  it('a stalled blob times out (--timeout) and resumes; a registry that stays stalled fails with a clear message', async () => {
    proxy.clearRules();
    proxy.resetLog();
    const big = img.layers.reduce((a, b) => (b.size > a.size ? b : a));
    proxy.addRule({ method: 'GET', path: new RegExp(`/blobs/${big.digest}$`), times: 1, action: { kind: 'stall', seconds: 4, afterBytes: 10_000 } });
    const e = await freshEnv();
    const t0 = Date.now();
    const r = await ocictl(['--insecure-registry', '--timeout', '1', 'pull', '-q', ref], e);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Date.now() - t0 < 15_000);
    const resumed = proxy.log.find((l) => l.path.endsWith(big.digest) && l.range);
    assert.ok(resumed, 'the stalled blob was resumed with Range');
    assert.equal(resumed.range, 'bytes=10000-');
    await checkStore(e.dataRoot);

    proxy.clearRules();
    proxy.addRule({ method: 'GET', path: /\/manifests\//, action: { kind: 'stall', seconds: 30 } });
    const e2 = await freshEnv();
    const t1 = Date.now();
    const r2 = await ocictl(['--insecure-registry', '--timeout', '1', '--retries', '1', 'pull', '-q', ref], e2, { timeoutMs: 25_000 });
    const line = assertOneLineError(r2, 'pull from a stalled registry');
    assert.match(line, new RegExp(`${proxy.host.replace(/\./g, '\\.')} sent nothing for 1 s`));
    assert.match(line, /--timeout/);
    assert.ok(Date.now() - t1 < 15_000, 'stall detection is bounded');
  });

  it('a registry that never answers a TLS handshake: the HTTPS attempt gives up after the handshake timeout and plain HTTP is used', async () => {
    // In front of the registry: silent to a TLS ClientHello (as a stuck TCP proxy is), plain HTTP passed through.
    const front = net.createServer((c) => {
      c.once('data', (first) => {
        if (first[0] === 0x16) return; // a TLS handshake record: never answered
        const up = net.connect(Number(new URL(reg.url).port), '127.0.0.1', () => {
          up.write(first);
          c.pipe(up).pipe(c);
        });
        up.on('error', () => c.destroy());
      });
      c.on('error', () => undefined);
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${(front.address() as net.AddressInfo).port}`;
    try {
      const e = { ...(await freshEnv()), extra: { OCICTL_TLS_HANDSHAKE_TIMEOUT_MS: '500' } };
      const t0 = Date.now();
      const r = await ocictl(['--insecure-registry', '--debug', 'pull', '-q', `${host}/faults/many:v1`], e, { timeoutMs: 30_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /does not speak TLS: using plain HTTP/);
      assert.ok(Date.now() - t0 < 20_000, `fell back within the handshake timeout, not the 60 s request timeout (${Date.now() - t0} ms)`);
      await checkStore(e.dataRoot);
    } finally {
      front.close();
    }
  });

  it('a body truncated under its Content-Length is resumed, not stored short', async () => {
    proxy.clearRules();
    proxy.resetLog();
    const rule = proxy.addRule({ method: 'GET', path: /\/blobs\/sha256:/, ranged: false, perPath: true, times: 1, action: { kind: 'truncate', keepBytes: (n) => Math.floor(n / 3) } });
    const e = await freshEnv();
    const r = await ocictl(['--insecure-registry', 'pull', '-q', ref], e);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(rule.hits, LAYERS + 1);
    assert.ok(proxy.log.filter((l) => l.range).length >= LAYERS, 'truncated layers resumed with Range');
    const check = await checkStore(e.dataRoot);
    assert.equal(check.reachable.size, LAYERS + 2);
  });

  it('wrong bytes for a blob: the pull fails naming the blob and the registry, nothing unverified is stored', async () => {
    proxy.clearRules();
    proxy.resetLog();
    const victim = img.layers[3] as { digest: string };
    proxy.addRule({ method: 'GET', path: new RegExp(`/blobs/${victim.digest}$`), action: { kind: 'corrupt' } });
    const e = await freshEnv();
    const r = await ocictl(['--insecure-registry', 'pull', '-q', ref], e);
    const line = assertOneLineError(r, 'pull with a corrupted blob');
    assert.ok(line.includes(victim.digest), `names the blob: ${line}`);
    assert.ok(line.includes(proxy.host), `names the registry: ${line}`);
    const blobFile = path.join(e.dataRoot, 'default', 'blobs', 'sha256', victim.digest.slice(7));
    await assert.rejects(fs.stat(blobFile), 'the corrupt blob is not in the store');
    assert.deepEqual(await ingestFiles(e.dataRoot), [], 'no temporary file left');
    const check = await checkStore(e.dataRoot);
    assert.deepEqual(check.names, [], 'no image recorded');

    // The same store then pulls the good image: the earlier failure left nothing in the way.
    proxy.clearRules();
    const ok = await ocictl(['--insecure-registry', 'pull', '-q', ref], e);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((await checkStore(e.dataRoot)).names.length, 1);
    void env;
  });
});
