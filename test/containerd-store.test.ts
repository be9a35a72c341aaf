// pull into containerd's own store, against a real containerd 1.6 (temp root, state, socket) and a
// TLS + htpasswd registry: ctr lists the image at the registry's digest and runs it, the CRI plugin
// reports it, the GC labels keep it through containerd's GC, a multi-platform index is kept with
// this host's platform unpacked, and bad input gives one line.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { buildBusyboxImage, buildImage, buildMultiPlatformImage, hostArchitecture, skopeoPush, type BuiltImage } from '../fixtures/images.js';
import { ocictl } from './copy-support.js';
import { CRI_FIELDS, CriImages } from './lib/cri.js';
import { PASS, type Rig, USER, contentRows, imageRows, snapshotKeys, startRig } from './containerd-support.js';
import { chainIds } from '../src/store/containerd-store.js';

let rig: Rig;
let bb: BuiltImage;
let other: BuiltImage;
let multi: Awaited<ReturnType<typeof buildMultiPlatformImage>>;
let bbRef: string;
let otherRef: string;
let multiRef: string;

before(async () => {
  rig = await startRig('ocitest-ctd-store');
  const layout = path.join(rig.work, 'layout');
  bb = await buildBusyboxImage(layout, 'bb');
  other = await buildImage(layout, 'other', { layers: [{ size: 300_000 }, { size: 200_000 }] });
  const foreign = hostArchitecture() === 'amd64' ? 'linux/arm64/v8' : 'linux/amd64';
  multi = await buildMultiPlatformImage(layout, 'multi', [`linux/${hostArchitecture()}`, foreign], { layers: [{ size: 100_000 }] });
  bbRef = `${rig.reg.host}/lidabai/busybox:1.0`;
  otherRef = `${rig.reg.host}/lidabai/other:1.0`;
  multiRef = `${rig.reg.host}/lidabai/multi:1.0`;
  const creds = ['--dest-cert-dir', rig.reg.pki?.certDir as string, '--dest-creds', `${USER}:${PASS}`];
  await skopeoPush(layout, 'bb', `docker://${bbRef}`, creds);
  await skopeoPush(layout, 'other', `docker://${otherRef}`, creds);
  await skopeoPush(layout, 'multi', `docker://${multiRef}`, ['--all', '--preserve-digests', ...creds]);
});

after(async () => {
  await rig?.stop();
  if (rig?.work) await rm(rig.work, { recursive: true, force: true });
});

test('ocictl info says containerd, the socket, the namespace, the snapshotter and why', async () => {
  const r = await rig.ocOk(['info', '--format', 'json']);
  const i = JSON.parse(r.stdout) as Record<string, string>;
  assert.equal(i.store, 'containerd');
  assert.equal(i.address, rig.ctd.socket);
  assert.equal(i.namespace, 'k8s.io');
  assert.equal(i.snapshotter, 'overlayfs');
  assert.match(i.why as string, /--address/);
  assert.match(i.containerdVersion as string, /^1\.6\./);
  // Without --address and with a data root: the local store, as before.
  const local = await ocictl(rig.env, ['info']);
  assert.equal(local.code, 0, local.stderr);
  assert.match(local.stdout, /Store:\s+local/);
  assert.match(local.stdout, /OCICTL_DATA_ROOT is set/);
});

