// `ocictl pull-secret` against a real kubectl: for the same login, its Secret and the one
// `kubectl create secret docker-registry --dry-run=client` prints are compared field by field (and the
// `.dockerconfigjson` byte for byte), for a password login and a robot account made by `ocictl login`
// (config.json, and the credential helper), an identity token, and a config.json holding three registries, of
// which only SERVER's credentials may appear. Nothing is written to disk.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { startHarbor, type RunningHarbor } from '../fixtures/harbor.js';
import { credentialHelperEnv } from '../fixtures/credhelper.js';
import { run } from '../fixtures/proc.js';
import { sandbox, type Sandbox } from './lib/cli.js';
import { pullSecret } from '../src/index.js';

interface Secret {
  kind: string;
  apiVersion: string;
  metadata: Record<string, unknown>;
  data: Record<string, string>;
  type: string;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string): string => Buffer.from(s, 'base64').toString('utf8');

let sb: Sandbox;
let h: RunningHarbor;
let hostsDir: string;

before(async () => {
  sb = await sandbox('ocitest-pullsecret-');
  h = await startHarbor();
  hostsDir = path.join(sb.dir, 'hosts');
  await sb.trustCa(h.host, h.pki.caCert);
  hostsDir = sb.hostsDir;
});

after(async () => {
  await h?.stop();
  await sb.cleanup();
});

