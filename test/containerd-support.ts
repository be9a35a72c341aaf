// Shared by the containerd-store tests: a real containerd 1.6 (fixtures/containerd/daemon.ts) and a TLS +
// htpasswd docker-registry, ocictl run as a process against containerd's socket in namespace k8s.io.
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { type ContainerdDaemon, startContainerdStore } from '../fixtures/containerd/daemon.js';
import { tmpDir } from '../fixtures/proc.js';
import { type RunningRegistry, startRegistry } from '../fixtures/registry.js';
import { type OcictlEnv, ocictl } from './copy-support.js';
import type { RunResult } from '../fixtures/proc.js';

export const USER = 'admin';
export const PASS = 'Harbor12345';

export interface Rig {
  work: string;
  reg: RunningRegistry;
  ctd: ContainerdDaemon;
  env: OcictlEnv;
  /** --hosts-dir that trusts the registry's CA (hosts.toml + ca.crt, read by ocictl and ctr alike). */
  hostsDir: string;
  /** Runs ocictl with `-a SOCKET -n k8s.io --hosts-dir DIR` before the arguments. */
  oc(args: string[], o?: { timeoutMs?: number }): Promise<RunResult>;
  ocOk(args: string[], o?: { timeoutMs?: number }): Promise<RunResult>;
  /** `ctr -n k8s.io ARGS` (throws on failure). */
  ctr(args: string[], timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function startRig(prefix: string): Promise<Rig> {
  const work = await tmpDir(prefix);
  const [reg, ctd] = await Promise.all([startRegistry({ tls: true, htpasswd: { [USER]: PASS } }), startContainerdStore(path.join(work, 'ctd'))]);
  const hostsDir = path.join(work, 'hosts');
  await mkdir(path.join(hostsDir, reg.host), { recursive: true });
  const ca = path.join(hostsDir, reg.host, 'ca.crt');
  await copyFile((reg.pki as NonNullable<RunningRegistry['pki']>).caCert, ca);
  // containerd takes a loopback registry for plain HTTP unless hosts.toml says https.
  await writeFile(path.join(hostsDir, reg.host, 'hosts.toml'), `server = "https://${reg.host}"\n\n[host."https://${reg.host}"]\n  capabilities = ["pull", "resolve", "push"]\n  ca = ${JSON.stringify(ca)}\n`);
  const env: OcictlEnv = { dockerConfig: path.join(work, 'docker'), dataRoot: path.join(work, 'data') };
  const oc = (args: string[], o: { timeoutMs?: number } = {}) => ocictl(env, ['-a', ctd.socket, '-n', 'k8s.io', '--hosts-dir', hostsDir, ...args], o);
  const ocOk = async (args: string[], o: { timeoutMs?: number } = {}) => {
    const r = await oc(args, o);
    if (r.code !== 0) throw new Error(`ocictl ${args.join(' ')} exited ${r.code}\n${r.stderr}${r.stdout}`);
    return r;
  };
  const ctr = async (args: string[], timeoutMs = 60_000) => {
    const r = await ctd.ctr(['-n', 'k8s.io', ...args], timeoutMs);
    if (r.code !== 0) throw new Error(`ctr ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  await ocOk(['login', reg.host, '-u', USER, '-p', PASS]);
  return {
    work,
    reg,
    ctd,
    env,
    hostsDir,
    oc,
    ocOk,
    ctr,
    async stop() {
      await Promise.all([reg.stop(), ctd.stop()]);
    },
  };
}

/** `ctr images ls` rows: name → target digest. */
export function imageRows(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n').slice(1)) {
    const [name, , digest] = line.trim().split(/\s+/);
    if (name && digest) m.set(name, digest);
  }
  return m;
}

/** `ctr content ls` rows: digest → labels. */
export function contentRows(out: string): Map<string, Record<string, string>> {
  const m = new Map<string, Record<string, string>>();
  for (const line of out.split('\n').slice(1)) {
    const cols = line.trim().split('\t').filter(Boolean);
    const digest = cols[0];
    if (!digest?.startsWith('sha256:')) continue;
    const labels: Record<string, string> = {};
    const last = cols[cols.length - 1] ?? '';
    if (last.includes('=')) {
      for (const kv of last.split(',')) {
        const i = kv.indexOf('=');
        if (i > 0) labels[kv.slice(0, i)] = kv.slice(i + 1);
      }
    }
    m.set(digest, labels);
  }
  return m;
}

/** `ctr snapshots ls` keys (committed snapshots are named by chain ID). */
export function snapshotKeys(out: string): Set<string> {
  return new Set(out.split('\n').slice(1).map((l) => l.trim().split(/\s+/)[0]).filter((k): k is string => !!k));
}
