// save / load / oci: layouts against real readers and writers: skopeo reads what `save` writes (docker-archive
// and oci-archive), containerd's `ctr images import` imports it, `load` reads skopeo-written archives
// (classic docker-archive and oci-archive), gzip-compressed archives and stdin; `copy` to and from oci:DIR.
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { buildBusyboxImage, buildMultiPlatformImage, skopeoPush, type BuiltImage } from '../fixtures/images.js';
import { tmpDir } from '../fixtures/proc.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { type Containerd, type OcictlEnv, ocictl, ocictlBin, ocictlOk, run, runOk, sha256, skopeoRaw, startContainerd } from './copy-support.js';

let work: string;
let reg: RunningRegistry;
let ctd: Containerd;
let env: OcictlEnv;
let bb: BuiltImage;
let multi: Awaited<ReturnType<typeof buildMultiPlatformImage>>;
let bbRef: string;
let multiRef: string;

before(async () => {
  work = await tmpDir('ocitest-archive');
  env = { dockerConfig: path.join(work, 'docker'), dataRoot: path.join(work, 'data') };
  [reg, ctd] = await Promise.all([startRegistry(), startContainerd(path.join(work, 'ctd'))]);
  bb = await buildBusyboxImage(path.join(work, 'layout'), 'bb');
  multi = await buildMultiPlatformImage(path.join(work, 'layout'), 'multi', ['linux/amd64', 'linux/arm64/v8'], { layers: [{ size: 100_000 }] });
  bbRef = `${reg.host}/lidabai/busybox:1.0`;
  multiRef = `${reg.host}/lidabai/multi:1.0`;
  await skopeoPush(path.join(work, 'layout'), 'bb', `docker://${bbRef}`, ['--dest-tls-verify=false']);
  await skopeoPush(path.join(work, 'layout'), 'multi', `docker://${multiRef}`, ['--all', '--preserve-digests', '--dest-tls-verify=false']);
  await ocictlOk(env, ['pull', '-q', bbRef]);
  await ocictlOk(env, ['pull', '-q', '--all-platforms', multiRef]);
});

