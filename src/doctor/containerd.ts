/**
 * What containerd's configuration means for SERVER, from the lint's analysis
 * of config.toml (src/host/lint.ts): whether CRI's `config_path` is set and
 * names the directory that holds SERVER's hosts.toml, deprecated
 * `mirrors`/`configs` for SERVER, and plaintext passwords. containerd's own
 * view is containerd-socket.ts.
 */
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { hostAliases } from '../auth/docker-config.js';
import { CONFIG_FILE, KEYS } from '../host/config.js';
import { analyseConfig } from '../host/lint.js';
import { getPath } from '../host/tomledit.js';
import { isLoopbackHost } from '../registry/host.js';
import { type Check, check, skip } from './check.js';
import type { Target } from './files.js';

export interface ContainerdOutcome {
  checks: Check[];
  /** CRI's config_path directories, when the config was read. */
  configPath?: string[];
}

const NAMES = ['containerd config_path', 'containerd registry', 'containerd credentials'];

export async function containerdConfigChecks(t: Target, file: string | undefined): Promise<ContainerdOutcome> {
  const explicit = file !== undefined;
  const f = file ?? CONFIG_FILE;
  if (!explicit && !existsSync(f)) return { checks: NAMES.map((n) => skip(n, `no containerd config at ${f} (pass --containerd-config FILE)`)) };
  let text: string;
  let mode: number;
  try {
    text = await fsp.readFile(f, 'utf8');
    mode = (await fsp.stat(f)).mode & 0o7777;
  } catch (e) {
    return { checks: [check(NAMES[0]!, 'fail', `cannot read ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, `check the path given to --containerd-config`), ...NAMES.slice(1).map((n) => skip(n, `${f} was not read`))] };
  }
  const a = analyseConfig(text, mode, f, { root: '/', systemdHost: false });
  const syntax = a.findings.find((x) => x.id === 'toml-syntax');
  if (syntax) {
    return { checks: [check(NAMES[0]!, 'fail', `${f}:${syntax.line ?? '?'}: ${syntax.message}; containerd does not start with it`, `correct line ${syntax.line ?? '?'} of ${f} (containerd --config ${f} config dump shows the error)`), ...NAMES.slice(1).map((n) => skip(n, `${f} is not valid TOML`))] };
  }
  const doc = a.parsed ?? {};
  const keys = KEYS[doc.version === 3 ? 3 : 2];
  const reg = getPath(doc, [...keys.registry]);
  const cp = reg && typeof reg === 'object' && typeof (reg as Record<string, unknown>).config_path === 'string' ? ((reg as Record<string, unknown>).config_path as string) : '';
  const dirs = cp.split(':').filter(Boolean);
  const aliases = hostAliases(t.server);
  const mine = a.findings.filter((x) => x.host !== undefined && aliases.includes(x.host.toLowerCase()));
  const table = `[${keys.registry.map((k) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k))).join('.')}]`;
  const checks: Check[] = [];
  // config_path
  const registryFindings = mine.filter((x) => x.id !== 'plaintext-password' && x.id !== 'deprecated-configs-auth');
  if (dirs.length === 0) {
    const needed = t.endpoint !== undefined || registryFindings.length > 0;
    const detail = `config_path is not set in ${f}: containerd's CRI plugin (kubelet's pulls) ignores hosts.toml${t.endpoint ? `, so ${t.endpoint.source} is not used` : ''}`;
    const fix = `add config_path = "/etc/containerd/certs.d" under ${table} in ${f}${registryFindings.length ? ' (move registry.mirrors/configs to hosts.toml first: ocictl containerd lint --fix)' : ''}, then restart containerd`;
    checks.push(check(NAMES[0]!, needed ? 'fail' : 'warn', detail, fix));
  } else {
    const holder = t.endpoint ? (t.endpoint.explicit ? path.dirname(path.dirname(t.endpoint.source)) : path.dirname(t.endpoint.source)) : undefined;
    const where = dirs.find((d) => holder !== undefined && path.resolve(d) === path.resolve(holder));
    if (where) checks.push(check(NAMES[0]!, 'ok', `config_path = "${cp}" holds ${t.endpoint!.source}`));
    else if (holder) {
      checks.push(check(NAMES[0]!, 'fail', `ocictl reads ${t.server}'s settings from ${t.endpoint!.source}, but CRI's config_path is "${cp}": containerd does not see them`, `write them where containerd looks: ocictl containerd registry add ${t.server} --ca ca.pem --hosts-dir ${dirs[0]} (or set config_path = "${holder}")`));
    } else {
      const there = dirs.map((d) => path.join(d, t.server, 'hosts.toml')).find((p) => existsSync(p));
      if (there) checks.push(check(NAMES[0]!, 'warn', `containerd reads ${there}, which ocictl did not (its hosts dirs are others)`, `pass --hosts-dir ${path.dirname(path.dirname(there))} to ocictl, or set OCICTL_HOSTS_DIR`));
      else checks.push(check(NAMES[0]!, 'ok', `config_path = "${cp}"; no entry for ${t.server} there (containerd uses its defaults: ${isLoopbackHost(t.server) ? 'plain HTTP for a loopback address' : `https://${t.server} and the system's CAs`})`));
    }
  }
  // mirrors / configs for SERVER
  if (registryFindings.length === 0) checks.push(check(NAMES[1]!, 'ok', `no registry.mirrors or registry.configs for ${t.server} in ${f}`));
  else {
    const worst = registryFindings.some((x) => x.severity === 'error') ? 'fail' : 'warn';
    const first = registryFindings.find((x) => (worst === 'fail' ? x.severity === 'error' : true))!;
    const more = registryFindings.length > 1 ? ` (+${registryFindings.length - 1} more: ocictl containerd lint)` : '';
    checks.push(check(NAMES[1]!, worst, `${f}:${first.line ?? '?'}: ${first.message}: ${first.why}${more}`, `${first.fix}${first.fixable ? ' (ocictl containerd lint --fix does it)' : ''}`));
  }
  // plaintext credentials
  const secrets = a.findings.filter((x) => x.id === 'plaintext-password' && (x.host === undefined || aliases.includes(x.host.toLowerCase())));
  if (secrets.length === 0) checks.push(check(NAMES[2]!, 'ok', `no password for ${t.server} in ${f}`));
  else {
    const s = secrets[0]!;
    checks.push(check(NAMES[2]!, 'fail', `${f}:${s.line ?? '?'}: ${s.message}: ${s.why}`, `ocictl pull-secret ${t.server} --name harbor-pull | kubectl apply -f - ; add imagePullSecrets: [{name: harbor-pull}] to the pods; then delete the auth table at ${f}:${s.line ?? '?'} and restart containerd`));
  }
  return { checks, configPath: dirs };
}
