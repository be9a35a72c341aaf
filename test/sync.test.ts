// ocictl sync between two real docker-registry instances, the source behind the fault proxy so that
// every request to it is counted: a plan using every selector arrives tag for tag with the same digests,
// a second run moves no blob, three shards are disjoint and complete, a missing tag does not stop the
// rest, --dry-run copies nothing, and skopeo sync (Debian's 1.9) lands the same tags as ocictl.
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { buildImage, buildMultiPlatformImage, skopeoPush } from '../fixtures/images.js';
import { startFaultProxy, type FaultProxy } from '../fixtures/fault-proxy.js';
import { runOk, tmpDir } from '../fixtures/proc.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { copy, parsePlan, shardOf, StaticCredentials, sync, type SyncSummary } from '../src/index.js';
import { tagVersion } from '../src/sync/plan.js';
import { type OcictlEnv, ocictl } from './copy-support.js';
import { getManifest, snapshot } from './sync-support.js';

let work: string;
let src: RunningRegistry;
let dst: RunningRegistry;
let proxy: FaultProxy;
let env: OcictlEnv;
const lib = (): { dockerConfig: string } => ({ dockerConfig: path.join(work, 'none', 'config.json') });
/** Source tag -> digest, as pushed. */
const pushed: Record<string, string> = {};

const APP_TAGS = ['1.0.0', '1.1.0', '1.2.3', 'v1.3', '1.5.0-rc.1', '2.0.0', 'latest'];
const WEB_TAGS = ['v1', 'v2', 'dev-1', 'dev-2'];

function planText(host: string, o: { semver?: boolean; missing?: boolean } = {}): string {
  return [
    `${host}:`,
    '  tls-verify: false',
    '  images:',
    `    lidabai/busybox: ["1.0", "1.1", "${pushed['lidabai/busybox:1.2']}"${o.missing ? ', "nope"' : ''}]`,
    '    lidabai/tools: []',
    '    lidabai/multi: ["1.0"]',
    '  images-by-tag-regex:',
    '    lidabai/web: "^v[0-9]+$"',
    ...(o.semver === false ? [] : ['  images-by-semver:', '    lidabai/app: ">= 1.1.0, < 2.0.0"']),
    '',
  ].join('\n');
}

/** What a full plan with every selector lands at DEST/prefix, as repo:tag under the prefix. */
function expected(o: { semver?: boolean } = {}): Record<string, string> {
  const e: Record<string, string> = {};
  const put = (repo: string, tag: string): void => {
    e[`${repo}:${tag}`] = pushed[`lidabai/${repo}:${tag}`] as string;
  };
  put('busybox', '1.0');
  put('busybox', '1.1');
  put('tools', 'a');
  put('tools', 'b');
  put('multi', '1.0');
  put('web', 'v1');
  put('web', 'v2');
  if (o.semver !== false) for (const t of ['1.1.0', '1.2.3', 'v1.3']) put('app', t);
  return e;
}

