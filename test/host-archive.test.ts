import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { hostileArchives, writeTarball, criBundleEntries, containerd2Entries } from '../fixtures/host/tarballs.js';
import { install, scanArchive, detectLayout, linkEscapes, normaliseName } from '../src/host/index.js';
import { OcictlError } from '../src/errors.js';

let tmp: string;
before(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'ocictl-ctd-archive-'));
});
after(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

async function listTree(dir: string): Promise<string[]> {
  try {
    return (await fsp.readdir(dir, { recursive: true })).map(String).sort();
  } catch {
    return [];
  }
}

test('name normalisation and symlink escape checks', () => {
  assert.equal(normaliseName('./usr/local/bin/ctr'), 'usr/local/bin/ctr');
  assert.equal(normaliseName('./'), '');
  assert.throws(() => normaliseName('a/../../b'), /"\.\."/);
  assert.throws(() => normaliseName('/etc/passwd'), /absolute/);
  assert.equal(linkEscapes('usr/local/bin', '../sbin/runc'), false);
  assert.equal(linkEscapes('usr/local/bin', '../../../../etc'), true);
  assert.equal(linkEscapes('', '/bin/sh'), true);
});

for (const h of hostileArchives()) {
  test(`hostile tarball refused, nothing written: ${h.name}`, async () => {
    const file = path.join(tmp, `${h.name}.tar.gz`);
    await writeTarball(file, h.entries);
    const root = path.join(tmp, `root-${h.name}`);
    await fsp.mkdir(root);
    await assert.rejects(
      install({ root, archive: file, dryRun: false, systemd: false }),
      (e: unknown) => e instanceof OcictlError && e.code === 'UNSAFE_ARCHIVE' && h.why.test(e.message),
    );
    assert.deepEqual(await listTree(root), [], 'nothing may be written');
    // the escape target was not created either
    assert.equal(await fsp.stat(path.join(tmp, 'evil')).then(() => true, () => false), false);
  });
}

test('layouts: 1.6 cri-containerd-cni bundle and 2.x tarball', async () => {
  const a = path.join(tmp, 'cri-containerd-cni-1.6.20-linux-amd64.tar.gz');
  await writeTarball(a, criBundleEntries({ real: false }));
  const la = detectLayout(await scanArchive(a), a);
  assert.equal(la?.kind, 'cri-bundle');
  assert.equal(la?.version, '1.6.20');
  assert.equal(la?.unitPath, '/usr/lib/systemd/system/containerd.service');
  assert.equal(la?.map('usr/local/sbin/runc'), '/usr/local/sbin/runc');
  assert.equal(la?.map('etc/systemd/system/containerd.service'), undefined);
  assert.equal(la?.map('cri-containerd.DEPRECATED.txt'), undefined);
  const b = path.join(tmp, 'containerd-2.0.4-linux-amd64.tar.gz');
  await writeTarball(b, containerd2Entries({ real: false }));
  const lb = detectLayout(await scanArchive(b), b);
  assert.equal(lb?.kind, 'containerd-tarball');
  assert.equal(lb?.version, '2.0.4');
  assert.equal(lb?.unitPath, '/usr/local/lib/systemd/system/containerd.service');
  assert.equal(lb?.map('bin/ctr'), '/usr/local/bin/ctr');
  // the 2.x tarball lands in /usr/local/bin with modes kept
  const root = path.join(tmp, 'root-2x');
  const r = await install({ root, archive: b, dryRun: false, systemd: false });
  assert.equal((await fsp.stat(path.join(root, 'usr/local/bin/containerd-stress'))).mode & 0o777, 0o750);
  assert.equal((await fsp.stat(path.join(root, 'usr/local/bin/ctr'))).mode & 0o777, 0o755);
  assert.ok(await fsp.stat(path.join(root, 'usr/local/lib/systemd/system/containerd.service')));
  assert.deepEqual(r.steps.map((s) => s.status), ['skipped', 'skipped']);
});

test('not a containerd tarball is refused', async () => {
  const f = path.join(tmp, 'other.tar');
  await writeTarball(f, [{ name: 'README', type: 'file', data: 'hi' }]);
  await assert.rejects(install({ root: path.join(tmp, 'r-other'), archive: f, dryRun: true }), /not a containerd release tarball/);
});