test('pull puts the image into containerd: ctr lists it at the registry digest, unpacked, labelled as containerd does, and runs it', async () => {
  const r = await rig.ocOk(['pull', '--pin', bbRef]);
  assert.match(r.stdout, new RegExp(`Digest: ${bb.manifestDigest}`));
  assert.equal(imageRows(await rig.ctr(['images', 'ls'])).get(bbRef), bb.manifestDigest);
  const labels = await rig.ctr(['images', 'ls', `name==${bbRef}`]);
  assert.match(labels, /io\.cri-containerd\.pinned=pinned/);
  assert.match(labels, /io\.cri-containerd\.image=managed/);

  const content = contentRows(await rig.ctr(['content', 'ls']));
  const man = content.get(bb.manifestDigest);
  assert.ok(man, 'manifest in content');
  assert.equal(man['containerd.io/gc.ref.content.config'], bb.configDigest);
  assert.equal(man['containerd.io/gc.ref.content.l.0'], bb.layers[0]?.digest);
  assert.equal(man[`containerd.io/distribution.source.${rig.reg.host}`], 'lidabai/busybox');
  const layer = content.get(bb.layers[0]?.digest as string);
  assert.equal(layer?.['containerd.io/uncompressed'], bb.layers[0]?.diffId);
  const top = chainIds(bb.layers.map((l) => l.diffId)).at(-1) as string;
  assert.equal(content.get(bb.configDigest)?.['containerd.io/gc.ref.snapshot.overlayfs'], top);
  assert.ok(snapshotKeys(await rig.ctr(['snapshots', 'ls'])).has(top), 'the chain ID is a committed snapshot');
  // The pull's lease was released; no ingest is left.
  assert.doesNotMatch(await rig.ctr(['leases', 'ls']), /ocictl-/);
  assert.equal((await rig.ctr(['content', 'active'])).trim().split('\n').length, 1);

  const run = await rig.ctr(['run', '--rm', bbRef, 'ocitest-run', '/bin/busybox', 'echo', 'hi'], 60_000);
  assert.equal(run.trim(), 'hi');

  // ocictl's own commands read it back from containerd.
  const ls = await rig.ocOk(['images', '--format', 'json']);
  assert.match(ls.stdout, new RegExp(bb.manifestDigest));
  const ins = JSON.parse((await rig.ocOk(['inspect', bbRef])).stdout) as { Id: string; RootFS: { Layers: string[] } }[];
  assert.equal(ins[0]?.Id, bb.configDigest);
  assert.deepEqual(ins[0]?.RootFS.Layers, bb.layers.map((l) => l.diffId));

  // A second pull finds everything present and changes nothing.
  const again = await rig.ocOk(['pull', bbRef]);
  assert.match(again.stdout, /Pulled/);
  assert.equal(imageRows(await rig.ctr(['images', 'ls'])).get(bbRef), bb.manifestDigest);
});

