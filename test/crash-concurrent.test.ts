// Concurrency: several ocictl processes on one store (same image, different images, rmi racing
// pull) and on one config.json (login/logout of different registries at once).
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type FaultProxy } from '../fixtures/fault-proxy.js';
import { buildImage, skopeoPush, type BuiltImage } from '../fixtures/images.js';
import { sleep, tmpDir } from '../fixtures/proc.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { checkStore, ocictl, type CliEnv } from './faults-lib.js';

describe('concurrent processes on one store', { timeout: 180_000 }, () => {
  let reg: RunningRegistry;
  let work: string;
  let a: BuiltImage;
  let b: BuiltImage;
  let refA: string;
  let refB: string;
  let n = 0;
  const fresh = (): CliEnv => ({ dockerConfig: path.join(work, 'docker'), dataRoot: path.join(work, `data${++n}`) });

  before(async () => {
    work = await tmpDir('ocitest-crash-conc');
    reg = await startRegistry();
    const layout = path.join(work, 'layout');
    // A and B share their first layer, so concurrent pulls race on a common blob too.
    a = await buildImage(layout, 'a', { layers: [{ size: 900_000, seed: 1 }, { size: 1_200_000, seed: 2 }, { size: 300_000, seed: 3 }] });
    b = await buildImage(layout, 'b', { layers: [{ size: 900_000, seed: 1 }, { size: 1_100_000, seed: 4 }] });
    refA = `${reg.host}/conc/a:v1`;
    refB = `${reg.host}/conc/b:v1`;
    await skopeoPush(layout, 'a', `docker://${refA}`, ['--dest-tls-verify=false']);
    await skopeoPush(layout, 'b', `docker://${refB}`, ['--dest-tls-verify=false']);
  });

  after(async () => {
    await reg?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  const pull = (ref: string, e: CliEnv) => ocictl(['--insecure-registry', 'pull', '-q', ref], e);

  it('two processes pulling the same image into one store', async () => {
    for (let round = 0; round < 2; round++) {
      const e = fresh();
      const [r1, r2] = await Promise.all([pull(refA, e), pull(refA, e)]);
      assert.equal(r1.code, 0, r1.stderr);
      assert.equal(r2.code, 0, r2.stderr);
      const c = await checkStore(e.dataRoot);
      assert.deepEqual(c.names, [refA]);
      for (const l of a.layers) assert.ok(c.reachable.has(l.digest));
    }
  });

  it('processes pulling different images into one store keep every reference', async () => {
    for (let round = 0; round < 2; round++) {
      const e = fresh();
      const rs = await Promise.all([pull(refA, e), pull(refB, e), pull(refA, e), pull(refB, e)]);
      for (const r of rs) assert.equal(r.code, 0, r.stderr);
      const c = await checkStore(e.dataRoot);
      assert.deepEqual(c.names.sort(), [refA, refB].sort());
      for (const l of [...a.layers, ...b.layers]) assert.ok(c.reachable.has(l.digest));
    }
  });

  it('rmi racing a pull: no corruption, no lost reference', async (t) => {
    const outcomes: string[] = [];
    for (let round = 0; round < 4; round++) {
      const e = fresh();
      // B is in the store and shares a layer with A; rmi B races a pull of A (which needs that layer).
      assert.equal((await pull(refB, e)).code, 0);
      const delay = Math.floor(Math.random() * 300);
      const [p, r] = await Promise.all([pull(refA, e), sleep(delay).then(() => ocictl(['rmi', refB], e))]);
      assert.equal(r.code, 0, r.stderr);
      outcomes.push(`${delay}ms: pull ${p.code}`);
      assert.equal(p.code, 0, `pull raced by rmi (after ${delay} ms): ${p.stderr}`);
      const c = await checkStore(e.dataRoot);
      assert.deepEqual(c.names, [refA], 'A is recorded, B is gone');
      for (const l of a.layers) assert.ok(c.reachable.has(l.digest), `layer ${l.digest} of A is present`);
    }
    t.diagnostic(outcomes.join('; '));
  });
});

describe('concurrent login and logout on one config.json', { timeout: 120_000 }, () => {
  const N = 6;
  let reg: RunningRegistry;
  const fronts: FaultProxy[] = [];
  let work: string;
  let env: CliEnv;
  const users: Record<string, string> = { alice: 'Alice-pw-1', bob: 'Bob-pw-22' };

  before(async () => {
    work = await tmpDir('ocitest-crash-login');
    reg = await startRegistry({ htpasswd: users });
    // N distinct registry names (ports), all the same registry behind pass-through proxies.
    for (let i = 0; i < N; i++) fronts.push(await startFaultProxy({ target: reg.url }));
    env = { dockerConfig: path.join(work, 'docker'), dataRoot: path.join(work, 'data') };
  });

  after(async () => {
    for (const f of fronts) await f.stop();
    await reg?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  const login = (host: string, user: string) =>
    ocictl(['--insecure-registry', 'login', '-u', user, '--password-stdin', host], env, { input: users[user] as string });
  const logout = (host: string) => ocictl(['logout', host], env);

  async function readConfig(): Promise<{ auths: Record<string, { auth: string }>; [k: string]: unknown }> {
    const text = await fs.readFile(path.join(env.dockerConfig, 'config.json'), 'utf8');
    return JSON.parse(text) as { auths: Record<string, { auth: string }> };
  }

  it('keeps every entry written by processes racing each other, as valid JSON, 0600 in a 0700 directory', async () => {
    // A key written by someone else first must survive everything below.
    await fs.mkdir(env.dockerConfig, { recursive: true, mode: 0o700 });
    await fs.writeFile(path.join(env.dockerConfig, 'config.json'), JSON.stringify({ auths: {}, psFormat: 'table {{.ID}}' }), { mode: 0o600 });

    const hosts = fronts.map((f) => f.host);
    let rs = await Promise.all(hosts.map((h) => login(h, 'alice')));
    for (const r of rs) assert.equal(r.code, 0, r.stderr);
    let cfg = await readConfig();
    assert.deepEqual(Object.keys(cfg.auths).sort(), [...hosts].sort(), 'every login was kept');
    assert.equal(cfg.psFormat, 'table {{.ID}}');

    // Half log out while the other half log in again as another user, all at once.
    for (let round = 0; round < 1; round++) {
      const out = hosts.slice(0, N / 2);
      const again = hosts.slice(N / 2);
      rs = await Promise.all([...out.map((h) => logout(h)), ...again.map((h) => login(h, 'bob'))]);
      for (const r of rs) assert.equal(r.code, 0, r.stderr);
      cfg = await readConfig();
      assert.deepEqual(Object.keys(cfg.auths).sort(), [...again].sort());
      for (const h of again) assert.equal(Buffer.from((cfg.auths[h] as { auth: string }).auth, 'base64').toString(), `bob:${users.bob}`);
      // And back.
      rs = await Promise.all(out.map((h) => login(h, 'alice')));
      for (const r of rs) assert.equal(r.code, 0, r.stderr);
      cfg = await readConfig();
      assert.deepEqual(Object.keys(cfg.auths).sort(), [...hosts].sort());
      assert.equal(cfg.psFormat, 'table {{.ID}}');
    }
    const st = await fs.stat(path.join(env.dockerConfig, 'config.json'));
    assert.equal(st.mode & 0o777, 0o600);
    const leftovers = (await fs.readdir(env.dockerConfig)).filter((f) => f !== 'config.json');
    assert.deepEqual(leftovers, [], 'no lock or temporary file left');
  });

  it('a fresh config directory is created 0700 with config.json 0600', async () => {
    const e2: CliEnv = { dockerConfig: path.join(work, 'fresh', 'docker'), dataRoot: env.dataRoot };
    const r = await ocictl(['--insecure-registry', 'login', '-u', 'alice', '--password-stdin', fronts[0]!.host], e2, { input: users.alice as string });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await fs.stat(e2.dockerConfig)).mode & 0o777, 0o700);
    assert.equal((await fs.stat(path.join(e2.dockerConfig, 'config.json'))).mode & 0o777, 0o600);
  });
});
