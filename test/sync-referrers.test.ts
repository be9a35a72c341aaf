// Referrers carried by sync --referrers and copy --referrers between two docker-registry 2.8 instances
// (no referrers API, so the `sha256-<hex>` tag schema): an SBOM artifact whose subject is the image, a
// signature whose subject is the SBOM, and a cosign `.sig` tag; digests kept, the destination's fallback
// index merged with one already there, `ocictl referrers` lists them, and a re-run moves no blob.
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { buildImage, buildMultiPlatformImage, skopeoPush } from '../fixtures/images.js';
import { startFaultProxy, type FaultProxy } from '../fixtures/fault-proxy.js';
import { tmpDir } from '../fixtures/proc.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { listReferrers, type SyncSummary } from '../src/index.js';
import { type OcictlEnv, ocictl, ocictlOk } from './copy-support.js';
import { digestOf, getManifest, putBlob, putManifest, snapshot } from './sync-support.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const EMPTY = 'application/vnd.oci.empty.v1+json';
const SPDX = 'application/spdx+json';
const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

let work: string;
let src: RunningRegistry;
let dst: RunningRegistry;
let proxy: FaultProxy;
let env: OcictlEnv;
type Desc = { mediaType: string; digest: string; size: number };
let image: Desc;
let sbom: Desc;
let sig: Desc;
let cosignSig: Desc;
let other: Desc;
// The multi-platform image, signed as `cosign sign --recursive` does, with an SBOM on its amd64 manifest.
let dstProxy: FaultProxy;
let index: Desc;
let amd64: Desc;
let arm64: Desc;
let indexSig: Desc;
let amdSig: Desc;
let armSig: Desc;
let amdSbom: Desc;
let amdSbomSig: Desc;
const hex = (d: string): string => d.slice('sha256:'.length);

async function artifact(registry: string, repo: string, artifactType: string, content: string, subject: Desc, annotations: Record<string, string>): Promise<Desc> {
  const config = await putBlob(registry, repo, '{}');
  const layer = await putBlob(registry, repo, content);
  return putManifest(registry, repo, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType,
    config: { mediaType: EMPTY, ...config },
    layers: [{ mediaType: artifactType, ...layer }],
    subject,
    annotations,
  });
}

async function fallbackIndex(registry: string, repo: string, subject: string, manifests: object[]): Promise<void> {
  await putManifest(registry, repo, { schemaVersion: 2, mediaType: OCI_INDEX, manifests }, `sha256-${hex(subject)}`);
}

/** A cosign signature as `cosign sign` stores it: a manifest tagged `sha256-<hex>.sig` for the signed digest. */
async function cosignSignature(registry: string, repo: string, signed: string): Promise<Desc> {
  const cfg = await putBlob(registry, repo, '{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}');
  const payload = await putBlob(registry, repo, JSON.stringify({ critical: { image: { 'docker-manifest-digest': signed }, type: 'cosign container image signature' } }));
  return putManifest(
    registry,
    repo,
    {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
      layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', ...payload, annotations: { 'dev.cosignproject.cosign/signature': 'MEQCIB...' } }],
    },
    `sha256-${hex(signed)}.sig`,
  );
}

