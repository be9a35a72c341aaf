/**
 * `npm run bench`: ocictl against skopeo in one run, on this machine, with the
 * machine's limits and the floors (curl, a minimal Node pipeline) measured in
 * the same run. Not a test: it prints a table and writes the same as JSON.
 *
 *   node dist/scripts/bench.js [--size 512MiB|2GiB] [--layers 8] [--runs 5]
 *        [--ops startup,limits,push,pull,pull-tls,copy,mount,containerd-pull,sync] [--json FILE] [--concurrency N]
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
import type { FloorBlob, ProbeResult } from '../fixtures/bench-probes.js';
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
  /** image bytes / median seconds, 10^6 B/s */
  mbps: number;
  medianRssMB: number;
  maxRssMB: number;
  /** median user + system CPU seconds, when measured */
  medianCpuSeconds?: number;
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
  note?: string;
}

export interface BenchReport {
  date: string;
  command: string;
  machine: { cpus: number; cpuModel: string; memMB: number; node: string; skopeo: string; registry: string; kernel: string };
  image: { bytes: number; layers: number; blobs: number };
  options: BenchOptions;
  limits: Record<string, { medianMbps: number; minMbps: number; runs: number[]; extra?: Record<string, number> }>;
  startup: Record<string, ToolStats>;
  ops: OpResult[];
  /** The containerd-pull op (its own shape: see bench-containerd.ts). */
  containerd?: ContainerdPullResult | { skipped: string };
}

// ---------------------------------------------------------------- helpers

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function stats(runs: Sample[], bytes: number): ToolStats {
  const secs = runs.map((r) => r.seconds);
  const med = median(secs);
  return {
    runs,
    medianSeconds: med,
    minSeconds: Math.min(...secs),
    mbps: bytes / med / 1e6,
    medianRssMB: median(runs.map((r) => r.rssMB)),
    maxRssMB: Math.max(...runs.map((r) => r.rssMB)),
    ...(runs.every((r) => r.cpuSeconds !== undefined) ? { medianCpuSeconds: median(runs.map((r) => r.cpuSeconds as number)) } : {}),
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

/** Peak RSS of a process by polling /proc/<pid>/status VmHWM (when /usr/bin/time is absent). */
function pollHwm(pid: number, sink: { kb: number }): () => void {
  const read = (): void => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) sink.kb = Math.max(sink.kb, Number(m[1]));
    } catch {
      /* exited */
    }
  };
  read();
  const t = setInterval(read, 10);
  return () => clearInterval(t);
}