before(async () => {
  work = await tmpDir('ocitest-sync');
  [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
  proxy = await startFaultProxy({ target: src.url });
  env = { dockerConfig: path.join(work, 'docker'), dataRoot: path.join(work, 'data') };
  const layout = path.join(work, 'layout');
  const imgs = [];
  for (let i = 0; i < 3; i++) imgs.push(await buildImage(layout, `img${i}`, { layers: [{ size: 30_000, seed: 100 + i }, { size: 5_000, seed: 200 + i, compressible: true }] }));
  const multi = await buildMultiPlatformImage(layout, 'multi', ['linux/amd64', 'linux/arm64/v8'], { layers: [{ size: 20_000, seed: 7 }] });
  for (let i = 0; i < 3; i++) await skopeoPush(layout, `img${i}`, `docker://${src.host}/lidabai/base:img${i}`, ['--dest-tls-verify=false']);
  await skopeoPush(layout, 'multi', `docker://${src.host}/lidabai/multi:1.0`, ['--all', '--preserve-digests', '--dest-tls-verify=false']);
  pushed['lidabai/multi:1.0'] = multi.indexDigest;
  // Tags of several repositories, each an image of the three (copied within the source registry: mounts).
  const tagSets: [string, string[]][] = [
    ['lidabai/busybox', ['1.0', '1.1', '1.2']],
    ['lidabai/tools', ['a', 'b']],
    ['lidabai/app', APP_TAGS],
    ['lidabai/web', WEB_TAGS],
  ];
  let k = 0;
  for (const [repo, tags] of tagSets) {
    for (const t of tags) {
      const img = imgs[k++ % 3]!;
      await copy(`${src.host}/lidabai/base:${img.tag}`, `${src.host}/${repo}:${t}`, lib());
      pushed[`${repo}:${t}`] = img.manifestDigest;
    }
  }
});

after(async () => {
  await proxy?.stop();
  await Promise.all([src?.stop(), dst?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

async function writePlan(name: string, text: string): Promise<string> {
  const f = path.join(work, name);
  await writeFile(f, text);
  return f;
}

test('every selector: the exact set of tags arrives with the same digests; a missing tag fails alone (exit 1)', async () => {
  const plan = await writePlan('plan-missing.yaml', planText(proxy.host, { missing: true }));
  const r = await ocictl(env, ['sync', plan, `${dst.host}/all`, '-j', '3', '--format', 'json']);
  assert.equal(r.code, 1, r.stderr);
  const s = JSON.parse(r.stdout) as SyncSummary;
  assert.equal(s.failed, 1);
  const bad = s.images.find((i) => i.state === 'failed')!;
  assert.equal(bad.source, `${proxy.host}/lidabai/busybox:nope`);
  assert.match(bad.reason ?? '', /does not exist/);
  assert.equal(s.copied, 11);
  assert.deepEqual(await snapshot(dst.host, 'all'), expected());
  // An image named by digest lands by digest (no tag), as skopeo puts it.
  const byDigest = s.images.find((i) => i.source.includes('@sha256:'))!;
  assert.equal(byDigest.destination, `${dst.host}/all/busybox@${pushed['lidabai/busybox:1.2']}`);
  assert.ok(await getManifest(dst.host, 'all/busybox', pushed['lidabai/busybox:1.2']!));
  // One progress line per image with the overall count.
  assert.equal(r.stderr.split('\n').filter((l) => /^\[\d+\/12\] /.test(l)).length, 12, r.stderr);
  assert.match(r.stderr, /\[\d+\/12\] FAILED .*busybox:nope/);
});

test('a second run of the unchanged plan sends no blob request to the source: HEADs of manifests only', async () => {
  const plan = await writePlan('plan.yaml', planText(proxy.host));
  proxy.resetLog();
  const r = await ocictl(env, ['sync', plan, `${dst.host}/all`, '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as SyncSummary;
  assert.deepEqual([s.copied, s.skipped, s.failed], [0, 11, 0]);
  const blobs = proxy.log.filter((e) => e.path.includes('/blobs/'));
  assert.deepEqual(blobs, [], 'no blob request at the source');
  const manifestGets = proxy.log.filter((e) => e.path.includes('/manifests/') && e.method !== 'HEAD');
  assert.deepEqual(manifestGets, [], 'manifests are only HEADed');
  assert.ok(proxy.log.some((e) => e.method === 'HEAD' && e.path.includes('/manifests/')));
});

test('--dry-run lists what would be copied and copies nothing', async () => {
  const plan = await writePlan('plan.yaml', planText(proxy.host));
  proxy.resetLog();
  const r = await ocictl(env, ['sync', plan, `${dst.host}/dry`, '--dry-run']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^11 images: 11 would be copied, 0 up to date, 0 failed$/m);
  assert.match(r.stderr, new RegExp(`would copy ${proxy.host}/lidabai/app:1.2.3 -> ${dst.host}/dry/app:1.2.3`));
  assert.deepEqual(await snapshot(dst.host, 'dry'), {});
  assert.deepEqual(proxy.log.filter((e) => e.path.includes('/blobs/')), []);
});

test('three shards are disjoint and together complete; the partition is by a stable hash', async () => {
  const plan = await writePlan('plan.yaml', planText(proxy.host));
  const seen = new Map<string, number>();
  for (let i = 1; i <= 3; i++) {
    const s = await sync(plan, `${dst.host}/shards`, { ...lib(), shard: `${i}/3` });
    assert.equal(s.failed, 0);
    assert.equal(s.planned, 11);
    for (const img of s.images) {
      assert.equal(img.state, 'copied');
      assert.ok(!seen.has(img.destination), `${img.destination} in shards ${seen.get(img.destination)} and ${i}`);
      seen.set(img.destination, i);
    }
  }
  assert.equal(seen.size, 11);
  assert.deepEqual(await snapshot(dst.host, 'shards'), expected());
  // The same pair always lands in the same shard.
  assert.equal(shardOf('127.0.0.1:5000/lidabai/app', '1.2.3', 3), shardOf('127.0.0.1:5000/lidabai/app', '1.2.3', 3));
  const bad = await ocictl(env, ['sync', plan, `${dst.host}/shards`, '--shard', '4/3']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--shard "4\/3" is not i\/n/);
});

test('--scoped keeps the source host and path', async () => {
  const plan = await writePlan('plan-one.yaml', `${proxy.host}:\n  images:\n    lidabai/busybox: ["1.0"]\n`);
  const s = await sync(plan, `${dst.host}/scoped`, { ...lib(), scoped: true });
  assert.equal(s.images[0]?.destination, `${dst.host}/scoped/${proxy.host.replace(':', '_')}/lidabai/busybox:1.0`);
  assert.equal(s.copied, 1);
});

test('skopeo sync 1.9 on the same plan (without images-by-semver) lands the same tags and digests', async () => {
  const plan = await writePlan('plan-skopeo.yaml', planText(src.host, { semver: false }));
  await runOk('skopeo', ['sync', '--src', 'yaml', '--dest', 'docker', '--all', '--dest-tls-verify=false', plan, `${dst.host}/skopeo`], { timeoutMs: 300_000 });
  const r = await ocictl(env, ['sync', plan, `${dst.host}/ours`]);
  assert.equal(r.code, 0, r.stderr);
  const theirs = await snapshot(dst.host, 'skopeo');
  const ours = await snapshot(dst.host, 'ours');
  assert.deepEqual(ours, theirs);
  assert.deepEqual(ours, expected({ semver: false }));
});

test('a malformed plan names file, line and key; unknown keys, bad regexes and bad constraints are errors', async () => {
  const cases: [string, RegExp][] = [
    [`${src.host}:\n  images:\n    lidabai/a: []\n  tls-verfy: false\n`, /bad\.yaml:4: .*tls-verfy: unknown key/],
    [`${src.host}:\n  images-by-tag-regex:\n    lidabai/a: "^v[0-9]+("\n`, /bad\.yaml:3: .*images-by-tag-regex\.lidabai\/a: regular expression "\^v\[0-9\]\+\(" does not parse/],
    [`${src.host}:\n  images-by-semver:\n    lidabai/a: ">= 1.x.y, foo"\n`, /bad\.yaml:3: .*images-by-semver\.lidabai\/a: semver constraint ">= 1\.x\.y, foo" does not parse/],
    [`${src.host}:\n  credentials:\n    username: u\n    pasword: p\n  images:\n    lidabai/a: []\n`, /bad\.yaml:4: .*credentials\.pasword: unknown key/],
    [`${src.host}:\n  images:\n    lidabai/a: [x]\n  images:\n    lidabai/b: []\n`, /bad\.yaml:4: not valid YAML \(Map keys must be unique\)/],
  ];
  for (const [text, re] of cases) {
    const f = await writePlan('bad.yaml', text);
    const r = await ocictl(env, ['sync', f, `${dst.host}/never`]);
    assert.equal(r.code, 1, text);
    assert.match(r.stderr.trim(), re);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
  assert.deepEqual(await snapshot(dst.host, 'never'), {});
});

test('a TLS source with its own CA (cert-dir) and credentials in the plan', async () => {
  const tls = await startRegistry({ tls: true, htpasswd: { admin: 'Harbor12345' } });
  try {
    await copy(`${src.host}/lidabai/busybox:1.0`, `${tls.host}/secure/busybox:1.0`, {
      ...lib(),
      destination: { insecure: true, credentials: new StaticCredentials({ username: 'admin', password: 'Harbor12345' }) },
    });
    const text = `${tls.host}:\n  cert-dir: ${tls.pki!.certDir}\n  credentials:\n    username: admin\n    password: Harbor12345\n  images:\n    secure/busybox: []\n`;
    const s = await sync(await writePlan('plan-tls.yaml', text), `${dst.host}/tls`, lib());
    assert.deepEqual([s.copied, s.failed], [1, 0], JSON.stringify(s.images));
    assert.deepEqual(await snapshot(dst.host, 'tls'), { 'busybox:1.0': pushed['lidabai/busybox:1.0'] });
    // Without the plan's credentials the registry refuses; the failure names the repository, nothing is copied.
    const none = await sync(parsePlan(`${tls.host}:\n  cert-dir: ${tls.pki!.certDir}\n  images:\n    secure/busybox: []\n`, 'p.yaml'), `${dst.host}/tls2`, lib());
    assert.equal(none.failed, 1);
    assert.match(none.images[0]?.reason ?? '', /auth|credential|unauthorized|password/i);
    assert.deepEqual(await snapshot(dst.host, 'tls2'), {});
  } finally {
    await tls.stop();
  }
});

test('plan reading: tags stay as written, semver reads tags as skopeo does', () => {
  const p = parsePlan('r.example.com:\n  images:\n    a/b: [1.10, v2]\n  images-by-semver:\n    a/c: ">= 1.1.0, < 2.0.0 || ~3.1"\n', 'p.yaml');
  assert.deepEqual(p.registries[0]?.images, { 'a/b': ['1.10', 'v2'] });
  assert.equal(p.registries[0]?.imagesBySemver['a/c']?.range, '>=1.1.0 <2.0.0 || ~3.1');
  assert.equal(tagVersion('v1.3')?.version, '1.3.0');
  assert.equal(tagVersion('2')?.version, '2.0.0');
  assert.equal(tagVersion('latest'), undefined);
  assert.equal(tagVersion('1.2.3.4'), undefined);
});
