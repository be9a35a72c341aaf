import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { criBundleEntries, writeTarball } from '../fixtures/host/tarballs.js';
import { run } from '../fixtures/containerd/rig.js';
import { install, parseRuncVersion, runcWarnings, runSteps, POST_INSTALL, unitText } from '../src/host/index.js';

let tmp: string;
let bundle: string;
before(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'ocictl-ctd-install-'));
  bundle = path.join(tmp, 'cri-containerd-cni-1.6.20-linux-amd64.tar.gz');
  await writeTarball(bundle, criBundleEntries());
});
after(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

test('installs the real Debian binaries from a cri-containerd-cni bundle; they run', async () => {
  const root = path.join(tmp, 'root');
  // systemd-analyze --root needs the base targets (sysinit.target...) in the root
  await fsp.cp('/usr/lib/systemd/system', path.join(root, 'usr/lib/systemd/system'), { recursive: true, filter: (src) => !src.endsWith('/containerd.service') });
  const logs: string[] = [];
  const r = await install({ root, archive: bundle, dryRun: false, systemd: false, log: (l) => logs.push(l) });
  assert.equal(r.layout.kind, 'cri-bundle');
  assert.equal(r.containerdVersion, '1.6.20');
  const v = await run(path.join(root, 'usr/local/bin/containerd'), ['--version']);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /1\.6\.20/);
  const rv = await run(path.join(root, 'usr/local/sbin/runc'), ['--version']);
  assert.equal(rv.code, 0);
  assert.match(rv.stdout, /libseccomp/);
  assert.equal(r.runc?.path, '/usr/local/sbin/runc');
  assert.ok(r.runc?.info?.libseccomp);
  assert.deepEqual(r.runc?.warnings, []);
  for (const b of ['usr/local/bin/containerd', 'usr/local/bin/ctr', 'usr/local/bin/containerd-shim-runc-v2', 'usr/local/sbin/runc']) {
    assert.equal((await fsp.stat(path.join(root, b))).mode & 0o777, 0o755, b);
  }
  assert.ok(await fsp.stat(path.join(root, 'etc/cni/net.d/10-containerd-net.conflist')));
  assert.ok(await fsp.stat(path.join(root, 'opt/cni/bin/loopback')));
  // the bundle's own unit (it would shadow /usr/lib) and the top-level txt are not installed
  await assert.rejects(fsp.stat(path.join(root, 'etc/systemd/system/containerd.service')));
  await assert.rejects(fsp.stat(path.join(root, 'cri-containerd.DEPRECATED.txt')));
  const unit = await fsp.readFile(path.join(root, 'usr/lib/systemd/system/containerd.service'), 'utf8');
  assert.equal(unit, unitText());
  // post-install steps: skipped with a message because systemd is not PID 1 / not the running root
  assert.deepEqual(r.steps.map((s) => s.status), ['skipped', 'skipped']);
  assert.match(logs.join('\n'), /skipped \(.*\): systemctl daemon-reload && systemctl enable --now containerd/);
  // systemd-analyze verifies the unit against the installed tree
  const va = await run('systemd-analyze', ['verify', `--root=${root}`, '/usr/lib/systemd/system/containerd.service']);
  assert.equal(va.code, 0, va.stderr);
  assert.doesNotMatch(va.stderr, /Unknown key|Failed|not executable/i);
  // and it would catch a broken one: ExecStart pointing at a missing binary
  await fsp.writeFile(path.join(root, 'usr/lib/systemd/system/broken.service'), unitText({ execStart: '/usr/local/bin/nope' }));
  const vb = await run('systemd-analyze', ['verify', `--root=${root}`, '/usr/lib/systemd/system/broken.service']);
  assert.notEqual(vb.code, 0);
  // a second install over the first works (binaries replaced atomically)
  await install({ root, archive: bundle, dryRun: false, systemd: false });
});

test('dry-run lists files and commands and writes nothing', async () => {
  const root = path.join(tmp, 'dry');
  await fsp.mkdir(root);
  const r = await install({ root, archive: bundle, dryRun: true });
  assert.deepEqual(await fsp.readdir(root), []);
  assert.ok(r.entries.some((e) => e.path === '/usr/local/bin/containerd' && e.mode === 0o755));
  assert.deepEqual(r.plan.commands.map((c) => c.argv.join(' ')), ['systemctl daemon-reload', 'systemctl enable --now containerd']);
  assert.deepEqual(r.steps.map((s) => s.status), ['planned', 'planned']);
  assert.equal(r.plan.files[0]?.path, '/usr/lib/systemd/system/containerd.service');
});

test('the runner runs the steps in order when systemd runs the root, and stops at a failure', async () => {
  const ran: string[] = [];
  const out = await runSteps(POST_INSTALL, { dryRun: false, root: '/', systemd: true, log: () => {}, exec: async (argv) => (ran.push(argv.join(' ')), { code: 0, stdout: '', stderr: '' }) });
  assert.deepEqual(ran, ['systemctl daemon-reload', 'systemctl enable --now containerd']);
  assert.deepEqual(out.map((s) => s.status), ['ran', 'ran']);
  await assert.rejects(
    runSteps(POST_INSTALL, { dryRun: false, root: '/', systemd: true, log: () => {}, exec: async () => ({ code: 1, stdout: '', stderr: 'Failed to connect to bus' }) }),
    /systemctl daemon-reload failed \(exit 1\): Failed to connect to bus/,
  );
});

test('runc --version parsing and the libseccomp 2.4 warning', () => {
  const info = parseRuncVersion('runc version 1.1.2\ncommit: v1.1.2-0-ga916309f\nspec: 1.0.2-dev\ngo: go1.18.2\nlibseccomp: 2.3.1\n');
  assert.deepEqual(info, { version: '1.1.2', commit: 'v1.1.2-0-ga916309f', spec: '1.0.2-dev', go: 'go1.18.2', libseccomp: '2.3.1' });
  assert.match(runcWarnings(info)[0]!, /libseccomp 2\.3\.1, below 2\.4/);
  assert.deepEqual(runcWarnings({ ...info, libseccomp: '2.5.4' }), []);
  assert.deepEqual(runcWarnings({ ...info, libseccomp: '2.10.0' }), []);
  assert.match(runcWarnings({ version: '1.0' })[0]!, /does not report/);
});
