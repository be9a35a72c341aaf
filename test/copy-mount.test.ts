// Copies within one registry mount blobs from the source repository instead of uploading them (counted in
// the registry's access log and in the Harbor front's request log), and fall back to a normal upload when
// the registry answers 202 (no mount) or 401 (Harbor: the source project is not readable).
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { startHarbor, type RunningHarbor } from '../fixtures/harbor.js';
import { buildImage, skopeoPush, type BuiltImage } from '../fixtures/images.js';
import { tmpDir } from '../fixtures/proc.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { RegistryDestination } from '../src/image/registry-endpoint.js';
import { RegistryClient, StaticCredentials, parseReference } from '../src/index.js';
import { accessLog, type OcictlEnv, ocictlOk, repoRoot, run, sha256, skopeoRaw, trustIn } from './copy-support.js';

let work: string;
let reg: RunningRegistry;
let harbor: RunningHarbor;
let img: BuiltImage;
let env: OcictlEnv;
let hosts: string;

before(async () => {
  work = await tmpDir('ocitest-mount');
  [reg, harbor] = await Promise.all([startRegistry(), startHarbor()]);
  env = { dockerConfig: path.join(work, 'docker'), dataRoot: path.join(work, 'data') };
  hosts = await trustIn(path.join(work, 'hosts'), harbor.host, harbor.pki.caCert);
  img = await buildImage(path.join(work, 'layout'), 'app', { layers: [{ size: 200_000 }, { size: 50_000, compressible: true }, { size: 1000 }] });
  await skopeoPush(path.join(work, 'layout'), 'app', `docker://${reg.host}/lidabai/src:1`, ['--dest-tls-verify=false']);
  harbor.projects.set('secret', { public: false });
  await skopeoPush(path.join(work, 'layout'), 'app', `docker://${harbor.host}/secret/app:1`, ['--dest-cert-dir', harbor.pki.certDir, '--dest-creds', `admin:${harbor.users.admin}`]);
});

