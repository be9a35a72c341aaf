// Credentials and TLS: never over plain HTTP unless --insecure-registry names that host, never
// to another origin after a redirect, never to a token service on another host over plain HTTP,
// never in any output (--debug included); TLS verified by default; local files not exposed.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBlobStorage, startFaultProxy, type BlobStorage, type FaultProxy } from '../fixtures/fault-proxy.js';
import { startHarbor, type RunningHarbor } from '../fixtures/harbor.js';
import { buildImage, skopeoPush, type BuiltImage } from '../fixtures/images.js';
import { makePki } from '../fixtures/pki.js';
import { freePort, tmpDir, type RunResult } from '../fixtures/proc.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { assertOneLineError, ocictl, type CliEnv } from './faults-lib.js';

const USER = 'alice';
const PASS = 'S3cret-Pass-7731';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function writeAuth(env: CliEnv, host: string, user = USER, pass = PASS): Promise<void> {
  await fs.mkdir(env.dockerConfig, { recursive: true, mode: 0o700 });
  await fs.writeFile(path.join(env.dockerConfig, 'config.json'), JSON.stringify({ auths: { [host]: { auth: b64(`${user}:${pass}`) } } }), { mode: 0o600 });
}

describe('credentials over plain HTTP and redirects', { timeout: 180_000 }, () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let storage: BlobStorage;
  let work: string;
  let img: BuiltImage;
  let n = 0;
  const fresh = (): CliEnv => ({ dockerConfig: path.join(work, `docker${++n}`), dataRoot: path.join(work, `data${n}`) });

  before(async () => {
    work = await tmpDir('ocitest-sec-creds');
    reg = await startRegistry({ htpasswd: { [USER]: PASS } });
    proxy = await startFaultProxy({ target: reg.url });
    storage = await startBlobStorage({ registry: reg.url, authorization: `Basic ${b64(`${USER}:${PASS}`)}` });
    const layout = path.join(work, 'layout');
    img = await buildImage(layout, 'v1', { layers: [{ size: 300_000, seed: 7 }, { size: 200_000, seed: 8 }] });
    await skopeoPush(layout, 'v1', `docker://${reg.host}/sec/img:v1`, ['--dest-tls-verify=false', '--dest-creds', `${USER}:${PASS}`]);
  });

  after(async () => {
    await storage?.stop();
    await proxy?.stop();
    await reg?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('login to a plain-HTTP registry is refused without --insecure-registry, and nothing is saved', async () => {
    const e = fresh();
    proxy.clearRules();
    proxy.resetLog();
    const r = await ocictl(['login', '-u', USER, '--password-stdin', proxy.host], e, { input: PASS });
    const line = assertOneLineError(r, 'login over plain HTTP');
    assert.match(line, /plain HTTP/);
    assert.match(line, /--insecure-registry/);
    assert.ok(proxy.log.length > 0);
    assert.ok(proxy.log.every((l) => !l.authorization), 'no request carried Authorization');
    await assert.rejects(fs.stat(path.join(e.dockerConfig, 'config.json')), 'nothing saved');
    const ok = await ocictl(['--insecure-registry', 'login', '-u', USER, '--password-stdin', proxy.host], e, { input: PASS });
    assert.equal(ok.code, 0, ok.stderr);
  });

  it('stored credentials are not sent over plain HTTP to a host not named insecure', async () => {
    const e = fresh();
    await writeAuth(e, proxy.host);
    proxy.clearRules();
    proxy.resetLog();
    const r = await ocictl(['pull', '-q', `${proxy.host}/sec/img:v1`], e);
    const line = assertOneLineError(r, 'pull over plain HTTP with stored credentials');
    assert.match(line, /refusing to send credentials over plain HTTP/);
    assert.ok(proxy.log.every((l) => !l.authorization), 'no request carried Authorization');
    // --insecure-registry names the host of this command: now it works.
    const ok = await ocictl(['--insecure-registry', 'pull', '-q', `${proxy.host}/sec/img:v1`], e);
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(proxy.log.some((l) => l.authorization));
  });

  it('blob GETs redirected to another origin do not carry Authorization; signed URLs are not printed', async () => {
    const e = fresh();
    await writeAuth(e, proxy.host);
    proxy.clearRules();
    proxy.resetLog();
    storage.requests.length = 0;
    proxy.addRule({
      method: 'GET',
      path: /\/blobs\/sha256:/,
      action: { kind: 'redirect', location: (p) => `${storage.url}${p.replace(/^\/v2/, '')}?X-Amz-Signature=SIGSECRET0001&X-Amz-Credential=AKIDSECRET0002` },
    });
    const r = await ocictl(['--insecure-registry', '--debug', 'pull', `${proxy.host}/sec/img:v1`], e);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(storage.requests.length, img.layers.length + 1, 'every blob came from storage');
    for (const s of storage.requests) assert.equal(s.authorization, undefined, `storage got Authorization on ${s.path}`);
    const blobGets = proxy.log.filter((l) => /\/blobs\//.test(l.path) && l.method === 'GET');
    assert.ok(blobGets.every((l) => l.authorization), 'the registry itself did get credentials');
    const out = r.stdout + r.stderr;
    assert.ok(!out.includes('SIGSECRET0001') && !out.includes('AKIDSECRET0002'), 'signed URL secrets are redacted in --debug output');
    assert.ok(!out.includes(PASS) && !out.includes(b64(`${USER}:${PASS}`)));
  });

  it('a token service on another host gets no credentials over plain HTTP, even with --insecure-registry', async () => {
    const seen: (string | undefined)[] = [];
    const tokenPort = await freePort();
    const tokenSrv = http.createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: 'not-a-real-token' }));
    });
    await new Promise<void>((r) => tokenSrv.listen(tokenPort, '127.0.0.1', () => r()));
    const pki = await makePki(path.join(work, 'tokpki'));
    const treg = await startRegistry({ token: { realm: `http://127.0.0.1:${tokenPort}/token`, service: 'svc', issuer: 'iss', rootCertBundle: pki.caCert } });
    try {
      const e = fresh();
      await writeAuth(e, treg.host);
      const r = await ocictl(['--insecure-registry', 'pull', '-q', `${treg.host}/sec/img:v1`], e);
      const line = assertOneLineError(r, 'pull with a plain-HTTP token service on another host');
      assert.match(line, /refusing to send credentials over plain HTTP to the token service http:\/\/127\.0\.0\.1:\d+/);
      assert.ok(seen.every((a) => a === undefined), 'the token service never saw the credentials');
    } finally {
      await treg.stop();
      await new Promise<void>((r) => tokenSrv.close(() => r()));
    }
  });
});

