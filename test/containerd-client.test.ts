// ContainerdClient against the real containerd (Debian's 1.6, as root), on a
// temporary root, state dir and socket (fixtures/containerd/daemon.ts).
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { startContainerdStore, type ContainerdDaemon } from '../fixtures/containerd/daemon.js';
import { OcictlError } from '../src/errors.js';
import {
  ContainerdClient,
  ContainerdError,
  GrpcCode,
  criSnapshotter,
  criSnapshotterInfo,
  snapshotterFromCriConfig,
  defaultAddress,
  probeSocket,
  type ContentWriter,
} from '../src/containerd/index.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let dir: string;
let daemon: ContainerdDaemon;
let base: ContainerdClient;
/** The base client under a lease, so that containerd's GC leaves what the tests write. */
let c: ContainerdClient;

before(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ocictl-ctd-client-'));
  daemon = await startContainerdStore(path.join(dir, 'ctd'));
  base = await ContainerdClient.connect({ address: daemon.socket, namespace: 'ocictl-test' });
  const lease = await base.leases.create({ labels: { 'ocictl.test': 'keep' } });
  c = base.withLease(lease.id);
});

after(async () => {
  base?.close();
  await daemon?.stop();
  await fsp.rm(dir, { recursive: true, force: true });
});

async function readAll(r: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of r) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

async function writeBlob(client: ContainerdClient, data: Buffer, ref = `test-${randomBytes(4).toString('hex')}`, labels?: Record<string, string>): Promise<string> {
  const digest = sha(data);
  const w = await client.content.writer(ref, { total: data.length, expected: digest });
  for (let o = w.offset; o < data.length; o += 1 << 20) await w.write(data.subarray(o, Math.min(o + (1 << 20), data.length)));
  await w.commit(labels);
  return digest;
}

test('connect calls Version; version() is what ctr reports', async () => {
  const v = await base.version();
  const ctr = await daemon.ctr(['version']);
  assert.equal(ctr.code, 0);
  const server = /Server:[\s\S]*?Version:\s+(\S+)[\s\S]*?Revision:\s+(\S+)/.exec(ctr.stdout);
  assert.ok(server, ctr.stdout);
  assert.deepEqual(v, { version: server[1], revision: server[2] });
  assert.match(v.version, /^1\.6\./);
  assert.equal(base.address, daemon.socket);
  assert.equal(base.namespace, 'ocictl-test');
});

test('plugins: introspection lists the snapshotters; the CRI snapshotter defaults to overlayfs', async () => {
  const snaps = await base.plugins(['type==io.containerd.snapshotter.v1']);
  assert.ok(snaps.length >= 2);
  assert.ok(snaps.every((p) => p.type === 'io.containerd.snapshotter.v1'));
  const overlay = snaps.find((p) => p.id === 'overlayfs');
  assert.ok(overlay && !overlay.initErr, JSON.stringify(overlay));
  assert.ok(snaps.some((p) => p.initErr), 'some snapshotter (zfs, btrfs, ...) fails to load on ext4 and says why');
  assert.deepEqual((await base.snapshotters()).sort(), snaps.filter((p) => !p.initErr).map((p) => p.id).sort());
  const cri = (await base.plugins()).find((p) => p.id === 'cri');
  assert.ok(cri, 'the CRI plugin loads with the default config');
  assert.equal(await criSnapshotter(base), 'overlayfs');
  assert.deepEqual(await criSnapshotterInfo(base), { snapshotter: 'overlayfs', from: 'cri' }, 'read from the CRI plugin config');
  assert.match((await base.criStatus())['config'] ?? '', /"snapshotter":"overlayfs"/);
});

