/** Turns global CLI options into library options. */
import type { Command } from 'commander';
import type { CommonOptions } from '../api.js';
import { OcictlError } from '../errors.js';

export interface GlobalOpts {
  namespace: string;
  dataRoot?: string;
  store?: string;
  address?: string;
  snapshotter?: string;
  insecureRegistry?: boolean;
  hostsDir?: string[];
  debug?: boolean;
  retries?: string;
  timeout?: string;
}

export function globalsOf(cmd: Command): GlobalOpts {
  return cmd.optsWithGlobals<GlobalOpts>();
}

export function commonOptions(cmd: Command, registries?: string[]): CommonOptions {
  const g = globalsOf(cmd);
  const o: CommonOptions = { namespace: g.namespace ?? 'default' };
  if (g.dataRoot) o.dataRoot = g.dataRoot;
  if (g.store !== undefined) {
    if (g.store !== 'containerd' && g.store !== 'local') throw new OcictlError('INVALID_ARGUMENT', `--store must be containerd or local, not "${g.store}"`, { hint: 'pass --store containerd or --store local' });
    o.store = g.store;
  }
  if (g.address) o.address = g.address;
  if (g.snapshotter) o.snapshotter = g.snapshotter;
  if (g.hostsDir?.length) o.hostsDirs = g.hostsDir;
  else if (process.env.OCICTL_HOSTS_DIR) o.hostsDirs = process.env.OCICTL_HOSTS_DIR.split(':').filter(Boolean);
  if (g.insecureRegistry) o.insecure = registries ?? true;
  if (g.debug) o.debug = (line: string) => process.stderr.write(`DEBU[0000] ${line}\n`);
  if (g.retries !== undefined) o.retries = intOption(g.retries, '--retries');
  if (g.timeout !== undefined) o.timeoutMs = intOption(g.timeout, '--timeout') * 1000;
  return o;
}

export function intOption(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    // Imported lazily elsewhere; a plain Error here is turned into one line by main.
    throw new Error(`${name} needs a non-negative integer, got "${v}"`);
  }
  return n;
}

export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}
