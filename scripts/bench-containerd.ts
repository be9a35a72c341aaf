/**
 * The `containerd-pull` op of `npm run bench`: pull + unpack of a ~200 MiB
 * image (8 incompressible layers + 1 text layer) into a fresh containerd
 * (temp root, state and socket; started untimed before every run), by
 * `ocictl -n k8s.io pull` and by `ctr -n k8s.io images pull` (which unpacks
 * into overlayfs too), from the same TLS + htpasswd docker-registry,
 * alternating run by run. Reports medians, peak RSS of the client process
 * (under /usr/bin/time) and of containerd (VmHWM, after each run).
 *
 * Kept apart from bench.ts so that the two evolve without conflicts; needs
 * root (containerd) and the Debian containerd package.
 */
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ContainerdDaemon, startContainerdStore } from '../fixtures/containerd/daemon.js';
import { run, runOk, tmpDir } from '../fixtures/proc.js';
import { startRegistry } from '../fixtures/registry.js';
import { measure, median, peakRssKb, testImage } from './bench.js';

const MiB = 1024 * 1024;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const OCICTL = path.join(HERE, '..', '..', 'bin', 'ocictl.js');
const USER = 'admin';
const PASS = 'Harbor12345';

export interface ContainerdPullSample {
  seconds: number;
  rssMB: number;
  cpuSeconds?: number;
  /** containerd's peak RSS over the run (VmHWM of a containerd started fresh for it). */
  containerdRssMB: number;
  /** CPU seconds containerd (started fresh for the run) and the registry spent during it. */
  containerdCpuSeconds: number;
  registryCpuSeconds: number;
}

export interface ContainerdPullTool {
  runs: ContainerdPullSample[];
  medianSeconds: number;
  minSeconds: number;
  medianRssMB: number;
  maxRssMB: number;
  medianContainerdRssMB: number;
  medianCpuSeconds?: number;
  medianContainerdCpuSeconds: number;
  medianRegistryCpuSeconds: number;
}

export interface ContainerdPullResult {
  op: 'containerd-pull';
  bytes: number;
  layers: number;
  tools: Record<string, ContainerdPullTool>;
  /** ctr median / ocictl median (higher: ocictl faster). */
  ratioMedian: number;
  ratioMin: number;
  note?: string;
}


const TICK = 100; // USER_HZ on Linux
/** user + system CPU seconds of a live process, from /proc/PID/stat (0 when it is gone). */
function cpuOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK;
  } catch {
    return 0;
  }
}


export interface ContainerdPullOptions {
  runs: number;
  /** Image size in bytes (default 200 MiB) and incompressible layers (default 8, plus a text layer). */
  sizeBytes?: number;
  layers?: number;
  log?: (line: string) => void;
}

/** Whether this machine can run the op (root, containerd, ctr). */
export async function containerdPullAvailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (containerd)';
  for (const t of ['containerd', 'ctr', 'skopeo']) if ((await run('sh', ['-c', `command -v ${t}`])).code !== 0) return `needs ${t}`;
  return undefined;
}

