/**
 * `npm run demo`: the walkthrough's client steps end to end against a
 * throwaway registry on 127.0.0.1 with TLS (a fresh CA) and htpasswd
 * (admin / Harbor12345). It starts what it needs and stops it afterwards.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBusyboxImage } from '../fixtures/images.js';
import { run } from '../fixtures/proc.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { LocalStore } from '../src/store/local-store.js';
import { parseManifest } from '../src/oci/manifest.js';
import { createReadStream } from 'node:fs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = path.join(root, 'bin', 'ocictl.js');

function ensurePackages(): void {
  const missing: string[] = [];
  if (spawnSync('sh', ['-c', 'command -v docker-registry'], { stdio: 'ignore' }).status !== 0) missing.push('docker-registry');
  if (!existsSync('/bin/busybox')) missing.push('busybox-static');
  if (spawnSync('sh', ['-c', 'command -v htpasswd'], { stdio: 'ignore' }).status !== 0) missing.push('apache2-utils');
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    console.error(`demo: missing Debian packages; run: sudo apt-get install -y ${missing.join(' ')}`);
    process.exit(1);
  }
  console.log(`demo: installing ${missing.join(' ')} with apt-get`);
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', ...missing]]) {
    const r = spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) process.exit(1);
  }
}

/** Puts an image of an OCI layout into the store under `name` (as a node that already had it). */
async function importLayout(store: LocalStore, layout: string, tag: string, name: string): Promise<void> {
  const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[] };
  const desc = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!desc) throw new Error(`no ${tag} in ${layout}`);
  const blob = (d: string): string => path.join(layout, 'blobs', 'sha256', d.slice(7));
  const bytes = await readFile(blob(desc.digest));
  const m = parseManifest(bytes, desc.mediaType);
  if (m.kind !== 'manifest') throw new Error('expected an image manifest');
  for (const d of [m.manifest.config, ...m.manifest.layers]) {
    if (await store.has(d.digest)) continue;
    const w = await store.ingest(d);
    for await (const c of createReadStream(blob(d.digest))) await w.write(c as Buffer);
    await w.commit();
  }
  await store.put({ mediaType: desc.mediaType, digest: desc.digest, size: desc.size }, bytes);
  await store.set(name, { mediaType: desc.mediaType, digest: desc.digest, size: desc.size }, [desc.digest]);
}

async function main(): Promise<void> {
  ensurePackages();
  const work = await mkdtemp(path.join(os.tmpdir(), 'ocictl-demo-'));
  let reg: RunningRegistry | undefined;
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: path.join(work, 'docker'), OCICTL_DATA_ROOT: path.join(work, 'store') };
  delete env.NODE_EXTRA_CA_CERTS;
  try {
    console.log('demo: starting docker-registry on 127.0.0.1 with TLS (fresh CA) and htpasswd admin/Harbor12345');
    reg = await startRegistry({ tls: true, htpasswd: { admin: 'Harbor12345' } });
    const H = reg.host;
    console.log(`demo: registry at https://${H}; DOCKER_CONFIG=${env.DOCKER_CONFIG} OCICTL_DATA_ROOT=${env.OCICTL_DATA_ROOT}`);
    console.log('demo: building a small real image (busybox-static in one layer) as nginx:1.23.1 in namespaces default and k8s.io');
    const layout = path.join(work, 'layout');
    await buildBusyboxImage(layout, '1.23.1');
    await importLayout(await LocalStore.open(env.OCICTL_DATA_ROOT as string, 'default'), layout, '1.23.1', 'docker.io/library/nginx:1.23.1');
    await importLayout(await LocalStore.open(env.OCICTL_DATA_ROOT as string, 'k8s.io'), layout, '1.23.1', `${H}/lidabai/nginx:1.23.1`);
    const steps = [
      `login ${H} -u admin -p Harbor12345 --insecure-registry`,
      'images',
      `image tag nginx:1.23.1 ${H}/lidabai/nginx:1.23.1`,
      `image push ${H}/lidabai/nginx:1.23.1 --insecure-registry`,
      `-n k8s.io image rm ${H}/lidabai/nginx:1.23.1`,
      '-n k8s.io images',
      `-n k8s.io pull ${H}/lidabai/nginx:1.23.1 --insecure-registry`,
      '-n k8s.io images',
      `logout ${H}`,
    ];
    for (const s of steps) {
      console.log(`\n$ ocictl ${s}`);
      const r = await run(process.execPath, [bin, ...s.split(' ')], { env });
      process.stdout.write(r.stderr);
      process.stdout.write(r.stdout);
      if (r.code !== 0) throw new Error(`step failed (exit ${r.code}): ocictl ${s}`);
    }
    console.log('\ndemo: done — every step succeeded');
  } finally {
    await reg?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(`demo: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
