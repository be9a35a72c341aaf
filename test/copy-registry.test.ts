// ocictl copy between two real docker-registry instances: one plain HTTP, one TLS with its own CA and
// htpasswd. Manifest bytes and digests are kept (checked with skopeo), --platform takes one manifest,
// blobs the destination has are skipped, a corrupt source blob never completes an upload, --all-tags,
// per-side TLS settings.
import assert from 'node:assert/strict';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { buildImage, buildMultiPlatformImage, skopeoPush } from '../fixtures/images.js';
import { tmpDir } from '../fixtures/proc.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { copy, StaticCredentials } from '../src/index.js';
import { type OcictlEnv, ocictl, ocictlOk, runOk, sha256, skopeoRaw, trustIn } from './copy-support.js';

let work: string;
let a: RunningRegistry; // plain HTTP, no auth
let b: RunningRegistry; // TLS (own CA) + htpasswd
let hosts: string;
let env: OcictlEnv;
let multi: Awaited<ReturnType<typeof buildMultiPlatformImage>>;
const creds = 'admin:Harbor12345';
let bAuth: string[];

function blobFile(reg: RunningRegistry, digest: string): string {
  const hex = digest.slice(7);
  return path.join(reg.dataDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

before(async () => {
  work = await tmpDir('ocitest-copy');
  [a, b] = await Promise.all([startRegistry(), startRegistry({ tls: true, htpasswd: { admin: 'Harbor12345' } })]);
  hosts = await trustIn(path.join(work, 'hosts'), b.host, b.pki!.caCert);
  env = { dockerConfig: path.join(work, 'docker'), dataRoot: path.join(work, 'data') };
  bAuth = ['--cert-dir', b.pki!.certDir, '--creds', creds];
  multi = await buildMultiPlatformImage(path.join(work, 'layout'), 'multi', ['linux/amd64', 'linux/arm64/v8'], {
    layers: [{ size: 300_000 }, { size: 40_000, compressible: true }],
  });
  await skopeoPush(path.join(work, 'layout'), 'multi', `docker://${a.host}/lidabai/multi:1.0`, ['--all', '--preserve-digests', '--dest-tls-verify=false']);
});

after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

const toB = (): string[] => ['--dest-creds', creds, '--dest-hosts-dir', hosts];

test('a multi-platform index is copied whole: identical manifest bytes and digest on both sides', async () => {
  const r = await ocictlOk(env, ['copy', `${a.host}/lidabai/multi:1.0`, `${b.host}/prod/multi:1.0`, ...toB()]);
  assert.equal(r.stdout.trim(), `Digest: ${multi.indexDigest}`);
  const rawA = await skopeoRaw(`${a.host}/lidabai/multi:1.0`, ['--tls-verify=false']);
  const rawB = await skopeoRaw(`${b.host}/prod/multi:1.0`, bAuth);
  assert.ok(rawA.equals(rawB), 'manifest bytes differ between source and destination');
  assert.equal(sha256(rawB), multi.indexDigest);
  // Every child and every blob arrived: skopeo copies the whole index out of the destination.
  for (const c of multi.children) {
    const child = await skopeoRaw(`${b.host}/prod/multi@${c.manifestDigest}`, bAuth);
    assert.equal(sha256(child), c.manifestDigest);
  }
  await runOk('skopeo', ['copy', '--quiet', '--all', '--src-cert-dir', b.pki!.certDir, '--src-creds', creds, `docker://${b.host}/prod/multi:1.0`, `oci:${path.join(work, 'back')}:x`], { timeoutMs: 60_000 });
});

test('--platform copies one image manifest and says that the digest changes', async () => {
  const arm = multi.children.find((c) => c.platform.architecture === 'arm64')!;
  const r = await ocictlOk(env, ['copy', '--platform', 'linux/arm64', `${a.host}/lidabai/multi:1.0`, `${b.host}/prod/multi:arm64`, ...toB()]);
  assert.equal(r.stdout.trim(), `Digest: ${arm.manifestDigest}`);
  assert.match(r.stderr, /only platform linux\/arm64.*differs from the multi-platform index/);
  const raw = await skopeoRaw(`${b.host}/prod/multi:arm64`, bAuth);
  const doc = JSON.parse(raw.toString('utf8')) as { mediaType?: string; manifests?: unknown; layers?: unknown[] };
  assert.equal(doc.manifests, undefined, 'expected a single image manifest, got an index');
  assert.equal(doc.layers?.length, 2);
  assert.equal(sha256(raw), arm.manifestDigest);
});

test('the library copy() reports the platform it took, and blobs the destination has are skipped', async () => {
  const events: string[] = [];
  const r = await copy(`${a.host}/lidabai/multi:1.0`, `${b.host}/prod/multi:again`, {
    dockerConfig: path.join(work, 'none', 'config.json'),
    destination: { hostsDirs: [hosts], credentials: new StaticCredentials({ username: 'admin', password: 'Harbor12345' }) },
    onProgress: (e) => {
      if (e.type === 'blob-done') events.push(e.state);
    },
  });
  assert.equal(r.digest, multi.indexDigest);
  const img = r.images[0]!;
  assert.deepEqual(img.blobs, { copied: 0, mounted: 0, existing: 6, bytes: 0 });
  assert.deepEqual(events, ['exists', 'exists', 'exists', 'exists', 'exists', 'exists']);
  assert.deepEqual(img.manifests.map((m) => m.digest).sort(), multi.children.map((c) => c.manifestDigest).sort());
});

test('a corrupt source blob fails the copy before the upload completes', async () => {
  const layout = path.join(work, 'bad');
  const img = await buildImage(layout, 'bad', { layers: [{ size: 3 * 1024 * 1024 }] });
  await skopeoPush(layout, 'bad', `docker://${a.host}/lidabai/bad:1`, ['--dest-tls-verify=false']);
  const layer = img.layers[0]!;
  // Flip the last byte of the layer in the source registry's storage: same size, other content.
  const f = blobFile(a, layer.digest);
  const bytes = await readFile(f);
  bytes[bytes.length - 1] = (bytes[bytes.length - 1]! ^ 0xff) & 0xff;
  await writeFile(f, bytes);
  const r = await ocictl(env, ['copy', `${a.host}/lidabai/bad:1`, `${b.host}/prod/bad:1`, ...toB()]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`ocictl: blob ${layer.digest} from .* failed verification`));
  await assert.rejects(stat(blobFile(b, layer.digest)), 'the corrupt blob must not exist at the destination');
  await assert.rejects(skopeoRaw(`${b.host}/prod/bad:1`, bAuth));
});

test('--all-tags copies every tag of a repository', async () => {
  const lib = { dockerConfig: path.join(work, 'none', 'config.json') };
  for (const t of ['v1', 'v2', 'v3']) await copy(`${a.host}/lidabai/multi:1.0`, `${a.host}/lidabai/tags:${t}`, lib);
  const arm = multi.children[1]!;
  await copy(`${a.host}/lidabai/multi@${arm.manifestDigest}`, `${a.host}/lidabai/tags:single`, lib);
  const r = await ocictlOk(env, ['copy', '--all-tags', '-j', '2', `${a.host}/lidabai/tags`, `${b.host}/prod/tags`, ...toB(), '--format', 'json']);
  const out = JSON.parse(r.stdout) as { images: { destination: string; digest: string }[] };
  assert.deepEqual(out.images.map((i) => i.destination), ['single', 'v1', 'v2', 'v3'].map((t) => `${b.host}/prod/tags:${t}`));
  const list = await runOk('skopeo', ['list-tags', ...bAuth, `docker://${b.host}/prod/tags`]);
  assert.deepEqual((JSON.parse(list.stdout) as { Tags: string[] }).Tags.sort(), ['single', 'v1', 'v2', 'v3']);
  assert.equal(sha256(await skopeoRaw(`${b.host}/prod/tags:v2`, bAuth)), multi.indexDigest);
  assert.equal(sha256(await skopeoRaw(`${b.host}/prod/tags:single`, bAuth)), arm.manifestDigest);
});

test('each side has its own TLS settings: the destination CA is needed, --insecure-registry skips it', async () => {
  const noCa = await ocictl(env, ['copy', `${a.host}/lidabai/multi:1.0`, `${b.host}/prod/tls:1`, '--dest-creds', creds]);
  assert.equal(noCa.code, 1);
  assert.match(noCa.stderr, /ocictl: .*(certificate|CA)/i);
  const ins = await ocictlOk(env, ['copy', `${a.host}/lidabai/multi:1.0`, `${b.host}/prod/tls:1`, '--dest-creds', creds, '--dest-insecure']);
  assert.equal(ins.stdout.trim(), `Digest: ${multi.indexDigest}`);
  const glob = await ocictlOk(env, ['--insecure-registry', 'copy', `${a.host}/lidabai/multi:1.0`, `${b.host}/prod/tls:2`, '--dest-creds', creds, '-q']);
  assert.equal(glob.stdout.trim(), multi.indexDigest);
  const bad = await ocictl(env, ['copy', `${a.host}/lidabai/multi:1.0`, `${b.host}/prod/tls:3`, '--dest-creds', 'admin']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--dest-creds needs USER:PASSWORD/);
  const wrong = await ocictl(env, ['copy', `${a.host}/lidabai/multi:1.0`, `${b.host}/prod/tls:3`, '--dest-creds', 'admin:nope', '--dest-hosts-dir', hosts]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /ocictl: .*(unauthorized|authentication|credentials|password)/i);
});

test('--digestfile receives the digest', async () => {
  const file = path.join(work, 'digest.txt');
  await ocictlOk(env, ['copy', '-q', `${a.host}/lidabai/multi:1.0`, `${b.host}/prod/multi:df`, ...toB(), '--digestfile', file]);
  assert.equal(await readFile(file, 'utf8'), multi.indexDigest);
});
