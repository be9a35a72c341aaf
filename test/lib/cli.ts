/** Runs the real ocictl CLI as a process, with its own config and store directories. */
import { mkdir, mkdtemp, rm, writeFile, copyFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, type RunResult } from '../../fixtures/proc.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const ocictlBin = path.join(repoRoot, 'bin', 'ocictl.js');

export interface Sandbox {
  dir: string;
  dockerConfig: string;
  dataRoot: string;
  hostsDir: string;
  env: NodeJS.ProcessEnv;
  /** Runs `ocictl ARGS` in this sandbox. */
  ocictl(args: string[], opts?: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<RunResult>;
  /** Puts `caFile` as `<hostsDir>/<host>/ca.crt`. */
  trustCa(host: string, caFile: string): Promise<void>;
  cleanup(): Promise<void>;
}

export async function sandbox(prefix = 'ocictl-test-'): Promise<Sandbox> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  const dockerConfig = path.join(dir, 'docker');
  const dataRoot = path.join(dir, 'data');
  const hostsDir = path.join(dir, 'certs.d');
  await mkdir(hostsDir, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: dockerConfig, OCICTL_DATA_ROOT: dataRoot, HOME: dir };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.OCICTL_HOSTS_DIR;
  return {
    dir,
    dockerConfig,
    dataRoot,
    hostsDir,
    env,
    ocictl: (args, opts = {}) =>
      run(process.execPath, [ocictlBin, ...args], {
        env: { ...env, ...opts.env },
        ...(opts.input !== undefined ? { input: opts.input } : {}),
        timeoutMs: opts.timeoutMs ?? 120_000,
      }),
    trustCa: async (host, caFile) => {
      await mkdir(path.join(hostsDir, host), { recursive: true });
      await copyFile(caFile, path.join(hostsDir, host, 'ca.crt'));
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export async function writeJson(file: string, v: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(v, null, 2));
}

/** Asserts one clean error line: no stack trace. */
export function isOneLineError(stderr: string): boolean {
  const lines = stderr.split('\n').filter((l) => l.startsWith('ocictl:'));
  return lines.length === 1 && !/\n\s+at /.test(stderr);
}
