// Referrers carried by sync --referrers and copy --referrers between two docker-registry 2.8 instances
// (no referrers API, so the `sha256-<hex>` tag schema): an SBOM artifact whose subject is the image, a
// signature whose subject is the SBOM, and a cosign `.sig` tag; digests kept, the destination's fallback
// index merged with one already there, `ocictl referrers` lists them, and a re-run moves no blob.
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { buildImage, skopeoPush } from '../fixtures/images.js';
import { startFaultProxy, type FaultProxy } from '../fixtures/fault-proxy.js';
import { tmpDir } from '../fixtures/proc.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { listReferrers, type SyncSummary } from '../src/index.js';
import { type OcictlEnv, ocictl, ocictlOk } from './copy-support.js';
import { digestOf, getManifest, putBlob, putManifest } from './sync-support.js';

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
  const cfg = await putBlob(src.host, 'lidabai/signed', '{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}');
  const payload = await putBlob(src.host, 'lidabai/signed', JSON.stringify({ critical: { image: { 'docker-manifest-digest': image.digest }, type: 'cosign container image signature' } }));
  cosignSig = await putManifest(
    src.host,
    'lidabai/signed',
    {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
      layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', ...payload, annotations: { 'dev.cosignproject.cosign/signature': 'MEQCIB...' } }],
    },
    `sha256-${hex(image.digest)}.sig`,
  );
  // The destination already has another referrer of the image in its fallback index: it must stay.
  other = await artifact(dst.host, 'prod/signed', 'application/vnd.example.scan+json', '{"scan":"clean"}', image, { 'org.example.kind': 'scan' });
  await fallbackIndex(dst.host, 'prod/signed', image.digest, [{ ...other, artifactType: 'application/vnd.example.scan+json' }]);
});

after(async () => {
  await proxy?.stop();
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