test('the CRI config names the snapshotter at plugin level (1.6/1.7) or on the default runtime', () => {
  assert.equal(snapshotterFromCriConfig(JSON.stringify({ containerd: { snapshotter: 'stargz', defaultRuntimeName: 'runc' } })), 'stargz');
  assert.equal(snapshotterFromCriConfig(JSON.stringify({ containerd: { snapshotter: '', defaultRuntimeName: 'runc', runtimes: { runc: { snapshotter: 'native' } } } })), 'native');
  assert.equal(snapshotterFromCriConfig(JSON.stringify({ containerd: { defaultRuntimeName: 'runc', runtimes: { runc: {} } } })), undefined);
  assert.equal(snapshotterFromCriConfig('{not json'), undefined);
  assert.equal(snapshotterFromCriConfig(undefined), undefined);
});

test('namespaces: create, get, list; a missing one is undefined', async () => {
  await base.namespaces.create('ocictl-ns-a', { team: 'x' });
  assert.deepEqual(await base.namespaces.get('ocictl-ns-a'), { name: 'ocictl-ns-a', labels: { team: 'x' } });
  assert.ok((await base.namespaces.list()).includes('ocictl-ns-a'));
  assert.equal(await base.namespaces.get('ocictl-no-such-ns'), undefined);
  const ctr = await daemon.ctr(['namespaces', 'ls', '-q']);
  assert.ok(ctr.stdout.split('\n').includes('ocictl-ns-a'));
  // withNamespace: same channel, calls land in the other namespace.
  const other = c.withNamespace('ocictl-ns-a');
  assert.equal(other.namespace, 'ocictl-ns-a');
  assert.equal(other.lease, c.lease);
});

test('content: a blob written whole reads back; info, labels, list and ranges', async () => {
  const data = randomBytes(3 * (1 << 20) + 12345);
  const digest = await writeBlob(c, data, 'full-1', { 'ocictl.test/kind': 'full' });
  const info = await c.content.info(digest);
  assert.ok(info);
  assert.equal(info.digest, digest);
  assert.equal(info.size, data.length);
  assert.deepEqual(info.labels, { 'ocictl.test/kind': 'full' });
  assert.ok(info.createdAt instanceof Date && Math.abs(info.createdAt.getTime() - Date.now()) < 120_000);
  // The same bytes, as containerd's own client reads them.
  const ctr = await new Promise<string>((resolve, reject) =>
    execFile('sh', ['-c', `ctr --address "$1" -n ocictl-test content get "$2" | sha256sum`, 'sh', daemon.socket, digest], (err, out) => (err ? reject(err) : resolve(out))),
  );
  assert.equal(`sha256:${ctr.split(' ')[0]}`, digest);
  assert.ok((await readAll(c.content.read(digest))).equals(data));
  assert.ok((await readAll(c.content.read(digest, { offset: 1000, size: 5000 }))).equals(data.subarray(1000, 6000)));
  assert.ok((await readAll(c.content.read(digest, { offset: data.length - 10 }))).equals(data.subarray(data.length - 10)));

  const updated = await c.content.update({ digest, labels: { 'ocictl.test/extra': 'yes' } }, ['labels.ocictl.test/extra']);
  assert.deepEqual(updated.labels, { 'ocictl.test/kind': 'full', 'ocictl.test/extra': 'yes' });
  const replaced = await c.content.update({ digest, labels: { only: 'this' } }, ['labels']);
  assert.deepEqual(replaced.labels, { only: 'this' });
  const listed = await c.content.list(['labels.only==this']);
  assert.deepEqual(listed.map((i) => i.digest), [digest]);
  assert.ok((await c.content.list()).some((i) => i.digest === digest));

  // Another namespace does not see it.
  assert.equal(await c.withNamespace('ocictl-ns-a').content.info(digest), undefined);
  assert.equal(await c.content.info(sha(Buffer.from('never written'))), undefined);
  await assert.rejects(readAll(c.content.read(sha(Buffer.from('never written')))), (e: unknown) => e instanceof ContainerdError && e.code === 'NOT_FOUND' && e.isNotFound);
});

