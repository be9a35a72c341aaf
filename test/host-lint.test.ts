import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { makePki, run, startContainerd } from '../fixtures/containerd/rig.js';
import { analyseConfig, applyFiles, lint, TomlDocument } from '../src/host/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const WALKTHROUGH = path.resolve(here, '../../fixtures/host/walkthrough-config.toml');

let tmp: string;
before(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'ocictl-ctd-lint-'));
});
after(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

async function walkthroughRoot(name: string): Promise<string> {
  const root = path.join(tmp, name);
  await fsp.mkdir(path.join(root, 'etc/containerd/harbor'), { recursive: true });
  await fsp.copyFile(WALKTHROUGH, path.join(root, 'etc/containerd/config.toml'));
  await fsp.chmod(path.join(root, 'etc/containerd/config.toml'), 0o644);
  const pki = makePki();
  await fsp.writeFile(path.join(root, 'etc/containerd/harbor/ca.pem'), pki.caPem);
  await fsp.writeFile(path.join(root, 'etc/containerd/harbor/harbor.pem'), pki.clientCertPem);
  await fsp.writeFile(path.join(root, 'etc/containerd/harbor/harbor-key.pem'), pki.clientKeyPem, { mode: 0o600 });
  return root;
}

test("the walkthrough's config.toml gives the findings, each with line, why and fix", async () => {
  const root = await walkthroughRoot('w1');
  const r = await lint({ root, systemdHost: true });
  const ids = r.findings.map((f) => `${f.id}:${f.line}`);
  assert.deepEqual(ids.sort(), [
    'configs-tls-with-config-path:150',
    'deprecated-configs-auth:155',
    'mirrors-with-config-path:164',
    'plaintext-password:157',
    'plugin-singular:150',
    'plugin-singular:155',
    'plugin-singular:164',
  ].sort());
  for (const f of r.findings) {
    assert.ok(f.why.length > 20 && f.fix.length > 10, f.id);
  }
  assert.match(r.findings.find((f) => f.id === 'plaintext-password')!.message, /mode 0644/);
  // the CLI: exit code 1 with findings
  const c = await run(process.execPath, ['bin/ocictl.js', 'containerd', 'lint', '--root', root]);
  assert.equal(c.code, 1);
  assert.match(c.stdout, /config\.toml:164: error: .*plugin/);
});

test('lint --fix: the result passes config dump, the CRI plugin loads, hosts.toml carry the TLS settings', async () => {
  const root = await walkthroughRoot('w2');
  const cfg = path.join(root, 'etc/containerd/config.toml');
  const before = await fsp.readFile(cfg, 'utf8');
  // the walkthrough as printed makes the CRI plugin fail once the spelling is fixed by hand
  const naive = before.replace(/\[plugin\./g, '[plugins.');
  const broken = await startContainerd(naive, path.join(tmp, 'ctd-naive'), relocate);
  try {
    const pl = await broken.ctr(['plugins', 'ls']);
    assert.match(pl.stdout, /io\.containerd\.grpc\.v1\s+cri\s+\S+\s+error/);
  } finally {
    await broken.stop();
  }
  const c = await run(process.execPath, ['bin/ocictl.js', 'containerd', 'lint', '--root', root, '--fix']);
  assert.equal(c.code, 1, 'credentials stay (a human decides), so findings remain');
  const after = await fsp.readFile(cfg, 'utf8');
  assert.notEqual(after, before);
  assert.equal((await fsp.stat(cfg)).mode & 0o777, 0o600, 'chmod 600 for the password');
  const backups = (await fsp.readdir(path.dirname(cfg))).filter((f) => f.startsWith('config.toml.bak-'));
  assert.equal(backups.length, 1);
  assert.equal((await fsp.stat(path.join(path.dirname(cfg), backups[0]!))).mode & 0o777, 0o600, 'the backup is not world-readable');
  assert.doesNotMatch(after, /^\s*\[plugin\./m);
  assert.doesNotMatch(after, /registry\.mirrors/);
  const dump = await run('containerd', ['--config', cfg, 'config', 'dump']);
  assert.equal(dump.code, 0, dump.stderr);
  assert.match(dump.stdout, /config_path = "\/etc\/containerd\/harbor"/);
  const ctd = await startContainerd(after, path.join(tmp, 'ctd-fixed'), relocate);
  try {
    const pl = await ctd.ctr(['plugins', 'ls']);
    assert.match(pl.stdout, /io\.containerd\.grpc\.v1\s+cri\s+\S+\s+ok/, await ctd.log());
  } finally {
    await ctd.stop();
  }
  const h = await fsp.readFile(path.join(root, 'etc/containerd/harbor/192.168.2.250:443/hosts.toml'), 'utf8');
  assert.match(h, /^ca = "\/etc\/containerd\/harbor\/ca\.pem"$/m);
  assert.match(h, /^\[host\."https:\/\/192\.168\.2\.250:443"\]$/m);
  assert.match(h, /^skip_verify = true$/m);
  const m = await fsp.readFile(path.join(root, 'etc/containerd/harbor/harbor/hosts.toml'), 'utf8');
  assert.match(m, /^server = "https:\/\/harbor"$/m);
  // what is left: the credentials, not fixable automatically
  const again = await lint({ root, systemdHost: true });
  assert.deepEqual(again.findings.map((f) => f.id).sort(), ['deprecated-configs-auth', 'plaintext-password']);
  assert.doesNotMatch(again.findings.find((f) => f.id === 'plaintext-password')!.message, /readable by others/);
});

function relocate(text: string, p: { root: string; state: string; socket: string; opt: string }): string {
  const d = new TomlDocument(text);
  d.set([], 'root', p.root);
  d.set([], 'state', p.state);
  d.set(['grpc'], 'address', p.socket);
  d.set(['ttrpc'], 'address', `${p.socket}.ttrpc`);
  d.set(['plugins', 'io.containerd.internal.v1.opt'], 'path', p.opt);
  return d.text;
}

test('SystemdCgroup = false on a systemd host; schema mismatches; missing version', () => {
  const a = analyseConfig('version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n  SystemdCgroup = false\n', 0o644, 'c', { root: '/', systemdHost: true });
  assert.deepEqual(a.findings.map((f) => `${f.id}:${f.line}`), ['systemd-cgroup-off:3']);
  assert.match(a.fixedText!, /SystemdCgroup = true/);
  assert.deepEqual(analyseConfig('version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n  SystemdCgroup = false\n', 0o644, 'c', { root: '/', systemdHost: false }).findings, []);
  const v3 = analyseConfig('version = 3\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "x"\n', 0o644, 'c', { root: '/', systemdHost: false });
  assert.deepEqual(v3.findings.map((f) => `${f.id}:${f.line}`), ['v2-key-in-v3:3']);
  const v2 = analyseConfig('version = 2\n\n[plugins."io.containerd.cri.v1.images".pinned_images]\n  sandbox = "x"\n', 0o644, 'c', { root: '/', systemdHost: false });
  assert.deepEqual(v2.findings.map((f) => `${f.id}:${f.line}`), ['v3-key-in-v2:3']);
  const nov = analyseConfig('[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "x"\n', 0o644, 'c', { root: '/', systemdHost: false });
  assert.deepEqual(nov.findings.map((f) => f.id), ['no-version']);
  assert.match(nov.fixedText!, /^version = 2$/m);
  const syntax = analyseConfig('version = 2\n[plugins\n', 0o644, 'c', { root: '/', systemdHost: false });
  assert.deepEqual(syntax.findings.map((f) => `${f.id}:${f.line}`), ['toml-syntax:2']);
});

test('hosts.toml mistakes: no [host] table, ca only in [host], missing and unparsable certificates; --fix', async () => {
  const root = path.join(tmp, 'h');
  const d = path.join(root, 'etc/containerd/certs.d');
  await fsp.mkdir(path.join(d, 'a.example:5000'), { recursive: true });
  await fsp.mkdir(path.join(d, 'b.example'), { recursive: true });
  await fsp.mkdir(path.join(d, 'c.example'), { recursive: true });
  await fsp.writeFile(path.join(root, 'etc/containerd/config.toml'), 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n');
  const pki = makePki();
  await fsp.writeFile(path.join(d, 'a.example:5000/ca.crt'), pki.caPem);
  await fsp.writeFile(path.join(d, 'a.example:5000/hosts.toml'), 'server = "https://a.example:5000"\nca = "ca.crt"\n');
  await fsp.writeFile(path.join(d, 'b.example/ca.crt'), pki.caPem);
  await fsp.writeFile(path.join(d, 'b.example/hosts.toml'), 'server = "https://b.example"\n\n[host."https://b.example"]\n  capabilities = ["pull", "resolve"]\n  ca = "ca.crt"\n');
  await fsp.writeFile(path.join(d, 'c.example/bad.pem'), 'not a certificate');
  await fsp.writeFile(path.join(d, 'c.example/hosts.toml'), 'server = "https://c.example"\nca = ["bad.pem", "/etc/ssl/none.crt"]\n[host."https://c.example"]\n  capabilities = ["pull"]\n  ca = ["bad.pem", "/etc/ssl/none.crt"]\n');
  const r = await lint({ root, systemdHost: false, fix: true });
  const ids = r.findings.map((f) => `${path.basename(path.dirname(f.file))}:${f.id}:${f.line}`).sort();
  assert.deepEqual(ids, ['a.example:5000:hosts-no-host-table:1', 'b.example:hosts-ca-only-in-host:5', 'c.example:cert-invalid:2', 'c.example:cert-missing:2'].sort());
  await applyFiles(r.plan!);
  const a = await fsp.readFile(path.join(d, 'a.example:5000/hosts.toml'), 'utf8');
  assert.match(a, /\[host\."https:\/\/a\.example:5000"\]\n  capabilities = \["pull", "resolve", "push"\]\n  ca = "ca\.crt"/);
  const b = await fsp.readFile(path.join(d, 'b.example/hosts.toml'), 'utf8');
  assert.match(b, /^ca = "ca\.crt"$/m);
  const again = await lint({ root, systemdHost: false });
  assert.deepEqual(again.findings.map((f) => f.id).sort(), ['cert-invalid', 'cert-missing']);
});

test('CLI exit codes: 0 clean, 2 unreadable', async () => {
  const root = path.join(tmp, 'clean');
  await fsp.mkdir(path.join(root, 'etc/containerd'), { recursive: true });
  await fsp.writeFile(path.join(root, 'etc/containerd/config.toml'), 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n');
  const ok = await run(process.execPath, ['bin/ocictl.js', 'containerd', 'lint', '--root', root]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /no findings/);
  const missing = await run(process.execPath, ['bin/ocictl.js', 'containerd', 'lint', '--root', path.join(tmp, 'nowhere')]);
  assert.equal(missing.code, 2);
});
