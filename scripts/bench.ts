/**
 * `npm run bench`: ocictl against skopeo in one run, on this machine, with the
 * machine's limits and the floors (curl, a minimal Node pipeline) measured in
 * the same run. Not a test: it prints a table and writes the same as JSON.
 *
 *   node dist/scripts/bench.js [--size 512MiB|2GiB] [--layers 8] [--runs 5]
 *        [--ops startup,limits,push,pull,pull-tls,pull-fsync,copy,mount,containerd-pull,sync] [--json FILE] [--concurrency N]
 *
 * containerd-pull (scripts/bench-containerd.ts; root): pull + unpack of a
 * ~200 MiB image into a fresh containerd, ocictl against ctr.
 *
 * Every tool runs as its own process under /usr/bin/time (peak RSS); tools
 * alternate run by run; registry storage and skopeo's blob-info cache are
 * wiped before every push/copy; dirty pages are synced between runs.
 */
import { spawn } from 'node:child_process';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { buildImage, type BuiltImage, type LayerSpec } from '../fixtures/images.js';
import { run, runOk, tmpDir } from '../fixtures/proc.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { type FloorBlob, type ProbeResult, verifyBlobs } from '../fixtures/bench-probes.js';
import { type ContainerdPullResult, containerdPull, containerdPullAvailable, formatContainerdPull } from './bench-containerd.js';

const MiB = 1024 * 1024;
const HERE = path.dirname(fileURLToPath(import.meta.url)); // dist/scripts
const ROOT = path.resolve(HERE, '..', '..');
let OCICTL = path.join(ROOT, 'bin', 'ocictl.js');
const PROBES = path.join(ROOT, 'dist', 'fixtures', 'bench-probes.js');
const BLOB_INFO_CACHE = '/var/lib/containers/cache/blob-info-cache-v1.boltdb';
const TIME = '/usr/bin/time';

export interface BenchOptions {
  sizeBytes: number;
  layers: number;
  runs: number;
  ops: string[];
  json: string;
  concurrency?: number;
  /** A second ocictl (path to its bin/ocictl.js) run as contender "ocictl B" in push/pull rows: before/after comparisons in one run. */
  compareBin?: string;
  /** Extra environment (K=V) for contender "ocictl B". */
  compareEnv?: Record<string, string>;
  /** Print progress lines. */
  verbose: boolean;
}

export interface Sample {
  seconds: number;
  rssMB: number;
  /** user + system CPU seconds of the process (and its children); with /usr/bin/time only */
  cpuSeconds?: number;
}

export interface ToolStats {
  runs: Sample[];
  medianSeconds: number;
  minSeconds: number;
  maxSeconds: number;
  /** image bytes / median seconds, 10^6 B/s */
  mbps: number;
  medianRssMB: number;
  maxRssMB: number;
  /** median user + system CPU seconds, when measured */
  medianCpuSeconds?: number;
  minCpuSeconds?: number;
  maxCpuSeconds?: number;
}

/** min / median / max of a figure over the runs. */
export interface Spread {
  min: number;
  median: number;
  max: number;
}

/** The disk probe run once per round beside an op (same bytes as the image, in the bench's work dir). */
export interface DiskProbe {
  /** buffered writes + fsync, seconds */
  bufferedSeconds: Spread;
  /** O_DIRECT writes + fdatasync, seconds (absent where the file system refuses O_DIRECT) */
  directSeconds?: Spread;
  /** of the buffered figure, the fsync alone */
  bufferedFsyncSeconds: Spread;
}

export interface OpResult {
  op: string;
  bytes: number;
  tools: Record<string, ToolStats>;
  /** skopeo median / ocictl median (higher is better for ocictl) */
  ratioMedian?: number;
  ratioMin?: number;
  /** ocictl median / floor median, per floor */
  vsFloor?: Record<string, number>;
  /** "ocictl B" median / ocictl median, when --compare-bin is given (higher: ocictl is faster) */
  compareRatio?: number;
  /** skopeo / ocictl of each round's pair (the tools ran back to back), min / median / max */
  pairRatio?: Spread;
  /** the disk probe, once per round */
  disk?: DiskProbe;
  /** 1-minute load average before and after the op's rounds (others using the machine show here) */
  load?: [number, number];
  note?: string;
}

export interface BenchReport {
  date: string;
  command: string;
  machine: {
    cpus: number;
    cpuModel: string;
    memMB: number;
    node: string;
    skopeo: string;
    registry: string;
    kernel: string;
    /** seconds since boot, and the page cache's size, when the bench started: a fresh machine vs a warm one */
    uptimeSeconds?: number;
    pageCacheMB?: number;
    /** file system of the work dir (where pulls land): type and mount options */
    workFs?: string;
  };
  image: { bytes: number; layers: number; blobs: number };
  options: BenchOptions;
  limits: Record<string, { medianMbps: number; minMbps: number; runs: number[]; extra?: Record<string, number> }>;
  startup: Record<string, ToolStats>;
  ops: OpResult[];
  /** The containerd-pull op (its own shape: see bench-containerd.ts). */
  containerd?: ContainerdPullResult | { skipped: string };
}

// ---------------------------------------------------------------- helpers

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function spread(xs: number[]): Spread {
  return { min: Math.min(...xs), median: median(xs), max: Math.max(...xs) };
}

