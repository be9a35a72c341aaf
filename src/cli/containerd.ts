import type { Command } from 'commander';

/** Registers `ocictl containerd ...` (host side). Owned by the containerd module. */
export function registerContainerdCommands(program: Command): void {
  program.command('containerd').description('install and configure containerd for a private registry (host side)');
}