test('content: a write interrupted, then resumed from the offset containerd reports', async () => {
  const data = randomBytes(5 * (1 << 20) + 777);
  const digest = sha(data);
  const ref = 'resume-1';
  const first = await c.content.writer(ref, { total: data.length, expected: digest });
  assert.equal(first.offset, 0);
  assert.equal(first.exists, false);
  const cut = 2 * (1 << 20) + 99;
  for (let o = 0; o < cut; o += 1 << 20) await first.write(data.subarray(o, Math.min(o + (1 << 20), cut)));
  // Wait until containerd holds what was sent, then drop the stream (as a killed client would).
  for (let i = 0; ; i++) {
    const st = await c.content.status(ref);
    if (st && st.offset === cut) break;
    assert.ok(i < 200, `status: ${JSON.stringify(st)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  first.close();
  const st = await c.content.status(ref);
  assert.ok(st);
  assert.equal(st.ref, ref);
  assert.equal(st.total, data.length);
  assert.ok((await c.content.listStatuses()).some((s) => s.ref === ref && s.offset === cut));

  const second = await openWhenUnlocked(ref, data.length, digest);
  assert.equal(second.offset, cut, 'resumes from what containerd holds');
  await second.write(data.subarray(cut, cut + 1000));
  second.push(data.subarray(cut + 1000));
  await second.ready();
  assert.equal(second.offset, data.length);
  await second.commit();
  assert.equal((await c.content.info(digest))?.size, data.length);
  assert.ok((await readAll(c.content.read(digest))).equals(data));
  assert.equal(await c.content.status(ref), undefined, 'the ingest is gone after commit');

  // Writing it again: containerd says it has it; nothing to write, commit resolves.
  const again = await c.content.writer('resume-2', { total: data.length, expected: digest });
  assert.equal(again.exists, true);
  assert.equal(again.offset, data.length);
  await again.commit();

  // resume: false starts over even though containerd holds part of the ref.
  const other = randomBytes(300_000);
  const w1 = await c.content.writer('restart-1', { total: other.length, expected: sha(other) });
  await w1.write(randomBytes(100_000));
  for (let i = 0; (await c.content.status('restart-1'))?.offset !== 100_000; i++) {
    assert.ok(i < 200);
    await new Promise((r) => setTimeout(r, 25));
  }
  w1.close();
  const w2 = await openWhenUnlocked('restart-1', other.length, sha(other), false);
  assert.equal(w2.offset, 0);
  await w2.write(other);
  await w2.commit();
  assert.equal((await c.content.info(sha(other)))?.size, other.length);
});

/** containerd drops a ref's lock when it notices the old stream closed: retry while it says Unavailable ("locked"). */
async function openWhenUnlocked(ref: string, total: number, expected: string, resume = true): Promise<ContentWriter> {
  for (let i = 0; ; i++) {
    try {
      return await c.content.writer(ref, { total, expected, resume });
    } catch (e) {
      if (!(e instanceof ContainerdError && e.isUnavailable) || i > 100) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

test('content: a blob another namespace has is shared: the writer reports it whole, commit adds it here', async () => {
  const data = randomBytes(400_000);
  const digest = await writeBlob(c, data);
  const nsB = base.withNamespace('ocictl-ns-b');
  await nsB.namespaces.create('ocictl-ns-b');
  const lease = await nsB.leases.create();
  const b = nsB.withLease(lease.id);
  assert.equal(await b.content.info(digest), undefined);
  const w = await b.content.writer('shared-1', { total: data.length, expected: digest });
  assert.equal(w.offset, data.length, 'nothing to send');
  await w.commit({ 'ocictl.test': 'shared' });
  assert.deepEqual((await b.content.info(digest))?.labels, { 'ocictl.test': 'shared' });
  assert.ok((await readAll(b.content.read(digest))).equals(data));
  await nsB.leases.delete(lease.id);
});

test('content: a wrong digest or size is refused at commit, and abort drops the ingest', async () => {
  const data = randomBytes(200_000);
  const claimed = sha(randomBytes(10));
  const w = await c.content.writer('wrong-1', { total: data.length, expected: claimed });
  await w.write(data);
  await assert.rejects(w.commit(), (e: unknown) => {
    assert.ok(e instanceof ContainerdError, String(e));
    assert.equal(e.code, 'DIGEST_MISMATCH');
    assert.equal(e.grpcCode, GrpcCode.FAILED_PRECONDITION);
    assert.ok(e.isFailedPrecondition);
    assert.match(e.message, new RegExp(claimed.slice(7, 20)));
    assert.ok(!e.message.includes('\n'));
    return true;
  });
  assert.equal(await c.content.info(claimed), undefined);
  assert.equal(await c.content.info(sha(data)), undefined, 'nothing committed under the real digest either');
  await c.content.abort('wrong-1');
  assert.equal(await c.content.status('wrong-1'), undefined);

  // More bytes than declared: refused before anything is sent.
  const w2 = await c.content.writer('wrong-2', { total: 10, expected: sha(Buffer.alloc(10)) });
  await assert.rejects(w2.write(Buffer.alloc(11)), (e: unknown) => e instanceof OcictlError && e.code === 'SIZE_MISMATCH');
  // Fewer: refused at commit.
  await w2.write(Buffer.alloc(5));
  await assert.rejects(w2.commit(), (e: unknown) => e instanceof OcictlError && e.code === 'SIZE_MISMATCH');
  await w2.abort();
  assert.equal(await c.content.status('wrong-2'), undefined);
});

test('leases: a blob written under a lease survives GC; deleting the lease with sync lets GC remove it', async () => {
  const lease = await base.leases.create({ expireAfterMs: 3600_000, labels: { 'ocictl.test': 'gc' } });
  const listed = (await base.leases.list()).find((l) => l.id === lease.id);
  assert.ok(listed);
  assert.equal(listed.labels['ocictl.test'], 'gc');
  const expire = Date.parse(listed.labels['containerd.io/gc.expire'] ?? '');
  assert.ok(Math.abs(expire - (Date.now() + 3600_000)) < 120_000, listed.labels['containerd.io/gc.expire']);
  assert.ok(listed.createdAt instanceof Date);
  assert.deepEqual((await base.leases.list([`id==${lease.id}`])).map((l) => l.id), [lease.id]);

  const leased = base.withLease(lease.id);
  assert.equal(leased.lease, lease.id);
  const data = randomBytes(100_000);
  const digest = await writeBlob(leased, data);
  const unleased = await writeBlob(base, randomBytes(50_000));
  assert.deepEqual(await base.leases.listResources(lease.id), [{ id: digest, type: 'content' }]);

  // A GC run (a sync delete of another lease waits for one): the leased blob stays, the unleased one goes.
  const other = await base.leases.create();
  await base.leases.delete(other.id, { sync: true });
  assert.equal((await base.content.info(digest))?.size, data.length);
  assert.equal(await base.content.info(unleased), undefined, 'containerd GC removes content nothing references');

  // Resources can be added and removed by hand.
  await base.leases.addResource(lease.id, { id: unleased, type: 'content' });
  assert.equal((await base.leases.listResources(lease.id)).length, 2);
  await base.leases.deleteResource(lease.id, { id: unleased, type: 'content' });
  assert.deepEqual(await base.leases.listResources(lease.id), [{ id: digest, type: 'content' }]);

  await base.leases.delete(lease.id, { sync: true });
  assert.equal(await base.content.info(digest), undefined);
  assert.ok(!(await base.leases.list()).some((l) => l.id === lease.id));
  await assert.rejects(base.leases.delete(lease.id), (e: unknown) => e instanceof ContainerdError && e.code === 'NOT_FOUND');
});

test('images: create, get, list, update, delete; what ctr lists', async () => {
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: {}, layers: [] }));
  const digest = await writeBlob(c, manifest);
  const name = 'registry.example/ocictl/test:1.0';
  const target = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: manifest.length };
  const created = await c.images.create({ name, labels: { 'ocictl.test': 'a' }, target });
  assert.equal(created.name, name);
  assert.deepEqual(created.target, target);
  assert.ok(created.createdAt instanceof Date);
  const got = await c.images.get(name);
  assert.ok(got);
  assert.deepEqual(got.labels, { 'ocictl.test': 'a' });
  assert.deepEqual(got.target, target);
  assert.deepEqual((await c.images.list([`name==${name}`])).map((i) => i.name), [name]);
  const ctr = await daemon.ctr(['-n', 'ocictl-test', 'images', 'ls', '-q']);
  assert.ok(ctr.stdout.split('\n').includes(name), ctr.stdout);

  await assert.rejects(c.images.create({ name, labels: {}, target }), (e: unknown) => e instanceof ContainerdError && e.isAlreadyExists && e.code === 'CONTAINERD');
  const updated = await c.images.update({ name, labels: { 'ocictl.test': 'b', more: '1' }, target }, ['labels']);
  assert.deepEqual(updated.labels, { 'ocictl.test': 'b', more: '1' });
  const withAnn = await c.images.update({ name, labels: {}, target: { ...target, annotations: { a: 'b' } } }, ['target']);
  assert.deepEqual(withAnn.target.annotations, { a: 'b' });
  assert.deepEqual(withAnn.labels, { 'ocictl.test': 'b', more: '1' });

  await c.images.delete(name, { sync: true });
  assert.equal(await c.images.get(name), undefined);
  await assert.rejects(c.images.delete(name), (e: unknown) => e instanceof ContainerdError && e.code === 'NOT_FOUND');
  await assert.rejects(c.images.create({ name: 'bad', labels: {}, target: { ...target, digest: 'nope' } }), (e: unknown) => e instanceof ContainerdError && e.grpcCode === GrpcCode.INVALID_ARGUMENT);
});

test('snapshots: prepare, commit, stat, view, list, usage, update, remove', async () => {
  const s = c.snapshots('overlayfs');
  const m1 = await s.prepare('ocictl-k1', '', { 'ocictl.test': 'k1' });
  assert.equal(m1.length, 1);
  assert.equal(m1[0]!.type, 'bind');
  await fsp.writeFile(path.join(m1[0]!.source, 'file'), 'one');
  const active = await s.stat('ocictl-k1');
  assert.equal(active?.kind, 'active');
  assert.deepEqual(active?.labels, { 'ocictl.test': 'k1' });
  assert.deepEqual(await s.mounts('ocictl-k1'), m1);
  await s.commit('ocictl-c1', 'ocictl-k1', { 'ocictl.test': 'c1' });
  assert.equal(await s.stat('ocictl-k1'), undefined);
  const committed = await s.stat('ocictl-c1');
  assert.equal(committed?.kind, 'committed');
  assert.equal(committed?.parent, '');
  const u = await s.usage('ocictl-c1');
  assert.ok(u.size >= 3 && u.inodes >= 1, JSON.stringify(u));

  const m2 = await s.prepare('ocictl-k2', 'ocictl-c1');
  assert.equal(m2[0]!.type, 'overlay');
  assert.ok(m2[0]!.options.some((o) => o.startsWith('lowerdir=')), JSON.stringify(m2));
  assert.equal((await s.stat('ocictl-k2'))?.parent, 'ocictl-c1');
  const v = await s.view('ocictl-v1', 'ocictl-c1');
  assert.equal((await s.stat('ocictl-v1'))?.kind, 'view');
  assert.ok(v.length === 1);
  const names = (await s.list()).map((i) => i.name).sort();
  assert.deepEqual(names, ['ocictl-c1', 'ocictl-k2', 'ocictl-v1']);
  assert.deepEqual((await s.list(['kind==committed'])).map((i) => i.name), ['ocictl-c1']);
  const upd = await s.update({ name: 'ocictl-c1', labels: { 'ocictl.test': 'c1', added: 'x' } }, ['labels.added']);
  assert.equal(upd.labels['added'], 'x');

  await assert.rejects(s.remove('ocictl-c1'), (e: unknown) => e instanceof ContainerdError && e.isFailedPrecondition, 'a parent with children cannot go');
  await s.remove('ocictl-k2');
  await s.remove('ocictl-v1');
  await s.remove('ocictl-c1');
  assert.deepEqual(await s.list(), []);
  await assert.rejects(s.remove('ocictl-c1'), (e: unknown) => e instanceof ContainerdError && e.code === 'NOT_FOUND');
});

async function gzipLayer(files: Record<string, string>): Promise<{ gz: Buffer; tarDigest: string }> {
  const pack = tar.pack();
  for (const [name, body] of Object.entries(files)) pack.entry({ name, mode: 0o644, mtime: new Date(0) }, body);
  pack.finalize();
  const t = await readAll(pack as unknown as NodeJS.ReadableStream);
  return { gz: gzipSync(t), tarDigest: sha(t) };
}

test('diff: apply a gzip tar layer onto a prepared snapshot, commit it as its chain ID', async () => {
  const { gz, tarDigest } = await gzipLayer({ 'hello.txt': 'hi from a layer\n', 'etc/motd': 'ocictl\n' });
  const layerDigest = await writeBlob(c, gz);
  const s = c.snapshots('overlayfs');
  const key = `extract-${randomBytes(4).toString('hex')}`;
  const mounts = await s.prepare(key, '');
  const applied = await c.diff.apply({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: gz.length }, mounts);
  assert.equal(applied.digest, tarDigest, 'containerd reports the uncompressed digest (the diff ID)');
  assert.equal(applied.mediaType, 'application/vnd.oci.image.layer.v1.tar');
  assert.equal(await fsp.readFile(path.join(mounts[0]!.source, 'hello.txt'), 'utf8'), 'hi from a layer\n');
  assert.equal(await fsp.readFile(path.join(mounts[0]!.source, 'etc/motd'), 'utf8'), 'ocictl\n');
  await s.commit(tarDigest, key, { 'containerd.io/snapshot.ref': tarDigest });
  assert.equal((await s.stat(tarDigest))?.kind, 'committed');

  // A layer blob that is not what it claims to be is refused.
  const bad = await writeBlob(c, randomBytes(1000));
  const m2 = await s.prepare(`${key}-bad`, '');
  await assert.rejects(c.diff.apply({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: bad, size: 1000 }, m2), (e: unknown) => e instanceof ContainerdError && e.code === 'CONTAINERD');
  await s.remove(`${key}-bad`);
  await s.remove(tarDigest);
});

test('errors: an unknown snapshotter is one line saying which ones containerd has', async () => {
  await assert.rejects(c.snapshots('nosuchsnap').prepare('k', ''), (e: unknown) => {
    assert.ok(e instanceof ContainerdError);
    assert.equal(e.code, 'CONTAINERD');
    assert.match(e.oneLine(), /has no snapshotter "nosuchsnap" \(it has: .*overlayfs/);
    assert.match(e.oneLine(), /--snapshotter/);
    assert.ok(!e.oneLine().includes('\n'));
    return true;
  });
  await assert.rejects(c.snapshots('zfs').list(), (e: unknown) => e instanceof ContainerdError && /has no snapshotter "zfs"/.test(e.message));
});

test('errors: no socket, a file that is no socket, a socket that is not containerd', async () => {
  const missing = path.join(dir, 'nothing-here.sock');
  const t0 = Date.now();
  assert.equal(await probeSocket(missing), false);
  assert.ok(Date.now() - t0 < 300);
  assert.equal(await probeSocket(daemon.socket), true);
  await assert.rejects(ContainerdClient.connect({ address: missing, namespace: 'default' }), (e: unknown) => {
    assert.ok(e instanceof OcictlError);
    assert.equal(e.code, 'CONTAINERD');
    assert.equal(e.oneLine(), `containerd socket ${missing} does not exist: start containerd, pass --address SOCKET, or use --store local`);
    return true;
  });
  const file = path.join(dir, 'plain-file');
  await fsp.writeFile(file, 'x');
  assert.equal(await probeSocket(file), false);
  await assert.rejects(ContainerdClient.connect({ address: `unix://${file}`, namespace: 'default' }), (e: unknown) => {
    assert.ok(e instanceof OcictlError && e.code === 'CONTAINERD');
    assert.match(e.oneLine(), new RegExp(`^${file} is not a socket.*--address SOCKET, or use --store local$`));
    return true;
  });

  // Some other daemon on a socket (HTTP/1.1 here).
  const other = path.join(dir, 'other.sock');
  const srv = http.createServer((_req, res) => res.end('hello'));
  await new Promise<void>((r) => srv.listen(other, r));
  try {
    assert.equal(await probeSocket(other), true, 'probe only says something answers');
    await assert.rejects(ContainerdClient.connect({ address: other, namespace: 'default', timeoutMs: 3000 }), (e: unknown) => {
      assert.ok(e instanceof OcictlError && e.code === 'CONTAINERD', String(e));
      assert.match(e.oneLine(), new RegExp(`^${other} does not answer as containerd \\(.*\\): pass --address with containerd's socket, or use --store local$`));
      assert.ok(!e.oneLine().includes('\n'));
      return true;
    });
  } finally {
    await new Promise((r) => srv.close(r));
  }
  assert.equal(defaultAddress({}), '/run/containerd/containerd.sock');
  assert.equal(defaultAddress({ CONTAINERD_ADDRESS: '/x/y.sock' }), '/x/y.sock');
});

