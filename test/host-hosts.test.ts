import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parse as parseToml } from 'smol-toml';

const parse = (t: string): Record<string, any> => JSON.parse(JSON.stringify(parseToml(t))) as Record<string, any>;
import { makePki, run } from '../fixtures/containerd/rig.js';
import { applyFiles, listRegistries, planRegistryAdd, planRegistryRm, renderPlan } from '../src/host/index.js';
import { OcictlError } from '../src/errors.js';

let tmp: string;
let pki: ReturnType<typeof makePki>;
const files: Record<string, string> = {};
before(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'ocictl-ctd-hosts-'));
  pki = makePki();
  for (const [k, v] of Object.entries({ ca: pki.caPem, cert: pki.clientCertPem, key: pki.clientKeyPem, server: pki.certPem })) {
    files[k] = path.join(tmp, `${k}.pem`);
    await fsp.writeFile(files[k]!, v);
  }
});
after(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

const HOST = '127.0.0.1:5443';

test('registry add writes hosts.toml with 1.6 quirks and copies certs with modes', async () => {
  const root = path.join(tmp, 'r1');
  const plan = await planRegistryAdd({ root, host: HOST, ca: files.ca!, cert: files.cert!, key: files.key! });
  await applyFiles(plan);
  const dir = path.join(root, 'etc/containerd/certs.d', HOST);
  const toml = parse(await fsp.readFile(path.join(dir, 'hosts.toml'), 'utf8')) as Record<string, any>;
  assert.equal(toml.server, `https://${HOST}`);
  assert.equal(toml.ca, 'ca.crt', 'ca at the top level too');
  assert.deepEqual(toml.host, { [`https://${HOST}`]: { capabilities: ['pull', 'resolve', 'push'], ca: 'ca.crt', client: [['client.cert', 'client.key']] } });
  assert.equal((await fsp.stat(path.join(dir, 'ca.crt'))).mode & 0o777, 0o644);
  assert.equal((await fsp.stat(path.join(dir, 'client.cert'))).mode & 0o777, 0o644);
  assert.equal((await fsp.stat(path.join(dir, 'client.key'))).mode & 0o777, 0o600);
  assert.equal(await fsp.readFile(path.join(dir, 'ca.crt'), 'utf8'), pki.caPem);
  assert.match(plan.notes.join('\n'), /ocictl login 127\.0\.0\.1:5443/);
  // again: unchanged
  const again = await planRegistryAdd({ root, host: HOST, ca: files.ca!, cert: files.cert!, key: files.key! });
  assert.ok(again.files.every((f) => f.action === 'unchanged'));
  const list = await listRegistries(root);
  assert.equal(list.length, 1);
  assert.equal(list[0]!.host, HOST);
  assert.equal(list[0]!.server, `https://${HOST}`);
  assert.deepEqual(list[0]!.ca, ['ca.crt']);
  // rm
  const rm = await planRegistryRm(root, HOST);
  assert.match(renderPlan(rm), /delete \/etc\/containerd\/certs\.d\/127\.0\.0\.1:5443\/hosts\.toml/);
  await applyFiles(rm);
  assert.deepEqual(await listRegistries(root), []);
  await assert.rejects(planRegistryRm(root, HOST), (e: unknown) => e instanceof OcictlError && e.code === 'NOT_FOUND');
});

test('registry add: dry-run writes nothing; options --server, --capabilities, --skip-verify; config_path is honoured', async () => {
  const root = path.join(tmp, 'r2');
  await fsp.mkdir(path.join(root, 'etc/containerd'), { recursive: true });
  await fsp.writeFile(path.join(root, 'etc/containerd/config.toml'), 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/harbor"\n');
  const plan = await planRegistryAdd({ root, host: 'harbor.local', server: 'http://10.0.0.1:8080', capabilities: ['pull', 'resolve'], skipVerify: true });
  assert.equal(plan.files[0]!.path, '/etc/containerd/harbor/harbor.local/hosts.toml');
  assert.match(plan.warnings.join('\n'), /skip_verify/);
  assert.deepEqual(await fsp.readdir(path.join(root, 'etc/containerd')), ['config.toml']);
  const toml = parse(plan.files[0]!.content as string) as Record<string, any>;
  assert.equal(toml.server, 'http://10.0.0.1:8080');
  assert.equal(toml.skip_verify, true);
  assert.deepEqual(toml.host['http://10.0.0.1:8080'], { capabilities: ['pull', 'resolve'], skip_verify: true });
});

test('registry add rejects bad input', async () => {
  const root = path.join(tmp, 'r3');
  await assert.rejects(planRegistryAdd({ root, host: 'https://x/y' }), (e: unknown) => e instanceof OcictlError && e.code === 'INVALID_ARGUMENT');
  await assert.rejects(planRegistryAdd({ root, host: HOST, cert: files.cert! }), /--cert and --key go together/);
  await assert.rejects(planRegistryAdd({ root, host: HOST, ca: files.key! }), /not a PEM certificate/);
  const other = makePki();
  const wrongKey = path.join(tmp, 'wrong.key');
  await fsp.writeFile(wrongKey, other.clientKeyPem);
  await assert.rejects(planRegistryAdd({ root, host: HOST, cert: files.cert!, key: wrongKey }), /does not belong/);
  await assert.rejects(fsp.stat(path.join(root, 'etc')));
});

test('CLI: registry add --dry-run, ls, rm and exit codes', async () => {
  const root = path.join(tmp, 'cli');
  const cli = (args: string[]) => run(process.execPath, ['bin/ocictl.js', 'containerd', ...args]);
  const dry = await cli(['registry', 'add', HOST, '--ca', files.ca!, '--root', root, '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /create \/etc\/containerd\/certs\.d\/127\.0\.0\.1:5443\/hosts\.toml/);
  assert.match(dry.stdout, /\+\[host\."https:\/\/127\.0\.0\.1:5443"\]/);
  await assert.rejects(fsp.stat(root));
  assert.equal((await cli(['registry', 'add', HOST, '--ca', files.ca!, '--root', root])).code, 0);
  const ls = await cli(['registry', 'ls', '--root', root]);
  assert.match(ls.stdout, /127\.0\.0\.1:5443\thttps:\/\/127\.0\.0\.1:5443/);
  const bad = await cli(['registry', 'add', 'http://x', '--root', root]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^ocictl: not a registry host/);
  assert.equal((await cli(['registry', 'rm', HOST, '--root', root])).code, 0);
  assert.match((await cli(['registry', 'ls', '--root', root])).stdout, /no registry hosts/);
});
