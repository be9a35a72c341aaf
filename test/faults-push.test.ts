// Push under injected faults: upload bodies cut at random offsets, 5xx answers, and an upload
// session that can be resumed (GET on the upload URL gives its Range) through
// fixtures/fault-proxy.ts in front of a real docker-registry.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type FaultProxy } from '../fixtures/fault-proxy.js';
import { buildImage, skopeoPush, type BuiltImage } from '../fixtures/images.js';
import { runOk, tmpDir } from '../fixtures/proc.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { checkStore, ocictl, type CliEnv } from './faults-lib.js';

describe('push under faults', { timeout: 180_000 }, () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let work: string;
  let small: BuiltImage;
  let big: BuiltImage;
  let env: CliEnv;

  before(async () => {
    work = await tmpDir('ocitest-faults-push');
    reg = await startRegistry();
    proxy = await startFaultProxy({ target: reg.url });
    const layout = path.join(work, 'layout');
    small = await buildImage(layout, 'small', { layers: [1, 2, 3, 4, 5, 6].map((i) => ({ size: 300_000 + i * 97_000, seed: 500 + i })) });
    big = await buildImage(layout, 'big', { layers: [{ size: 20 * 1024 * 1024 + 12345, seed: 900 }] });
    await skopeoPush(layout, 'small', `docker://${reg.host}/src/small:v1`, ['--dest-tls-verify=false']);
    await skopeoPush(layout, 'big', `docker://${reg.host}/src/big:v1`, ['--dest-tls-verify=false']);
    env = { dockerConfig: path.join(work, 'docker'), dataRoot: path.join(work, 'data') };
    for (const [name, tag] of [['small', 'v1'], ['big', 'v1']]) {
      const r = await ocictl(['--insecure-registry', 'pull', '-q', `${reg.host}/src/${name}:${tag}`], env);
      assert.equal(r.code, 0, r.stderr);
    }
  });

  after(async () => {
    await proxy?.stop();
    await reg?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  async function registryHas(repo: string, digest: string): Promise<boolean> {
    const r = await fetch(`${reg.url}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
    return r.status === 200;
  }

  it('upload bodies cut at random offsets and 5xx answers are retried until the push completes', async () => {
    proxy.clearRules();
    proxy.resetLog();
    const cuts = proxy.addRule({
      method: 'PUT',
      path: /\/blobs\/uploads\//,
      times: 4,
      action: { kind: 'reset', direction: 'request', afterBytes: (n) => 1 + Math.floor(Math.random() * Math.max(1, n - 1)) },
    });
    const errs = proxy.addRule({ method: 'POST', path: /\/blobs\/uploads\/$/, times: 2, action: { kind: 'status', status: 502 } });
    const dest = `${proxy.host}/dst/small:v1`;
    let r = await ocictl(['tag', `${reg.host}/src/small:v1`, dest], env);
    assert.equal(r.code, 0, r.stderr);
    r = await ocictl(['--insecure-registry', '--retries', '5', 'push', '-q', dest], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), small.manifestDigest);
    assert.equal(cuts.hits, 4);
    assert.equal(errs.hits, 2);
    for (const l of small.layers) assert.ok(await registryHas('dst/small', l.digest), `layer ${l.digest} uploaded`);
    // Read back through ocictl: every blob verifies.
    const back: CliEnv = { dockerConfig: env.dockerConfig, dataRoot: path.join(work, 'back1') };
    const p = await ocictl(['--insecure-registry', 'pull', '-q', `${reg.host}/dst/small@${small.manifestDigest}`], back);
    assert.equal(p.code, 0, p.stderr);
    await checkStore(back.dataRoot);
  });

  it('resumes an upload session from the Range the registry holds instead of starting over', async () => {
    proxy.clearRules();
    proxy.resetLog();
    // Refuse the monolithic PUT once (so the chunked PATCH upload is used), then fail the second
    // PATCH at a front before any byte reaches the registry: the session stays valid at 16 MiB.
    const layerHex = (big.layers[0] as { digest: string }).digest.slice(7);
    proxy.addRule({ method: 'PUT', path: new RegExp(`/blobs/uploads/.*digest=sha256(:|%3A)${layerHex}`), times: 1, action: { kind: 'status', status: 413, body: '' } });
    proxy.addRule({ method: 'PATCH', path: /\/blobs\/uploads\//, skip: 1, times: 1, action: { kind: 'status', status: 503 } });
    const dest = `${proxy.host}/dst/big:v1`;
    let r = await ocictl(['tag', `${reg.host}/src/big:v1`, dest], env);
    assert.equal(r.code, 0, r.stderr);
    r = await ocictl(['--insecure-registry', 'push', '-q', dest], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), big.manifestDigest);
    const layer = big.layers[0] as { digest: string; size: number };
    const uploads = proxy.log.filter((l) => /\/blobs\/uploads\//.test(l.path));
    const seq = uploads.map((l) => `${l.method} ${l.status}`);
    // POST, PUT 413, POST, PATCH 202 (16 MiB), PATCH 503, GET 204 (Range), PATCH 202 (the rest), PUT 201 ... (config upload too)
    const i503 = seq.indexOf('PATCH 503');
    assert.ok(i503 > 0, `a PATCH was failed: ${seq.join(', ')}`);
    assert.equal(seq[i503 + 1], 'GET 204', `the session was asked for its Range: ${seq.join(', ')}`);
    assert.equal(seq[i503 + 2], 'PATCH 202', `the rest was sent in the same session: ${seq.join(', ')}`);
    const rest = uploads[i503 + 2] as { bytesIn: number };
    assert.equal(rest.bytesIn, layer.size - 16 * 1024 * 1024, 'only the bytes the registry did not hold were sent again');
    const patched = uploads.filter((l) => l.method === 'PATCH').reduce((s, l) => s + l.bytesIn, 0);
    assert.equal(patched, layer.size, 'every byte of the layer was sent exactly once over PATCH');
    assert.ok(await registryHas('dst/big', layer.digest));
  });

  it('a session the registry invalidated after a cut is restarted, and the push completes', async () => {
    proxy.clearRules();
    proxy.resetLog();
    const layerHex = (big.layers[0] as { digest: string }).digest.slice(7);
    proxy.addRule({ method: 'PUT', path: new RegExp(`/blobs/uploads/.*digest=sha256(:|%3A)${layerHex}`), times: 1, action: { kind: 'reset', direction: 'request', afterBytes: 5 * 1024 * 1024 } });
    const dest = `${proxy.host}/dst/big2:v1`;
    let r = await ocictl(['tag', `${reg.host}/src/big:v1`, dest], env);
    assert.equal(r.code, 0, r.stderr);
    r = await ocictl(['--insecure-registry', 'push', '-q', dest], env);
    assert.equal(r.code, 0, r.stderr);
    const seq = proxy.log.filter((l) => /\/blobs\/uploads\//.test(l.path)).map((l) => `${l.method} ${l.status}`);
    // distribution 2.8 answers 404 BLOB_UPLOAD_INVALID for a session cut mid-body: a new POST follows.
    const iGet = seq.findIndex((s) => s.startsWith('GET'));
    assert.ok(iGet > 0, seq.join(', '));
    assert.equal(seq[iGet], 'GET 404');
    assert.equal(seq[iGet + 1], 'POST 202');
    assert.ok(await registryHas('dst/big2', (big.layers[0] as { digest: string }).digest));
    const check = await runOk('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/dst/big2:v1`]);
    assert.ok(check.stdout.includes((big.layers[0] as { digest: string }).digest));
  });
});