test('the CRI plugin on the same socket reports the image (ImageStatus, ListImages)', async () => {
  // The messages this test speaks, checked against the CRI API's field numbers (k8s.io/cri-api runtime/v1 api.proto).
  assert.deepEqual(CRI_FIELDS.ImageSpec?.image, [1, 'string']);
  assert.deepEqual(CRI_FIELDS.ImageStatusRequest?.image, [1, 'ImageSpec']);
  assert.deepEqual(CRI_FIELDS.ImageStatusResponse?.image, [1, 'Image']);
  assert.deepEqual(CRI_FIELDS.ListImagesResponse?.images, [1, 'Image', 'repeated']);
  assert.deepEqual([CRI_FIELDS.Image?.id?.[0], CRI_FIELDS.Image?.repoTags?.[0], CRI_FIELDS.Image?.repoDigests?.[0], CRI_FIELDS.Image?.size?.[0]], [1, 2, 3, 4]);
  const cri = new CriImages(rig.ctd.socket);
  try {
    // The CRI plugin learns of images from containerd's events: give it a moment.
    let st;
    for (let i = 0; i < 50 && !st; i++) {
      st = await cri.status(bbRef);
      if (!st) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(st, 'ImageStatus knows the image');
    assert.equal(st.id, bb.configDigest);
    assert.ok(st.repoTags.includes(bbRef));
    assert.ok(st.size > 0);
    const all = await cri.list();
    assert.ok(all.some((i) => i.id === bb.configDigest && i.repoTags.includes(bbRef)), 'ListImages lists it');
  } finally {
    cri.close();
  }
});

test("containerd's GC (ctr images rm --sync of another image) leaves everything ocictl wrote", async () => {
  await rig.ocOk(['pull', otherRef]);
  const before = contentRows(await rig.ctr(['content', 'ls']));
  for (const d of [other.manifestDigest, other.configDigest, ...other.layers.map((l) => l.digest)]) assert.ok(before.has(d), `${d} pulled`);
  await rig.ctr(['images', 'rm', '--sync', otherRef]);
  const after = contentRows(await rig.ctr(['content', 'ls']));
  for (const d of [bb.manifestDigest, bb.configDigest, ...bb.layers.map((l) => l.digest)]) assert.ok(after.has(d), `${d} of busybox kept`);
  // The GC did run: what only the removed image held is gone.
  for (const d of [other.manifestDigest, other.configDigest, ...other.layers.map((l) => l.digest)]) assert.ok(!after.has(d), `${d} collected`);
  const snaps = snapshotKeys(await rig.ctr(['snapshots', 'ls']));
  assert.ok(snaps.has(chainIds(bb.layers.map((l) => l.diffId)).at(-1) as string), 'busybox snapshot kept');
  assert.ok(!snaps.has(chainIds(other.layers.map((l) => l.diffId)).at(-1) as string), 'other snapshot collected');
  assert.equal((await rig.ctr(['run', '--rm', bbRef, 'ocitest-run2', '/bin/busybox', 'echo', 'still'])).trim(), 'still');
});

test('a multi-platform image: the index is the record, the host platform is unpacked', async () => {
  await rig.ocOk(['pull', multiRef]);
  assert.equal(imageRows(await rig.ctr(['images', 'ls'])).get(multiRef), multi.indexDigest);
  const content = contentRows(await rig.ctr(['content', 'ls']));
  const idx = content.get(multi.indexDigest);
  assert.equal(idx?.['containerd.io/gc.ref.content.m.0'], multi.children[0]?.manifestDigest);
  assert.equal(idx?.['containerd.io/gc.ref.content.m.1'], multi.children[1]?.manifestDigest);
  const host = multi.children[0] as BuiltImage;
  assert.ok(content.has(host.manifestDigest));
  assert.ok(!content.has((multi.children[1] as BuiltImage).manifestDigest), 'the other platform is not fetched');
  assert.ok(snapshotKeys(await rig.ctr(['snapshots', 'ls'])).has(chainIds(host.layers.map((l) => l.diffId)).at(-1) as string));
});

test('tag and rmi work on containerd\'s store', async () => {
  const alias = `${rig.reg.host}/lidabai/busybox:alias`;
  await rig.ocOk(['tag', bbRef, alias]);
  assert.equal(imageRows(await rig.ctr(['images', 'ls'])).get(alias), bb.manifestDigest);
  const r = await rig.ocOk(['rmi', alias]);
  assert.match(r.stdout, new RegExp(alias.replace(/[.]/g, '\\.')));
  assert.equal(imageRows(await rig.ctr(['images', 'ls'])).get(alias), undefined);
  assert.equal(imageRows(await rig.ctr(['images', 'ls'])).get(bbRef), bb.manifestDigest);
});

test('bad input: no socket, an unknown snapshotter, a bad --store: one line each', async () => {
  const none = await ocictl(rig.env, ['--store', 'containerd', '-a', path.join(rig.work, 'nope.sock'), 'images']);
  assert.equal(none.code, 1);
  assert.equal(none.stderr.trim().split('\n').length, 1);
  assert.match(none.stderr, /nope\.sock/);
  assert.match(none.stderr, /--store local/);
  const sn = await rig.oc(['--snapshotter', 'nosuch', 'images']);
  assert.equal(sn.code, 1);
  assert.match(sn.stderr, /snapshotter "nosuch"/);
  assert.match(sn.stderr, /overlayfs/);
  assert.equal(sn.stderr.trim().split('\n').length, 1);
  const bad = await ocictl(rig.env, ['--store', 'zfs', 'images']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--store must be containerd or local/);
});
