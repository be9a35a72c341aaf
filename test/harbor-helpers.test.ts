// Credentials the way Docker keeps them, against the Harbor front: credential helpers (credsStore and
// credHelpers[host], docker-credential-<name> store/get/erase), a missing helper, identity tokens used as
// refresh tokens (POST grant_type=refresh_token, Harbor's 405, then GET), and the Docker CLI's own login
// (no daemon) followed by an ocictl push with the config.json it wrote. Every output is searched for secrets.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { credentialHelperEnv } from '../fixtures/credhelper.js';
import { run } from '../fixtures/proc.js';
import { type HarborCtx, b64, errorLines, loginAs, startHarborCtx } from './harbor-support.js';

const sha256 = (s: string | Buffer): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const readJson = <T>(f: string): T => JSON.parse(readFileSync(f, 'utf8')) as T;

describe('ocictl against Harbor: credential helpers, identity tokens, Docker CLI interop', () => {
  let ctx: HarborCtx;
  let data = '';

  before(async () => {
    ctx = await startHarborCtx('harbor-helpers');
    data = await ctx.dataRoot('main');
    const cfg = await loginAs(ctx, 'admin');
    assert.equal((await ctx.ocictl(['pull', `${ctx.h.host}/lidabai/busybox:1.0`], { config: cfg, dataRoot: data })).code, 0);
  });
  after(async () => {
    if (ctx) await ctx.stop();
  });

  it('credsStore: login stores through the helper (auths keeps {}), pull and push read through it, logout erases', async () => {
    const { h } = ctx;
    const host = h.host;
    const cfg = await ctx.dockerConfig('store', { credsStore: 'ocitest' });
    const credsFile = path.join(cfg, 'helper-creds.json');
    const logFile = path.join(cfg, 'helper-calls.log');
    const env = { ...credentialHelperEnv(credsFile), OCITEST_CREDS_LOG: logFile };
    const robot = h.robot;
    const login = await ctx.ocictl(['login', '-u', robot, '--password-stdin', host], { config: cfg, dataRoot: data, env, input: `${h.users[robot]}\n` });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /Login Succeeded/);
    assert.doesNotMatch(login.stderr, /unencrypted/, 'no plain-text warning when a helper keeps the secret');
    const conf = readJson<{ credsStore: string; auths: Record<string, object> }>(path.join(cfg, 'config.json'));
    assert.equal(conf.credsStore, 'ocitest');
    assert.deepEqual(conf.auths, { [host]: {} });
    assert.deepEqual(readJson(credsFile), { [host]: { Username: robot, Secret: h.users[robot] } });
    assert.ok(!readFileSync(path.join(cfg, 'config.json'), 'utf8').includes(h.users[robot]!));

    const calls = (): string[] => readFileSync(logFile, 'utf8').trim().split('\n');
    const before = calls().length;
    const pull = await ctx.ocictl(['pull', `${host}/lidabai/busybox:1.0`], { config: cfg, dataRoot: data, env });
    assert.equal(pull.code, 0, pull.stderr);
    assert.ok(calls().slice(before).includes(`get ${host}`), calls().join(','));
    assert.equal((await ctx.ocictl(['tag', `${host}/lidabai/busybox:1.0`, `${host}/lidabai/helper:1`], { config: cfg, dataRoot: data, env })).code, 0);
    h.resetLog();
    const push = await ctx.ocictl(['push', `${host}/lidabai/helper:1`], { config: cfg, dataRoot: data, env });
    assert.equal(push.code, 0, push.stderr);
    assert.ok(h.tokenRequests.length > 0 && h.tokenRequests.every((t) => t.user === robot), 'the robot\'s credentials came from the helper');

    const out = await ctx.ocictl(['logout', host], { config: cfg, dataRoot: data, env });
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, new RegExp(`Removing login credentials for ${host}`));
    assert.deepEqual(readJson(credsFile), {});
    assert.ok(calls().includes(`erase ${host}`));
    assert.deepEqual(readJson<{ auths: object }>(path.join(cfg, 'config.json')).auths, {});
    const after = await ctx.ocictl(['pull', `${host}/lidabai/busybox:1.0`], { config: cfg, dataRoot: await ctx.dataRoot('after-logout'), env });
    assert.equal(after.code, 1);
    assert.match(errorLines(after).join('\n'), /ocictl login/);
  });

  it('credHelpers[host] overrides credsStore for that host', async () => {
    const { h } = ctx;
    const cfg = await ctx.dockerConfig('credhelpers', { credsStore: 'not-installed', credHelpers: { [h.host]: 'ocitest' } });
    const credsFile = path.join(cfg, 'helper-creds.json');
    const env = credentialHelperEnv(credsFile);
    const login = await ctx.ocictl(['login', '-u', 'dev', '--password-stdin', h.host], { config: cfg, dataRoot: data, env, input: 'Dev12345\n' });
    assert.equal(login.code, 0, login.stderr);
    assert.deepEqual(readJson(credsFile), { [h.host]: { Username: 'dev', Secret: 'Dev12345' } });
    assert.deepEqual(readJson<{ auths: object }>(path.join(cfg, 'config.json')).auths, { [h.host]: {} });
    h.resetLog();
    const pull = await ctx.ocictl(['pull', `${h.host}/lidabai/busybox:1.0`], { config: cfg, dataRoot: await ctx.dataRoot('credhelpers'), env });
    assert.equal(pull.code, 0, pull.stderr);
    assert.ok(h.tokenRequests.some((t) => t.user === 'dev'));
  });

  it('a helper named in config.json but not installed: one clear line naming it', async () => {
    const { h } = ctx;
    const cfg = await ctx.dockerConfig('missing', { credHelpers: { [h.host]: 'absent' } });
    const pull = await ctx.ocictl(['pull', `${h.host}/lidabai/busybox:1.0`], { config: cfg, dataRoot: await ctx.dataRoot('missing') });
    assert.equal(pull.code, 1);
    const lines = errorLines(pull);
    assert.equal(lines.length, 1, pull.stderr);
    assert.match(lines[0]!, /credential helper docker-credential-absent was not found in PATH: install it, or remove "absent" from credsStore\/credHelpers/);
    const login = await ctx.ocictl(['login', '-u', 'dev', '--password-stdin', h.host], { config: cfg, dataRoot: data, input: 'Dev12345\n' });
    assert.equal(login.code, 1);
    assert.match(errorLines(login).join('\n'), /docker-credential-absent was not found/);
  });

  it('identitytoken: used as a refresh token (POST grant_type=refresh_token; Harbor answers 405; then GET), pull works', async () => {
    const { h } = ctx;
    // An OIDC user of Harbor authenticates with a CLI secret; Docker keeps it as identitytoken beside "user:".
    const user = 'oidc-alice';
    const secret = `cli-${randomBytes(12).toString('hex')}`;
    ctx.extraSecrets.push(secret, b64(`${user}:${secret}`));
    h.users[user] = secret;
    h.grants[user] = { lidabai: ['pull'] };
    const cfg = await ctx.dockerConfig('idtoken', { auths: { [h.host]: { auth: b64(`${user}:`), identitytoken: secret } } });
    h.resetLog();
    const pull = await ctx.ocictl(['pull', `${h.host}/lidabai/busybox:1.0`], { config: cfg, dataRoot: await ctx.dataRoot('idtoken') });
    assert.equal(pull.code, 0, pull.stderr);
    assert.ok(pull.stdout.includes(ctx.bb.manifestDigest));
    assert.deepEqual(h.tokenRequests.map((t) => [t.method, t.status, t.user]), [['POST', 405, undefined], ['GET', 200, user]]);
  });

  it('Docker CLI logs in (no daemon, CA from /etc/docker/certs.d); ocictl pushes with its config.json; skopeo --authfile sees the same digest', async () => {
    const { h } = ctx;
    const certsD = '/etc/docker/certs.d';
    const hadCertsD = existsSync(certsD);
    const hostDir = path.join(certsD, h.host);
    const cfg = await ctx.dockerConfig('dockercli');
    try {
      await mkdir(hostDir, { recursive: true });
      await copyFile(h.pki.caCert, path.join(hostDir, 'ca.crt'));
      const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: cfg };
      delete env.NODE_EXTRA_CA_CERTS;
      h.resetLog();
      const login = await run('/usr/local/bin/docker', ['login', h.host, '-u', h.robot, '--password-stdin'], { env, input: `${h.users[h.robot]}\n`, timeoutMs: 60_000 });
      assert.equal(login.code, 0, login.stderr);
      ctx.assertNoSecrets(login.stdout + login.stderr, 'docker login');
      assert.ok(h.tokenRequests.some((t) => t.user === h.robot && /client_id=docker/.test(t.query)));
      const written = readJson<{ auths: Record<string, { auth: string }> }>(path.join(cfg, 'config.json'));
      assert.equal(Buffer.from(written.auths[h.host]!.auth, 'base64').toString(), `${h.robot}:${h.users[h.robot]}`);

      assert.equal((await ctx.ocictl(['tag', `${h.host}/lidabai/busybox:1.0`, `${h.host}/lidabai/from-docker:1`], { config: cfg, dataRoot: data })).code, 0);
      h.resetLog();
      const push = await ctx.ocictl(['push', `${h.host}/lidabai/from-docker:1`], { config: cfg, dataRoot: data });
      assert.equal(push.code, 0, push.stderr);
      const pushed = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1];
      assert.equal(pushed, ctx.bb.manifestDigest);
      assert.ok(h.tokenRequests.length > 0 && h.tokenRequests.every((t) => t.user === h.robot));

      const sk = await run('skopeo', ['inspect', '--raw', '--authfile', path.join(cfg, 'config.json'), '--cert-dir', h.pki.certDir, `docker://${h.host}/lidabai/from-docker:1`]);
      assert.equal(sk.code, 0, sk.stderr);
      assert.equal(sha256(sk.stdout), pushed);
    } finally {
      await rm(hadCertsD ? hostDir : certsD, { recursive: true, force: true });
    }
  });
});
