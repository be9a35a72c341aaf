// Remote inspection without pulling: tags (with Harbor's Link pagination), digest, manifest (bytes as
// served), inspect --remote (config and layers per platform), delete (a tag is resolved to its digest).
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { startHarbor, type RunningHarbor } from '../fixtures/harbor.js';
import { buildMultiPlatformImage, skopeoPush } from '../fixtures/images.js';
import { tmpDir } from '../fixtures/proc.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { StaticCredentials, createClient, listTags, parseReference } from '../src/index.js';
import { type OcictlEnv, ocictl, ocictlOk, runOk, sha256, trustIn } from './copy-support.js';

let work: string;
let reg: RunningRegistry;
let harbor: RunningHarbor;
let hosts: string;
let env: OcictlEnv;
let multi: Awaited<ReturnType<typeof buildMultiPlatformImage>>;
let ref: string;
const TAGS = Array.from({ length: 13 }, (_, i) => `v1.${String(i).padStart(2, '0')}`);

before(async () => {
  work = await tmpDir('ocitest-remote');
  [reg, harbor] = await Promise.all([startRegistry(), startHarbor({ tagsPageSize: 5 })]);
  hosts = await trustIn(path.join(work, 'hosts'), harbor.host, harbor.pki.caCert);
  env = { dockerConfig: path.join(work, 'docker'), dataRoot: path.join(work, 'data') };
  await mkdir(env.dockerConfig, { recursive: true });
  const auth = Buffer.from(`admin:${harbor.users.admin}`).toString('base64');
  await writeFile(path.join(env.dockerConfig, 'config.json'), JSON.stringify({ auths: { [harbor.host]: { auth } } }), { mode: 0o600 });
  multi = await buildMultiPlatformImage(path.join(work, 'layout'), 'multi', ['linux/amd64', 'linux/arm64/v8'], { layers: [{ size: 20_000 }, { size: 3000 }] });
  ref = `${reg.host}/lidabai/multi:1.0`;
  await skopeoPush(path.join(work, 'layout'), 'multi', `docker://${ref}`, ['--all', '--preserve-digests', '--dest-tls-verify=false']);
  await skopeoPush(path.join(work, 'layout'), 'multi', `docker://${harbor.host}/lidabai/paged:${TAGS[0]}`, ['--all', '--preserve-digests', '--dest-cert-dir', harbor.pki.certDir, '--dest-creds', `admin:${harbor.users.admin}`]);
  // More tags than one page: the same index under each tag.
  const client = createClient({ hostsDirs: [hosts], credentials: new StaticCredentials({ username: 'admin', password: harbor.users.admin }), dockerConfig: path.join(work, 'none.json') });
  try {
    const m = await client.getManifest(parseReference(`${harbor.host}/lidabai/paged:${TAGS[0]}`));
    for (const t of [...TAGS.slice(1)].reverse()) await client.putManifest(parseReference(`${harbor.host}/lidabai/paged:${t}`), m.bytes, m.mediaType);
  } finally {
    await client.close();
  }
});

after(async () => {
  await Promise.all([reg?.stop(), harbor?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

test('tags follows Harbor\'s Link pagination and prints the tags sorted', async () => {
  harbor.resetLog();
  const r = await ocictlOk(env, ['--hosts-dir', hosts, 'tags', `${harbor.host}/lidabai/paged`]);
  assert.equal(r.stdout, TAGS.map((t) => `${t}\n`).join(''));
  const pages = harbor.requests.filter((q) => q.method === 'GET' && q.path === '/v2/lidabai/paged/tags/list' && q.status === 200);
  assert.equal(pages.length, Math.ceil(TAGS.length / 5));
  assert.ok(pages.slice(1).every((p) => /(^|&)last=/.test(p.query)), JSON.stringify(pages));
  const j = await ocictlOk(env, ['--hosts-dir', hosts, 'tags', '--format', 'json', `${harbor.host}/lidabai/paged`]);
  assert.deepEqual(JSON.parse(j.stdout), { Repository: `${harbor.host}/lidabai/paged`, Tags: TAGS });
  // The library function, with credentials given directly.
  const lib = await listTags(`${harbor.host}/lidabai/paged`, { hostsDirs: [hosts], dockerConfig: path.join(work, 'none.json'), credentials: new StaticCredentials({ username: 'admin', password: harbor.users.admin }) });
  assert.deepEqual(lib, TAGS);
});

test('digest and manifest: the digest of a tag or of one platform, and the manifest bytes as served', async () => {
  assert.equal((await ocictlOk(env, ['digest', ref])).stdout, `${multi.indexDigest}\n`);
  const arm = multi.children.find((c) => c.platform.architecture === 'arm64')!;
  assert.equal((await ocictlOk(env, ['digest', '--platform', 'linux/arm64', ref])).stdout, `${arm.manifestDigest}\n`);
  const j = JSON.parse((await ocictlOk(env, ['digest', '--format', 'json', ref])).stdout) as { Digest: string; MediaType: string; Size: number };
  assert.deepEqual(j, { Reference: ref, Digest: multi.indexDigest, MediaType: multi.indexMediaType, Size: multi.indexSize });
  const raw = (await ocictlOk(env, ['manifest', ref])).stdout;
  const sk = (await runOk('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])).stdout;
  assert.equal(raw, sk);
  assert.equal(sha256(raw), multi.indexDigest);
  const child = (await ocictlOk(env, ['manifest', '--platform', 'linux/arm64', ref])).stdout;
  assert.equal(sha256(child), arm.manifestDigest);
});

test('inspect --remote shows config and layers per platform without pulling', async () => {
  const r = await ocictlOk(env, ['inspect', '--remote', ref]);
  const [out] = JSON.parse(r.stdout) as { Digest: string; Images: { Platform: string; Digest: string; Config: { Digest: string }; Layers: { Digest: string; Size: number }[]; Os: string; Architecture: string; ImageConfig: { Cmd?: string[] } }[] }[];
  assert.equal(out!.Digest, multi.indexDigest);
  assert.deepEqual(out!.Images.map((i) => i.Platform), ['linux/amd64', 'linux/arm64/v8']);
  for (const [i, c] of multi.children.entries()) {
    const img = out!.Images[i]!;
    assert.equal(img.Digest, c.manifestDigest);
    assert.equal(img.Config.Digest, c.configDigest);
    assert.deepEqual(img.Layers.map((l) => l.Digest), c.layers.map((l) => l.digest));
    assert.equal(img.Architecture, c.platform.architecture);
    assert.deepEqual(img.ImageConfig.Cmd, ['/bin/sh']);
  }
  const one = JSON.parse((await ocictlOk(env, ['inspect', '--remote', '--platform', 'linux/arm64', ref])).stdout) as { Images: unknown[] }[];
  assert.equal(one[0]!.Images.length, 1);
  // Nothing was pulled.
  assert.equal((await ocictlOk(env, ['images', '-q'])).stdout, '');
});

test('delete resolves a tag to its digest and deletes the manifest', async () => {
  const victim = `${reg.host}/lidabai/victim:1`;
  await skopeoPush(path.join(work, 'layout'), 'multi', `docker://${victim}`, ['--all', '--preserve-digests', '--dest-tls-verify=false']);
  const r = await ocictlOk(env, ['delete', victim]);
  assert.equal(r.stdout, `Deleted: ${reg.host}/lidabai/victim@${multi.indexDigest}\n`);
  const gone = await ocictl(env, ['digest', victim]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /^ocictl: .*(not found|unknown)/im);
  const missing = await ocictl(env, ['delete', victim]);
  assert.equal(missing.code, 1);
});