async function kubectl(server: string, user: string, password: string, format: 'json' | 'yaml', extra: string[] = []): Promise<string> {
  const r = await run('kubectl', ['create', 'secret', 'docker-registry', 'harbor-pull', `--docker-server=${server}`, `--docker-username=${user}`, `--docker-password=${password}`, '--dry-run=client', '-o', format, ...extra], { env: { ...process.env, KUBECONFIG: path.join(sb.dir, 'no-kubeconfig') } });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

async function ours(server: string, config: string, format: 'json' | 'yaml', o: { env?: NodeJS.ProcessEnv; extra?: string[] } = {}): Promise<string> {
  const r = await sb.ocictl(['pull-secret', server, '--name', 'harbor-pull', '--format', format, ...(o.extra ?? [])], { env: { DOCKER_CONFIG: config, ...o.env } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  return r.stdout;
}

/** Field by field: kind, apiVersion, metadata, type, the data keys, and `.dockerconfigjson` as bytes and as JSON. */
function assertSameSecret(mine: Secret, theirs: Secret): void {
  assert.equal(mine.kind, theirs.kind);
  assert.equal(mine.apiVersion, theirs.apiVersion);
  assert.deepEqual(mine.metadata, theirs.metadata);
  assert.equal(mine.type, theirs.type);
  assert.deepEqual(Object.keys(mine.data), Object.keys(theirs.data));
  const a = unb64(mine.data['.dockerconfigjson']!);
  const b = unb64(theirs.data['.dockerconfigjson']!);
  assert.deepEqual(JSON.parse(a), JSON.parse(b));
  assert.equal(a, b, '.dockerconfigjson byte for byte');
  assert.equal(mine.data['.dockerconfigjson'], theirs.data['.dockerconfigjson']);
}

async function compare(server: string, config: string, user: string, password: string, env?: NodeJS.ProcessEnv): Promise<void> {
  const mine = JSON.parse(await ours(server, config, 'json', env ? { env } : {})) as Secret;
  const theirs = JSON.parse(await kubectl(server, user, password, 'json')) as Secret;
  assertSameSecret(mine, theirs);
  // YAML as kubectl prints it, too, and with a namespace
  assert.equal(await ours(server, config, 'yaml', env ? { env } : {}), await kubectl(server, user, password, 'yaml'));
  assert.equal(await ours(server, config, 'yaml', { ...(env ? { env } : {}), extra: ['--namespace', 'apps'] }), await kubectl(server, user, password, 'yaml', ['-n', 'apps']));
}

async function login(user: string, config: string, env?: NodeJS.ProcessEnv): Promise<void> {
  const r = await sb.ocictl(['--hosts-dir', hostsDir, 'login', '-u', user, '--password-stdin', h.host], { input: `${h.users[user]}\n`, env: { DOCKER_CONFIG: config, ...env } });
  assert.equal(r.code, 0, r.stderr);
}

/** Every file under `dir` with its size and mtime. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const p = path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    const s = await stat(p);
    out.push(`${p} ${s.size} ${s.mtimeMs}`);
  }
  return out.sort();
}

test('a password login (config.json written by ocictl login): the same Secret as kubectl; nothing written', async () => {
  const cfg = path.join(sb.dir, 'docker-admin');
  await login('admin', cfg);
  const before = await snapshot(sb.dir);
  await compare(h.host, cfg, 'admin', h.users.admin!);
  assert.deepEqual(await snapshot(sb.dir), before, 'pull-secret wrote nothing');
});

test('a robot account through the credential helper: robot$ name intact', async () => {
  const cfg = path.join(sb.dir, 'docker-robot');
  await mkdir(cfg, { recursive: true });
  await writeFile(path.join(cfg, 'config.json'), JSON.stringify({ credsStore: 'ocitest' }));
  const env = credentialHelperEnv(path.join(sb.dir, 'helper.json'));
  await login(h.robot, cfg, env);
  await compare(h.host, cfg, h.robot, h.users[h.robot]!, env);
  const s = JSON.parse(unb64((JSON.parse(await ours(h.host, cfg, 'json', { env })) as Secret).data['.dockerconfigjson']!)) as { auths: Record<string, { username: string }> };
  assert.equal(s.auths[h.host]!.username, 'robot$lidabai+ci');
});

test('an identity token (OIDC CLI secret): it goes where kubectl puts the password', async () => {
  const cfg = path.join(sb.dir, 'docker-oidc');
  await mkdir(cfg, { recursive: true });
  // As docker writes an identity-token login: auth holds "user:" and the token sits beside it.
  await writeFile(path.join(cfg, 'config.json'), JSON.stringify({ auths: { 'harbor.example.com': { auth: b64('oidc-user:'), identitytoken: 'cli-secret-Abc&123' } } }));
  await compare('harbor.example.com', cfg, 'oidc-user', 'cli-secret-Abc&123');
  // ocictl's own form (only the token): the user name is docker's "<token>"
  const cfg2 = path.join(sb.dir, 'docker-oidc2');
  await mkdir(cfg2, { recursive: true });
  await writeFile(path.join(cfg2, 'config.json'), JSON.stringify({ auths: { 'harbor.example.com': { identitytoken: 'rt-<xyz>' } } }));
  await compare('harbor.example.com', cfg2, '<token>', 'rt-<xyz>');
});

test('config.json with three registries: only SERVER\'s credentials appear', async () => {
  const cfg = path.join(sb.dir, 'docker-three');
  await mkdir(cfg, { recursive: true });
  await writeFile(
    path.join(cfg, 'config.json'),
    JSON.stringify({
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hubuser:hub-SECRET-1') },
        'harbor.example.com': { auth: b64('robot$proj+ci:harbor-SECRET-2') },
        'ghcr.io': { auth: b64('gh:ghp_SECRET_3') },
      },
    }),
  );
  const out = await ours('harbor.example.com', cfg, 'json');
  const mine = JSON.parse(out) as Secret;
  const inner = unb64(mine.data['.dockerconfigjson']!);
  assert.deepEqual(Object.keys((JSON.parse(inner) as { auths: object }).auths), ['harbor.example.com']);
  for (const other of ['hub-SECRET-1', 'ghp_SECRET_3', 'hubuser', 'ghcr.io', 'docker.io', b64('hubuser:hub-SECRET-1'), b64('gh:ghp_SECRET_3')]) {
    assert.ok(!inner.includes(other) && !out.includes(other), `${other} leaked`);
  }
  await compare('harbor.example.com', cfg, 'robot$proj+ci', 'harbor-SECRET-2');
  // Docker Hub keeps its config.json key, as kubectl's default --docker-server
  const hub = JSON.parse(unb64((JSON.parse(await ours('docker.io', cfg, 'json')) as Secret).data['.dockerconfigjson']!)) as { auths: object };
  assert.deepEqual(Object.keys(hub.auths), ['https://index.docker.io/v1/']);
});

test('no credentials for SERVER: one line with `ocictl login SERVER`, exit 1; a bad name exits 2', async () => {
  const cfg = path.join(sb.dir, 'docker-none');
  await mkdir(cfg, { recursive: true });
  await writeFile(path.join(cfg, 'config.json'), JSON.stringify({ auths: { 'ghcr.io': { auth: b64('gh:x') } } }));
  const r = await sb.ocictl(['pull-secret', 'harbor.example.com'], { env: { DOCKER_CONFIG: cfg } });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `ocictl: no credentials for harbor.example.com in ${cfg}/config.json or its credential helper: ocictl login harbor.example.com\n`);
  const bad = await sb.ocictl(['pull-secret', 'ghcr.io', '--name', 'Not_Valid'], { env: { DOCKER_CONFIG: cfg } });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^ocictl: --name "Not_Valid" is not a valid Secret name/);
});

test('the library returns the object the CLI prints', async () => {
  const cfg = path.join(sb.dir, 'docker-admin');
  const lib = await pullSecret(h.host, { name: 'harbor-pull', dockerConfig: path.join(cfg, 'config.json') });
  assert.deepEqual(lib, JSON.parse(await ours(h.host, cfg, 'json')));
});