let rssSeq = 0;
/** Runs one command to completion; wall seconds and peak RSS (MB, 10^6... in MiB). Throws on failure. */
async function measure(cmd: string, args: string[], env: NodeJS.ProcessEnv, scratch: string): Promise<Sample & { stdout: string }> {
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

function layerSpecs(sizeBytes: number, layers: number): LayerSpec[] {
  const text = Math.max(64 * 1024, Math.round(sizeBytes / 32)); // compresses ~4x
  const each = Math.max(4096, Math.floor((sizeBytes - text / 4) / layers));
  const specs: LayerSpec[] = [];
  for (let i = 0; i < layers; i++) specs.push({ size: each, seed: 1000 + i });
  specs.push({ size: text, compressible: true, seed: 999 });
  return specs;
}

/** Builds (or reuses, from a previous bench run) the test image in an OCI layout. */
async function testImage(sizeBytes: number, layers: number): Promise<BuiltImage> {
  const dir = path.join(os.tmpdir(), `ocictl-bench-image-${sizeBytes}-${layers}`);
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
  const img = await buildImage(dir, 'v1', { layers: layerSpecs(sizeBytes, layers) });
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
  /** Untimed check + cleanup after each run. */
  after?: (stdout: string) => Promise<void>;
  env?: NodeJS.ProcessEnv;
}

async function rounds(opts: BenchOptions, op: string, bytes: number, contenders: Contender[], scratch: string): Promise<OpResult> {
  const samples = new Map<string, Sample[]>(contenders.map((c) => [c.tool, []]));
  for (let i = 0; i < opts.runs; i++) {
    // rotate the order run by run so no tool always goes first
    const order = contenders.map((_, k) => contenders[(k + i) % contenders.length] as Contender);
    for (const c of order) {
      await c.before?.();
      await sync();
      const [cmd, args] = c.command();
      const s = await measure(cmd, args, c.env ?? process.env, scratch);
      await c.after?.(s.stdout);
      samples.get(c.tool)?.push({ seconds: s.seconds, rssMB: s.rssMB, ...(s.cpuSeconds !== undefined ? { cpuSeconds: s.cpuSeconds } : {}) });
      log(opts, `  ${op} run ${i + 1}/${opts.runs} ${c.tool}: ${s.seconds.toFixed(3)} s, ${s.cpuSeconds?.toFixed(2) ?? '?'} s CPU, ${s.rssMB.toFixed(0)} MiB`);
    }
  }
  const tools: Record<string, ToolStats> = {};
  for (const [t, runs] of samples) tools[t] = stats(runs, bytes);
  const r: OpResult = { op, bytes, tools };
  const o = tools.ocictl;
  const s = tools.skopeo;
  if (o && s) {
    r.ratioMedian = s.medianSeconds / o.medianSeconds;
    r.ratioMin = s.minSeconds / o.minSeconds;
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
    const compareB = (before: () => Promise<void>, args: () => string[], after?: () => Promise<void>): Contender[] =>
      opts.compareBin
        ? [{ tool: 'ocictl B', before, command: () => [process.execPath, [opts.compareBin as string, ...args()]], ...(after ? { after } : {}), env: { ...env, ...opts.compareEnv } }]
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
      const contenders: Contender[] = [
        { tool: 'ocictl', before: wipe, command: () => oc(store, 'push', ...conc, ref), env },
        ...compareB(wipe, () => ['--data-root', store, '--hosts-dir', emptyHosts, 'push', ...conc, ref]),
        { tool: 'skopeo', before: wipe, command: () => ['skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${img.layoutDir}:v1`, `docker://${ref}`]] },
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
        },
        { tool: 'node floor', before: wipe, command: () => [process.execPath, [PROBES, 'push', JSON.stringify({ blobs: files, registryUrl: reg.url, repo, concurrency: opts.concurrency ?? 4 })]] },
      ];
      log(opts, 'push...');
      report.ops.push(await rounds(opts, 'push', bytes, contenders, work));
      await rmrf(store);
    }

    if (want('pull') || want('pull-tls')) {
      await wipeRegistry(reg);
      await seed(reg);
    }
    const pullOp = async (op: string, r: RunningRegistry, hostsDir: string, skopeoTls: string[], curlTls: string[]): Promise<OpResult> => {
      const pref = `${r.host}/${repo}:v1`;
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
        { tool: 'ocictl', before: fresh, command: ocp, after: clean, env },
        ...compareB(fresh, () => ['--data-root', out, '--hosts-dir', hostsDir, 'pull', ...conc, pref], clean),
        { tool: 'skopeo', before: fresh, command: () => ['skopeo', ['copy', '--quiet', ...skopeoTls, `docker://${pref}`, `oci:${out}:v1`]], after: clean },
        {
          tool: 'curl floor',
          before: fresh,
          command: () => ['curl', ['-sS', '--fail', '--parallel', '--parallel-max', '4', ...curlTls, ...blobs.flatMap((b) => ['-o', path.join(out, b.digest.slice(7)), blobUrl(r, b.digest)])]],
          after: clean,
        },
      ];
      if (!r.pki) {
        contenders.push({
          tool: 'node floor',
          before: fresh,
          command: () => [process.execPath, [PROBES, 'pull', JSON.stringify({ blobs: blobs.map((b) => ({ ...b, url: blobUrl(r, b.digest) })), dir: out, concurrency: opts.concurrency ?? 4 })]],
          after: clean,
        });
      }
      log(opts, `${op}...`);
      return rounds(opts, op, bytes, contenders, work);
    };
    if (want('pull')) report.ops.push(await pullOp('pull', reg, emptyHosts, ['--src-tls-verify=false'], []));
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
          const contenders: Contender[] = [
            { tool: 'ocictl', before: wipe, command: () => oc(path.join(work, 'copy-store'), 'copy', ...conc, ref, dref), env },
            { tool: 'skopeo', before: wipe, command: () => ['skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${ref}`, `docker://${dref}`]] },
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
            },
          ];
          log(opts, 'copy...');
          report.ops.push(await rounds(opts, 'copy registry→registry', bytes, contenders, work));
        }
        if (want('mount')) {
          const mref = `${reg.host}/bench/mounted:v1`;
          const wipe = async (): Promise<void> => {
            await rmrf(path.join(reg.dataDir, 'docker', 'registry', 'v2', 'repositories', 'bench', 'mounted'));
            await dropSkopeoCache();
          };
          const contenders: Contender[] = [
            { tool: 'ocictl', before: wipe, command: () => oc(path.join(work, 'copy-store'), 'copy', ...conc, ref, mref), env },
            { tool: 'skopeo', before: wipe, command: () => ['skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${ref}`, `docker://${mref}`]] },
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
  if (Object.keys(r.limits).length) {
    lines.push('', 'machine limits (same run)            median MB/s   min MB/s');
    for (const [k, v] of Object.entries(r.limits)) {
      const extra = v.extra ? `   (${Object.entries(v.extra).map(([a, b]) => `${a} ${b.toFixed(0)}`).join(', ')})` : '';
      lines.push(`  ${pad(k, 46)}${pad(v.medianMbps.toFixed(0), 8, true)}${pad(v.minMbps.toFixed(0), 11, true)}${extra}`);
    }
  }
  if (Object.keys(r.startup).length) {
    lines.push('', 'startup                               median ms    min ms   peak RSS MiB');
    for (const [k, v] of Object.entries(r.startup)) {
      lines.push(`  ${pad(k, 36)}${pad((v.medianSeconds * 1000).toFixed(0), 9, true)}${pad((v.minSeconds * 1000).toFixed(0), 10, true)}${pad(v.maxRssMB.toFixed(0), 15, true)}`);
    }
  }
  for (const op of r.ops) {
    lines.push('', `${op.op}: ${(op.bytes / MiB).toFixed(0)} MiB`);
    if (op.note) {
      lines.push(`  note: ${op.note}`);
      continue;
    }
    lines.push('  tool          median s   min s   s/GiB   MB/s (median)   RSS MiB (median / max)   CPU s (median)');
    for (const [t, s] of Object.entries(op.tools)) {
      lines.push(
        `  ${pad(t, 12)}${pad(s.medianSeconds.toFixed(3), 10, true)}${pad(s.minSeconds.toFixed(3), 8, true)}${pad((s.medianSeconds / gib).toFixed(2), 8, true)}` +
          `${pad(s.mbps.toFixed(0), 16, true)}${pad(`${s.medianRssMB.toFixed(0)} / ${s.maxRssMB.toFixed(0)}`, 25, true)}${pad(s.medianCpuSeconds?.toFixed(2) ?? '-', 17, true)}`,
      );
    }
    if (op.ratioMedian !== undefined) lines.push(`  skopeo/ocictl: ${op.ratioMedian.toFixed(2)}× (median), ${op.ratioMin?.toFixed(2)}× (min)`);
    if (op.compareRatio !== undefined) lines.push(`  ocictl B/ocictl: ${op.compareRatio.toFixed(2)}× (median)`);
    if (op.vsFloor) lines.push(`  ocictl/floor: ${Object.entries(op.vsFloor).map(([k, v]) => `${v.toFixed(2)}× ${k}`).join(', ')}`);
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
  const known = ['startup', 'limits', 'push', 'pull', 'pull-tls', 'copy', 'mount', 'containerd-pull', 'sync'];
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
