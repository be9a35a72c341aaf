// Proves the Harbor-like front against real clients: skopeo, the Docker CLI (no daemon), containerd's ctr,
// plus raw HTTPS checks of the token service, the challenges and Harbor's policy errors.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import * as https from 'node:https';
import * as path from 'node:path';
import { startHarbor, type RunningHarbor } from '../fixtures/harbor.js';
import { buildBusyboxImage, buildImage, skopeoPush, type BuiltImage } from '../fixtures/images.js';
import { killPid, run, sleep, tmpDir } from '../fixtures/proc.js';
import { credentialHelperEnv } from '../fixtures/credhelper.js';

const sha256 = (s: string | Buffer): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const basic = (u: string, p: string): string => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function request(h: RunningHarbor, method: string, p: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port: h.port, method, path: p, headers, ca: h.pki.caPem, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function token(h: RunningHarbor, scopes: string[], creds?: [string, string]): Promise<string> {
  const q = new URLSearchParams({ service: 'harbor-registry' });
  for (const s of scopes) q.append('scope', s);
  const r = await request(h, 'GET', `/service/token?${q}`, creds ? { Authorization: basic(...creds) } : {});
  assert.equal(r.status, 200, r.body);
  return (JSON.parse(r.body) as { token: string }).token;
}

function jwtParts(t: string): { header: { alg: string; kid: string }; claims: { aud: unknown; sub: string; exp: number; access: { type: string; name: string; actions: string[] }[] } } {
  const [h, c] = t.split('.');
  return { header: JSON.parse(Buffer.from(h!, 'base64url').toString()), claims: JSON.parse(Buffer.from(c!, 'base64url').toString()) };
}

function harborErr(body: string): { code: string; message: string } {
  const j = JSON.parse(body) as { errors: { code: string; message: string }[] };
  assert.equal(j.errors.length, 1);
  return j.errors[0]!;
}

describe('Harbor front', () => {
  let h: RunningHarbor;
  let work = '';
  let layout = '';
  let img: BuiltImage;
  let bb: BuiltImage;
  const admin = (): string => `admin:${h.users.admin}`;

  before(async () => {
    work = await tmpDir('ocitest-harbortest');
    layout = path.join(work, 'layout');
    [h, img, bb] = await Promise.all([
      startHarbor({ tagsPageSize: 3 }),
      buildImage(layout, 'small', { layers: [{ size: 50_000 }] }),
      buildBusyboxImage(path.join(work, 'bb'), '1.0'),
    ]);
    const cd = ['--dest-cert-dir', h.pki.certDir, '--dest-creds', admin()];
    await skopeoPush(path.join(work, 'bb'), '1.0', `docker://${h.host}/lidabai/busybox:1.0`, cd);
    await skopeoPush(path.join(work, 'bb'), '1.0', `docker://${h.host}/library/busybox:1.0`, cd);
  });
  after(async () => {
    await h?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('is a single HTTPS origin on 127.0.0.1 with Harbor users', () => {
    assert.match(h.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(h.host, `127.0.0.1:${h.port}`);
    assert.equal(h.users.admin, 'Harbor12345');
    assert.equal(h.users.dev, 'Dev12345');
    assert.ok(h.users['robot$lidabai+ci']);
    assert.match(h.registry.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('skopeo: admin pushed; digests identical through the front', async () => {
    const raw = await run('skopeo', ['inspect', '--raw', '--cert-dir', h.pki.certDir, '--creds', admin(), `docker://${h.host}/lidabai/busybox:1.0`]);
    assert.equal(raw.code, 0, raw.stderr);
    assert.equal(sha256(raw.stdout), bb.manifestDigest);
  });

  it('skopeo: anonymous pull from public library works, from private lidabai does not', async () => {
    const back = path.join(work, 'back');
    const ok = await run('skopeo', ['copy', '--quiet', '--src-cert-dir', h.pki.certDir, `docker://${h.host}/library/busybox:1.0`, `oci:${back}:1.0`]);
    assert.equal(ok.code, 0, ok.stderr);
    const idx = JSON.parse(readFileSync(path.join(back, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(idx.manifests[0]!.digest, bb.manifestDigest);
    const no = await run('skopeo', ['inspect', '--raw', '--cert-dir', h.pki.certDir, `docker://${h.host}/lidabai/busybox:1.0`]);
    assert.notEqual(no.code, 0);
    assert.match(no.stderr, /unauthorized/i);
    const anon = h.tokenRequests.filter((t) => t.user === undefined && t.query.includes('library%2Fbusybox'));
    assert.ok(anon.length > 0);
  });

  it('skopeo: dev pulls lidabai but its push is refused with Harbor\'s message', async () => {
    const pull = await run('skopeo', ['inspect', '--raw', '--cert-dir', h.pki.certDir, '--creds', 'dev:Dev12345', `docker://${h.host}/lidabai/busybox:1.0`]);
    assert.equal(pull.code, 0, pull.stderr);
    const push = await run('skopeo', ['copy', '--quiet', '--dest-cert-dir', h.pki.certDir, '--dest-creds', 'dev:Dev12345', `oci:${layout}:small`, `docker://${h.host}/lidabai/devpush:1.0`]);
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /unauthorized to access repository: lidabai\/devpush, action: push: unauthorized to access repository: lidabai\/devpush, action: push/);
  });

  it('skopeo: robot$lidabai+ci pushes to lidabai, is refused on library', async () => {
    const creds = `${h.robot}:${h.users[h.robot]}`;
    await skopeoPush(layout, 'small', `docker://${h.host}/lidabai/robot:1.0`, ['--dest-cert-dir', h.pki.certDir, '--dest-creds', creds]);
    const raw = await run('skopeo', ['inspect', '--raw', '--cert-dir', h.pki.certDir, '--creds', creds, `docker://${h.host}/lidabai/robot:1.0`]);
    assert.equal(sha256(raw.stdout), img.manifestDigest);
    const refused = await run('skopeo', ['copy', '--quiet', '--dest-cert-dir', h.pki.certDir, '--dest-creds', creds, `oci:${layout}:small`, `docker://${h.host}/library/robot:1.0`]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /unauthorized to access repository: library\/robot, action: push/);
    assert.ok(h.tokenRequests.some((t) => t.user === h.robot && t.status === 200));
  });

  it('token endpoint: GET only, service checked, bad creds 401 empty, several scopes, empty actions for unknown project', async () => {
    const post = await request(h, 'POST', '/service/token', { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic('admin', 'Harbor12345') }, 'grant_type=password&service=harbor-registry');
    assert.equal(post.status, 405);
    const badSvc = await request(h, 'GET', '/service/token?service=docker-registry', { Authorization: basic('admin', 'Harbor12345') });
    assert.equal(badSvc.status, 400);
    const badCreds = await request(h, 'GET', '/service/token?service=harbor-registry&scope=repository:lidabai/busybox:pull', { Authorization: basic('admin', 'wrong') });
    assert.equal(badCreds.status, 401);
    assert.equal(badCreds.body, '');
    const ok = await request(
      h,
      'GET',
      '/service/token?service=harbor-registry&scope=repository%3Alidabai%2Fbusybox%3Apull%2Cpush&scope=repository:library/busybox:pull&scope=repository:nope/x:pull,push',
      { Authorization: basic('robot$lidabai+ci', h.users['robot$lidabai+ci']!) },
    );
    assert.equal(ok.status, 200);
    const body = JSON.parse(ok.body) as { token: string; access_token: string; expires_in: number; issued_at: string };
    assert.equal(body.token, body.access_token);
    assert.equal(body.expires_in, 1800);
    assert.match(body.issued_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const { header, claims } = jwtParts(body.token);
    assert.equal(header.alg, 'RS256');
    assert.match(header.kid, /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    assert.equal(claims.aud, 'harbor-registry');
    assert.equal(claims.sub, 'robot$lidabai+ci');
    assert.deepEqual(claims.access, [
      { type: 'repository', name: 'lidabai/busybox', actions: ['pull', 'push'] },
      { type: 'repository', name: 'library/busybox', actions: ['pull'] },
      { type: 'repository', name: 'nope/x', actions: [] },
    ]);
    const anon = jwtParts(await token(h, ['repository:lidabai/busybox:pull repository:library/busybox:pull,push']));
    assert.equal(anon.claims.sub, '');
    assert.deepEqual(anon.claims.access.map((a) => a.actions), [[], ['pull']]);
    const catalog = jwtParts(await token(h, ['registry:catalog:*'], ['admin', 'Harbor12345']));
    assert.deepEqual(catalog.claims.access, [{ type: 'registry', name: 'catalog', actions: ['*'] }]);
  });

  it('challenges: /v2/ Bearer without scope, HEAD on a repository Bearer with scope, Basic realm="harbor" once Authorization was sent', async () => {
    const v2 = await request(h, 'GET', '/v2/');
    assert.equal(v2.status, 401);
    assert.equal(v2.headers['www-authenticate'], `Bearer realm="https://127.0.0.1:${h.port}/service/token",service="harbor-registry"`);
    assert.equal(harborErr(v2.body).code, 'UNAUTHORIZED');
    const head = await request(h, 'HEAD', '/v2/library/busybox/manifests/1.0', { Accept: MANIFEST_ACCEPT });
    assert.equal(head.status, 401);
    assert.equal(head.headers['www-authenticate'], `Bearer realm="https://127.0.0.1:${h.port}/service/token",service="harbor-registry",scope="repository:library/busybox:pull"`);
    const post = await request(h, 'POST', '/v2/lidabai/x/blobs/uploads/');
    assert.match(String(post.headers['www-authenticate']), /scope="repository:lidabai\/x:pull,push"$/);
    // Harbor accepts Basic on /v2/ directly; bad Basic gets Basic realm="harbor"
    assert.equal((await request(h, 'GET', '/v2/', { Authorization: basic('admin', 'Harbor12345') })).status, 200);
    const bad = await request(h, 'GET', '/v2/', { Authorization: basic('admin', 'nope') });
    assert.equal(bad.status, 401);
    assert.equal(bad.headers['www-authenticate'], 'Basic realm="harbor"');
    // a token without push: 401 with Harbor's doubled message
    const t = await token(h, ['repository:lidabai/busybox:pull,push'], ['dev', 'Dev12345']);
    const denied = await request(h, 'POST', '/v2/lidabai/busybox/blobs/uploads/', { Authorization: `Bearer ${t}` });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers['www-authenticate'], 'Basic realm="harbor"');
    assert.equal(harborErr(denied.body).message, 'unauthorized to access repository: lidabai/busybox, action: push: unauthorized to access repository: lidabai/busybox, action: push');
    // project that does not exist
    const tn = await token(h, ['repository:nope/x:pull,push'], ['admin', 'Harbor12345']);
    const none = await request(h, 'POST', '/v2/nope/x/blobs/uploads/', { Authorization: `Bearer ${tn}` });
    assert.equal(none.status, 401);
    assert.equal(harborErr(none.body).message, 'project nope not found: project nope not found');
    // catalog: admin only, Basic challenge
    assert.equal((await request(h, 'GET', '/v2/_catalog')).headers['www-authenticate'], 'Basic realm="harbor"');
    const cat = await request(h, 'GET', '/v2/_catalog', { Authorization: basic('admin', 'Harbor12345') });
    assert.equal(cat.status, 200);
    assert.ok((JSON.parse(cat.body) as { repositories: string[] }).repositories.includes('lidabai/busybox'));
  });

  it('forwards with Host preserved: Location points at the front; registry\'s real token check applies', async () => {
    const t = await token(h, ['repository:lidabai/loc:pull,push'], ['admin', 'Harbor12345']);
    const r = await request(h, 'POST', '/v2/lidabai/loc/blobs/uploads/', { Authorization: `Bearer ${t}` });
    assert.equal(r.status, 202);
    assert.match(String(r.headers.location), new RegExp(`^https://127\\.0\\.0\\.1:${h.port}/v2/lidabai/loc/blobs/uploads/`));
    // a token for another repository: the front refuses it (per repository)
    const r2 = await request(h, 'POST', '/v2/lidabai/other/blobs/uploads/', { Authorization: `Bearer ${t}` });
    assert.equal(r2.status, 401);
  });

  it('an expired token is refused with Basic realm="harbor"', async () => {
    h.tokenLifetimeSeconds = 0;
    let t: string;
    try {
      t = await token(h, ['repository:lidabai/busybox:pull'], ['admin', 'Harbor12345']);
    } finally {
      h.tokenLifetimeSeconds = 1800;
    }
    const r = await request(h, 'GET', '/v2/lidabai/busybox/manifests/1.0', { Authorization: `Bearer ${t}`, Accept: MANIFEST_ACCEPT });
    assert.equal(r.status, 401);
    assert.equal(r.headers['www-authenticate'], 'Basic realm="harbor"');
  });

  it('policies answer Harbor\'s status, code and message', async () => {
    const t = await token(h, ['repository:lidabai/busybox:pull,push'], ['admin', 'Harbor12345']);
    const auth = { Authorization: `Bearer ${t}`, Accept: MANIFEST_ACCEPT };
    const manifest = readFileSync(path.join(work, 'bb', 'blobs', 'sha256', bb.manifestDigest.slice(7)));
    const put = (repo: string, ref: string): Promise<Res> =>
      request(h, 'PUT', `/v2/${repo}/manifests/${ref}`, { ...auth, 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, manifest);
    try {
      h.policies.immutable.add('lidabai/busybox:1.0');
      let r = await put('lidabai/busybox', '1.0');
      assert.equal(r.status, 412);
      assert.deepEqual(harborErr(r.body), { code: 'PRECONDITION', message: "Failed to process request due to 'lidabai/busybox:1.0' configured as immutable." });
      assert.equal((await put('lidabai/busybox', '1.1')).status, 201);
      const sk = await run('skopeo', ['copy', '--quiet', '--dest-cert-dir', h.pki.certDir, '--dest-creds', admin(), `oci:${path.join(work, 'bb')}:1.0`, `docker://${h.host}/lidabai/busybox:1.0`]);
      assert.notEqual(sk.code, 0);
      assert.match(sk.stderr, /configured as immutable/);

      h.policies.vulnerable.add('lidabai/busybox');
      r = await request(h, 'GET', '/v2/lidabai/busybox/manifests/1.0', auth);
      assert.equal(r.status, 412);
      const e = harborErr(r.body);
      assert.equal(e.code, 'PROJECTPOLICYVIOLATION');
      assert.match(e.message, /^current image with 3 vulnerabilities cannot be pulled due to configured policy in 'Prevent images with vulnerability severity of "High" or higher from running\.'/);
      r = await request(h, 'HEAD', '/v2/lidabai/busybox/manifests/1.0', auth);
      assert.equal(r.status, 412);
      assert.equal(r.body, '');
      assert.equal((await request(h, 'GET', `/v2/lidabai/busybox/blobs/${bb.configDigest}`, auth)).status, 200);
      h.policies.vulnerable.clear();

      h.policies.unsigned.add('lidabai/busybox');
      r = await request(h, 'GET', '/v2/lidabai/busybox/manifests/1.0', auth);
      assert.deepEqual([r.status, harborErr(r.body)], [412, { code: 'PROJECTPOLICYVIOLATION', message: 'The image is not signed by cosign.' }]);
      h.policies.unsigned.clear();

      h.policies.quota.add('lidabai/busybox');
      r = await request(h, 'POST', '/v2/lidabai/busybox/blobs/uploads/', auth);
      assert.equal(r.status, 403);
      assert.equal(harborErr(r.body).code, 'DENIED');
      assert.match(harborErr(r.body).message, /^Quota exceeded when processing the request of adding /);
      assert.equal((await put('lidabai/busybox', '1.2')).status, 403);
      h.policies.quota.clear();

      // a proxy-cache project exists (the token must be asked for after it was declared)
      h.policies.proxyCache.add('proxy');
      const tp = await token(h, ['repository:proxy/x:pull,push'], ['admin', 'Harbor12345']);
      r = await request(h, 'POST', '/v2/proxy/x/blobs/uploads/', { Authorization: `Bearer ${tp}` });
      assert.deepEqual([r.status, harborErr(r.body)], [403, { code: 'DENIED', message: 'can not push artifact to a proxy project: proxy' }]);
    } finally {
      for (const s of Object.values(h.policies)) (s as Set<string>).clear();
    }
  });

  it('tags/list: sorted pages with Link as Harbor sends; skopeo list-tags follows them', async () => {
    const cd = ['--dest-cert-dir', h.pki.certDir, '--dest-creds', admin()];
    const tags = ['v7', 'v1', 'v3', 'v2', 'v6', 'v4', 'v5'];
    for (const t of tags) await skopeoPush(layout, 'small', `docker://${h.host}/library/paged:${t}`, cd);
    const t = await token(h, ['repository:library/paged:pull']);
    const auth = { Authorization: `Bearer ${t}` };
    const pages: string[][] = [];
    let next: string | undefined = '/v2/library/paged/tags/list';
    while (next) {
      const r = await request(h, 'GET', next, auth);
      assert.equal(r.status, 200, r.body);
      pages.push((JSON.parse(r.body) as { tags: string[] }).tags);
      const link = r.headers.link as string | undefined;
      next = link ? /^<([^>]+)>; rel="next"$/.exec(link)![1] : undefined;
      if (pages.length === 1) assert.equal(link, '</v2/library/paged/tags/list?n=3&last=v3>; rel="next"');
    }
    assert.deepEqual(pages, [['v1', 'v2', 'v3'], ['v4', 'v5', 'v6'], ['v7']]);
    const n2 = await request(h, 'GET', '/v2/library/paged/tags/list?n=2&last=v5', auth);
    assert.deepEqual((JSON.parse(n2.body) as { tags: string[] }).tags, ['v6', 'v7']);
    assert.equal(n2.headers.link, undefined);
    const ls = await run('skopeo', ['list-tags', '--cert-dir', h.pki.certDir, `docker://${h.host}/library/paged`]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual((JSON.parse(ls.stdout) as { Tags: string[] }).Tags, [...tags].sort());
  });

  it('streams a 96 MiB layer through the front both ways; the request log counts blob uploads', async () => {
    const big = path.join(work, 'big');
    const bigImg = await buildImage(big, 'big', { layers: [{ size: 96 * 1024 * 1024 }] });
    h.resetLog();
    await skopeoPush(big, 'big', `docker://${h.host}/lidabai/big:1.0`, ['--dest-cert-dir', h.pki.certDir, '--dest-creds', admin()]);
    const uploads = h.requests.filter((r) => r.method === 'POST' && /^\/v2\/lidabai\/big\/blobs\/uploads\/$/.test(r.path));
    assert.equal(uploads.length, 2); // layer + config
    const back = path.join(work, 'bigback');
    const r = await run('skopeo', ['copy', '--quiet', '--src-cert-dir', h.pki.certDir, '--src-creds', admin(), `docker://${h.host}/lidabai/big:1.0`, `oci:${back}:1.0`]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(path.join(back, 'blobs', 'sha256', bigImg.layers[0]!.digest.slice(7))));
    await rm(big, { recursive: true, force: true });
    await rm(back, { recursive: true, force: true });
  });

  it('Docker CLI (no daemon) logs in, writes config.json; refuses bad credentials', async () => {
    const cfg = path.join(work, 'docker');
    const env = { ...process.env, DOCKER_CONFIG: cfg };
    // Docker treats 127.0.0.0/8 as an insecure registry (TLS without verification), so no CA is needed here.
    const ok = await run('docker', ['login', h.host, '-u', 'admin', '--password-stdin'], { env, input: 'Harbor12345\n', timeoutMs: 30000 });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Login Succeeded/);
    const conf = JSON.parse(readFileSync(path.join(cfg, 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
    assert.equal(Buffer.from(conf.auths[h.host]!.auth, 'base64').toString(), 'admin:Harbor12345');
    assert.ok(h.tokenRequests.some((t) => t.user === 'admin' && /client_id=docker/.test(t.query) && /offline_token=true/.test(t.query)));
    const bad = await run('docker', ['login', h.host, '-u', 'admin', '--password-stdin'], { env, input: 'wrong\n', timeoutMs: 30000 });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /unauthorized/i);
  });

  it('Docker CLI stores through docker-credential-ocitest (credsStore) and erases on logout', async () => {
    const cfg = path.join(work, 'docker-helper');
    await mkdir(cfg, { recursive: true });
    await writeFile(path.join(cfg, 'config.json'), JSON.stringify({ credsStore: 'ocitest' }));
    const credsFile = path.join(work, 'creds.json');
    const env = { ...credentialHelperEnv(credsFile), DOCKER_CONFIG: cfg };
    const robot = h.robot;
    const ok = await run('docker', ['login', h.host, '-u', robot, '--password-stdin'], { env, input: `${h.users[robot]}\n`, timeoutMs: 30000 });
    assert.equal(ok.code, 0, ok.stderr);
    const conf = JSON.parse(readFileSync(path.join(cfg, 'config.json'), 'utf8')) as { auths: Record<string, object>; credsStore: string };
    assert.deepEqual(conf.auths[h.host], {});
    const creds = JSON.parse(readFileSync(credsFile, 'utf8')) as Record<string, { Username: string; Secret: string }>;
    assert.deepEqual(creds[h.host], { Username: robot, Secret: h.users[robot] });
    const out = await run('docker', ['logout', h.host], { env, timeoutMs: 30000 });
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(JSON.parse(readFileSync(credsFile, 'utf8')), {});
  });

  it('containerd ctr pulls through the front with --user (POST to the token endpoint, 405, then GET)', async () => {
    const dir = await tmpDir('ocitest-ctd');
    const sock = path.join(dir, 'containerd.sock');
    const hostsDir = path.join(dir, 'certs.d');
    await mkdir(path.join(hostsDir, h.host), { recursive: true });
    await writeFile(
      path.join(hostsDir, h.host, 'hosts.toml'),
      `server = "${h.url}"\nca = "${h.pki.caCert}"\n\n[host."${h.url}"]\n  capabilities = ["pull", "resolve", "push"]\n  ca = "${h.pki.caCert}"\n`,
    );
    const cfg = path.join(dir, 'config.toml');
    await writeFile(
      cfg,
      [
        'version = 2',
        `root = "${dir}/root"`,
        `state = "${dir}/state"`,
        '[grpc]',
        `  address = "${sock}"`,
        '[ttrpc]',
        `  address = "${sock}.ttrpc"`,
        '[plugins."io.containerd.internal.v1.opt"]',
        `  path = "${dir}/opt"`,
        '[plugins."io.containerd.grpc.v1.cri".registry]',
        `  config_path = "${hostsDir}"`,
        '',
      ].join('\n'),
    );
    const fd = openSync(path.join(dir, 'containerd.log'), 'a');
    const child = spawn('containerd', ['--config', cfg], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      const ctr = (args: string[]): ReturnType<typeof run> => run('ctr', ['--address', sock, ...args], { timeoutMs: 60000 });
      let up = false;
      for (let i = 0; i < 100 && !up; i++) {
        if (existsSync(sock) && (await ctr(['version'])).code === 0) up = true;
        else await sleep(100);
      }
      assert.ok(up, readFileSync(path.join(dir, 'containerd.log'), 'utf8').slice(-2000));
      h.resetLog();
      const pull = await ctr(['images', 'pull', '--snapshotter', 'native', '--hosts-dir', hostsDir, '--user', admin(), `${h.host}/lidabai/busybox:1.0`]);
      assert.equal(pull.code, 0, pull.stderr + pull.stdout);
      const ls = await ctr(['images', 'ls']);
      assert.ok(ls.stdout.includes(bb.manifestDigest), ls.stdout);
      assert.ok(h.tokenRequests.some((t) => t.method === 'POST' && t.status === 405));
      assert.ok(h.tokenRequests.some((t) => t.method === 'GET' && t.status === 200 && t.user === 'admin'));
      const anon = await ctr(['images', 'pull', '--snapshotter', 'native', '--hosts-dir', hostsDir, `${h.host}/library/busybox:1.0`]);
      assert.equal(anon.code, 0, anon.stderr + anon.stdout);
      const refused = await ctr(['images', 'pull', '--snapshotter', 'native', '--hosts-dir', hostsDir, `${h.host}/lidabai/robot:1.0`]);
      assert.notEqual(refused.code, 0);
    } finally {
      if (child.pid !== undefined) await killPid(child.pid);
      await exited;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