export function stats(runs: Sample[], bytes: number): ToolStats {
  const secs = runs.map((r) => r.seconds);
  const med = median(secs);
  const cpu = runs.every((r) => r.cpuSeconds !== undefined) ? spread(runs.map((r) => r.cpuSeconds as number)) : undefined;
  return {
    runs,
    medianSeconds: med,
    minSeconds: Math.min(...secs),
    maxSeconds: Math.max(...secs),
    mbps: bytes / med / 1e6,
    medianRssMB: median(runs.map((r) => r.rssMB)),
    maxRssMB: Math.max(...runs.map((r) => r.rssMB)),
    ...(cpu ? { medianCpuSeconds: cpu.median, minCpuSeconds: cpu.min, maxCpuSeconds: cpu.max } : {}),
  };
}

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(k|ki|kib|m|mi|mib|g|gi|gib)?b?$/i.exec(s.trim());
  if (!m) throw new Error(`bad size ${s} (e.g. 512MiB, 2GiB)`);
  const n = Number(m[1]);
  const u = (m[2] ?? 'mib').toLowerCase()[0];
  return Math.round(n * (u === 'k' ? 1024 : u === 'g' ? 1024 * MiB : MiB));
}

const useTime = existsSync(TIME);

/** A live process's peak RSS so far (VmHWM of /proc/<pid>/status) in KiB; 0 once it is gone. */
export function peakRssKb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0; // exited
  }
}

/** Peak RSS of a process by polling /proc/<pid>/status VmHWM (when /usr/bin/time is absent). */
function pollHwm(pid: number, sink: { kb: number }): () => void {
  const read = (): void => {
    sink.kb = Math.max(sink.kb, peakRssKb(pid));
  };
  read();
  const t = setInterval(read, 10);
  return () => clearInterval(t);
}

