import { Option, type Command } from 'commander';
import { OcictlError } from '../errors.js';

/** Options every containerd command takes. */
interface RootOpts {
  root: string;
  dryRun?: boolean;
}

const lib = () => import('../host/index.js');

function out(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
}
function err(s: string): void {
  process.stderr.write(s.endsWith('\n') ? s : `${s}\n`);
}

function rootOf(o: { root?: string }): string {
  const r = o.root ?? '/';
  if (r === '') throw new OcictlError('INVALID_ARGUMENT', '--root must not be empty');
  return r;
}

/**
 * The program has a global variadic `--hosts-dir`; commander gives an option
 * written after the subcommand to whichever command declares it, so read both.
 */
function hostsDirOf(cmd: Command): string | undefined {
  const own = cmd.opts<{ hostsDir?: string }>().hostsDir;
  if (own) return own;
  const g = cmd.optsWithGlobals<{ hostsDir?: string | string[] }>().hostsDir;
  if (Array.isArray(g)) return g[0];
  return g;
}

/** Registers `ocictl containerd ...` (host side). Owned by the containerd module. */
export function registerContainerdCommands(program: Command): void {
  const ctd = program.command('containerd').description('install and configure containerd for a private registry (host side)');

  ctd
    .command('install')
    .description('install a containerd release tarball (cri-containerd-cni-1.6/1.7 bundle or containerd-2.x), its systemd unit, and start it')
    .requiredOption('--archive <file>', 'release tarball (.tar.gz or .tar)')
    .option('--runc <file>', 'also install this runc binary as /usr/local/sbin/runc (2.x tarballs have none)')
    .option('--root <dir>', 'filesystem root to install into', '/')
    .option('--dry-run', 'print the plan (files, commands) and change nothing')
    .action(async (o: RootOpts & { archive: string; runc?: string }) => {
      const { install, describeEntries, renderPlan } = await lib();
      const root = rootOf(o);
      const r = await install({ root, archive: o.archive, ...(o.runc ? { runc: o.runc } : {}), dryRun: o.dryRun === true, log: err });
      const kind = r.layout.kind === 'cri-bundle' ? 'cri-containerd bundle (1.6/1.7 layout)' : 'containerd tarball (bin/ → /usr/local/bin)';
      out(`archive: ${o.archive}: ${kind}${r.layout.version ? `, version ${r.layout.version}` : ''}`);
      out(`${o.dryRun ? 'would install' : 'installed'} from the archive${root === '/' ? '' : ` (under ${root})`}:`);
      out(describeEntries(r.entries).join('\n'));
      out(renderPlan(r.plan).trimEnd());
      if (!o.dryRun) {
        if (r.containerdVersion) out(`containerd ${r.containerdVersion} installed`);
        if (r.runc?.info) out(`runc ${r.runc.info.version ?? '?'} (libseccomp ${r.runc.info.libseccomp ?? 'unknown'}) at ${r.runc.path}`);
      }
    });

  ctd
    .command('config')
    .description('write /etc/containerd/config.toml from containerd\'s default, or edit the existing one in place')
    .option('--root <dir>', 'filesystem root', '/')
    .option('--dry-run', 'print the diff and change nothing')
    .option('--sandbox-image <image>', 'pause image for pods (e.g. a mirror\'s registry.k8s.io/pause:3.6)')
    .addOption(new Option('--systemd-cgroup', 'use the systemd cgroup driver (default: on where systemd is PID 1)'))
    .addOption(new Option('--no-systemd-cgroup', 'use the cgroupfs driver'))
    .option('--config-path <dir>', 'registry hosts directory written as config_path', '/etc/containerd/certs.d')
    .option('--mirror <host=url>', 'pull mirror written as certs.d/<host>/hosts.toml (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--containerd-version <v>', 'target containerd version (default: ask the installed binary)')
    .action(async (o: RootOpts & { sandboxImage?: string; systemdCgroup?: boolean; configPath: string; mirror?: string[]; containerdVersion?: string }) => {
      const { planConfig, parseMirror, applyFiles, renderPlan, changedFiles } = await lib();
      const root = rootOf(o);
      const mirrors = (o.mirror ?? []).map(parseMirror);
      const r = await planConfig({
        root,
        configPath: o.configPath,
        mirrors,
        ...(o.sandboxImage !== undefined ? { sandboxImage: o.sandboxImage } : {}),
        ...(o.systemdCgroup !== undefined ? { systemdCgroup: o.systemdCgroup } : {}),
        ...(o.containerdVersion !== undefined ? { containerdVersion: o.containerdVersion } : {}),
      });
      out(`config: schema version ${r.schema}${r.version ? ` (containerd ${r.version})` : ''}, from ${r.source}`);
      out(renderPlan(r.plan).trimEnd());
      if (!o.dryRun) {
        await applyFiles(r.plan);
        out(changedFiles(r.plan).length === 0 ? 'nothing changed' : 'written');
      }
    });

  const reg = ctd.command('registry').description('registry hosts: certs.d/<host:port>/hosts.toml and certificates');
  reg
    .command('add <host>')
    .description('write certs.d/<host[:port]>/hosts.toml and copy the certificates beside it')
    .option('--ca <file>', 'CA certificate of the registry (PEM)')
    .option('--cert <file>', 'client certificate (PEM), with --key')
    .option('--key <file>', 'client key (PEM), with --cert')
    .option('--skip-verify', 'do not verify the registry\'s TLS certificate')
    .option('--server <url>', 'URL to contact (default https://<host>)')
    .option('--capabilities <list>', 'comma-separated: pull,resolve,push (referrers: containerd 2.x only)', 'pull,resolve,push')
    .option('--hosts-dir <dir>', 'hosts directory (default: config_path of config.toml, else /etc/containerd/certs.d)')
    .option('--root <dir>', 'filesystem root', '/')
    .option('--dry-run', 'print the plan and change nothing')
    .action(async (host: string, o: RootOpts & { ca?: string; cert?: string; key?: string; skipVerify?: boolean; server?: string; capabilities: string }, cmd: Command) => {
      const { planRegistryAdd, parseCapabilities, applyFiles, renderPlan } = await lib();
      const hostsDir = hostsDirOf(cmd);
      const plan = await planRegistryAdd({
        root: rootOf(o),
        host,
        capabilities: parseCapabilities(o.capabilities),
        ...(hostsDir ? { hostsDir } : {}),
        ...(o.ca ? { ca: o.ca } : {}),
        ...(o.cert ? { cert: o.cert } : {}),
        ...(o.key ? { key: o.key } : {}),
        ...(o.skipVerify ? { skipVerify: true } : {}),
        ...(o.server ? { server: o.server } : {}),
      });
      out(renderPlan(plan).trimEnd());
      if (!o.dryRun) await applyFiles(plan);
    });
  reg
    .command('ls')
    .description('list configured registry hosts')
    .option('--hosts-dir <dir>', 'hosts directory (default: config_path of config.toml, else /etc/containerd/certs.d)')
    .option('--root <dir>', 'filesystem root', '/')
    .option('--json', 'print JSON')
    .action(async (o: { root: string; json?: boolean }, cmd: Command) => {
      const { listRegistries } = await lib();
      const hostsDir = hostsDirOf(cmd);
      const list = await listRegistries(rootOf(o), hostsDir);
      if (o.json) {
        out(JSON.stringify(list, null, 2));
        return;
      }
      if (list.length === 0) {
        out('no registry hosts configured');
        return;
      }
      out(['HOST', 'SERVER', 'HOSTS', 'CA', 'SKIP_VERIFY'].join('\t'));
      for (const r of list) {
        const hosts = r.hosts.map((h) => `${h.url}(${h.capabilities.join(',')})`).join(' ') || '-';
        out([r.host, r.server ?? (r.kind === 'docker-certs' ? '(docker-style certs)' : '-'), hosts, r.ca.join(',') || '-', String(r.skipVerify), r.error ? `error: ${r.error}` : ''].join('\t').trimEnd());
      }
    });
  reg
    .command('rm <host>')
    .description('remove certs.d/<host[:port]> (hosts.toml and certificates)')
    .option('--hosts-dir <dir>', 'hosts directory (default: config_path of config.toml, else /etc/containerd/certs.d)')
    .option('--root <dir>', 'filesystem root', '/')
    .option('--dry-run', 'print the plan and change nothing')
    .action(async (host: string, o: RootOpts, cmd: Command) => {
      const { planRegistryRm, applyFiles, renderPlan } = await lib();
      const hostsDir = hostsDirOf(cmd);
      const plan = await planRegistryRm(rootOf(o), host, hostsDir);
      out(renderPlan(plan, { diff: false }).trimEnd());
      if (!o.dryRun) await applyFiles(plan);
    });

  ctd
    .command('lint')
    .description('find common mistakes in config.toml and hosts.toml files (exit 0 clean, 1 findings, 2 could not read)')
    .option('--config <file>', 'config file (default /etc/containerd/config.toml under --root)')
    .option('--hosts-dir <dir>', 'hosts directory (default: config_path of the config)')
    .option('--root <dir>', 'filesystem root', '/')
    .option('--fix', 'apply the safe fixes (keeps a backup of config.toml)')
    .option('--dry-run', 'with --fix: print the fixes and change nothing')
    .option('--probe', 'also connect to each registry and check its certificate against the configured CA')
    .option('--systemd-host', 'treat the target as a systemd host (default: detected)')
    .option('--json', 'print findings as JSON')
    .action(async (o: RootOpts & { config?: string; fix?: boolean; probe?: boolean; json?: boolean; systemdHost?: boolean }, cmd: Command) => {
      const { lint, renderFindings, applyFiles, renderPlan } = await lib();
      const hostsDir = hostsDirOf(cmd);
      const r = await lint({
        root: rootOf(o),
        ...(o.config ? { config: o.config } : {}),
        ...(hostsDir ? { hostsDir } : {}),
        fix: o.fix === true,
        probe: o.probe === true,
        ...(o.systemdHost ? { systemdHost: true } : {}),
      });
      if (o.json) out(JSON.stringify({ findings: r.findings, remaining: r.remaining, readError: r.readError }, null, 2));
      else if (r.readError) err(`ocictl: ${r.readError}`);
      else out(renderFindings(r));
      if (o.fix && r.plan) {
        out(renderPlan(r.plan).trimEnd());
        if (!o.dryRun) await applyFiles(r.plan);
      }
      process.exitCode = r.readError ? 2 : (o.fix && !o.dryRun ? r.remaining : r.findings).length > 0 ? 1 : 0;
    });
}