before(async () => {
  work = await tmpDir('ocitest-referrers');
  [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
  proxy = await startFaultProxy({ target: src.url });
  env = { dockerConfig: path.join(work, 'docker'), dataRoot: path.join(work, 'data') };
  const layout = path.join(work, 'layout');
  const img = await buildImage(layout, 'signed', { layers: [{ size: 40_000, seed: 5 }] });
  await skopeoPush(layout, 'signed', `docker://${src.host}/lidabai/signed:1.0`, ['--dest-tls-verify=false']);
  image = { mediaType: img.manifestMediaType, digest: img.manifestDigest, size: img.manifestSize };
  // As an OCI 1.1 client writes them to a registry without the referrers API: the artifact, then the tag-schema index.
  sbom = await artifact(src.host, 'lidabai/signed', SPDX, '{"spdxVersion":"SPDX-2.3","name":"signed"}', image, { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' });
  await fallbackIndex(src.host, 'lidabai/signed', image.digest, [{ ...sbom, artifactType: SPDX, annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' } }]);
  sig = await artifact(src.host, 'lidabai/signed', BUNDLE, '{"mediaType":"bundle","signature":"MEUCIQ..."}', sbom, { 'dev.sigstore.bundle.predicateType': 'signature' });
  await fallbackIndex(src.host, 'lidabai/signed', sbom.digest, [{ ...sig, artifactType: BUNDLE }]);
  // cosign's own scheme: a tag named for the image digest.
  cosignSig = await cosignSignature(src.host, 'lidabai/signed', image.digest);
  // The destination already has another referrer of the image in its fallback index: it must stay.
  other = await artifact(dst.host, 'prod/signed', 'application/vnd.example.scan+json', '{"scan":"clean"}', image, { 'org.example.kind': 'scan' });
  await fallbackIndex(dst.host, 'prod/signed', image.digest, [{ ...other, artifactType: 'application/vnd.example.scan+json' }]);

  // A multi-platform image: cosign signs the index and each platform manifest (`sign --recursive`); an SBOM
  // (signed in turn) is attached to the amd64 manifest through the tag schema. A proxy in front of the
  // destination counts what a dry run sends there.
  dstProxy = await startFaultProxy({ target: dst.url });
  const multi = await buildMultiPlatformImage(layout, 'multi', ['linux/amd64', 'linux/arm64'], { layers: [{ size: 30_000, seed: 11 }] });
  await skopeoPush(layout, 'multi', `docker://${src.host}/lidabai/multi:1.0`, ['--all', '--preserve-digests', '--dest-tls-verify=false']);
  index = { mediaType: multi.indexMediaType, digest: multi.indexDigest, size: multi.indexSize };
  [amd64, arm64] = multi.children.map((c) => ({ mediaType: c.manifestMediaType, digest: c.manifestDigest, size: c.manifestSize })) as [Desc, Desc];
  indexSig = await cosignSignature(src.host, 'lidabai/multi', index.digest);
  amdSig = await cosignSignature(src.host, 'lidabai/multi', amd64.digest);
  armSig = await cosignSignature(src.host, 'lidabai/multi', arm64.digest);
  amdSbom = await artifact(src.host, 'lidabai/multi', SPDX, '{"spdxVersion":"SPDX-2.3","name":"multi-amd64"}', amd64, { 'org.opencontainers.image.created': '2024-01-02T00:00:00Z' });
  await fallbackIndex(src.host, 'lidabai/multi', amd64.digest, [{ ...amdSbom, artifactType: SPDX }]);
  amdSbomSig = await artifact(src.host, 'lidabai/multi', BUNDLE, '{"mediaType":"bundle","signature":"MEYCIQ-amd64-sbom"}', amdSbom, { 'dev.sigstore.bundle.predicateType': 'signature' });
  await fallbackIndex(src.host, 'lidabai/multi', amdSbom.digest, [{ ...amdSbomSig, artifactType: BUNDLE }]);
});

after(async () => {
  await Promise.all([proxy?.stop(), dstProxy?.stop()]);
  await Promise.all([src?.stop(), dst?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

async function indexAt(registry: string, repo: string, subject: string): Promise<{ manifests: { digest: string; artifactType?: string; annotations?: Record<string, string> }[] }> {
  const b = await getManifest(registry, repo, `sha256-${hex(subject)}`);
  assert.ok(b, `no sha256-${hex(subject)} index in ${repo}`);
  return JSON.parse(b.toString('utf8')) as { manifests: { digest: string; artifactType?: string }[] };
}

async function assertCarried(repo: string, otherToo: boolean): Promise<void> {
  assert.equal(digestOf((await getManifest(dst.host, repo, '1.0'))!), image.digest);
  for (const d of [sbom, sig]) {
    const theirs = await getManifest(src.host, 'lidabai/signed', d.digest);
    const ours = await getManifest(dst.host, repo, d.digest);
    assert.ok(ours && theirs && ours.equals(theirs), `${d.digest} not carried byte for byte`);
  }
  assert.equal(digestOf((await getManifest(dst.host, repo, `sha256-${hex(image.digest)}.sig`))!), cosignSig.digest);
  const top = await indexAt(dst.host, repo, image.digest);
  const want = otherToo ? [other.digest, sbom.digest].sort() : [sbom.digest];
  assert.deepEqual(top.manifests.map((m) => m.digest).sort(), want);
  assert.equal(top.manifests.find((m) => m.digest === sbom.digest)?.artifactType, SPDX);
  const below = await indexAt(dst.host, repo, sbom.digest);
  assert.deepEqual(below.manifests.map((m) => [m.digest, m.artifactType]), [[sig.digest, BUNDLE]]);
}

test('sync --referrers carries the SBOM, the signature of the SBOM and the cosign .sig; the index there is merged', async () => {
  const plan = path.join(work, 'plan.yaml');
  await writeFile(plan, `${proxy.host}:\n  images:\n    lidabai/signed: ["1.0"]\n`);
  const r = await ocictlOk(env, ['sync', '--referrers', plan, `${dst.host}/prod`, '--format', 'json']);
  const s = JSON.parse(r.stdout) as SyncSummary;
  assert.equal(s.copied, 1);
  // Blobs: the SBOM's and the signature's layers, cosign's config and payload; the empty config `{}` is there already (the other artifact's).
  assert.deepEqual(s.images[0]?.referrers, { copied: 3, existing: 0, indexesUpdated: 2, blobs: 4 });
  await assertCarried('prod/signed', true);

  // Unchanged: nothing is written, no blob is read at the source.
  proxy.resetLog();
  const again = JSON.parse((await ocictlOk(env, ['sync', '--referrers', plan, `${dst.host}/prod`, '--format', 'json'])).stdout) as SyncSummary;
  assert.equal(again.skipped, 1);
  assert.deepEqual(again.images[0]?.referrers, { copied: 0, existing: 3, indexesUpdated: 0, blobs: 0 });
  assert.deepEqual(proxy.log.filter((e) => e.path.includes('/blobs/')), []);
});

test('without --referrers, sync copies the image alone', async () => {
  const plan = path.join(work, 'plan.yaml');
  await writeFile(plan, `${src.host}:\n  images:\n    lidabai/signed: ["1.0"]\n`);
  await ocictlOk(env, ['sync', plan, `${dst.host}/bare`]);
  assert.ok(await getManifest(dst.host, 'bare/signed', '1.0'));
  assert.equal(await getManifest(dst.host, 'bare/signed', sbom.digest), undefined);
  assert.equal(await getManifest(dst.host, 'bare/signed', `sha256-${hex(image.digest)}.sig`), undefined);
});

test('copy --referrers carries them too, and ocictl referrers lists the tree', async () => {
  const r = await ocictlOk(env, ['copy', '--referrers', `${src.host}/lidabai/signed:1.0`, `${dst.host}/copied/signed:1.0`]);
  assert.match(r.stderr, /referrers: 3 copied, 0 already there, 2 referrers indexes updated/);
  await assertCarried('copied/signed', false);

  const list = await listReferrers(`${dst.host}/prod/signed:1.0`, { dockerConfig: path.join(work, 'none', 'config.json') });
  assert.equal(list.digest, image.digest);
  const byDigest = new Map(list.referrers.map((x) => [x.digest, x]));
  assert.deepEqual([...byDigest.keys()].sort(), [other.digest, sbom.digest, cosignSig.digest].sort());
  assert.equal(byDigest.get(sbom.digest)?.artifactType, SPDX);
  assert.equal(byDigest.get(sbom.digest)?.foundBy, 'tag-schema');
  assert.deepEqual(byDigest.get(sbom.digest)?.referrers.map((x) => x.digest), [sig.digest]);
  assert.equal(byDigest.get(cosignSig.digest)?.tag, `sha256-${hex(image.digest)}.sig`);

  const text = await ocictlOk(env, ['referrers', `${dst.host}/prod/signed:1.0`]);
  const lines = text.stdout.trimEnd().split('\n');
  assert.equal(lines[0], `${dst.host}/prod/signed@${image.digest}`);
  assert.ok(lines.some((l) => l.includes(`${SPDX}  ${sbom.digest}`)), text.stdout);
  assert.ok(lines.some((l) => /^[│ ] {3}└── /.test(l) && l.includes(sig.digest)), text.stdout);
  assert.ok(lines.some((l) => l.includes(`(tag sha256-${hex(image.digest)}.sig)`)), text.stdout);

  const bad = await ocictl(env, ['copy', '--referrers', `${src.host}/lidabai/signed:1.0`, `oci:${path.join(work, 'oci')}:x`]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--referrers copies between registries only/);
});

test('a source with the referrers API (Harbor >= 2.8) is read through it', async () => {
  // docker-registry 2.8 has no referrers API: the proxy in front of the source answers the route as
  // Harbor 2.8 does, listing the SBOM; everything else is the real registry's.
  const answer = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...sbom, artifactType: SPDX }] });
  proxy.addRule({ method: 'GET', path: new RegExp(`/referrers/${image.digest}$`), action: { kind: 'respond', status: 200, headers: { 'content-type': OCI_INDEX }, body: answer } });
  proxy.addRule({ method: 'GET', path: /\/referrers\//, action: { kind: 'respond', status: 200, headers: { 'content-type': OCI_INDEX }, body: JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }) } });
  try {
    const list = await listReferrers(`${proxy.host}/lidabai/signed:1.0`, { dockerConfig: path.join(work, 'none', 'config.json') });
    const found = list.referrers.map((x) => [x.digest, x.foundBy]);
    // The API lists the SBOM (and, answering empty for the SBOM, hides the tag schema's signature of it); cosign tags are still read.
    assert.deepEqual(found.sort(), [[sbom.digest, 'referrers-api'], [cosignSig.digest, 'cosign-tag']].sort());
    await ocictlOk(env, ['copy', '--referrers', `${proxy.host}/lidabai/signed:1.0`, `${dst.host}/viaapi/signed:1.0`]);
    assert.ok(await getManifest(dst.host, 'viaapi/signed', sbom.digest));
    assert.deepEqual((await indexAt(dst.host, 'viaapi/signed', image.digest)).manifests.map((m) => m.digest), [sbom.digest]);
    assert.ok(proxy.log.some((e) => e.path.includes(`/referrers/${image.digest}`) && e.fault === 'respond'));
  } finally {
    proxy.clearRules();
  }
});

// --- referrers of the platform manifests of a multi-platform image, and what a dry run lists ---

const sigTag = (d: Desc): string => `sha256-${hex(d.digest)}.sig`;

/** [digest, subject, tag or artifactType] of every referrer of the multi-platform image. */
function multiReferrers(): [string, string, string][] {
  return [
    [indexSig.digest, index.digest, sigTag(index)],
    [amdSig.digest, amd64.digest, sigTag(amd64)],
    [armSig.digest, arm64.digest, sigTag(arm64)],
    [amdSbom.digest, amd64.digest, SPDX],
    [amdSbomSig.digest, amdSbom.digest, BUNDLE],
  ];
}

async function multiPlan(): Promise<string> {
  const plan = path.join(work, 'multi-plan.yaml');
  await writeFile(plan, `${src.host}:\n  images:\n    lidabai/multi: ["1.0"]\n`);
  return plan;
}

/** The dry run, in JSON and in text, through the proxy in front of the destination: it must only read there. */
async function dryRun(plan: string, prefix: string): Promise<{ json: SyncSummary; stdout: string; stderr: string }> {
  dstProxy.resetLog();
  const json = JSON.parse((await ocictlOk(env, ['sync', '--dry-run', '--referrers', plan, `${dstProxy.host}/${prefix}`, '--format', 'json'])).stdout) as SyncSummary;
  const text = await ocictlOk(env, ['sync', '--dry-run', '--referrers', plan, `${dstProxy.host}/${prefix}`]);
  assert.ok(dstProxy.log.some((e) => e.method === 'HEAD' && e.path.includes('/manifests/')), 'the dry run did not look at the destination');
  assert.deepEqual(dstProxy.log.filter((e) => e.method !== 'GET' && e.method !== 'HEAD'), [], 'the dry run wrote to the destination');
  return { json, stdout: text.stdout, stderr: text.stderr };
}

test('sync --dry-run --referrers lists the referrers of the index and of each platform manifest, and writes nothing', async () => {
  const plan = await multiPlan();
  const { json, stdout, stderr } = await dryRun(plan, 'dryref');
  assert.equal(json.wouldCopy, 1);
  const planned = json.images[0]?.plannedReferrers ?? [];
  assert.deepEqual(planned.map((p) => [p.digest, p.subject, p.tag ?? p.artifactType ?? '']).sort(), multiReferrers().sort());
  assert.ok(planned.every((p) => !p.there));
  assert.deepEqual(json.referrerPlan, { wouldCopy: 5, there: 0 });
  assert.match(stdout, /^1 images: 1 would be copied, 0 up to date, 0 failed; referrers: 5 would be copied, 0 there$/m);
  assert.ok(stderr.includes(`would copy referrer ${amdSbom.digest} ${SPDX} (of ${amd64.digest})`), stderr);
  assert.ok(stderr.includes(`would copy referrer ${armSig.digest} tag ${sigTag(arm64)} (of ${arm64.digest})`), stderr);
  assert.ok(stderr.includes(`would copy referrer ${amdSbomSig.digest} ${BUNDLE} (of ${amdSbom.digest})`), stderr);
  assert.deepEqual(await snapshot(dst.host, 'dryref'), {});
});

test('sync --referrers carries the referrers of each platform manifest; then a dry run finds them all there', async () => {
  const plan = await multiPlan();
  const s = JSON.parse((await ocictlOk(env, ['sync', '--referrers', plan, `${dst.host}/multi`, '--format', 'json'])).stdout) as SyncSummary;
  assert.equal(s.copied, 1, JSON.stringify(s.images));
  // Five manifests; tag-schema indexes for the amd64 manifest and for its SBOM (the index has only a cosign tag).
  assert.deepEqual({ ...s.images[0]?.referrers, blobs: 0 }, { copied: 5, existing: 0, indexesUpdated: 2, blobs: 0 });
  assert.equal(digestOf((await getManifest(dst.host, 'multi/multi', '1.0'))!), index.digest);
  for (const [signed, signature] of [[index, indexSig], [amd64, amdSig], [arm64, armSig]] as const) {
    assert.equal(digestOf((await getManifest(dst.host, 'multi/multi', sigTag(signed)))!), signature.digest);
  }
  for (const d of [amdSbom, amdSbomSig]) {
    const theirs = await getManifest(src.host, 'lidabai/multi', d.digest);
    const ours = await getManifest(dst.host, 'multi/multi', d.digest);
    assert.ok(ours && theirs && ours.equals(theirs), `${d.digest} not carried byte for byte`);
  }
  assert.deepEqual((await indexAt(dst.host, 'multi/multi', amd64.digest)).manifests.map((m) => [m.digest, m.artifactType]), [[amdSbom.digest, SPDX]]);
  assert.deepEqual((await indexAt(dst.host, 'multi/multi', amdSbom.digest)).manifests.map((m) => [m.digest, m.artifactType]), [[amdSbomSig.digest, BUNDLE]]);
  assert.equal(await getManifest(dst.host, 'multi/multi', `sha256-${hex(index.digest)}`), undefined);

  // Up to date: the dry run lists each as there; a real re-run finds them all (the platform manifests read from the source's index).
  const { json, stdout } = await dryRun(plan, 'multi');
  assert.equal(json.skipped, 1);
  assert.deepEqual(json.images[0]?.plannedReferrers?.map((p) => [p.digest, p.there]).sort(), multiReferrers().map(([d]) => [d, true]).sort());
  assert.match(stdout, /; referrers: 0 would be copied, 5 there$/m);
  const again = JSON.parse((await ocictlOk(env, ['sync', '--referrers', plan, `${dst.host}/multi`, '--format', 'json'])).stdout) as SyncSummary;
  assert.equal(again.skipped, 1);
  assert.deepEqual(again.images[0]?.referrers, { copied: 0, existing: 5, indexesUpdated: 0, blobs: 0 });
});

test('copy --referrers takes the referrers of the platform manifests it copied, and only those', async () => {
  const all = await ocictlOk(env, ['copy', '--referrers', `${src.host}/lidabai/multi:1.0`, `${dst.host}/copied/multi:1.0`]);
  assert.match(all.stderr, /referrers: 5 copied, 0 already there, 2 referrers indexes updated/);
  assert.equal(digestOf((await getManifest(dst.host, 'copied/multi', sigTag(arm64)))!), armSig.digest);
  assert.ok(await getManifest(dst.host, 'copied/multi', amdSbomSig.digest));

  await ocictlOk(env, ['copy', '--referrers', '--platform', 'linux/arm64', `${src.host}/lidabai/multi:1.0`, `${dst.host}/armonly/multi:1.0`]);
  assert.equal(digestOf((await getManifest(dst.host, 'armonly/multi', '1.0'))!), arm64.digest);
  assert.equal(digestOf((await getManifest(dst.host, 'armonly/multi', sigTag(arm64)))!), armSig.digest);
  assert.equal(await getManifest(dst.host, 'armonly/multi', sigTag(amd64)), undefined);
  // The index did not arrive, so its signature (whose subject it is) stays behind.
  assert.equal(await getManifest(dst.host, 'armonly/multi', sigTag(index)), undefined);
  assert.equal(await getManifest(dst.host, 'armonly/multi', amdSbom.digest), undefined);
  assert.equal(await getManifest(dst.host, 'armonly/multi', `sha256-${hex(amd64.digest)}`), undefined);
});

test('ocictl referrers --all-platforms / --platform list the platform manifests\' referrers; the default is the index\'s alone', async () => {
  const ref = `${src.host}/lidabai/multi:1.0`;
  const plain = await ocictlOk(env, ['referrers', ref]);
  assert.deepEqual(plain.stdout.trimEnd().split('\n'), [`${src.host}/lidabai/multi@${index.digest}`, `└── cosign signature  ${indexSig.digest}  (tag ${sigTag(index)})`]);
  assert.equal('platforms' in (JSON.parse((await ocictlOk(env, ['referrers', ref, '--format', 'json'])).stdout) as object), false);

  const lib = await listReferrers(ref, { dockerConfig: path.join(work, 'none', 'config.json'), allPlatforms: true });
  assert.deepEqual(lib.referrers.map((r) => r.digest), [indexSig.digest]);
  assert.deepEqual(
    lib.platforms?.map((p) => [p.digest, p.platform, p.referrers.map((r) => [r.digest, r.referrers.map((x) => x.digest)])]),
    [
      [amd64.digest, 'linux/amd64', [[amdSbom.digest, [amdSbomSig.digest]], [amdSig.digest, []]]],
      [arm64.digest, 'linux/arm64', [[armSig.digest, []]]],
    ],
  );

  const text = (await ocictlOk(env, ['referrers', '--all-platforms', ref])).stdout.trimEnd().split('\n');
  const at = text.indexOf(`${src.host}/lidabai/multi@${amd64.digest}  (linux/amd64)`);
  assert.ok(at > 0, text.join('\n'));
  assert.equal(text[at + 1], `├── ${SPDX}  ${amdSbom.digest}`);
  assert.equal(text[at + 2], `│   └── ${BUNDLE}  ${amdSbomSig.digest}`);
  assert.equal(text[at + 3], `└── cosign signature  ${amdSig.digest}  (tag ${sigTag(amd64)})`);
  assert.equal(text[at + 4], `${src.host}/lidabai/multi@${arm64.digest}  (linux/arm64)`);

  const one = JSON.parse((await ocictlOk(env, ['referrers', '--platform', 'linux/arm64', ref, '--format', 'json'])).stdout) as { platforms: { digest: string }[] };
  assert.deepEqual(one.platforms.map((p) => p.digest), [arm64.digest]);
});