let rssSeq = 0;
/** Runs one command to completion; wall seconds and peak RSS (MB, 10^6... in MiB). Throws on failure. */
export async function measure(cmd: string, args: string[], env: NodeJS.ProcessEnv, scratch: string): Promise<Sample & { stdout: string }> {
  const rssFile = path.join(scratch, `rss-${process.pid}-${rssSeq++}`);
  const argv = useTime ? [TIME, '-f', '%M %U %S', '-o', rssFile, cmd, ...args] : [cmd, ...args];
  const t0 = process.hrtime.bigint();
  const child = spawn(argv[0] as string, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const hwm = { kb: 0 };
  const stop = useTime ? () => undefined : pollHwm(child.pid as number, hwm);
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => {
    if (out.length < 64 * 1024) out += b.toString();
  });
  child.stderr.on('data', (b: Buffer) => {
    err = (err + b.toString()).slice(-4000);
  });
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve(c ?? 1));
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  stop();
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code}\n${err}`);
  let kb = hwm.kb;
  let cpuSeconds: number | undefined;
  if (useTime) {
    const [rss, user, sys] = ((await fs.readFile(rssFile, 'utf8')).trim().split('\n').pop() ?? '').split(' ').map(Number);
    kb = rss ?? 0;
    cpuSeconds = (user ?? 0) + (sys ?? 0);
    await fs.rm(rssFile, { force: true });
  }
  return { seconds, rssMB: kb / 1024, ...(cpuSeconds !== undefined ? { cpuSeconds } : {}), stdout: out };
}

async function rmrf(p: string): Promise<void> {
  await fs.rm(p, { recursive: true, force: true });
}

async function wipeRegistry(reg: RunningRegistry): Promise<void> {
  await rmrf(path.join(reg.dataDir, 'docker'));
}

async function sync(): Promise<void> {
  await run('sync', []);
}

function log(opts: BenchOptions, s: string): void {
  if (opts.verbose) process.stderr.write(`${s}\n`);
}

// ---------------------------------------------------------------- image

/** ~`sizeBytes`: `layers` incompressible layers plus one text layer; `seedBase` tells images apart. */
function layerSpecs(sizeBytes: number, layers: number, seedBase: number): LayerSpec[] {
  const text = Math.max(64 * 1024, Math.round(sizeBytes / 32)); // compresses ~4x
  const each = Math.max(4096, Math.floor((sizeBytes - text / 4) / layers));
  const specs: LayerSpec[] = [];
  for (let i = 0; i < layers; i++) specs.push({ size: each, seed: seedBase + i });
  specs.push({ size: text, compressible: true, seed: seedBase - 1 });
  return specs;
}

/** Builds (or reuses, from a previous bench run) the test image in an OCI layout. */
export async function testImage(sizeBytes: number, layers: number, o: { name?: string; seedBase?: number } = {}): Promise<BuiltImage> {
  const dir = path.join(os.tmpdir(), `ocictl-bench-${o.name ?? 'image'}-${sizeBytes}-${layers}`);
  const meta = path.join(dir, 'built.json');
  try {
    const img = JSON.parse(await fs.readFile(meta, 'utf8')) as BuiltImage;
    for (const l of img.layers) {
      if ((await fs.stat(path.join(dir, 'blobs', 'sha256', l.digest.slice(7)))).size !== l.size) throw new Error('changed');
    }
    return img;
  } catch {
    await rmrf(dir);
  }
  const img = await buildImage(dir, 'v1', { layers: layerSpecs(sizeBytes, layers, o.seedBase ?? 1000) });
  await fs.writeFile(meta, JSON.stringify(img));
  return img;
}

function imageBlobs(img: BuiltImage): { digest: string; size: number }[] {
  return [{ digest: img.configDigest, size: img.configSize }, ...img.layers.map((l) => ({ digest: l.digest, size: l.size }))];
}

// ---------------------------------------------------------------- rounds

interface Contender {
  tool: string;
  /** Untimed preparation before each run (wipes, fresh dirs). */
  before?: () => Promise<void>;
  /** The timed command. */
  command: () => [string, string[]];
  /** The correctness check after each run (untimed): throws when the run did not do its job; the bench then fails. */
  verify?: () => Promise<void>;
  /** Untimed cleanup after each run. */
  after?: (stdout: string) => Promise<void>;
  env?: NodeJS.ProcessEnv;
}

/** Thrown when a run's correctness check fails: the bench stops and exits non-zero. */
export class CorrectnessError extends Error {}

function loadAverage(): number {
  return os.loadavg()[0] ?? 0;
}

async function rounds(opts: BenchOptions, op: string, bytes: number, contenders: Contender[], scratch: string, diskProbe = false): Promise<OpResult> {
  const samples = new Map<string, Sample[]>(contenders.map((c) => [c.tool, []]));
  const probes: ProbeResult[] = [];
  const loadBefore = loadAverage();
  for (let i = 0; i < opts.runs; i++) {
    // rotate the order run by run so no tool always goes first
    const order = contenders.map((_, k) => contenders[(k + i) % contenders.length] as Contender);
    for (const c of order) {
      await c.before?.();
      await sync();
      const [cmd, args] = c.command();
      const s = await measure(cmd, args, c.env ?? process.env, scratch);
      try {
        await c.verify?.();
      } catch (e) {
        await c.after?.(s.stdout).catch(() => undefined);
        throw new CorrectnessError(`${op}, run ${i + 1}, ${c.tool}: the correctness check failed: ${e instanceof Error ? e.message : String(e)}`);
      }
      await c.after?.(s.stdout);
      samples.get(c.tool)?.push({ seconds: s.seconds, rssMB: s.rssMB, ...(s.cpuSeconds !== undefined ? { cpuSeconds: s.cpuSeconds } : {}) });
      log(opts, `  ${op} run ${i + 1}/${opts.runs} ${c.tool}: ${s.seconds.toFixed(3)} s, ${s.cpuSeconds?.toFixed(2) ?? '?'} s CPU, ${s.rssMB.toFixed(0)} MiB`);
    }
    if (diskProbe) {
      // The disk as it is during this op: the same bytes, buffered + fsync and O_DIRECT.
      await sync();
      const d = await probe('disk-both', { dir: scratch, bytes });
      probes.push(d);
      log(opts, `  ${op} run ${i + 1}/${opts.runs} disk probe: buffered+fsync ${(d.bufferedSeconds as number).toFixed(3)} s, O_DIRECT ${typeof d.directSeconds === 'number' ? `${d.directSeconds.toFixed(3)} s` : 'refused'}`);
    }
  }
  const tools: Record<string, ToolStats> = {};
  for (const [t, runs] of samples) tools[t] = stats(runs, bytes);
  const r: OpResult = { op, bytes, tools, load: [loadBefore, loadAverage()] };
  const o = tools.ocictl;
  const s = tools.skopeo;
  if (o && s) {
    r.ratioMedian = s.medianSeconds / o.medianSeconds;
    r.ratioMin = s.minSeconds / o.minSeconds;
    r.pairRatio = spread(s.runs.map((x, k) => x.seconds / (o.runs[k] as Sample).seconds));
  }
  if (probes.length) {
    const num = (p: ProbeResult, k: string): number | undefined => (typeof p[k] === 'number' ? (p[k] as number) : undefined);
    const direct = probes.map((p) => num(p, 'directSeconds'));
    r.disk = {
      bufferedSeconds: spread(probes.map((p) => num(p, 'bufferedSeconds') ?? 0)),
      bufferedFsyncSeconds: spread(probes.map((p) => num(p, 'bufferedFsyncSeconds') ?? 0)),
      ...(direct.every((d) => d !== undefined) ? { directSeconds: spread(direct as number[]) } : {}),
    };
  }
  if (o && tools['ocictl B']) r.compareRatio = tools['ocictl B'].medianSeconds / o.medianSeconds;
  if (o) {
    for (const [t, st] of Object.entries(tools)) {
      if (t.includes('floor')) (r.vsFloor ??= {})[t] = o.medianSeconds / st.medianSeconds;
    }
  }
  return r;
}

// ---------------------------------------------------------------- limits

async function probe(mode: string, args: unknown): Promise<ProbeResult> {
  const r = await runOk(process.execPath, [PROBES, mode, JSON.stringify(args)], { timeoutMs: 600_000 });
  return JSON.parse(r.stdout) as ProbeResult;
}

async function measureLimits(opts: BenchOptions, work: string): Promise<BenchReport['limits']> {
  const bytes = Math.max(256 * MiB, Math.min(opts.sizeBytes, 1024 * MiB));
  const reps = 3;
  const out: BenchReport['limits'] = {};
  const add = (name: string, rs: ProbeResult[], extraKey?: string): void => {
    const mb = rs.map((r) => r.mbps);
    out[name] = { medianMbps: median(mb), minMbps: Math.min(...mb), runs: mb };
    if (extraKey) out[name].extra = { [extraKey]: median(rs.map((r) => r[extraKey] as number)) };
  };
  const sha: ProbeResult[] = [];
  for (let i = 0; i < reps; i++) sha.push(await probe('sha256', { bytes }));
  add('sha256 (Node createHash, 1 MiB chunks)', sha);

  const chunk = Buffer.alloc(MiB, 5);
  const server = http.createServer((req, res) => {
    const n = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('n'));
    res.writeHead(200, { 'content-length': String(n) });
    let left = n;
    const pump = (): void => {
      while (left > 0) {
        const k = Math.min(left, MiB);
        left -= k;
        if (!res.write(k === MiB ? chunk : chunk.subarray(0, k))) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const lo: ProbeResult[] = [];
  try {
    for (let i = 0; i < reps; i++) lo.push(await probe('loopback', { url: `http://127.0.0.1:${port}/?n=${bytes}` }));
  } finally {
    server.close();
  }
  add('loopback HTTP (undici request → Node server)', lo);

  const disk: ProbeResult[] = [];
  for (let i = 0; i < reps; i++) {
    await sync();
    disk.push(await probe('disk', { dir: work, bytes }));
  }
  add('disk write, new file + fsync', disk, 'writeOnlyMbps');
  log(opts, `limits: ${Object.entries(out).map(([k, v]) => `${k} ${v.medianMbps.toFixed(0)} MB/s`).join('; ')}`);
  return out;
}

