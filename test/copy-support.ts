// Shared by the copy/archive/remote tests: ocictl run as a process with its own DOCKER_CONFIG and data
// root, hosts dirs that trust a registry's CA, skopeo look-ups, and the registry's access log.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { killPid, run, runOk, sleep, type RunResult } from '../fixtures/proc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Repository root (this file runs from dist/test). */
export const repoRoot = path.resolve(here, '..', '..');
export const ocictlBin = path.join(repoRoot, 'bin', 'ocictl.js');

export interface OcictlEnv {
  /** DOCKER_CONFIG directory. */
  dockerConfig: string;
  /** OCICTL_DATA_ROOT. */
  dataRoot: string;
}

/** Runs `node [nodeArgs] bin/ocictl.js ...args` with the given config dir and data root. */
export async function ocictl(env: OcictlEnv, args: string[], o: { input?: string; nodeArgs?: string[]; timeoutMs?: number } = {}): Promise<RunResult> {
  const e: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: env.dockerConfig, OCICTL_DATA_ROOT: env.dataRoot };
  delete e.NODE_EXTRA_CA_CERTS;
  return run(process.execPath, [...(o.nodeArgs ?? []), ocictlBin, ...args], { env: e, timeoutMs: o.timeoutMs ?? 120_000, ...(o.input !== undefined ? { input: o.input } : {}) });
}

/** Like {@link ocictl} but fails with the output when the exit code is not 0. */
export async function ocictlOk(env: OcictlEnv, args: string[], o: { input?: string; nodeArgs?: string[] } = {}): Promise<RunResult> {
  const r = await ocictl(env, args, o);
  if (r.code !== 0) throw new Error(`ocictl ${args.join(' ')} exited ${r.code}\n${r.stderr}${r.stdout}`);
  return r;
}

/** Makes `<dir>/<host>/ca.crt` so that `--hosts-dir dir` trusts the CA for that host. */
export async function trustIn(dir: string, host: string, caCert: string): Promise<string> {
  await mkdir(path.join(dir, host), { recursive: true });
  await copyFile(caCert, path.join(dir, host, 'ca.crt'));
  return dir;
}

/** `skopeo inspect --raw` of an image: the manifest bytes as served. */
export async function skopeoRaw(ref: string, args: string[] = []): Promise<Buffer> {
  const r = await runOk('skopeo', ['inspect', '--raw', ...args, `docker://${ref}`], { timeoutMs: 60_000 });
  return Buffer.from(r.stdout, 'utf8');
}

export function sha256(b: Buffer | string): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

export interface AccessLine {
  method: string;
  path: string;
  status: number;
}

/** The access-log lines of a docker-registry log file. */
export async function accessLog(logFile: string): Promise<AccessLine[]> {
  const text = await readFile(logFile, 'utf8');
  const out: AccessLine[] = [];
  for (const m of text.matchAll(/"([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3})/g)) out.push({ method: m[1] as string, path: m[2] as string, status: Number(m[3]) });
  return out;
}

export { run, runOk };

export interface Containerd {
  ctr(args: string[]): Promise<RunResult>;
  stop(): Promise<void>;
}

/** containerd 1.6 as a plain process with its root, state and socket under `dir`. */
export async function startContainerd(dir: string): Promise<Containerd> {
  await mkdir(dir, { recursive: true });
  const sock = path.join(dir, 'containerd.sock');
  const cfg = path.join(dir, 'config.toml');
  await writeFile(
    cfg,
    [
      'version = 2',
      `root = "${dir}/root"`,
      `state = "${dir}/state"`,
      '[grpc]',
      `  address = "${sock}"`,
      '[ttrpc]',
      `  address = "${sock}.ttrpc"`,
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${dir}/opt"`,
      '',
    ].join('\n'),
  );
  const fd = openSync(path.join(dir, 'containerd.log'), 'a');
  const child = spawn('containerd', ['--config', cfg], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const pid = child.pid as number;
  const ctr = (args: string[]): Promise<RunResult> => run('ctr', ['--address', sock, ...args], { timeoutMs: 120_000 });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (existsSync(sock) && (await ctr(['version'])).code === 0) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      await killPid(pid);
      throw new Error(`containerd did not start: ${await readFile(path.join(dir, 'containerd.log'), 'utf8')}`);
    }
    await sleep(50);
  }
  return { ctr, stop: () => killPid(pid, 10_000) };
}
