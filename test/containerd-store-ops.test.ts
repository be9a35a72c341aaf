// The other image commands on containerd's store, against a real containerd 1.6: push of an image
// containerd itself pulled (ctr, as kubelet would), load of docker- and OCI archives (unpacked, runnable),
// copy with a containerd: end, and a pull killed with SIGKILL mid-blob that leaves containerd consistent
// (no image record, an expiring lease, the partial ingest) and is completed by the next pull.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { buildBusyboxImage, buildImage, skopeoPush, type BuiltImage } from '../fixtures/images.js';
import { startFaultProxy, type FaultProxy } from '../fixtures/fault-proxy.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { runOk, sleep } from '../fixtures/proc.js';
import { ocictlBin, skopeoRaw } from './copy-support.js';
import { PASS, type Rig, USER, contentRows, imageRows, snapshotKeys, startRig } from './containerd-support.js';
import { chainIds } from '../src/store/containerd-store.js';

let rig: Rig;
let layout: string;
let bb: BuiltImage;
let bbRef: string;
let creds: string[];

before(async () => {
  rig = await startRig('ocitest-ctd-ops');
  layout = path.join(rig.work, 'layout');
  bb = await buildBusyboxImage(layout, 'bb');
  bbRef = `${rig.reg.host}/lidabai/busybox:1.0`;
  creds = ['--dest-cert-dir', rig.reg.pki?.certDir as string, '--dest-creds', `${USER}:${PASS}`];
  await skopeoPush(layout, 'bb', `docker://${bbRef}`, creds);
});

after(async () => {
  await rig?.stop();
  if (rig?.work) await rm(rig.work, { recursive: true, force: true });
});

const srcCreds = (): string[] => ['--cert-dir', rig.reg.pki?.certDir as string, '--creds', `${USER}:${PASS}`];

test('push sends an image that containerd itself pulled (ctr, as for kubelet) to the registry, digest unchanged', async () => {
  await rig.ctr(['images', 'pull', '--hosts-dir', rig.hostsDir, '--user', `${USER}:${PASS}`, bbRef], 120_000);
  const dest = `${rig.reg.host}/prod/busybox:1.0`;
  await rig.ocOk(['tag', bbRef, dest]);
  const r = await rig.ocOk(['push', dest]);
  assert.match(r.stdout, new RegExp(`digest: ${bb.manifestDigest}`));
  const raw = await skopeoRaw(dest, srcCreds());
  assert.match(raw.toString('utf8'), new RegExp(bb.configDigest));
});

test('load reads a docker-archive and an OCI archive into containerd, unpacked and runnable', async () => {
  const docker = path.join(rig.work, 'bb-docker.tar');
  const dockerName = `${rig.reg.host}/loaded/busybox:docker`;
  await runOk('skopeo', ['copy', '--quiet', `oci:${layout}:bb`, `docker-archive:${docker}:${dockerName}`], { timeoutMs: 60_000 });
  const r = await rig.ocOk(['load', '-i', docker]);
  assert.match(r.stdout, /busybox:docker/);
  assert.ok(imageRows(await rig.ctr(['images', 'ls'])).has(dockerName), 'the docker-archive image is listed');
  const top = chainIds(bb.layers.map((l) => l.diffId)).at(-1) as string;
  assert.ok(snapshotKeys(await rig.ctr(['snapshots', 'ls'])).has(top));
  assert.equal((await rig.ctr(['run', '--rm', dockerName, 'ocitest-load', '/bin/busybox', 'echo', 'loaded'])).trim(), 'loaded');

  const other = await buildImage(layout, 'other', { layers: [{ size: 150_000 }, { size: 150_000 }] });
  const oci = path.join(rig.work, 'other-oci.tar');
  await runOk('skopeo', ['copy', '--quiet', `oci:${layout}:other`, `oci-archive:${oci}:${rig.reg.host}/loaded/other:oci`], { timeoutMs: 60_000 });
  const o = await rig.ocOk(['load', '-i', oci]);
  assert.match(o.stdout, /loaded\/other:oci/);
  const rows = imageRows(await rig.ctr(['images', 'ls']));
  assert.equal(rows.get(`${rig.reg.host}/loaded/other:oci`), other.manifestDigest);
  const content = contentRows(await rig.ctr(['content', 'ls']));
  assert.equal(content.get(other.configDigest)?.['containerd.io/gc.ref.snapshot.overlayfs'], chainIds(other.layers.map((l) => l.diffId)).at(-1));
  assert.equal(content.get(other.manifestDigest)?.['containerd.io/gc.ref.content.l.1'], other.layers[1]?.digest);
});