async function measureStartup(opts: BenchOptions, work: string): Promise<Record<string, ToolStats>> {
  const root = path.join(work, 'startup-store');
  const env = { ...process.env, OCICTL_DATA_ROOT: root, DOCKER_CONFIG: path.join(work, 'docker-config') };
  const res: Record<string, ToolStats> = {};
  for (const [name, args] of [
    ['ocictl --version', ['--version']],
    ['ocictl images (empty store)', ['images']],
  ] as const) {
    const runs: Sample[] = [];
    for (let i = 0; i < Math.max(10, opts.runs); i++) runs.push(await measure(process.execPath, [OCICTL, ...args], env, work));
    res[name] = stats(runs, 0);
    log(opts, `startup ${name}: median ${(res[name].medianSeconds * 1000).toFixed(0)} ms`);
  }
  return res;
}

// ---------------------------------------------------------------- main

function pageCacheMB(): number | undefined {
  try {
    const m = /^Cached:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** The registry's digest of `repo:tag`'s manifest (HEAD); throws when it has none. */
async function manifestDigestOf(url: string, repo: string, tag: string, ca?: string): Promise<string> {
  const { Agent } = await import('undici');
  const dispatcher = ca ? new Agent({ connect: { ca: readFileSync(ca) } }) : undefined;
  try {
    const res = await request(`${url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept: MANIFEST_ACCEPT }, ...(dispatcher ? { dispatcher } : {}) });
    await res.body.dump();
    const d = res.headers['docker-content-digest'];
    if (res.statusCode !== 200 || typeof d !== 'string') throw new Error(`the registry has no manifest ${repo}:${tag} (HEAD: ${res.statusCode})`);
    return d;
  } finally {
    await dispatcher?.close();
  }
}

/** Every blob is in `repo` with its size (the registry verified its digest on upload). */
async function registryHasBlobs(url: string, repo: string, blobs: { digest: string; size: number }[]): Promise<void> {
  for (const b of blobs) {
    const res = await request(`${url}/v2/${repo}/blobs/${b.digest}`, { method: 'HEAD' });
    await res.body.dump();
    if (res.statusCode !== 200 || Number(res.headers['content-length']) !== b.size) {
      throw new Error(`the registry lacks blob ${b.digest} of ${repo} (HEAD: ${res.statusCode}, ${String(res.headers['content-length'])} bytes, expected ${b.size})`);
    }
  }
}

async function ocictlHas(command: string): Promise<boolean> {
  const r = await run(process.execPath, [OCICTL, '--help']);
  return new RegExp(`^\\s+${command}\\b`, 'm').test(r.stdout);
}

export async function bench(opts: BenchOptions): Promise<BenchReport> {
  for (const t of ['skopeo', 'docker-registry', 'curl']) {
    if ((await run('sh', ['-c', `command -v ${t}`])).code !== 0) throw new Error(`bench needs ${t} on PATH`);
  }
  const want = (op: string): boolean => opts.ops.includes(op);
  log(opts, `building the test image (${(opts.sizeBytes / MiB).toFixed(0)} MiB, ${opts.layers} + 1 layers)...`);
  const img = await testImage(opts.sizeBytes, opts.layers);
  const blobs = imageBlobs(img);
  const bytes = blobs.reduce((a, b) => a + b.size, 0);
  const work = await tmpDir('ocictl-bench');
  const registries: RunningRegistry[] = [];
  const report: BenchReport = {
    date: new Date().toISOString(),
    command: `node dist/scripts/bench.js ${process.argv.slice(2).join(' ')}`.trim(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? '',
      memMB: Math.round(os.totalmem() / 1e6),
      node: process.version,
      skopeo: (await run('skopeo', ['--version'])).stdout.trim(),
      registry: (await run('docker-registry', ['--version'])).stdout.trim(),
      kernel: os.release(),
      uptimeSeconds: Math.round(os.uptime()),
      pageCacheMB: pageCacheMB(),
      workFs: (await run('findmnt', ['-n', '-o', 'FSTYPE,OPTIONS', '-T', work])).stdout.trim(),
    },
    image: { bytes, layers: img.layers.length, blobs: blobs.length },
    options: opts,
    limits: {},
    startup: {},
    ops: [],
  };
  try {
    const dockerConfig = path.join(work, 'docker-config');
    const emptyHosts = path.join(work, 'hosts-empty');
    await fs.mkdir(dockerConfig, { recursive: true });
    await fs.mkdir(emptyHosts, { recursive: true });
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: dockerConfig };
    delete env.NODE_EXTRA_CA_CERTS;
    const conc = opts.concurrency ? ['--max-concurrent', String(opts.concurrency)] : [];
    const oc = (root: string, ...args: string[]): [string, string[]] => [process.execPath, [OCICTL, '--data-root', root, '--hosts-dir', emptyHosts, ...args]];
    const compareB = (before: () => Promise<void>, args: () => string[], after?: () => Promise<void>, verify?: () => Promise<void>): Contender[] =>
      opts.compareBin
        ? [{ tool: 'ocictl B', before, command: () => [process.execPath, [opts.compareBin as string, ...args()]], ...(after ? { after } : {}), ...(verify ? { verify } : {}), env: { ...env, ...opts.compareEnv } }]
        : [];
    const dropSkopeoCache = async (): Promise<void> => {
      await fs.rm(BLOB_INFO_CACHE, { force: true });
    };

    if (want('startup')) report.startup = await measureStartup(opts, work);
    if (want('limits')) report.limits = await measureLimits(opts, work);

    const reg = await startRegistry({ logLevel: 'error' });
    registries.push(reg);
    const repo = 'bench/img';
    const ref = `${reg.host}/${repo}:v1`;
    const seed = async (r: RunningRegistry, name = ref): Promise<void> => {
      await runOk('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${img.layoutDir}:v1`, `docker://${name}`], { timeoutMs: 600_000 });
      void r;
    };
    const blobUrl = (r: RunningRegistry, d: string): string => `${r.url}/v2/${repo}/blobs/${d}`;

    if (want('push')) {
      log(opts, 'push: preparing the ocictl store...');
      await seed(reg);
      const store = path.join(work, 'push-store');
      await runOk(...oc(store, 'pull', '-q', ref), { env, timeoutMs: 600_000 });
      // the same blob files for the floors
      const files: FloorBlob[] = blobs.map((b) => ({ ...b, file: path.join(img.layoutDir, 'blobs', 'sha256', b.digest.slice(7)) }));
      const wipe = async (): Promise<void> => {
        await wipeRegistry(reg);
        await dropSkopeoCache();
      };
      let curlArgs: string[] = [];
      const pushed = async (): Promise<void> => {
        await manifestDigestOf(reg.url, repo, 'v1');
        await registryHasBlobs(reg.url, repo, blobs);
      };
      const blobsPushed = (): Promise<void> => registryHasBlobs(reg.url, repo, blobs);
      const contenders: Contender[] = [
        { tool: 'ocictl', before: wipe, command: () => oc(store, 'push', ...conc, ref), verify: pushed, env },
        ...compareB(wipe, () => ['--data-root', store, '--hosts-dir', emptyHosts, 'push', ...conc, ref], undefined, pushed),
        { tool: 'skopeo', before: wipe, command: () => ['skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${img.layoutDir}:v1`, `docker://${ref}`]], verify: pushed },
        {
          tool: 'curl floor',
          before: async () => {
            await wipe();
            // upload sessions are opened untimed; curl then PUTs every blob in parallel
            curlArgs = ['-sS', '--fail', '--parallel', '--parallel-max', String(files.length)];
            for (const f of files) {
              const res = await request(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
              await res.body.dump();
              const u = new URL(String(res.headers.location), reg.url);
              u.searchParams.set('digest', f.digest);
              curlArgs.push('-T', f.file as string, '-o', '/dev/null', u.toString());
            }
          },
          command: () => ['curl', curlArgs],
          verify: blobsPushed,
        },
        { tool: 'node floor', before: wipe, command: () => [process.execPath, [PROBES, 'push', JSON.stringify({ blobs: files, registryUrl: reg.url, repo, concurrency: opts.concurrency ?? 4 })]], verify: blobsPushed },
      ];
      log(opts, 'push...');
      report.ops.push(await rounds(opts, 'push', bytes, contenders, work, true));
      await rmrf(store);
    }

    if (want('pull') || want('pull-tls') || want('pull-fsync')) {
      await wipeRegistry(reg);
      await seed(reg);
    }
    const pullOp = async (op: string, r: RunningRegistry, hostsDir: string, skopeoTls: string[], curlTls: string[], fsyncVariants = false): Promise<OpResult> => {
      const pref = `${r.host}/${repo}:v1`;
      const manifestDigest = await manifestDigestOf(r.url, repo, 'v1', r.pki?.caCert);
      // ocictl's store (namespace "default") and skopeo's OCI layout: every blob with its size and digest, the index naming the image.
      const inStore = (): Promise<void> => verifyBlobs(path.join(out, 'default', 'blobs', 'sha256'), blobs, path.join(out, 'default', 'index.json'), manifestDigest).then(() => undefined);
      const inLayout = (): Promise<void> => verifyBlobs(path.join(out, 'blobs', 'sha256'), blobs, path.join(out, 'index.json'), manifestDigest).then(() => undefined);
      const pullConc = opts.concurrency ?? 4;
      let out = '';
      const fresh = async (): Promise<void> => {
        out = await fs.mkdtemp(path.join(work, 'pull-'));
        await dropSkopeoCache();
      };
      const clean = async (): Promise<void> => {
        await rmrf(out);
      };
      const ocp = (): [string, string[]] => [process.execPath, [OCICTL, '--data-root', out, '--hosts-dir', hostsDir, 'pull', ...conc, pref]];
      const contenders: Contender[] = [
        { tool: 'ocictl', before: fresh, command: ocp, verify: inStore, after: clean, env },
        ...compareB(fresh, () => ['--data-root', out, '--hosts-dir', hostsDir, 'pull', ...conc, pref], clean, inStore),
        { tool: 'skopeo', before: fresh, command: () => ['skopeo', ['copy', '--quiet', ...skopeoTls, `docker://${pref}`, `oci:${out}:v1`]], verify: inLayout, after: clean },
        {
          // The network floor: the same blobs to /dev/null, as many at a time as ocictl fetches, nothing hashed or written.
          tool: 'curl floor',
          before: fresh,
          command: () => ['curl', ['-sS', '--fail', '--parallel', '--parallel-max', String(pullConc), ...curlTls, ...blobs.flatMap((b) => ['-o', '/dev/null', blobUrl(r, b.digest)])]],
          after: clean,
        },
      ];
      if (fsyncVariants) {
        // What durability costs: the same ocictl with the fsync at each blob's commit only (no write-behind
        // flushing), with no fsync at all (not durable: for this measurement only), and the same two
        // through the page cache instead of O_DIRECT (the last is what skopeo does: buffered, never flushed).
        for (const [tool, extra] of [
          ['ocictl, fsync at commit only', { OCICTL_FLUSH_BEHIND_MB: '0' }],
          ['ocictl, no fsync (not durable)', { OCICTL_FSYNC: '0' }],
          ['ocictl, page cache, fsync per blob', { OCICTL_DIRECT_IO: '0' }],
          ['ocictl, page cache, no fsync (not durable)', { OCICTL_DIRECT_IO: '0', OCICTL_FSYNC: '0' }],
        ] as const) {
          contenders.splice(1, 0, { tool, before: fresh, command: ocp, verify: inStore, after: clean, env: { ...env, ...extra } });
        }
      }
      if (!r.pki && !fsyncVariants) {
        contenders.push({
          tool: 'node floor',
          before: fresh,
          command: () => [process.execPath, [PROBES, 'pull', JSON.stringify({ blobs: blobs.map((b) => ({ ...b, url: blobUrl(r, b.digest) })), dir: out, concurrency: pullConc })]],
          verify: () => verifyBlobs(out, blobs).then(() => undefined),
          after: clean,
        });
      }
      log(opts, `${op}...`);
      return rounds(opts, op, bytes, contenders, work, true);
    };
    if (want('pull')) report.ops.push(await pullOp('pull', reg, emptyHosts, ['--src-tls-verify=false'], []));
    if (want('pull-fsync')) report.ops.push(await pullOp('pull (fsync policy)', reg, emptyHosts, ['--src-tls-verify=false'], [], true));
    if (want('pull-tls')) {
      const treg = await startRegistry({ tls: true, logLevel: 'error' });
      registries.push(treg);
      const pki = treg.pki as NonNullable<RunningRegistry['pki']>;
      const hosts = path.join(work, 'hosts-tls');
      await fs.mkdir(path.join(hosts, treg.host), { recursive: true });
      await fs.copyFile(pki.caCert, path.join(hosts, treg.host, 'ca.crt'));
      await runOk('skopeo', ['copy', '--quiet', '--dest-cert-dir', pki.certDir, `oci:${img.layoutDir}:v1`, `docker://${treg.host}/${repo}:v1`], { timeoutMs: 600_000 });
      report.ops.push(await pullOp('pull (TLS)', treg, hosts, ['--src-cert-dir', pki.certDir], ['--cacert', pki.caCert]));
    }

    if (want('copy') || want('mount')) {
      if (!(await ocictlHas('copy'))) {
        const note = '`ocictl copy` does not exist yet: copy rows skipped';
        process.stderr.write(`note: ${note}\n`);
        report.ops.push({ op: 'copy', bytes, tools: {}, note });
      } else {
        await wipeRegistry(reg);
        await seed(reg);
        if (want('copy')) {
          const dst = await startRegistry({ logLevel: 'error' });
          registries.push(dst);
          const dref = `${dst.host}/${repo}:v1`;
          const wipe = async (): Promise<void> => {
            await wipeRegistry(dst);
            await dropSkopeoCache();
          };
          let script = '';
          const copied = async (): Promise<void> => {
            await manifestDigestOf(dst.url, repo, 'v1');
            await registryHasBlobs(dst.url, repo, blobs);
          };
          const contenders: Contender[] = [
            { tool: 'ocictl', before: wipe, command: () => oc(path.join(work, 'copy-store'), 'copy', ...conc, ref, dref), verify: copied, env },
            { tool: 'skopeo', before: wipe, command: () => ['skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${ref}`, `docker://${dref}`]], verify: copied },
            {
              // Every blob at once, piped from a GET at the source to a PUT at the destination, no hashing;
              // upload sessions are opened untimed.
              tool: 'curl floor',
              before: async () => {
                await wipe();
                const lines = ['pids=""'];
                for (const b of blobs) {
                  const res = await request(`${dst.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
                  await res.body.dump();
                  const u = new URL(String(res.headers.location), dst.url);
                  u.searchParams.set('digest', b.digest);
                  lines.push(`(curl -sS --fail '${blobUrl(reg, b.digest)}' | curl -sS --fail -T - -o /dev/null '${u.toString()}') & pids="$pids $!"`);
                }
                lines.push('for p in $pids; do wait $p || exit 1; done');
                script = lines.join('\n');
              },
              command: () => ['bash', ['-c', script]],
              verify: () => registryHasBlobs(dst.url, repo, blobs),
            },
          ];
          log(opts, 'copy...');
          report.ops.push(await rounds(opts, 'copy registry→registry', bytes, contenders, work, true));
        }
        if (want('mount')) {
          const mref = `${reg.host}/bench/mounted:v1`;
          const wipe = async (): Promise<void> => {
            await rmrf(path.join(reg.dataDir, 'docker', 'registry', 'v2', 'repositories', 'bench', 'mounted'));
            await dropSkopeoCache();
          };
          const mounted = async (): Promise<void> => {
            await manifestDigestOf(reg.url, 'bench/mounted', 'v1');
            await registryHasBlobs(reg.url, 'bench/mounted', blobs);
          };
          const contenders: Contender[] = [
            { tool: 'ocictl', before: wipe, command: () => oc(path.join(work, 'copy-store'), 'copy', ...conc, ref, mref), verify: mounted, env },
            { tool: 'skopeo', before: wipe, command: () => ['skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${ref}`, `docker://${mref}`]], verify: mounted },
          ];
          log(opts, 'copy within one registry...');
          report.ops.push(await rounds(opts, 'copy within one registry', bytes, contenders, work));
        }
      }
    }
    if (want('sync')) report.ops.push(...(await (await import('./bench-sync.js')).benchSync(opts, work)));
  } finally {
    for (const r of registries) await r.stop().catch(() => undefined);
    await rmrf(work);
  }
  return report;
}

// ---------------------------------------------------------------- output

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

export function formatReport(r: BenchReport): string {
  const lines: string[] = [];
  const gib = r.image.bytes / (1024 * MiB);
  lines.push(`ocictl bench — ${r.date}`);
  lines.push(`machine: ${r.machine.cpus}× ${r.machine.cpuModel}, ${r.machine.memMB} MB, Node ${r.machine.node}, ${r.machine.skopeo}, ${r.machine.registry}`);
  lines.push(`image: ${(r.image.bytes / MiB).toFixed(1)} MiB in ${r.image.blobs} blobs (${r.image.layers} layers); ${r.options.runs} runs per tool, alternating`);
  lines.push(`command: ${r.command}`);
  const m = r.machine;
  if (m.uptimeSeconds !== undefined) {
    lines.push(`state at start: up ${(m.uptimeSeconds / 60).toFixed(0)} min, page cache ${m.pageCacheMB ?? '?'} MiB, kernel ${m.kernel}; work dir on ${m.workFs || '?'}`);
  }
  lines.push('figures: min / median / max over the runs; curl floor = the same blobs with curl, nothing hashed (pull: to /dev/null, as many at a time as ocictl fetches)');
  if (Object.keys(r.limits).length) {
    lines.push('', 'machine limits (same run)                     median MB/s   min MB/s   max MB/s');
    for (const [k, v] of Object.entries(r.limits)) {
      const extra = v.extra ? `   (${Object.entries(v.extra).map(([a, b]) => `${a} ${b.toFixed(0)}`).join(', ')})` : '';
      lines.push(`  ${pad(k, 46)}${pad(v.medianMbps.toFixed(0), 8, true)}${pad(v.minMbps.toFixed(0), 11, true)}${pad(Math.max(...v.runs).toFixed(0), 11, true)}${extra}`);
    }
  }
  if (Object.keys(r.startup).length) {
    lines.push('', 'startup                               median ms    min ms    max ms   peak RSS MiB');
    for (const [k, v] of Object.entries(r.startup)) {
      lines.push(`  ${pad(k, 36)}${pad((v.medianSeconds * 1000).toFixed(0), 9, true)}${pad((v.minSeconds * 1000).toFixed(0), 10, true)}${pad(((v.maxSeconds ?? v.medianSeconds) * 1000).toFixed(0), 10, true)}${pad(v.maxRssMB.toFixed(0), 15, true)}`);
    }
  }
  for (const op of r.ops) {
    lines.push('', `${op.op}: ${(op.bytes / MiB).toFixed(0)} MiB`);
    if (op.note) {
      lines.push(`  note: ${op.note}`);
      continue;
    }
    const w = Math.max(12, ...Object.keys(op.tools).map((t) => t.length + 2));
    lines.push(`  ${pad('tool', w)}  median s     min s     max s   s/GiB  MB/s (median)   RSS MiB (median / max)   CPU s (min / median / max)${op.load ? `   [load ${op.load[0].toFixed(1)} → ${op.load[1].toFixed(1)}]` : ''}`);
    for (const [t, s] of Object.entries(op.tools)) {
      const cpu = s.medianCpuSeconds !== undefined ? `${s.minCpuSeconds?.toFixed(2)} / ${s.medianCpuSeconds.toFixed(2)} / ${s.maxCpuSeconds?.toFixed(2)}` : '-';
      lines.push(
        `  ${pad(t, w)}${pad(s.medianSeconds.toFixed(3), 10, true)}${pad(s.minSeconds.toFixed(3), 10, true)}${pad((s.maxSeconds ?? s.medianSeconds).toFixed(3), 10, true)}${pad((s.medianSeconds / gib).toFixed(2), 8, true)}` +
          `${pad(s.mbps.toFixed(0), 15, true)}${pad(`${s.medianRssMB.toFixed(0)} / ${s.maxRssMB.toFixed(0)}`, 25, true)}${pad(cpu, 29, true)}`,
      );
    }
    if (op.ratioMedian !== undefined) {
      const pr = op.pairRatio ? `; pair by pair ${op.pairRatio.min.toFixed(2)} / ${op.pairRatio.median.toFixed(2)} / ${op.pairRatio.max.toFixed(2)}×` : '';
      lines.push(`  skopeo/ocictl: ${op.ratioMedian.toFixed(2)}× (median), ${op.ratioMin?.toFixed(2)}× (min)${pr}`);
    }
    if (op.compareRatio !== undefined) lines.push(`  ocictl B/ocictl: ${op.compareRatio.toFixed(2)}× (median)`);
    if (op.vsFloor) lines.push(`  ocictl/floor: ${Object.entries(op.vsFloor).map(([k, v]) => `${v.toFixed(2)}× ${k}`).join(', ')}`);
    if (op.disk) {
      const f = (x: Spread): string => `${x.min.toFixed(2)} / ${x.median.toFixed(2)} / ${x.max.toFixed(2)} s`;
      const mbps = (x: Spread): string => `${(op.bytes / x.median / 1e6).toFixed(0)} MB/s`;
      lines.push(
        `  disk probe (the same ${(op.bytes / MiB).toFixed(0)} MiB, once a round): buffered + fsync ${f(op.disk.bufferedSeconds)} (${mbps(op.disk.bufferedSeconds)}; the fsync ${f(op.disk.bufferedFsyncSeconds)})` +
          `, O_DIRECT + fdatasync ${op.disk.directSeconds ? `${f(op.disk.directSeconds)} (${mbps(op.disk.directSeconds)})` : 'refused by the file system'}`,
      );
    }
  }
  return lines.join('\n');
}

export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      size: { type: 'string', default: '512MiB' },
      layers: { type: 'string', default: '8' },
      runs: { type: 'string', default: '5' },
      ops: { type: 'string', default: 'startup,limits,push,pull,pull-tls,copy,mount,containerd-pull,sync' },
      json: { type: 'string' },
      concurrency: { type: 'string' },
      'compare-bin': { type: 'string' },
      'ocictl-bin': { type: 'string' },
      'compare-env': { type: 'string', multiple: true },
      quiet: { type: 'boolean', default: false },
    },
  });
  if (values['ocictl-bin']) OCICTL = path.resolve(values['ocictl-bin']);
  const known = ['startup', 'limits', 'push', 'pull', 'pull-tls', 'pull-fsync', 'copy', 'mount', 'containerd-pull', 'sync'];
  const ops = (values.ops as string).split(',').map((o) => o.trim()).filter(Boolean);
  const unknown = ops.filter((o) => !known.includes(o));
  if (unknown.length) throw new Error(`unknown --ops ${unknown.join(',')} (known: ${known.join(',')})`);
  const runs = Number(values.runs);
  const layers = Number(values.layers);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
  if (!Number.isInteger(layers) || layers < 1) throw new Error('--layers must be a positive integer');
  return {
    sizeBytes: parseSize(values.size as string),
    layers,
    runs,
    ops,
    json: values.json ?? path.join(ROOT, 'dist', 'bench', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`),
    ...(values.concurrency ? { concurrency: Number(values.concurrency) } : {}),
    ...(values['compare-bin'] ? { compareBin: path.resolve(values['compare-bin']) } : {}),
    ...(values['compare-env']
      ? { compareEnv: Object.fromEntries(values['compare-env'].map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])) }
      : {}),
    verbose: values.quiet !== true,
  };
}

async function cli(): Promise<void> {
  const opts = parseBenchArgs(process.argv.slice(2));
  const report = await bench(opts);
  if (opts.ops.includes('containerd-pull')) {
    const why = await containerdPullAvailable();
    report.containerd = why
      ? { skipped: why }
      : await containerdPull({ runs: opts.runs, ...(opts.verbose ? { log: (l: string) => process.stderr.write(`${l}\n`) } : {}) });
  }
  await fs.mkdir(path.dirname(opts.json), { recursive: true });
  await fs.writeFile(opts.json, `${JSON.stringify(report, null, 2)}\n`);
  const ctd = report.containerd;
  const ctdText = !ctd ? '' : 'skipped' in ctd ? `\n\ncontainerd-pull skipped: ${ctd.skipped}` : `\n\n${formatContainerdPull(ctd)}`;
  process.stdout.write(`${formatReport(report)}${ctdText}\n\nJSON: ${opts.json}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  cli().catch((e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
