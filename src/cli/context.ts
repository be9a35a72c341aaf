/** Turns global CLI options into library options; option helpers the command modules share. */
import { type Command, Option } from 'commander';
import type { ClientOptions, CommonOptions } from '../api.js';
import { OcictlError } from '../errors.js';

/** commander's collector for a repeatable option. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** `--format text|json` (default text). */
export function formatOption(): Option {
  return new Option('--format <format>', 'output format').choices(['text', 'json']).default('text');
}

async function credentialsOf(value: string, flag: string): Promise<ClientOptions['credentials']> {
  const colon = value.indexOf(':');
  if (colon <= 0) throw new OcictlError('INVALID_ARGUMENT', `${flag} needs USER:PASSWORD`, { hint: `e.g. ${flag} 'robot$ci:secret' (quote the $)` });
  const { StaticCredentials } = await import('../auth/credentials.js');
  return new StaticCredentials({ username: value.slice(0, colon), password: value.slice(colon + 1) });
}

/** The per-side flags of a copy (`--src-creds`, `--dest-insecure`, `--dest-hosts-dir`, ...). */
export interface SideFlags {
  creds?: string;
  insecure?: boolean;
  hostsDir?: string[];
}

/** Options for one side of a copy (`flagPrefix`: src or dest), over the global ones; undefined when no flag was given. */
export async function sideOptions(flags: SideFlags, flagPrefix: string, globalHostsDirs: string[] | undefined): Promise<ClientOptions | undefined> {
  const o: ClientOptions = {};
  if (flags.creds !== undefined) o.credentials = await credentialsOf(flags.creds, `--${flagPrefix}-creds`);
  if (flags.insecure) o.insecure = true;
  if (flags.hostsDir?.length) o.hostsDirs = [...flags.hostsDir, ...(globalHostsDirs ?? [])];
  return Object.keys(o).length ? o : undefined;
}

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