describe('TLS verification and --insecure-registry scope', { timeout: 120_000 }, () => {
  let reg: RunningRegistry;
  let work: string;
  let env: CliEnv;

  before(async () => {
    work = await tmpDir('ocitest-sec-tls');
    reg = await startRegistry({ tls: true });
    const layout = path.join(work, 'layout');
    await buildImage(layout, 'v1', { layers: [{ size: 100_000, seed: 3 }] });
    await skopeoPush(layout, 'v1', `docker://${reg.host}/tls/img:v1`, ['--dest-cert-dir', reg.pki!.certDir]);
    env = { dockerConfig: path.join(work, 'docker'), dataRoot: path.join(work, 'data') };
  });

  after(async () => {
    await reg?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('verifies TLS by default; --insecure-registry or the CA in --hosts-dir makes it work', async () => {
    const empty = path.join(work, 'no-certs');
    await fs.mkdir(empty, { recursive: true });
    const r = await ocictl(['--hosts-dir', empty, 'pull', '-q', `${reg.host}/tls/img:v1`], env);
    const line = assertOneLineError(r, 'pull from a TLS registry with an unknown CA');
    assert.match(line, /certificate signed by unknown authority/);
    const hostsDir = path.join(work, 'certs.d');
    await fs.mkdir(path.join(hostsDir, reg.host), { recursive: true });
    await fs.copyFile(reg.pki!.caCert, path.join(hostsDir, reg.host, 'ca.crt'));
    const ok = await ocictl(['--hosts-dir', hostsDir, 'pull', '-q', `${reg.host}/tls/img:v1`], env);
    assert.equal(ok.code, 0, ok.stderr);
    const ins = await ocictl(['--hosts-dir', empty, '--insecure-registry', 'pull', '-q', `${reg.host}/tls/img:v1`], { ...env, dataRoot: path.join(work, 'data2') });
    assert.equal(ins.code, 0, ins.stderr);
  });

  it('the store is not world-writable', async () => {
    const walk = async (p: string): Promise<void> => {
      const st = await fs.lstat(p);
      assert.equal(st.mode & 0o002, 0, `${p} is world-writable`);
      if (st.isDirectory()) for (const f of await fs.readdir(p)) await walk(path.join(p, f));
    };
    await walk(env.dataRoot);
  });
});

describe('secrets never appear in any output (Harbor-like token registry)', { timeout: 180_000 }, () => {
  let h: RunningHarbor;
  let work: string;
  let env: CliEnv;
  let hostsDir: string;
  const outputs: { what: string; r: RunResult }[] = [];

  before(async () => {
    work = await tmpDir('ocitest-sec-leak');
    h = await startHarbor();
    hostsDir = path.join(work, 'certs.d');
    await fs.mkdir(path.join(hostsDir, h.host), { recursive: true });
    await fs.copyFile(h.pki.caCert, path.join(hostsDir, h.host, 'ca.crt'));
    const layout = path.join(work, 'layout');
    await buildImage(layout, 'v1', { layers: [{ size: 150_000, seed: 11 }] });
    await skopeoPush(layout, 'v1', `docker://${h.host}/lidabai/leak:v1`, ['--dest-cert-dir', h.pki.certDir, '--dest-creds', `admin:${h.users.admin}`]);
    env = { dockerConfig: path.join(work, 'docker'), dataRoot: path.join(work, 'data') };
  });

  after(async () => {
    await h?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('login, pull, push, images, inspect, failures, all with --debug: no password, no Basic blob, no token', async () => {
    const g = ['--hosts-dir', hostsDir, '--debug'];
    const run = async (what: string, args: string[], input?: string): Promise<RunResult> => {
      const r = await ocictl([...g, ...args], env, input !== undefined ? { input } : {});
      outputs.push({ what, r });
      return r;
    };
    const admin = h.users.admin as string;
    const robotSecret = h.users[h.robot] as string;
    const wrong = 'Wr0ng-Passw0rd-5521';
    assert.notEqual((await run('login wrong password', ['login', '-u', 'admin', '--password-stdin', h.host], wrong)).code, 0);
    assert.equal((await run('login', ['login', '-u', 'admin', '--password-stdin', h.host], admin)).code, 0);
    assert.equal((await run('pull', ['pull', `${h.host}/lidabai/leak:v1`])).code, 0);
    assert.equal((await run('tag', ['tag', `${h.host}/lidabai/leak:v1`, `${h.host}/lidabai/leak:v2`])).code, 0);
    assert.equal((await run('push', ['push', `${h.host}/lidabai/leak:v2`])).code, 0);
    assert.equal((await run('images', ['images', '--format', 'json'])).code, 0);
    assert.equal((await run('inspect', ['inspect', `${h.host}/lidabai/leak:v1`])).code, 0);
    assert.notEqual((await run('pull missing', ['pull', `${h.host}/lidabai/missing:v1`])).code, 0);
    assert.notEqual((await run('push denied', ['push', `${h.host}/otherproject/leak:v2`])).code, 0);
    assert.equal((await run('robot login', ['login', '-u', h.robot, '--password-stdin', h.host], robotSecret)).code, 0);
    assert.equal((await run('robot pull', ['pull', `${h.host}/lidabai/leak:v1`])).code, 0);
    assert.equal((await run('logout', ['logout', h.host])).code, 0);
    const secrets = [admin, wrong, robotSecret, b64(`admin:${admin}`), b64(`admin:${wrong}`), b64(`${h.robot}:${robotSecret}`)];
    const jwt = /eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}/;
    for (const { what, r } of outputs) {
      const all = r.stdout + r.stderr;
      for (const s of secrets) assert.ok(!all.includes(s), `${what}: output contains a secret`);
      assert.doesNotMatch(all, jwt, `${what}: output contains a token`);
      assert.doesNotMatch(all, /authorization:/i, `${what}: output prints an Authorization header`);
    }
    // The debug output did show the exchanges (the search above looked at real traffic).
    assert.ok(outputs.some(({ r }) => /\/service\/token/.test(r.stderr)), 'token requests appear in --debug output');
  });
});
