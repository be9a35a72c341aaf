/**
 * Manifest documents accepted and refused as distribution's decoders (schema2, manifestlist,
 * ocischema) and containerd's media-type check decide: Docker schema2 manifests and manifest
 * lists must carry `mediaType` equal to the type served; OCI ones may omit it.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type FaultProxy } from '../fixtures/fault-proxy.js';
import { freePort, tmpDir } from '../fixtures/proc.js';
import { OcictlError } from '../src/errors.js';
import { MediaType } from '../src/oci/media-types.js';
import { parseManifest } from '../src/oci/manifest.js';
import { assertOneLineError, ocictl } from './faults-lib.js';

const D = (c: string): string => `sha256:${c.repeat(64)}`;
const config = { mediaType: MediaType.DockerConfig, digest: D('a'), size: 10 };
const layer = { mediaType: MediaType.DockerLayerGzip, digest: D('b'), size: 10 };
const child = { mediaType: MediaType.DockerManifest, digest: D('c'), size: 10, platform: { os: 'linux', architecture: 'amd64' } };

const manifest = (mediaType?: string): Buffer => Buffer.from(JSON.stringify({ schemaVersion: 2, ...(mediaType ? { mediaType } : {}), config, layers: [layer] }));
const index = (mediaType?: string): Buffer => Buffer.from(JSON.stringify({ schemaVersion: 2, ...(mediaType ? { mediaType } : {}), manifests: [child] }));

describe('manifest media types, as distribution validates them', () => {
  it('accepted: [document, served as] → the type ocictl takes', () => {
    const table: Array<[Buffer, string | undefined, string]> = [
      [manifest(MediaType.DockerManifest), MediaType.DockerManifest, MediaType.DockerManifest],
      [manifest(MediaType.DockerManifest), undefined, MediaType.DockerManifest],
      [manifest(MediaType.DockerManifest), 'application/json', MediaType.DockerManifest],
      [index(MediaType.DockerManifestList), MediaType.DockerManifestList, MediaType.DockerManifestList],
      // OCI: mediaType is optional; the served type (or the shape) decides
      [manifest(), MediaType.OciManifest, MediaType.OciManifest],
      [manifest(MediaType.OciManifest), MediaType.OciManifest, MediaType.OciManifest],
      [index(), MediaType.OciIndex, MediaType.OciIndex],
      [index(MediaType.OciIndex), `${MediaType.OciIndex}; charset=utf-8`, MediaType.OciIndex],
      [manifest(), undefined, MediaType.OciManifest],
      [index(), undefined, MediaType.OciIndex],
      [manifest(), 'application/octet-stream', MediaType.OciManifest],
    ];
    for (const [doc, served, want] of table) assert.equal(parseManifest(doc, served).mediaType, want, `${doc.toString().slice(0, 80)} as ${served}`);
  });

  it('refused with MANIFEST_INVALID, one line', () => {
    const table: Array<[Buffer, string | undefined]> = [
      [manifest(), MediaType.DockerManifest], // schema2 without mediaType
      [index(), MediaType.DockerManifestList], // manifest list without mediaType
      [manifest(MediaType.OciManifest), MediaType.DockerManifest],
      [index(MediaType.OciIndex), MediaType.DockerManifestList],
      [manifest(MediaType.DockerManifest), MediaType.OciManifest],
      [index(MediaType.DockerManifestList), MediaType.OciIndex],
      [manifest(MediaType.OciManifest), MediaType.OciIndex],
      // containerd: the shape must agree with the type
      [Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer], manifests: [child] })), undefined],
      [Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [child], layers: [layer] })), undefined],
      [Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [child], config })), MediaType.OciIndex],
    ];
    for (const [doc, served] of table) {
      assert.throws(() => parseManifest(doc, served), (e: unknown) => e instanceof OcictlError && e.code === 'MANIFEST_INVALID' && !e.message.includes('\n'), `${doc.toString().slice(0, 120)} as ${served}`);
    }
  });
});

describe('served by a registry: refused before anything is stored', { timeout: 60_000 }, () => {
  let proxy: FaultProxy;
  let work: string;
  before(async () => {
    work = await tmpDir('ocitest-compat-manifest');
    proxy = await startFaultProxy({ target: `http://127.0.0.1:${await freePort()}` });
  });
  after(async () => {
    await proxy?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('a schema2 manifest and a manifest list without mediaType', async () => {
    proxy.addRule({ path: /\/manifests\/nomt$/, action: { kind: 'respond', status: 200, headers: { 'content-type': MediaType.DockerManifest }, body: manifest() } });
    proxy.addRule({ path: /\/manifests\/nomtlist$/, action: { kind: 'respond', status: 200, headers: { 'content-type': MediaType.DockerManifestList }, body: index() } });
    proxy.addRule({ path: /\/blobs\//, action: { kind: 'respond', status: 200, headers: { 'content-type': 'application/octet-stream' }, body: 'x'.repeat(10) } });
    for (const tag of ['nomt', 'nomtlist']) {
      const e = { dockerConfig: path.join(work, `d-${tag}`), dataRoot: path.join(work, `s-${tag}`) };
      const r = await ocictl(['--insecure-registry', 'pull', '-q', `${proxy.host}/compat/m:${tag}`], e);
      assert.match(assertOneLineError(r, tag), /mediaType/);
      const blobs = await fs.readdir(path.join(e.dataRoot, 'default', 'blobs', 'sha256')).catch(() => []);
      assert.deepEqual(blobs, [], 'nothing stored');
    }
    assert.ok(!proxy.log.some((l) => l.path.includes('/blobs/')), 'no blob was even asked for');
  });
});
