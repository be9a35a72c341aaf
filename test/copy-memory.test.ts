// Copying a registry image of several hundred MiB streams blobs from the source GET straight into the
// destination PUT: peak RSS of the ocictl process stays flat (compared with copying a tiny image), also
// when every blob's first upload is refused and sent again.
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { startFaultProxy } from '../fixtures/fault-proxy.js';
import { buildImage, skopeoPush } from '../fixtures/images.js';
import { tmpDir } from '../fixtures/proc.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { type OcictlEnv, ocictlOk, sha256, skopeoRaw } from './copy-support.js';

const MiB = 1024 * 1024;
let work: string;
let a: RunningRegistry;
let b: RunningRegistry;
let env: OcictlEnv;
let hook: string;
let bigDigest: string;
let smallDigest: string;
let bigBytes = 0;

before(async () => {
  work = await tmpDir('ocitest-copymem');
  [a, b] = await Promise.all([startRegistry({ logLevel: 'warn' }), startRegistry({ logLevel: 'warn' })]);
  env = { dockerConfig: path.join(work, 'docker'), dataRoot: path.join(work, 'data') };
  // Printed by the ocictl process itself as it exits: its peak resident set size.
  hook = path.join(work, 'maxrss.mjs');
  await writeFile(hook, "process.on('exit', () => process.stderr.write(`MAXRSS ${process.resourceUsage().maxRSS}\\n`));\n");
  const layout = path.join(work, 'layout');
  const big = await buildImage(layout, 'big', { layers: [0, 1, 2, 3].map((i) => ({ size: 96 * MiB, seed: 7000 + i })) });
  const small = await buildImage(layout, 'small', { layers: [0, 1, 2, 3].map((i) => ({ size: MiB, seed: 8000 + i })) });
  bigDigest = big.manifestDigest;
  smallDigest = small.manifestDigest;
  bigBytes = big.layers.reduce((s, l) => s + l.size, 0);
  await skopeoPush(layout, 'big', `docker://${a.host}/lidabai/big:1`, ['--dest-tls-verify=false']);
  await skopeoPush(layout, 'small', `docker://${a.host}/lidabai/small:1`, ['--dest-tls-verify=false']);
  await rm(layout, { recursive: true, force: true });
});

after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

async function copyRss(name: string, dst = b.host, repo = 'prod'): Promise<{ rss: number; ms: number; stdout: string }> {
  const t0 = Date.now();
  const r = await ocictlOk(env, ['copy', '-q', `${a.host}/lidabai/${name}:1`, `${dst}/${repo}/${name}:1`], { nodeArgs: ['--import', hook] });
  const m = /MAXRSS (\d+)/.exec(r.stderr);
  assert.ok(m, r.stderr);
  return { rss: Number(m[1]) * 1024, ms: Date.now() - t0, stdout: r.stdout.trim() };
}

test('copying an image of several hundred MiB keeps peak RSS flat', async (t) => {
  const small = await copyRss('small');
  const big = await copyRss('big');
  assert.equal(small.stdout, smallDigest);
  assert.equal(big.stdout, bigDigest);
  assert.equal(sha256(await skopeoRaw(`${b.host}/prod/big:1`, ['--tls-verify=false'])), bigDigest);
  const mb = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;
  t.diagnostic(`copy of ${mb(bigBytes)}: peak RSS ${mb(big.rss)} in ${big.ms} ms; copy of 4 MiB: peak RSS ${mb(small.rss)}`);
  assert.ok(big.rss < 200 * MiB, `peak RSS ${mb(big.rss)} for a ${mb(bigBytes)} copy`);
  assert.ok(big.rss - small.rss < 64 * MiB, `peak RSS grew from ${mb(small.rss)} to ${mb(big.rss)} with the image size`);
});

test('a copy whose every blob upload is refused once retries with reused slabs: peak RSS stays flat', async (t) => {
  // The destination behind a proxy that answers the first PUT of every blob 503.
  const proxy = await startFaultProxy({ target: b.url });
  try {
    proxy.addRule({ method: 'PUT', path: /\/blobs\/uploads\//, times: 5, action: { kind: 'status', status: 503 } });
    const small = await copyRss('small', proxy.host, 'retried');
    proxy.clearRules();
    proxy.resetLog();
    proxy.addRule({ method: 'PUT', path: /\/blobs\/uploads\//, times: 5, action: { kind: 'status', status: 503 } });
    const big = await copyRss('big', proxy.host, 'retried');
    assert.equal(big.stdout, bigDigest);
    const refused = proxy.log.filter((l) => l.method === 'PUT' && l.status === 503).length;
    assert.equal(refused, 5, 'the first upload of each of the 5 blobs was refused');
    assert.equal(sha256(await skopeoRaw(`${b.host}/retried/big:1`, ['--tls-verify=false'])), bigDigest);
    const mb = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;
    t.diagnostic(`copy of ${mb(bigBytes)} with every upload sent twice: peak RSS ${mb(big.rss)} in ${big.ms} ms; 4 MiB: ${mb(small.rss)}`);
    assert.ok(big.rss - small.rss < 64 * MiB, `peak RSS grew from ${mb(small.rss)} to ${mb(big.rss)} with the image size`);
  } finally {
    await proxy.stop();
  }
});
