// ocictl against the Harbor-like front: token flow with exactly the scopes needed, token cache and renewal,
// refused tokens replaced once, anonymous pull, admin / developer / robot accounts, explanations of Harbor's
// opaque 401s. ocictl runs as a process (and, where one client must live across steps, as a library).
// Every output is searched for passwords and tokens.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { buildImage, skopeoPush } from '../fixtures/images.js';
import { run, sleep } from '../fixtures/proc.js';
import { createClient, fetchManifest, pullImage, pushImage, tagImageLocal } from '../src/api.js';
import { parseReference } from '../src/reference/reference.js';
import { type HarborCtx, b64, errorLines, loginAs, scopesOf, startHarborCtx, throttledRelay } from './harbor-support.js';

const sha256 = (s: string | Buffer): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;

describe('ocictl against Harbor: token flow and accounts', () => {
  let ctx: HarborCtx;
  let adminCfg = '';
  let data = '';

  before(async () => {
    ctx = await startHarborCtx('harbor-auth');
    data = await ctx.dataRoot('main');
  });
  after(async () => {
    if (ctx) {
      // Whatever the library printed through debug hooks goes through the same scan.
      ctx.assertNoSecrets(ctx.outputs.join('\n'), 'all outputs');
      await ctx.stop();
    }
  });

  it('admin: login checks credentials through the token service (one GET, no scope), saves base64 user:password', async () => {
    const { h } = ctx;
    h.resetLog();
    adminCfg = await loginAs(ctx, 'admin');
    const conf = JSON.parse(readFileSync(path.join(adminCfg, 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
    assert.equal(conf.auths[h.host]!.auth, b64('admin:Harbor12345'));
    assert.equal(h.tokenRequests.length, 1, JSON.stringify(h.tokenRequests));
    const t = h.tokenRequests[0]!;
    assert.equal(t.method, 'GET');
    assert.equal(t.user, 'admin');
    assert.deepEqual(scopesOf(t.query), []);
    assert.equal(new URLSearchParams(t.query).get('service'), 'harbor-registry');
    // Bad password: refused, nothing saved.
    const badCfg = await ctx.dockerConfig('bad');
    const bad = await ctx.ocictl(['login', '-u', 'admin', '--password-stdin', h.host], { config: badCfg, dataRoot: data, input: 'wrong-password\n' });
    assert.equal(bad.code, 1);
    assert.match(errorLines(bad).join('\n'), /not accepted/);
    assert.throws(() => readFileSync(path.join(badCfg, 'config.json')));
  });

  it('admin: pull asks for repository:X:pull, push for repository:Y:pull,push, one token each for the whole operation', async () => {
    const { h } = ctx;
    h.resetLog();
    const pull = await ctx.ocictl(['pull', `${h.host}/lidabai/busybox:1.0`], { config: adminCfg, dataRoot: data });
    assert.equal(pull.code, 0, pull.stderr);
    assert.ok(pull.stdout.includes(ctx.bb.manifestDigest));
    assert.deepEqual(h.tokenRequests.map((t) => [t.user, scopesOf(t.query)]), [['admin', ['repository:lidabai/busybox:pull']]]);
    assert.ok(h.requests.filter((r) => r.authorization === 'bearer' && r.path.startsWith('/v2/lidabai/busybox/')).length >= 3);

    assert.equal((await ctx.ocictl(['tag', `${h.host}/lidabai/busybox:1.0`, `${h.host}/lidabai/admin:1`], { config: adminCfg, dataRoot: data })).code, 0);
    h.resetLog();
    const push = await ctx.ocictl(['push', `${h.host}/lidabai/admin:1`], { config: adminCfg, dataRoot: data });
    assert.equal(push.code, 0, push.stderr);
    assert.ok(push.stdout.includes(ctx.bb.manifestDigest), push.stdout);
    assert.deepEqual(h.tokenRequests.map((t) => [t.user, scopesOf(t.query)]), [['admin', ['repository:lidabai/admin:pull,push']]]);
    const used = h.requests.filter((r) => r.authorization === 'bearer');
    assert.ok(used.length >= 5, `one token served the whole push: ${used.length} requests`);
    assert.ok(h.requests.some((r) => r.method === 'PUT' && r.path === '/v2/lidabai/admin/manifests/1' && r.status === 201));
    assert.ok(!h.requests.some((r) => r.path.startsWith('/v2') && r.authorization === 'basic'), 'the password goes to the token service only');
  });

  it('skopeo --authfile with ocictl\'s config.json sees the digest ocictl pushed', async () => {
    const { h } = ctx;
    const r = await run('skopeo', ['inspect', '--raw', '--authfile', path.join(adminCfg, 'config.json'), '--cert-dir', h.pki.certDir, `docker://${h.host}/lidabai/admin:1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha256(r.stdout), ctx.bb.manifestDigest);
    assert.ok(h.tokenRequests.some((t) => t.user === 'admin' && scopesOf(t.query).includes('repository:lidabai/admin:pull')));
  });

  it('anonymous: pulls from the public library project without login; private project and push refused with what to do', async () => {
    const { h } = ctx;
    const cfg = await ctx.dockerConfig('anon');
    const anonData = await ctx.dataRoot('anon');
    h.resetLog();
    const ok = await ctx.ocictl(['pull', `${h.host}/library/busybox:1.0`], { config: cfg, dataRoot: anonData });
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(ok.stdout.includes(ctx.bb.manifestDigest));
    assert.ok(h.tokenRequests.every((t) => t.user === undefined));
    assert.ok(h.requests.every((r) => r.authorization === 'none'));

    const priv = await ctx.ocictl(['pull', `${h.host}/lidabai/busybox:1.0`], { config: cfg, dataRoot: anonData });
    assert.equal(priv.code, 1);
    const line = errorLines(priv);
    assert.equal(line.length, 1, priv.stderr);
    assert.match(line[0]!, new RegExp(`${h.host}/lidabai/busybox:1.0`));
    assert.match(line[0]!, /private or not exist; run: ocictl login/);

    assert.equal((await ctx.ocictl(['tag', `${h.host}/library/busybox:1.0`, `${h.host}/library/anon:1`], { config: cfg, dataRoot: anonData })).code, 0);
    const push = await ctx.ocictl(['push', `${h.host}/library/anon:1`], { config: cfg, dataRoot: anonData });
    assert.equal(push.code, 1);
    assert.match(errorLines(push).join('\n'), /library\/anon:1.*log in first \(ocictl login/);
  });

  it('robot$lidabai+ci: logs in ($ and + URL-encoded), pushes to lidabai; library refused after exactly one new token, with the explanation', async () => {
    const { h } = ctx;
    h.resetLog();
    const cfg = await loginAs(ctx, h.robot);
    const conf = JSON.parse(readFileSync(path.join(cfg, 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
    assert.equal(Buffer.from(conf.auths[h.host]!.auth, 'base64').toString(), `robot$lidabai+ci:${h.users[h.robot]}`);
    assert.ok(h.tokenRequests.length >= 1);
    for (const t of h.tokenRequests) {
      assert.equal(t.user, 'robot$lidabai+ci');
      assert.match(t.query, /account=robot%24lidabai%2Bci(&|$)/);
    }
    const robotData = await ctx.dataRoot('robot');
    assert.equal((await ctx.ocictl(['pull', `${h.host}/lidabai/busybox:1.0`], { config: cfg, dataRoot: robotData })).code, 0);
    assert.equal((await ctx.ocictl(['tag', `${h.host}/lidabai/busybox:1.0`, `${h.host}/lidabai/robot:1`], { config: cfg, dataRoot: robotData })).code, 0);
    const ok = await ctx.ocictl(['push', `${h.host}/lidabai/robot:1`], { config: cfg, dataRoot: robotData });
    assert.equal(ok.code, 0, ok.stderr);

    assert.equal((await ctx.ocictl(['tag', `${h.host}/lidabai/busybox:1.0`, `${h.host}/library/robot:1`], { config: cfg, dataRoot: robotData })).code, 0);
    h.resetLog();
    const no = await ctx.ocictl(['push', `${h.host}/library/robot:1`], { config: cfg, dataRoot: robotData });
    assert.equal(no.code, 1);
    const lines = errorLines(no);
    assert.equal(lines.length, 1, no.stderr);
    assert.match(lines[0]!, new RegExp(`push ${h.host}/library/robot:1: unauthorized to access repository: library/robot, action: push: `));
    assert.equal(lines[0]!.split('unauthorized to access repository').length, 2, 'Harbor\'s doubled message is shown once');
    assert.match(lines[0]!, /the project may not exist .*create it first.*lacks push permission.*robot account may be scoped to another project/);
    const forLibrary = h.tokenRequests.filter((t) => scopesOf(t.query).includes('repository:library/robot:pull,push'));
    assert.equal(forLibrary.length, 2, 'the first token, then exactly one new token');
  });

  it('developer (pull only on lidabai): pull works, push refused with the explanation', async () => {
    const { h } = ctx;
    const cfg = await loginAs(ctx, 'dev');
    const devData = await ctx.dataRoot('dev');
    const pull = await ctx.ocictl(['pull', `${h.host}/lidabai/busybox:1.0`], { config: cfg, dataRoot: devData });
    assert.equal(pull.code, 0, pull.stderr);
    assert.equal((await ctx.ocictl(['tag', `${h.host}/lidabai/busybox:1.0`, `${h.host}/lidabai/devpush:1`], { config: cfg, dataRoot: devData })).code, 0);
    const push = await ctx.ocictl(['push', `${h.host}/lidabai/devpush:1`], { config: cfg, dataRoot: devData });
    assert.equal(push.code, 1);
    const lines = errorLines(push);
    assert.equal(lines.length, 1, push.stderr);
    assert.match(lines[0]!, new RegExp(`${h.host}/lidabai/devpush:1: unauthorized to access repository: lidabai/devpush, action: push: .*lacks push permission`));
  });

  it('push to a project that does not exist: one line naming the likely causes', async () => {
    const { h } = ctx;
    assert.equal((await ctx.ocictl(['tag', `${h.host}/lidabai/busybox:1.0`, `${h.host}/nosuchproject/app:2.1`], { config: adminCfg, dataRoot: data })).code, 0);
    const r = await ctx.ocictl(['push', `${h.host}/nosuchproject/app:2.1`], { config: adminCfg, dataRoot: data });
    assert.equal(r.code, 1);
    const lines = errorLines(r);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, new RegExp(`push ${h.host}/nosuchproject/app:2.1`));
    assert.match(lines[0]!, /project may not exist on 127\.0\.0\.1:\d+ \(create it first\), or this account lacks push permission/);
    assert.ok(!lines[0]!.includes('\n'));
  });

  it('cross-repository mount: one token request carries both scopes (pull,push on the target, pull on the source)', async () => {
    const { h } = ctx;
    const debug: string[] = [];
    await tagImageLocal(`${h.host}/lidabai/busybox:1.0`, `${h.host}/lidabai/mounted:1`, { dataRoot: data });
    h.resetLog();
    const events: string[] = [];
    const r = await pushImage(`${h.host}/lidabai/mounted:1`, {
      dataRoot: data,
      dockerConfig: path.join(adminCfg, 'config.json'),
      hostsDirs: [ctx.hostsDir],
      mountFrom: 'lidabai/busybox',
      debug: (l) => debug.push(l),
      onProgress: (e) => {
        if (e.type === 'blob-done') events.push(e.state);
      },
    });
    ctx.outputs.push(...debug);
    assert.equal(r.digest, ctx.bb.manifestDigest);
    const both = h.tokenRequests.filter((t) => {
      const s = scopesOf(t.query);
      return s.includes('repository:lidabai/mounted:pull,push') && s.includes('repository:lidabai/busybox:pull');
    });
    // The blobs are new to lidabai/mounted, so they are mounted, with one token for both repositories.
    assert.equal(both.length, 1, JSON.stringify(h.tokenRequests));
    assert.ok(h.requests.some((q) => q.method === 'POST' && /mount=/.test(q.query) && /from=lidabai%2Fbusybox/.test(q.query) && q.status === 201));
    assert.deepEqual(events, ['mounted', 'mounted']);
  });

  it('token cache: one token per scope reused across operations until shortly before expiry, then renewed', async () => {
    const { h } = ctx;
    h.tokenLifetimeSeconds = 3;
    const debug: string[] = [];
    const client = createClient({ dockerConfig: path.join(adminCfg, 'config.json'), hostsDirs: [ctx.hostsDir], debug: (l) => debug.push(l) });
    try {
      h.resetLog();
      const ref = `${h.host}/lidabai/busybox:1.0`;
      assert.equal((await fetchManifest(ref, { client })).digest, ctx.bb.manifestDigest);
      assert.equal((await fetchManifest(ref, { client })).digest, ctx.bb.manifestDigest);
      assert.equal(h.tokenRequests.length, 1, 'reused while fresh');
      // 3 s tokens are used for 2 s (Harbor counts whole seconds; ocictl keeps at least 1 s spare).
      await sleep(2200);
      assert.equal((await fetchManifest(ref, { client })).digest, ctx.bb.manifestDigest);
      assert.equal(h.tokenRequests.length, 2, 'renewed before it expired');
      assert.ok(!h.requests.some((r) => r.status === 401 && r.authorization === 'bearer'), 'no request was sent with an expired token');
    } finally {
      h.tokenLifetimeSeconds = 1800;
      await client.close();
      ctx.outputs.push(...debug);
    }
  });

  it('token expiry in the middle of a slow push (2 s tokens, throttled link): renewed, the push completes', async () => {
    const { h } = ctx;
    const relay = await throttledRelay(h.port, 3 * 1024 * 1024);
    try {
      await ctx.trustHost(relay.host);
      // An image with a 7 MiB random layer, pulled into the store, then pushed through the relay (~2.5 s of upload).
      const layout = path.join(ctx.work, 'slow');
      const img = await buildImage(layout, 'slow', { layers: [{ size: 7 * 1024 * 1024 }] });
      await skopeoPush(layout, 'slow', `docker://${h.host}/lidabai/slow-src:1`, ['--dest-cert-dir', h.pki.certDir, '--dest-creds', 'admin:Harbor12345']);
      const slowData = await ctx.dataRoot('slow');
      assert.equal((await ctx.ocictl(['pull', `${h.host}/lidabai/slow-src:1`], { config: adminCfg, dataRoot: slowData })).code, 0);
      const cfg = await loginAs(ctx, 'admin', relay.host);
      assert.equal((await ctx.ocictl(['tag', `${h.host}/lidabai/slow-src:1`, `${relay.host}/lidabai/slow:1`], { config: cfg, dataRoot: slowData })).code, 0);
      h.tokenLifetimeSeconds = 2;
      h.resetLog();
      const t0 = Date.now();
      const r = await ctx.ocictl(['push', `${relay.host}/lidabai/slow:1`], { config: cfg, dataRoot: slowData });
      const took = Date.now() - t0;
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.includes(img.manifestDigest));
      assert.ok(took > 2200, `the push outlived a token (${took} ms)`);
      const tokens = h.tokenRequests.filter((t) => scopesOf(t.query).includes('repository:lidabai/slow:pull,push'));
      assert.ok(tokens.length >= 2, `a new token mid-push: ${tokens.length}`);
      assert.ok(h.requests.some((q) => q.method === 'PUT' && q.path === '/v2/lidabai/slow/manifests/1' && q.status === 201));
      const back = await run('skopeo', ['inspect', '--raw', '--cert-dir', h.pki.certDir, '--creds', 'admin:Harbor12345', `docker://${h.host}/lidabai/slow:1`]);
      assert.equal(sha256(back.stdout), img.manifestDigest);
    } finally {
      h.tokenLifetimeSeconds = 1800;
      await relay.close();
    }
  });

  it('a token refused mid-session (permissions changed) is replaced once and the push succeeds', async () => {
    const { h } = ctx;
    const devCfg = await loginAs(ctx, 'dev');
    const devData = await ctx.dataRoot('devgrant');
    const debug: string[] = [];
    const o = { dockerConfig: path.join(devCfg, 'config.json'), hostsDirs: [ctx.hostsDir], dataRoot: devData, debug: (l: string) => debug.push(l) };
    const client = createClient(o);
    const saved = h.grants.dev!.lidabai!;
    try {
      await pullImage(`${h.host}/lidabai/busybox:1.0`, { ...o, client });
      await tagImageLocal(`${h.host}/lidabai/busybox:1.0`, `${h.host}/lidabai/granted:1`, { dataRoot: devData });
      // The client holds a pull-only token for lidabai/granted (a HEAD with the push scope went through)...
      const ref = parseReference(`${h.host}/lidabai/granted:1`);
      assert.equal(await client.hasBlob(ref, ctx.bb.configDigest, true), false);
      // ...when a project admin grants push.
      h.grants.dev!.lidabai = ['pull', 'push'];
      h.resetLog();
      const r = await pushImage(`${h.host}/lidabai/granted:1`, { ...o, client });
      assert.equal(r.digest, ctx.bb.manifestDigest);
      assert.equal(h.tokenRequests.length, 1, JSON.stringify(h.tokenRequests));
      const refused = h.requests.findIndex((q) => q.status === 401 && q.authorization === 'bearer');
      assert.ok(refused >= 0, 'the old token was refused once');
      assert.ok(h.requests.slice(refused + 1).some((q) => q.method === 'POST' && q.status === 202), 'then the upload went on');
    } finally {
      h.grants.dev!.lidabai = saved;
      await client.close();
      ctx.outputs.push(...debug);
    }
  });
});