test('errors: a socket we may not open names it and says sudo', async () => {
  // As an unprivileged user (nobody), the daemon's socket (root, 0660) is off limits.
  const script = path.join(dir, 'as-nobody.mjs');
  const url = new URL('../src/containerd/index.js', import.meta.url).href;
  await fsp.writeFile(
    script,
    `import { ContainerdClient } from ${JSON.stringify(url)};\n` +
      `try { await ContainerdClient.connect({ address: ${JSON.stringify(daemon.socket)}, namespace: 'default' }); console.log('connected'); }\n` +
      `catch (e) { console.log(e.code + ' ' + e.oneLine()); }\n`,
  );
  await fsp.chmod(dir, 0o755);
  await fsp.chmod(script, 0o644);
  await fsp.chmod(daemon.dir, 0o755);
  const out = await new Promise<string>((resolve, reject) =>
    execFile('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, script], { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message} ${stderr}`)) : resolve(stdout.trim()))),
  );
  assert.equal(out, `CONTAINERD permission denied on containerd socket ${daemon.socket}: run with sudo, pass --address SOCKET, or use --store local`);
});

test('a CRI plugin configured for another snapshotter is followed; containerd killed under a client gives one-line CONTAINERD errors', async () => {
  const d2 = await startContainerdStore(path.join(dir, 'ctd2'), { config: '[plugins."io.containerd.grpc.v1.cri".containerd]\n  snapshotter = "native"\n' });
  let client: ContainerdClient | undefined;
  try {
    client = await ContainerdClient.connect({ address: d2.socket, namespace: 'ocictl-test', timeoutMs: 5000 });
    // The CRI runtime service's verbose Status (runtime.v1 messages, checked here on the wire).
    assert.deepEqual(await criSnapshotterInfo(client), { snapshotter: 'native', from: 'cri' });
    const data = randomBytes(50_000);
    const w = await client.content.writer('dying', { total: data.length, expected: sha(data) });
    await d2.kill();
    await assert.rejects(
      (async () => {
        await w.write(data);
        await w.commit();
      })(),
      (e: unknown) => e instanceof ContainerdError && e.code === 'CONTAINERD' && !e.oneLine().includes('\n'),
    );
    await assert.rejects(client.version(), (e: unknown) => {
      assert.ok(e instanceof ContainerdError && e.code === 'CONTAINERD', String(e));
      assert.ok(e.isUnavailable, e.message);
      assert.match(e.oneLine(), new RegExp(`containerd at ${d2.socket} is not answering .*--store local$`));
      return true;
    });
  } finally {
    client?.close();
    await d2.stop();
  }
});