test('copy with a containerd: end, both ways', async () => {
  const name = `${rig.reg.host}/copied/busybox:1.0`;
  await rig.ocOk(['copy', bbRef, `containerd:${name}`]);
  assert.equal(imageRows(await rig.ctr(['images', 'ls'])).get(name), bb.manifestDigest);
  const dir = path.join(rig.work, 'out-layout');
  await rig.ocOk(['copy', `containerd:${name}`, `oci:${dir}:1.0`]);
  const idx = JSON.parse((await runOk('cat', [path.join(dir, 'index.json')])).stdout) as { manifests: { digest: string }[] };
  assert.equal(idx.manifests[0]?.digest, bb.manifestDigest);
});

test('a pull killed with SIGKILL mid-blob leaves no image record and an expiring lease; the next pull resumes and completes', async () => {
  const plain: RunningRegistry = await startRegistry();
  let proxy: FaultProxy | undefined;
  try {
    const big = await buildImage(layout, 'big', { layers: [{ size: 24 << 20 }, { size: 200_000 }] });
    await skopeoPush(layout, 'big', `docker://${plain.host}/lidabai/big:1.0`, ['--dest-tls-verify=false']);
    proxy = await startFaultProxy({ target: plain.url });
    const bigLayer = big.layers[0]?.digest as string;
    // The big layer stalls after 4 MiB: the pull is killed while containerd holds part of it.
    proxy.addRule({ method: 'GET', path: new RegExp(bigLayer.slice(7)), times: 1, action: { kind: 'stall', seconds: 60, afterBytes: 4 << 20 } });
    const ref = `${proxy.host}/lidabai/big:1.0`;
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: rig.env.dockerConfig };
    delete env.NODE_EXTRA_CA_CERTS;
    const child = spawn(process.execPath, [ocictlBin, '-a', rig.ctd.socket, '-n', 'k8s.io', '--insecure-registry', 'pull', ref], { env, stdio: 'ignore' });
    const pid = child.pid as number;
    const exited = new Promise((r) => child.once('exit', r));
    let seen = false;
    for (let i = 0; i < 300 && !seen; i++) {
      await sleep(100);
      seen = (await rig.ctr(['content', 'active'])).includes(bigLayer);
    }
    assert.ok(seen, 'containerd holds an ingest of the big layer');
    await sleep(1000); // the first 4 MiB arrive, then the registry side stalls
    process.kill(pid, 'SIGKILL');
    await exited;

    assert.ok(!imageRows(await rig.ctr(['images', 'ls'])).has(ref), 'no image record for a half-written pull');
    const leases = await rig.ctr(['leases', 'ls']);
    const mine = leases.split('\n').find((l) => l.includes(`ocictl-${pid}-`));
    assert.ok(mine, `the killed pull's lease is there: ${leases}`);
    const expire = /containerd\.io\/gc\.expire=(\S+)/.exec(mine)?.[1];
    assert.ok(expire && Date.parse(expire) > Date.now(), 'and it expires');

    proxy.clearRules();
    proxy.resetLog();
    const r = await rig.ocOk(['--insecure-registry', 'pull', ref], { timeoutMs: 120_000 });
    assert.match(r.stdout, new RegExp(big.manifestDigest));
    assert.equal(imageRows(await rig.ctr(['images', 'ls'])).get(ref), big.manifestDigest);
    // Resumed from what containerd held: the big layer was asked for from an offset, not from 0.
    const gets = proxy.log.filter((e) => e.method === 'GET' && e.path.includes(bigLayer.slice(7)));
    assert.ok(gets.length > 0 && gets.every((e) => e.range && !/bytes=0-/.test(e.range)), `resumed with Range: ${JSON.stringify(gets)}`);
    assert.ok(snapshotKeys(await rig.ctr(['snapshots', 'ls'])).has(chainIds(big.layers.map((l) => l.diffId)).at(-1) as string));
    assert.equal((await rig.ctr(['content', 'active'])).trim().split('\n').length, 1, 'no ingest left');
  } finally {
    await proxy?.stop();
    await plain.stop();
  }
});
