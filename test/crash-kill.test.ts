// kill -9 ocictl at 20 random moments during pulls and pushes: afterwards the store is
// consistent (every referenced blob present and verified, nothing partial visible), temporary
// files are cleaned on the next run, and the same command completes.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type FaultProxy } from '../fixtures/fault-proxy.js';
import { buildImage, skopeoPush, type BuiltImage } from '../fixtures/images.js';
import { sleep, tmpDir } from '../fixtures/proc.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { checkStore, ingestFiles, ocictl, spawnOcictl, waitExit, type CliEnv } from './faults-lib.js';

const KILLS_PER_KIND = 10;

describe('kill -9 during pull and push', { timeout: 240_000 }, () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let work: string;
  let img: BuiltImage;
  let env: CliEnv;
  let src: string;

  before(async () => {
    work = await tmpDir('ocitest-crash-kill');
    reg = await startRegistry();
    // A pass-through proxy: it counts the bytes moved, so kills can land mid-transfer on any machine.
    proxy = await startFaultProxy({ target: reg.url });
    const layout = path.join(work, 'layout');
    img = await buildImage(layout, 'v1', { layers: [1, 2, 3, 4, 5].map((i) => ({ size: 400_000 + i * 150_000, seed: 40 + i })) });
    await skopeoPush(layout, 'v1', `docker://${reg.host}/crash/img:v1`, ['--dest-tls-verify=false']);
    src = `${proxy.host}/crash/img:v1`;
    env = { dockerConfig: path.join(work, 'docker'), dataRoot: path.join(work, 'data') };
  });

  after(async () => {
    await proxy?.stop();
    await reg?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  const totalBytes = (): number => img.layers.reduce((n, l) => n + l.size, 0);

  /**
   * Starts the command and kills it with SIGKILL at a random moment: a third of the time at a
   * random time in its first 400 ms (start-up, resolving, locking), otherwise once the proxy has
   * moved a random share of the image's bytes (mid-transfer).
   */
  async function killAtRandom(args: string[], direction: 'down' | 'up'): Promise<{ at: string; code: number }> {
    proxy.resetLog();
    const moved = (): number => proxy.log.reduce((n, e) => n + (direction === 'down' ? e.bytesOut : e.bytesIn), 0);
    const byTime = Math.random() < 1 / 3;
    const threshold = byTime ? Math.floor(Math.random() * 400) : Math.floor(Math.random() * totalBytes());
    const child = spawnOcictl(args, env);
    const exited = waitExit(child);
    let gone = false;
    void exited.then(() => (gone = true));
    const t0 = Date.now();
    while (!gone && (byTime ? Date.now() - t0 < threshold : moved() < threshold)) await sleep(2);
    if (!gone) child.kill('SIGKILL');
    return { at: byTime ? `${threshold}ms` : `${threshold}B`, code: await exited };
  }

  it('pulls killed at random moments leave a consistent store; the next run cleans up and completes', async (t) => {
    const pullArgs = ['--insecure-registry', 'pull', '-q', src];
    assert.equal((await ocictl(pullArgs, env)).code, 0);
    const outcomes: string[] = [];
    for (let i = 0; i < KILLS_PER_KIND; i++) {
      // Start empty each time so that the kill lands in a real transfer.
      const rm = await ocictl(['rmi', src], env);
      assert.equal(rm.code, 0, rm.stderr);
      const { at, code } = await killAtRandom(pullArgs, 'down');
      outcomes.push(`${at}:${code === 137 ? 'killed' : `exit ${code}`}`);
      // Consistent right after the crash: whatever is referenced is there and verifies.
      const before = await checkStore(env.dataRoot);
      if (before.names.includes(src)) for (const l of img.layers) assert.ok(before.reachable.has(l.digest));
      // The same command completes, and afterwards nothing of the killed run is left.
      const r = await ocictl(pullArgs, env);
      assert.equal(r.code, 0, `rerun after kill at ${at}: ${r.stderr}`);
      const afterCheck = await checkStore(env.dataRoot);
      assert.ok(afterCheck.names.includes(src));
      for (const l of img.layers) assert.ok(afterCheck.reachable.has(l.digest));
      assert.deepEqual(await ingestFiles(env.dataRoot), [], 'ingest files of the killed run were cleaned');
      const leases = await fs.readdir(path.join(env.dataRoot, 'default', 'leases'));
      assert.deepEqual(leases, [], 'leases of the killed run were cleaned');
      await assert.rejects(fs.stat(path.join(env.dataRoot, 'default', 'index.json.lock')), 'no lock left behind');
    }
    t.diagnostic(`pull kills: ${outcomes.join(' ')}`);
    assert.ok(outcomes.filter((o) => o.endsWith('killed')).length >= KILLS_PER_KIND / 2, `most runs were really killed: ${outcomes.join(' ')}`);
  });

  it('pushes killed at random moments: the store is untouched and the same push completes', async (t) => {
    const pull = await ocictl(['--insecure-registry', 'pull', '-q', src], env);
    assert.equal(pull.code, 0, pull.stderr);
    const before = await checkStore(env.dataRoot);
    // Each round pushes to a fresh repository so that every blob is uploaded.
    const outcomes: string[] = [];
    for (let i = 0; i < KILLS_PER_KIND; i++) {
      const dest = `${proxy.host}/crash/push${i}:v1`;
      const tag = await ocictl(['tag', src, dest], env);
      assert.equal(tag.code, 0, tag.stderr);
      const args = ['--insecure-registry', 'push', '-q', dest];
      const { at, code } = await killAtRandom(args, 'up');
      outcomes.push(`${at}:${code === 137 ? 'killed' : `exit ${code}`}`);
      const r = await ocictl(args, env);
      assert.equal(r.code, 0, `rerun after kill at ${at}: ${r.stderr}`);
      assert.equal(r.stdout.trim(), img.manifestDigest);
      const head = await fetch(`${reg.url}/v2/crash/push${i}/manifests/v1`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      assert.equal(head.headers.get('docker-content-digest'), img.manifestDigest);
      const now = await checkStore(env.dataRoot);
      assert.equal(now.blobs, before.blobs, 'push changes no blob in the store');
    }
    t.diagnostic(`push kills: ${outcomes.join(' ')}`);
    assert.ok(outcomes.filter((o) => o.endsWith('killed')).length >= KILLS_PER_KIND / 2, `most runs were really killed: ${outcomes.join(' ')}`);
  });
});
