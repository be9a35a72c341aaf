import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parse as parseToml } from 'smol-toml';

const parse = (t: string): Record<string, any> => JSON.parse(JSON.stringify(parseToml(t))) as Record<string, any>;
import { run } from '../fixtures/containerd/rig.js';
import { applyFiles, DEFAULT_CONFIG_V2, planConfig, TomlDocument, unifiedDiff, renderPlan, changedFiles } from '../src/host/index.js';
import { OcictlError } from '../src/errors.js';

let tmp: string;
before(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'ocictl-ctd-config-'));
});
after(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

const PAUSE = 'registry.cn-hangzhou.aliyuncs.com/google_containers/pause:3.6';

async function dump(file: string): Promise<string> {
  const r = await run('containerd', ['--config', file, 'config', 'dump']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

test('the built-in v2 default is what containerd 1.6 prints', async () => {
  const r = await run('containerd', ['config', 'default']);
  assert.equal(r.code, 0);
  assert.equal(DEFAULT_CONFIG_V2, r.stdout);
});

test('config from `containerd config default` (binary in the root) passes config dump with the intended values; second run changes nothing', async () => {
  const root = path.join(tmp, 'r1');
  await fsp.mkdir(path.join(root, 'usr/local/bin'), { recursive: true });
  await fsp.symlink('/usr/bin/containerd', path.join(root, 'usr/local/bin/containerd'));
  const r = await planConfig({ root, sandboxImage: PAUSE, systemdCgroup: true, mirrors: [{ host: 'docker.io', url: 'https://mirror.example.com' }], systemd: false });
  assert.equal(r.source, 'containerd config default');
  assert.equal(r.schema, 2);
  assert.equal(r.version, '1.6.20');
  await applyFiles(r.plan);
  const cfg = path.join(root, 'etc/containerd/config.toml');
  const d = await dump(cfg);
  assert.match(d, new RegExp(`sandbox_image = "${PAUSE.replace(/\./g, '\\.')}"`));
  assert.match(d, /SystemdCgroup = true/);
  assert.match(d, /config_path = "\/etc\/containerd\/certs\.d"/);
  assert.doesNotMatch(d, /registry\.mirrors\."docker\.io"/);
  const mirror = parse(await fsp.readFile(path.join(root, 'etc/containerd/certs.d/docker.io/hosts.toml'), 'utf8'));
  assert.equal(mirror.server, 'https://registry-1.docker.io');
  assert.deepEqual(mirror.host, { 'https://mirror.example.com': { capabilities: ['pull', 'resolve'] } });
  // idempotent: nothing to change, no backup
  const again = await planConfig({ root, sandboxImage: PAUSE, systemdCgroup: true, mirrors: [{ host: 'docker.io', url: 'https://mirror.example.com' }], systemd: false });
  assert.deepEqual(changedFiles(again.plan), []);
  await applyFiles(again.plan);
  assert.deepEqual((await fsp.readdir(path.join(root, 'etc/containerd'))).sort(), ['certs.d', 'config.toml']);
});

test('an existing config is edited in place: comments and unrelated settings survive, a backup is kept', async () => {
  const root = path.join(tmp, 'r2');
  const file = path.join(root, 'etc/containerd/config.toml');
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const original = [
    '# site config, do not lose this comment',
    'version = 2',
    'root = "/data/containerd" # moved to the big disk',
    '',
    '[plugins."io.containerd.grpc.v1.cri"]',
    '  sandbox_image = "k8s.gcr.io/pause:3.2"  # old',
    '  max_concurrent_downloads = 10',
    '',
    '  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
    '    SystemdCgroup = false',
    '',
    '[debug]',
    '  level = "debug"',
    '',
  ].join('\n');
  await fsp.writeFile(file, original, { mode: 0o640 });
  const r = await planConfig({ root, sandboxImage: PAUSE, systemdCgroup: true, containerdVersion: '1.6.20', systemd: false });
  assert.equal(r.source, 'existing');
  const change = r.plan.files.find((f) => f.path === '/etc/containerd/config.toml')!;
  assert.equal(change.action, 'update');
  assert.ok(change.backup);
  const diff = unifiedDiff(change.before!, change.content as string, 'a', 'b');
  assert.match(diff, /^-  sandbox_image = "k8s\.gcr\.io\/pause:3\.2"  # old$/m);
  assert.match(diff, new RegExp(`^\\+  sandbox_image = "${PAUSE.replace(/\./g, '\\.')}"  # old$`, 'm'));
  assert.match(diff, /^\+    SystemdCgroup = true$/m);
  assert.match(renderPlan(r.plan), /update \/etc\/containerd\/config\.toml/);
  await applyFiles(r.plan);
  const text = await fsp.readFile(file, 'utf8');
  assert.match(text, /^# site config, do not lose this comment$/m);
  assert.match(text, /^root = "\/data\/containerd" # moved to the big disk$/m);
  assert.match(text, /max_concurrent_downloads = 10/);
  assert.match(text, /\[debug\]\n  level = "debug"/);
  assert.equal((await fsp.stat(file)).mode & 0o777, 0o640, 'mode kept');
  const backups = (await fsp.readdir(path.dirname(file))).filter((f) => f.startsWith('config.toml.bak-'));
  assert.equal(backups.length, 1);
  assert.equal(await fsp.readFile(path.join(path.dirname(file), backups[0]!), 'utf8'), original);
  const d = await dump(file);
  assert.match(d, /root = "\/data\/containerd"/);
  assert.match(d, /config_path = "\/etc\/containerd\/certs\.d"/);
  assert.match(d, /SystemdCgroup = true/);
  assert.match(d, /max_concurrent_downloads = 10/);
  // second run: nothing
  const again = await planConfig({ root, sandboxImage: PAUSE, systemdCgroup: true, containerdVersion: '1.6.20', systemd: false });
  assert.deepEqual(changedFiles(again.plan), []);
});

test('a config with registry.mirrors is refused (it cannot live with config_path)', async () => {
  const root = path.join(tmp, 'r3');
  const file = path.join(root, 'etc/containerd/config.toml');
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await fsp.writeFile(file, 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\n  endpoint = ["https://m.example"]\n');
  await assert.rejects(planConfig({ root, containerdVersion: '1.6.20', systemd: false }), (e: unknown) => e instanceof OcictlError && e.code === 'CONFIG_INVALID' && /lint --fix/.test(e.hint ?? ''));
});

test('v3 schema for containerd 2.x: keys in io.containerd.cri.v1.images / runtime', async () => {
  const root = path.join(tmp, 'r4');
  const r = await planConfig({ root, sandboxImage: PAUSE, systemdCgroup: true, containerdVersion: '2.0.4', systemd: false });
  assert.equal(r.schema, 3);
  assert.equal(r.source, 'built-in default');
  const doc = parse(r.text) as Record<string, any>;
  assert.equal(doc.version, 3);
  assert.equal(doc.plugins['io.containerd.cri.v1.images'].pinned_images.sandbox, PAUSE);
  assert.equal(doc.plugins['io.containerd.cri.v1.images'].registry.config_path, '/etc/containerd/certs.d');
  assert.equal(doc.plugins['io.containerd.cri.v1.runtime'].containerd.runtimes.runc.options.SystemdCgroup, true);
  assert.equal(doc.plugins['io.containerd.grpc.v1.cri'].sandbox_image, undefined);
  // 1.6 accepts version 3 files (it dumps them as 2): at least the syntax is sound
  await applyFiles(r.plan);
  await dump(path.join(root, 'etc/containerd/config.toml'));
});

test('systemd cgroup default follows systemd; --no-systemd-cgroup sets false', async () => {
  const a = await planConfig({ root: path.join(tmp, 'r5'), containerdVersion: '1.6.20', systemd: true });
  assert.match(a.text, /SystemdCgroup = true/);
  const b = await planConfig({ root: path.join(tmp, 'r6'), containerdVersion: '1.6.20', systemd: false });
  assert.match(b.text, /SystemdCgroup = false/);
  const c = await planConfig({ root: path.join(tmp, 'r7'), containerdVersion: '1.6.20', systemd: true, systemdCgroup: false });
  assert.match(c.text, /SystemdCgroup = false/);
  assert.match(c.plan.warnings.join('\n'), /systemd host/);
});

test('line editor: inserts missing keys and tables, keeps multi-line values and comments', () => {
  const src = '# top\nversion = 2\n\n[a]\n  list = [\n    "x", # one\n    "y",\n  ]\n  k = 1 # keep\n\n[a.b]\n  z = "q"\n\n[other]\n  o = true\n';
  const d = new TomlDocument(src);
  assert.equal(d.set(['a'], 'k', 2), true);
  assert.equal(d.set(['a'], 'k', 2), false);
  d.set(['a'], 'new', 'v');
  d.set(['a', 'b', 'c'], 'deep', true);
  d.set(['zzz'], 'w', ['p', 'q']);
  const out = parse(d.text) as Record<string, any>;
  assert.deepEqual(out.a.list, ['x', 'y']);
  assert.equal(out.a.k, 2);
  assert.equal(out.a.new, 'v');
  assert.equal(out.a.b.c.deep, true);
  assert.deepEqual(out.zzz.w, ['p', 'q']);
  assert.equal(out.other.o, true);
  assert.match(d.text, /^# top$/m);
  assert.match(d.text, /"x", # one/);
  assert.match(d.text, /k = 2 # keep/);
  // the new sub-table lands inside its parent's block, before [other]
  assert.ok(d.text.indexOf('[a.b.c]') < d.text.indexOf('[other]'));
  assert.equal(d.removeTable(['a', 'b']), true);
  const out2 = parse(d.text) as Record<string, any>;
  assert.equal(out2.a.b, undefined);
  assert.deepEqual(out2.a.list, ['x', 'y']);
});