export async function containerdPull(o: ContainerdPullOptions): Promise<ContainerdPullResult> {
  const log = o.log ?? (() => undefined);
  const size = o.sizeBytes ?? 200 * MiB;
  const layers = o.layers ?? 8;
  log(`containerd-pull: building the test image (${(size / MiB).toFixed(0)} MiB, ${layers} + 1 layers)...`);
  const img = await testImage(size, layers, { name: 'ctd-image', seedBase: 2000 });
  const bytes = img.configSize + img.layers.reduce((a, l) => a + l.size, 0);
  const work = await tmpDir('ocictl-bench-ctd');
  const reg = await startRegistry({ tls: true, htpasswd: { [USER]: PASS }, logLevel: 'error' });
  let ctd: ContainerdDaemon | undefined;
  try {
    const pki = reg.pki as NonNullable<typeof reg.pki>;
    const ref = `${reg.host}/bench/ctd:v1`;
    await runOk('skopeo', ['copy', '--quiet', '--dest-cert-dir', pki.certDir, '--dest-creds', `${USER}:${PASS}`, `oci:${img.layoutDir}:v1`, `docker://${ref}`], { timeoutMs: 600_000 });
    // One hosts dir for both: https with the registry's CA (containerd would take a loopback registry for plain HTTP).
    const hosts = path.join(work, 'hosts');
    await fs.mkdir(path.join(hosts, reg.host), { recursive: true });
    const ca = path.join(hosts, reg.host, 'ca.crt');
    await fs.copyFile(pki.caCert, ca);
    await fs.writeFile(path.join(hosts, reg.host, 'hosts.toml'), `server = "https://${reg.host}"\n\n[host."https://${reg.host}"]\n  capabilities = ["pull", "resolve"]\n  ca = ${JSON.stringify(ca)}\n`);
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: path.join(work, 'docker') };
    delete env.NODE_EXTRA_CA_CERTS;
    await runOk(process.execPath, [OCICTL, '--store', 'local', '--data-root', path.join(work, 'unused'), '--hosts-dir', hosts, 'login', reg.host, '-u', USER, '-p', PASS], { env });

    const contenders: { tool: string; command: (sock: string) => [string, string[]] }[] = [
      { tool: 'ocictl', command: (sock) => [process.execPath, [OCICTL, '-a', sock, '-n', 'k8s.io', '--hosts-dir', hosts, 'pull', '-q', ref]] },
      { tool: 'ctr', command: (sock) => ['ctr', ['-a', sock, '-n', 'k8s.io', 'images', 'pull', '--hosts-dir', hosts, '--user', `${USER}:${PASS}`, ref]] },
    ];
    const samples = new Map<string, ContainerdPullSample[]>(contenders.map((c) => [c.tool, []]));
    for (let i = 0; i < o.runs; i++) {
      const order = contenders.map((_, k) => contenders[(k + i) % contenders.length] as (typeof contenders)[number]);
      for (const c of order) {
        ctd = await startContainerdStore(path.join(work, `ctd-${c.tool}-${i}`));
        await run('sync', []);
        const [cmd, args] = c.command(ctd.socket);
        const ctd0 = cpuOf(ctd.pid);
        const reg0 = cpuOf(reg.pid);
        const s = await measure(cmd, args, env, work);
        const containerdCpuSeconds = cpuOf(ctd.pid) - ctd0;
        const registryCpuSeconds = cpuOf(reg.pid) - reg0;
        const containerdRssMB = peakRssKb(ctd.pid) / 1024;
        const listed = await ctd.ctr(['-n', 'k8s.io', 'images', 'ls', '-q']);
        if (!listed.stdout.includes(ref)) throw new Error(`${c.tool} did not leave ${ref} in containerd`);
        const sn = await ctd.ctr(['-n', 'k8s.io', 'snapshots', 'ls']);
        if (sn.stdout.trim().split('\n').length < img.layers.length + 1) throw new Error(`${c.tool} did not unpack every layer:\n${sn.stdout}`);
        await ctd.stop();
        await fs.rm(ctd.dir, { recursive: true, force: true });
        ctd = undefined;
        samples.get(c.tool)?.push({ ...s, containerdRssMB, containerdCpuSeconds, registryCpuSeconds });
        log(`  containerd-pull run ${i + 1}/${o.runs} ${c.tool}: ${s.seconds.toFixed(3)} s, ${s.cpuSeconds?.toFixed(2) ?? '?'} s CPU, ${s.rssMB.toFixed(0)} MiB (containerd ${containerdCpuSeconds.toFixed(2)} s CPU, ${containerdRssMB.toFixed(0)} MiB; registry ${registryCpuSeconds.toFixed(2)} s CPU)`);
      }
    }
    const tools: Record<string, ContainerdPullTool> = {};
    for (const [t, runs] of samples) {
      tools[t] = {
        runs,
        medianSeconds: median(runs.map((r) => r.seconds)),
        minSeconds: Math.min(...runs.map((r) => r.seconds)),
        medianRssMB: median(runs.map((r) => r.rssMB)),
        maxRssMB: Math.max(...runs.map((r) => r.rssMB)),
        medianContainerdRssMB: median(runs.map((r) => r.containerdRssMB)),
        medianContainerdCpuSeconds: median(runs.map((r) => r.containerdCpuSeconds)),
        medianRegistryCpuSeconds: median(runs.map((r) => r.registryCpuSeconds)),
        ...(runs.every((r) => r.cpuSeconds !== undefined) ? { medianCpuSeconds: median(runs.map((r) => r.cpuSeconds as number)) } : {}),
      };
    }
    const oc = tools.ocictl as ContainerdPullTool;
    const ct = tools.ctr as ContainerdPullTool;
    return { op: 'containerd-pull', bytes, layers: img.layers.length, tools, ratioMedian: ct.medianSeconds / oc.medianSeconds, ratioMin: ct.minSeconds / oc.minSeconds };
  } finally {
    await ctd?.stop();
    await reg.stop();
    await fs.rm(work, { recursive: true, force: true });
  }
}

export function formatContainerdPull(r: ContainerdPullResult): string {
  const lines = [`containerd-pull (${(r.bytes / MiB).toFixed(0)} MiB, ${r.layers} layers, pull + unpack into overlayfs, TLS + auth registry)`];
  lines.push('  tool      median s   min s   client RSS MiB (median / max)   containerd RSS MiB (median)   CPU s, median: client / containerd / registry');
  for (const [t, s] of Object.entries(r.tools)) {
    lines.push(`  ${t.padEnd(8)}  ${s.medianSeconds.toFixed(3).padStart(8)}  ${s.minSeconds.toFixed(3).padStart(6)}   ${`${s.medianRssMB.toFixed(0)} / ${s.maxRssMB.toFixed(0)}`.padStart(12)}                    ${s.medianContainerdRssMB.toFixed(0).padStart(6)}                       ${s.medianCpuSeconds?.toFixed(2) ?? '?'} / ${s.medianContainerdCpuSeconds.toFixed(2)} / ${s.medianRegistryCpuSeconds.toFixed(2)}`);
  }
  lines.push(`  ctr/ocictl: ${r.ratioMedian.toFixed(2)}× (median), ${r.ratioMin.toFixed(2)}× (min)`);
  return lines.join('\n');
}

// Run alone: node dist/scripts/bench-containerd.js [--runs N]
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--runs');
  const runs = at > 0 ? Number(process.argv[at + 1]) : 5;
  containerdPull({ runs, log: (l) => process.stderr.write(`${l}\n`) }).then(
    (r) => process.stdout.write(`${formatContainerdPull(r)}\n`),
    (e: unknown) => {
      process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
