/**
 * `doctor SERVER` and `pull-secret SERVER`. The checks and the Secret come
 * from the library (src/doctor); this file parses and prints.
 */
import { type Command, Option } from 'commander';
import { commonOptions, globalsOf, intOption } from './context.js';
import { table } from './format.js';

import type { Check, DoctorReport } from '../doctor/index.js';

const MARK: Record<Check['status'], string> = { ok: 'ok', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

/** A table on a terminal: one row per check, its fix on the line below, under the detail. */
export function renderDoctorTable(r: DoctorReport): string {
  const rows = r.checks.map((c) => [MARK[c.status], c.name, c.detail]);
  const lines = table(['STATUS', 'CHECK', 'DETAIL'], rows).split('\n');
  const out: string[] = [lines[0]!];
  const indent = 'STATUS'.length + 3 + Math.max('CHECK'.length, ...r.checks.map((c) => c.name.length)) + 3;
  r.checks.forEach((c, i) => {
    out.push(lines[i + 1]!);
    if (c.fix) out.push(`${' '.repeat(indent)}fix: ${c.fix}`);
  });
  return `${out.join('\n')}\n`;
}

/** Plain lines (not a terminal): `STATUS NAME: DETAIL`, then `  fix: ...`. */
export function renderDoctorPlain(r: DoctorReport): string {
  const out: string[] = [];
  for (const c of r.checks) {
    out.push(`${c.status} ${c.name}: ${c.detail}`);
    if (c.fix) out.push(`  fix: ${c.fix}`);
  }
  const n = (s: Check['status']): number => r.checks.filter((c) => c.status === s).length;
  out.push(`${r.server}: ${n('fail')} failed, ${n('warn')} warning${n('warn') === 1 ? '' : 's'}, ${n('ok')} ok, ${n('skip')} skipped`);
  return `${out.join('\n')}\n`;
}

export function registerDoctorCommands(program: Command): void {
  program
    .command('doctor')
    .description('check everything between this machine and a registry (names, TLS, clock, auth, permissions, containerd config); each problem with its fix')
    .argument('<server>', 'registry host[:port]')
    .option('--repo <project/repo>', 'also check pull and push permission on this repository (pushes nothing)')
    .option('--containerd-config <file>', "containerd's config.toml (default /etc/containerd/config.toml when it exists)")
    .option('--containerd-socket <path>', "containerd's socket (default /run/containerd/containerd.sock)")
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText('after', '\nThe global --timeout SECONDS bounds the whole run here (default 30). Exit 0: nothing failed; 1: a check failed; 2: bad usage.\nEach check: ok | warn | fail | skip, the facts found, and for warn and fail the fix. See docs/doctor.md.')
    .action(async function (this: Command, server: string) {
      const o = this.opts<{ repo?: string; containerdConfig?: string; containerdSocket?: string; format: string }>();
      const { doctor, doctorFailed } = await import('../doctor/index.js');
      const c = commonOptions(this, [server]);
      const g = globalsOf(this);
      const r = await doctor(server, {
        ...(c.hostsDirs ? { hostsDirs: c.hostsDirs } : {}),
        ...(c.insecure !== undefined ? { insecure: c.insecure } : {}),
        ...(g.timeout !== undefined ? { timeoutMs: intOption(g.timeout, '--timeout') * 1000 } : {}),
        ...(o.repo !== undefined ? { repo: o.repo } : {}),
        ...(o.containerdConfig !== undefined ? { containerdConfig: o.containerdConfig } : {}),
        ...(o.containerdSocket !== undefined ? { containerdSocket: o.containerdSocket } : {}),
      });
      if (o.format === 'json') process.stdout.write(`${JSON.stringify({ server: r.server, checks: r.checks }, null, 2)}\n`);
      else process.stdout.write(process.stdout.isTTY ? renderDoctorTable(r) : renderDoctorPlain(r));
      process.exitCode = doctorFailed(r) ? 1 : 0;
    });

  program
    .command('pull-secret')
    .description("print a Kubernetes image pull Secret holding only SERVER's stored login (pipe it to kubectl apply -f -)")
    .argument('<server>', 'registry host[:port]')
    .option('--name <name>', 'Secret name (default: SERVER-pull)')
    .option('--namespace <ns>', 'Secret namespace, also -n (default: none, i.e. kubectl\'s current one)')
    .addOption(new Option('--format <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
    .action(async function (this: Command, server: string) {
      const o = this.opts<{ name?: string; namespace?: string; format: string }>();
      const { pullSecret, secretJson, secretYaml } = await import('../doctor/index.js');
      // -n/--namespace is also the global (image store) option, which takes it when given: here it means the Secret's.
      const ns = o.namespace ?? (this.getOptionValueSourceWithGlobals('namespace') === 'cli' ? globalsOf(this).namespace : undefined);
      const s = await pullSecret(server, { ...(o.name !== undefined ? { name: o.name } : {}), ...(ns !== undefined ? { namespace: ns } : {}) });
      process.stdout.write(o.format === 'json' ? secretJson(s) : secretYaml(s));
    });
}