after(async () => {
  await Promise.all([reg?.stop(), harbor?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

const blobCount = (): number => img.layers.length + 1;

test('a copy between repositories of one registry mounts every blob and uploads none', async () => {
  const r = await ocictlOk(env, ['copy', '--format', 'json', `${reg.host}/lidabai/src:1`, `${reg.host}/lidabai/dst:1`]);
  const out = JSON.parse(r.stdout) as { digest: string; images: { blobs: { mounted: number; copied: number } }[] };
  assert.equal(out.digest, img.manifestDigest);
  assert.deepEqual(out.images[0]!.blobs, { copied: 0, mounted: blobCount(), existing: 0, bytes: 0 });
  const log = await accessLog(reg.logFile);
  const mounts = log.filter((l) => l.method === 'POST' && l.path.startsWith('/v2/lidabai/dst/blobs/uploads/?mount=') && l.path.includes('from=lidabai%2Fsrc'));
  assert.equal(mounts.length, blobCount());
  assert.ok(mounts.every((m) => m.status === 201), JSON.stringify(mounts));
  const uploads = log.filter((l) => (l.method === 'PUT' || l.method === 'PATCH') && l.path.startsWith('/v2/lidabai/dst/blobs/uploads/'));
  assert.deepEqual(uploads, [], 'no blob bytes may be uploaded when mounts succeed');
  assert.equal(sha256(await skopeoRaw(`${reg.host}/lidabai/dst:1`, ['--tls-verify=false'])), img.manifestDigest);
});

test('a mount answered 202 (blob not in the named repository) continues as a normal upload', async () => {
  const client = new RegistryClient({ credentials: new StaticCredentials({}) });
  try {
    const dest = new RegistryDestination(client, parseReference(`${reg.host}/lidabai/fallback:1`));
    const data = Buffer.from('a blob that only the client has\n');
    const desc = { mediaType: 'application/octet-stream', digest: sha256(data), size: data.length };
    const state = await dest.putBlob({
      desc,
      kind: 'layer',
      open: async () => Readable.from([data]),
      mountSource: { registry: reg.host, repository: 'lidabai/src' },
      onProgress: () => undefined,
      stats: { uploaded: 0 },
    });
    assert.equal(state, 'uploaded');
    assert.ok(await client.hasBlob(parseReference(`${reg.host}/lidabai/fallback:1`), desc.digest));
    const log = await accessLog(reg.logFile);
    const mount = log.filter((l) => l.method === 'POST' && l.path.startsWith('/v2/lidabai/fallback/blobs/uploads/?mount='));
    assert.deepEqual(mount.map((m) => m.status), [202]);
    const puts = log.filter((l) => l.method === 'PUT' && l.path.startsWith('/v2/lidabai/fallback/blobs/uploads/'));
    assert.deepEqual(puts.map((p) => p.status), [201]);
    // The session the 202 opened was used: no second POST.
    assert.equal(log.filter((l) => l.method === 'POST' && l.path.startsWith('/v2/lidabai/fallback/blobs/uploads/')).length, 1);
  } finally {
    await client.close();
  }
});

test('Harbor: a mount from a project the destination robot cannot read (401) falls back to uploading', async () => {
  harbor.resetLog();
  const robot = `${harbor.robot}:${harbor.users[harbor.robot]}`;
  const r = await ocictlOk(env, [
    'copy', '--format', 'json', '--src-creds', `admin:${harbor.users.admin}`, '--dest-creds', robot, '--hosts-dir', hosts,
    `${harbor.host}/secret/app:1`, `${harbor.host}/lidabai/app:1`,
  ]);
  const out = JSON.parse(r.stdout) as { digest: string; images: { blobs: { mounted: number; copied: number } }[] };
  assert.equal(out.digest, img.manifestDigest);
  assert.equal(out.images[0]!.blobs.copied, blobCount());
  assert.equal(out.images[0]!.blobs.mounted, 0);
  const mounts = harbor.requests.filter((q) => q.method === 'POST' && q.path === '/v2/lidabai/app/blobs/uploads/' && q.query.includes('mount='));
  assert.ok(mounts.length >= blobCount(), `expected a mount attempt per blob: ${JSON.stringify(mounts)}`);
  assert.ok(mounts.every((m) => m.status === 401), JSON.stringify(mounts));
  const puts = harbor.requests.filter((q) => q.method === 'PUT' && q.path.startsWith('/v2/lidabai/app/blobs/uploads/') && q.status === 201);
  assert.equal(puts.length, blobCount());
  const raw = await skopeoRaw(`${harbor.host}/lidabai/app:1`, ['--cert-dir', harbor.pki.certDir, '--creds', robot]);
  assert.equal(sha256(raw), img.manifestDigest);
});

test('Harbor: with pull access on the source project, blobs are mounted', async () => {
  harbor.resetLog();
  const admin = `admin:${harbor.users.admin}`;
  const r = await ocictlOk(env, ['copy', '--format', 'json', '--src-creds', admin, '--dest-creds', admin, '--hosts-dir', hosts, `${harbor.host}/secret/app:1`, `${harbor.host}/library/app:1`]);
  const out = JSON.parse(r.stdout) as { images: { blobs: { mounted: number; copied: number } }[] };
  assert.equal(out.images[0]!.blobs.mounted, blobCount());
  assert.equal(harbor.requests.filter((q) => q.method === 'PUT' && q.path.startsWith('/v2/library/app/blobs/uploads/')).length, 0);
});

test('the promotion script in docs/promotion.md promotes with the digest kept and reports failures', async () => {
  const doc = await readFile(path.join(repoRoot, 'docs', 'promotion.md'), 'utf8');
  const m = /```js\n(\/\/ promote\.mjs[\s\S]*?)```/.exec(doc);
  assert.ok(m, 'docs/promotion.md has no promote.mjs block');
  const script = path.join(work, 'promote.mjs');
  await writeFile(script, m[1]!.replace("from 'ocictl'", `from '${path.join(repoRoot, 'dist', 'src', 'index.js')}'`));
  harbor.projects.set('prod', { public: false });
  await mkdir(path.join(work, 'promote-docker'), { recursive: true });
  const env2: NodeJS.ProcessEnv = {
    ...process.env,
    DOCKER_CONFIG: path.join(work, 'promote-docker'),
    BUILD_REGISTRY: reg.host,
    HARBOR: harbor.host,
    HARBOR_PROJECT: 'prod',
    HARBOR_USER: 'admin',
    HARBOR_PASSWORD: harbor.users.admin,
    HARBOR_HOSTS_DIR: hosts,
  };
  delete env2.NODE_EXTRA_CA_CERTS;
  const r = await run(process.execPath, [script, 'lidabai/src:1', 'lidabai/missing:1'], { env: env2, timeoutMs: 60_000 });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, new RegExp(`^${harbor.host}/prod/src:1@${img.manifestDigest} \\(${blobCount()} blobs`, 'm'));
  assert.match(r.stderr, new RegExp(`${reg.host}/lidabai/missing:1: \\[NOT_FOUND\\]`));
  const raw = await skopeoRaw(`${harbor.host}/prod/src:1`, ['--cert-dir', harbor.pki.certDir, '--creds', `admin:${harbor.users.admin}`]);
  assert.equal(sha256(raw), img.manifestDigest);
});
