/**
 * End to end with the real containerd 1.6: a TLS docker-registry (private CA,
 * htpasswd) on 127.0.0.1, containerd started from the config ocictl
 * generated, certs.d written by `ocictl containerd registry add`.
 */
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pushBusybox, run, startContainerd, startRegistry, type Containerd, type Registry } from '../fixtures/containerd/rig.js';
import { applyFiles, lint, planConfig, TomlDocument } from '../src/host/index.js';

let tmp: string;
let reg: Registry;
let ctd: Containerd;
let ref: string;
let root: string;
let hostsDir: string;

/** Points the daemon's own paths at the test's temporary directory. */
export function relocate(text: string, p: { root: string; state: string; socket: string; opt: string }, hosts?: string): string {
  const d = new TomlDocument(text);
  d.set([], 'root', p.root);
  d.set([], 'state', p.state);
  d.set(['grpc'], 'address', p.socket);
  d.set(['ttrpc'], 'address', `${p.socket}.ttrpc`);
  d.set(['plugins', 'io.containerd.internal.v1.opt'], 'path', p.opt);
  if (hosts) d.set(['plugins', 'io.containerd.grpc.v1.cri', 'registry'], 'config_path', hosts);
  return d.text;
}

before(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'ocictl-ctd-e2e-'));
  reg = await startRegistry(path.join(tmp, 'registry'));
  ref = await pushBusybox(reg, path.join(tmp, 'image'));
  root = path.join(tmp, 'root');
  const cfg = await planConfig({ root, containerdVersion: '1.6.20', sandboxImage: 'registry.cn-hangzhou.aliyuncs.com/google_containers/pause:3.6', systemd: false });
  await applyFiles(cfg.plan);
  hostsDir = path.join(root, 'etc/containerd/certs.d');
  const text = await fsp.readFile(path.join(root, 'etc/containerd/config.toml'), 'utf8');
  ctd = await startContainerd(text, path.join(tmp, 'ctd'), (t, p) => relocate(t, p, hostsDir));
});

after(async () => {
  await ctd?.stop();
  await reg?.stop();
  await fsp.rm(tmp, { recursive: true, force: true });
});

const cli = (args: string[]) => run(process.execPath, ['bin/ocictl.js', 'containerd', ...args]);

test('the CRI plugin loads from the generated config', async () => {
  const r = await ctd.ctr(['plugins', 'ls']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /io\.containerd\.grpc\.v1\s+cri\s+\S+\s+ok/);
});

test('ctr pull through certs.d written by `registry add`; fails without it', async () => {
  await fsp.mkdir(hostsDir, { recursive: true });
  const pull = () => ctd.ctr(['images', 'pull', '--hosts-dir', hostsDir, '--user', 'admin:Harbor12345', ref], 60_000);
  const without = await pull();
  assert.notEqual(without.code, 0, 'pull must fail without hosts.toml');
  // 127.0.0.1 defaults to plain HTTP: the TLS port answers 400
  assert.match(without.stderr, /400 Bad Request/);

  const add = await cli(['registry', 'add', reg.host, '--ca', reg.caFile, '--root', root]);
  assert.equal(add.code, 0, add.stderr);
  const withIt = await pull();
  assert.equal(withIt.code, 0, `${withIt.stderr}\n${await ctd.log()}`);
  const ls = await ctd.ctr(['images', 'ls', '-q']);
  assert.match(ls.stdout, new RegExp(ref.replace(/\./g, '\\.')));

  // and the wrong password still fails: credentials are the client's business, not hosts.toml's
  await ctd.ctr(['images', 'rm', ref]);
  const bad = await ctd.ctr(['images', 'pull', '--hosts-dir', hostsDir, '--user', 'admin:wrong', ref], 60_000);
  assert.notEqual(bad.code, 0);
});

test('lint --probe: the CA in hosts.toml signs the registry certificate; another CA does not', async () => {
  await fsp.access(path.join(hostsDir, reg.host, 'hosts.toml'));
  const good = await lint({ root, probe: true, systemdHost: false });
  assert.deepEqual(good.findings.filter((f) => f.id === 'ca-does-not-sign'), []);
  const otherRoot = path.join(tmp, 'other');
  const otherCa = path.join(tmp, 'other-ca.crt');
  await fsp.writeFile(otherCa, reg.pki.otherCaPem);
  await fsp.mkdir(path.join(otherRoot, 'etc/containerd'), { recursive: true });
  await fsp.copyFile(path.join(root, 'etc/containerd/config.toml'), path.join(otherRoot, 'etc/containerd/config.toml'));
  assert.equal((await cli(['registry', 'add', reg.host, '--ca', otherCa, '--root', otherRoot])).code, 0);
  const bad = await lint({ root: otherRoot, probe: true, systemdHost: false });
  const f = bad.findings.find((x) => x.id === 'ca-does-not-sign');
  assert.ok(f, JSON.stringify(bad.findings));
  assert.match(f.message, /does not verify against the configured CA/);
  // without --probe nothing is contacted and the file alone looks fine
  const offline = await lint({ root: otherRoot, systemdHost: false });
  assert.deepEqual(offline.findings, []);
});
