/**
 * The `sync` op of `npm run bench`: a 40-image plan (10 repositories × 4
 * tags, every image a shared base layer plus its own layer) synced from one
 * docker-registry to another by `ocictl sync` and `skopeo sync --src yaml`,
 * first into an empty destination, then again unchanged. Tools alternate run
 * by run; before every first run the destination's storage and skopeo's
 * blob-info cache are wiped. Called from bench.ts; returns its rows.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildImage } from '../fixtures/images.js';
import { run, runOk } from '../fixtures/proc.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { type BenchOptions, type OpResult, type Sample, type ToolStats, measure, stats } from './bench.js';

const HERE = path.dirname(fileURLToPath(import.meta.url)); // dist/scripts
const ROOT = path.resolve(HERE, '..', '..');
const BLOB_INFO_CACHE = '/var/lib/containers/cache/blob-info-cache-v1.boltdb';
const MiB = 1024 * 1024;

export const SYNC_REPOS = 10;
export const SYNC_TAGS = 4;

/** Builds the 40 images (untimed) and pushes them to the source registry; returns their total size. */
async function seedSource(src: RunningRegistry, work: string): Promise<number> {
  const { copy } = await import('../src/index.js');
  const layout = path.join(work, 'sync-layout');
  const lib = { dockerConfig: path.join(work, 'sync-none', 'config.json') };
  let bytes = 0;
  let base = 0;
  for (let r = 0; r < SYNC_REPOS; r++) {
    for (let t = 0; t < SYNC_TAGS; t++) {
      const tag = `1.${t}.0`;
      const img = await buildImage(layout, `r${r}-${tag}`, {
        layers: [
          { size: 4 * MiB, seed: 4242 }, // the base every image shares
          { size: MiB, seed: 10_000 + r * 100 + t },
          { size: 64 * 1024, compressible: true, seed: 20_000 + r * 100 + t },
        ],
      });
      await copy(`oci:${layout}:r${r}-${tag}`, `${src.host}/team/app${r}:${tag}`, lib);
      base = img.layers[0]?.size ?? 0;
      bytes += img.configSize + img.layers.slice(1).reduce((a, l) => a + l.size, 0);
    }
  }
  return bytes + base;
}

/** Requests the source registry logged from byte `from` of its log on: manifest GETs and HEADs, blob GETs. */
async function sourceRequests(logFile: string, from: number): Promise<{ manifestGet: number; manifestHead: number; blobGet: number; end: number }> {
  const text = (await fs.readFile(logFile)).subarray(from).toString('utf8');
  const out = { manifestGet: 0, manifestHead: 0, blobGet: 0, end: from + Buffer.byteLength(text) };
  for (const m of text.matchAll(/"(GET|HEAD) \/v2\/\S+\/(manifests|blobs)\//g)) {
    if (m[2] === 'blobs') {
      if (m[1] === 'GET') out.blobGet++;
    } else if (m[1] === 'GET') out.manifestGet++;
    else out.manifestHead++;
  }
  return out;
}

export async function benchSync(opts: BenchOptions, work: string): Promise<OpResult[]> {
  const log = (s: string): void => {
    if (opts.verbose) process.stderr.write(`${s}\n`);
  };
  const ocictl = path.join(ROOT, 'bin', 'ocictl.js');
  const registries: RunningRegistry[] = [];
  try {
    const src = await startRegistry({ logLevel: 'error' });
    registries.push(src);
    const dst = await startRegistry({ logLevel: 'error' });
    registries.push(dst);
    log(`sync: building and pushing ${SYNC_REPOS * SYNC_TAGS} images...`);
    const bytes = await seedSource(src, work);
    const plan = path.join(work, 'sync-plan.yaml');
    const repos = Array.from({ length: SYNC_REPOS }, (_, r) => `    team/app${r}: []`);
    await fs.writeFile(plan, [`${src.host}:`, '  tls-verify: false', '  images:', ...repos, ''].join('\n'));
    const env = { ...process.env, OCICTL_DATA_ROOT: path.join(work, 'sync-store'), DOCKER_CONFIG: path.join(work, 'sync-docker') };
    const tools: Record<string, [string, string[]]> = {
      ocictl: [process.execPath, [ocictl, 'sync', '-q', '-j', String(opts.concurrency ?? 8), plan, `${dst.host}/o`]],
      skopeo: ['skopeo', ['sync', '--src', 'yaml', '--dest', 'docker', '--all', '--dest-tls-verify=false', plan, `${dst.host}/s`]],
    };
    const wipe = async (): Promise<void> => {
      await fs.rm(path.join(dst.dataDir, 'docker'), { recursive: true, force: true });
      await fs.rm(BLOB_INFO_CACHE, { force: true });
      await run('sync', []);
    };
    const first = new Map<string, Sample[]>([['ocictl', []], ['skopeo', []]]);
    const requests: Record<string, string> = {};
    const logSize = async (): Promise<number> => (await fs.stat(src.logFile)).size;
    const again = new Map<string, Sample[]>([['ocictl', []], ['skopeo', []]]);
    const names = Object.keys(tools);
    for (let i = 0; i < opts.runs; i++) {
      const order = names.map((_, k) => names[(k + i) % names.length] as string);
      // First runs into an empty destination.
      for (const t of order) {
        await wipe();
        const [cmd, args] = tools[t] as [string, string[]];
        const s = await measure(cmd, args, env, work);
        first.get(t)?.push(s);
        log(`  sync first run ${i + 1}/${opts.runs} ${t}: ${s.seconds.toFixed(3)} s, ${s.rssMB.toFixed(0)} MiB`);
      }
      // Unchanged re-runs: both destinations hold everything (each tool its own prefix).
      await wipe();
      for (const t of names) {
        const [cmd, args] = tools[t] as [string, string[]];
        await runOk(cmd, args, { env, timeoutMs: 600_000 });
      }
      for (const t of order) {
        const [cmd, args] = tools[t] as [string, string[]];
        const at = await logSize();
        const s = await measure(cmd, args, env, work);
        again.get(t)?.push(s);
        const n = await sourceRequests(src.logFile, at);
        requests[t] = `${t} ${n.manifestHead} HEAD + ${n.manifestGet} GET manifests, ${n.blobGet} GET blobs`;
        log(`  sync re-run ${i + 1}/${opts.runs} ${t}: ${s.seconds.toFixed(3)} s, ${s.rssMB.toFixed(0)} MiB`);
      }
    }
    const row = (op: string, samples: Map<string, Sample[]>): OpResult => {
      const t: Record<string, ToolStats> = {};
      for (const [k, v] of samples) t[k] = stats(v, bytes);
      const o = t.ocictl as ToolStats;
      const s = t.skopeo as ToolStats;
      return { op, bytes, tools: t, ratioMedian: s.medianSeconds / o.medianSeconds, ratioMin: s.minSeconds / o.minSeconds };
    };
    // What an unchanged re-run asks of the source (Harbor counts a manifest GET as a pull; a HEAD is not one).
    const asked = Object.values(requests).join('; ');
    return [row(`sync ${SYNC_REPOS * SYNC_TAGS} images, first run`, first), row(`sync ${SYNC_REPOS * SYNC_TAGS} images, unchanged re-run (source requests: ${asked})`, again)];
  } finally {
    for (const r of registries) await r.stop().catch(() => undefined);
  }
}
