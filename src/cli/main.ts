/**
 * ocictl's command line: parses arguments and prints. The work is done by the
 * library modules, imported lazily inside each action so that start-up stays
 * fast (`ocictl --version` loads nothing but commander).
 */
import { Command, CommanderError } from 'commander';
import { OcictlError } from '../errors.js';
import { VERSION } from '../version.js';
import { registerDoctorCommands } from './doctor-commands.js';
import { registerContainerdCommands } from './host-commands.js';
import { registerImageCommands } from './image-commands.js';
import { registerRemoteCommands } from './remote-commands.js';
import { registerSyncCommands } from './sync-commands.js';

import { type GlobalOpts, collect } from './context.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('ocictl')
    .description('OCI/Docker registry client with a nerdctl-compatible command surface')
    .version(VERSION, '-v, --version')
    .option('-n, --namespace <ns>', 'image namespace (as nerdctl/containerd, e.g. k8s.io)', process.env.CONTAINERD_NAMESPACE ?? 'default')
    .option('--data-root <dir>', 'local store root (env OCICTL_DATA_ROOT; default $XDG_DATA_HOME/ocictl)')
    .option('--store <kind>', 'image store: containerd or local (env OCICTL_STORE; default containerd when --address/CONTAINERD_ADDRESS is given or the default socket answers, else local)')
    .option('--address <socket>', '(-a before the command) containerd socket (env CONTAINERD_ADDRESS; default /run/containerd/containerd.sock)')
    .option('--snapshotter <name>', 'containerd snapshotter to unpack into (env CONTAINERD_SNAPSHOTTER; default the CRI plugin\'s, else overlayfs)')
    .option('--insecure-registry', 'skip TLS verification, then fall back to plain HTTP, for the registries named in this command')
    .option('--hosts-dir <dir>', 'hosts directory with <host:port>/hosts.toml or ca.crt; repeatable (default /etc/containerd/certs.d, /etc/docker/certs.d)', collect)
    .option('--debug', 'print HTTP requests (never secrets) to stderr')
    .option('--retries <n>', 'retries of a failed request or transfer (default 3)')
    .option('--timeout <seconds>', 'stall timeout for registry connections (default 60)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerImageCommands(program);
  registerContainerdCommands(program);
  registerRemoteCommands(program);
  registerDoctorCommands(program);
  registerSyncCommands(program);
  return program;
}

/** The program's own options that take a value (so that the command name can be found after them). */
function valueOptions(program: Command): Set<string> {
  return new Set(program.options.filter((o) => o.required || o.optional).flatMap((o) => [o.short, o.long].filter((f): f is string => f !== undefined)));
}

/**
 * `-a SOCKET` before the command is containerd's address, as nerdctl and ctr
 * take it; after the command `-a` keeps its meaning there (`images -a`,
 * `copy -a`), since commander would otherwise read it as the global option.
 */
export function globalShortAddress(argv: string[], program: Command = buildProgram()): string[] {
  const takesValue = valueOptions(program);
  const out = [...argv];
  for (let i = 2; i < out.length; i++) {
    const t = out[i] as string;
    if (!t.startsWith('-') || t === '-' || t === '--') break;
    if (t === '-a') out[i] = '--address';
    else if (t.startsWith('-a') && !t.startsWith('--')) out.splice(i, 1, '--address', t.slice(2));
    if (takesValue.has(out[i] as string)) i++;
  }
  return out;
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(globalShortAddress(argv, program));
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version print themselves and exit 0; usage errors were printed by commander.
      return e.exitCode;
    }
    printError(e, program.opts<GlobalOpts>().debug === true);
    return e instanceof OcictlError && e.code === 'INVALID_ARGUMENT' ? 2 : 1;
  }
}

export function printError(e: unknown, debug: boolean): void {
  if (e instanceof OcictlError) {
    process.stderr.write(`ocictl: ${e.oneLine()}\n`);
  } else if (e instanceof Error) {
    process.stderr.write(`ocictl: ${e.message}\n`);
  } else {
    process.stderr.write(`ocictl: ${String(e)}\n`);
  }
  if (debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
}