after(async () => {
  await Promise.all([reg?.stop(), ctd?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

test('save writes a docker-archive that skopeo reads and copies on, with the same config and layers', async () => {
  const file = path.join(work, 'bb.tar');
  await ocictlOk(env, ['save', '-o', file, bbRef]);
  const list = (await runOk('tar', ['tf', file])).stdout.split('\n');
  for (const f of ['manifest.json', 'index.json', 'oci-layout', `blobs/sha256/${bb.configDigest.slice(7)}`]) assert.ok(list.includes(f), `${f} missing from the archive`);
  const manifestJson = JSON.parse((await runOk('tar', ['xOf', file, 'manifest.json'])).stdout) as { RepoTags: string[]; Config: string }[];
  assert.deepEqual(manifestJson[0]!.RepoTags, [bbRef]);
  const cfg = await runOk('skopeo', ['inspect', '--config', '--raw', `docker-archive:${file}`]);
  assert.equal(sha256(Buffer.from(cfg.stdout)), bb.configDigest);
  await runOk('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `docker-archive:${file}`, `docker://${reg.host}/lidabai/from-archive:1`], { timeoutMs: 60_000 });
  const raw = JSON.parse((await skopeoRaw(`${reg.host}/lidabai/from-archive:1`, ['--tls-verify=false'])).toString('utf8')) as { config: { digest: string } };
  assert.equal(raw.config.digest, bb.configDigest);
});

test('ctr images import reads both formats and keeps the manifest digest', async () => {
  const docker = path.join(work, 'ctr-docker.tar');
  const oci = path.join(work, 'ctr-oci.tar');
  await ocictlOk(env, ['save', '-o', docker, bbRef]);
  await ocictlOk(env, ['save', '--format', 'oci', '--all-platforms', '-o', oci, multiRef]);
  const i1 = await ctd.ctr(['-n', 'ocitest', 'images', 'import', docker]);
  assert.equal(i1.code, 0, i1.stderr);
  const i2 = await ctd.ctr(['-n', 'ocitest', 'images', 'import', '--all-platforms', oci]);
  assert.equal(i2.code, 0, i2.stderr);
  const ls = (await ctd.ctr(['-n', 'ocitest', 'images', 'ls'])).stdout;
  assert.match(ls, new RegExp(`^${bbRef.replace(/[.]/g, '\\.')}\\s+\\S+\\s+${bb.manifestDigest}`, 'm'));
  assert.match(ls, new RegExp(`^${multiRef.replace(/[.]/g, '\\.')}\\s+\\S+\\s+${multi.indexDigest}`, 'm'));
  const check = (await ctd.ctr(['-n', 'ocitest', 'images', 'check'])).stdout;
  assert.match(check, new RegExp(`${bbRef.replace(/[.]/g, '\\.')}.*complete`));
});

test('load reads skopeo-written archives: a classic docker-archive and an oci-archive', async () => {
  const classic = path.join(work, 'skopeo-docker.tar');
  const oci = path.join(work, 'skopeo-oci.tar');
  await runOk('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${bbRef}`, `docker-archive:${classic}:${reg.host}/lidabai/busybox:classic`]);
  await runOk('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${bbRef}`, `oci-archive:${oci}:1.0`]);
  const l1 = await ocictlOk(env, ['load', '-i', classic]);
  assert.equal(l1.stdout, `Loaded image: ${reg.host}/lidabai/busybox:classic\n`);
  assert.match(l1.stderr, /holds no manifest: one was made for it/);
  const ins = JSON.parse((await ocictlOk(env, ['inspect', `${reg.host}/lidabai/busybox:classic`])).stdout) as { Id: string; RootFS: { Layers: string[] } }[];
  assert.equal(ins[0]!.Id, bb.configDigest);
  assert.deepEqual(ins[0]!.RootFS.Layers, bb.layers.map((l) => l.diffId));
  const l2 = await ocictlOk(env, ['load', '--format', 'json', '-i', oci]);
  const loaded = JSON.parse(l2.stdout) as { names: string[]; digest: string; note?: string }[];
  assert.equal(loaded[0]!.digest, bb.manifestDigest, 'an OCI archive keeps the manifest digest');
  assert.match(loaded[0]!.note ?? '', /gives no name/);
  // The loaded classic image goes on to a registry from the store.
  const c = await ocictlOk(env, ['copy', '-q', `store:${reg.host}/lidabai/busybox:classic`, `${reg.host}/lidabai/busybox:classic`]);
  const pushed = JSON.parse((await skopeoRaw(`${reg.host}/lidabai/busybox:classic`, ['--tls-verify=false'])).toString('utf8')) as { config: { digest: string } };
  assert.equal(pushed.config.digest, bb.configDigest);
  assert.equal(c.stdout.trim(), sha256(await skopeoRaw(`${reg.host}/lidabai/busybox:classic`, ['--tls-verify=false'])));
});

test('save then load round-trips a multi-platform image (gzip-compressed, and on stdin)', async () => {
  const file = path.join(work, 'multi-oci.tar');
  await ocictlOk(env, ['save', '--format', 'oci', '--all-platforms', '-o', file, multiRef]);
  const gz = path.join(work, 'multi-oci.tar.gz');
  await writeFile(gz, gzipSync(await readFile(file)));
  const other: OcictlEnv = { dockerConfig: env.dockerConfig, dataRoot: path.join(work, 'data2') };
  const l = await ocictlOk(other, ['load', '-i', gz]);
  assert.equal(l.stdout, `Loaded image: ${multiRef}\n`);
  const imgs = JSON.parse(`[${(await ocictlOk(other, ['images', '--format', 'json'])).stdout.trim().split('\n').join(',')}]`) as { Name: string; Digest: string; Platform: string }[];
  const m = imgs.find((i) => i.Name === multiRef)!;
  assert.equal(m.Digest, multi.indexDigest);
  assert.equal(m.Platform, 'linux/amd64,linux/arm64/v8');
  // stdin, through a shell redirect (docker load < file)
  const third: OcictlEnv = { dockerConfig: env.dockerConfig, dataRoot: path.join(work, 'data3') };
  const s = await run('sh', ['-c', `"${process.execPath}" "${ocictlBin}" load < "${file}"`], { env: { ...process.env, OCICTL_DATA_ROOT: third.dataRoot, DOCKER_CONFIG: third.dockerConfig } });
  assert.equal(s.code, 0, s.stderr);
  assert.equal(s.stdout, `Loaded image: ${multiRef}\n`);
  // save to stdout
  const out = path.join(work, 'stdout.tar');
  const so = await run('sh', ['-c', `"${process.execPath}" "${ocictlBin}" save "${bbRef}" > "${out}"`], { env: { ...process.env, OCICTL_DATA_ROOT: env.dataRoot, DOCKER_CONFIG: env.dockerConfig } });
  assert.equal(so.code, 0, so.stderr);
  await runOk('skopeo', ['inspect', `docker-archive:${out}`]);
});

test('copy to and from an OCI layout directory keeps the bytes', async () => {
  const dir = path.join(work, 'oci-out');
  await ocictlOk(env, ['copy', multiRef, `oci:${dir}:v1`]);
  const raw = await runOk('skopeo', ['inspect', '--raw', `oci:${dir}:v1`]);
  assert.equal(sha256(Buffer.from(raw.stdout)), multi.indexDigest);
  const back = await ocictlOk(env, ['copy', '-q', `oci:${dir}:v1`, `${reg.host}/lidabai/from-layout:v1`]);
  assert.equal(back.stdout.trim(), multi.indexDigest);
  const bad = await ocictl(env, ['copy', `oci:${dir}:nope`, `${reg.host}/lidabai/x:1`]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /ocictl: oci:.* has no image named "nope"/);
});
