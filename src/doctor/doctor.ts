/**
 * `ocictl doctor SERVER`: runs the checks in order — config files,
 * reachability, TLS, the registry's clock and challenge, credentials, with
 * `--repo` permissions, then containerd's configuration — each giving a
 * status, the facts found and, when something is wrong, the fix. A check
 * that cannot run because an earlier one failed is `skip`, with the reason.
 * The whole run finishes within the time budget.
 */
import type { CredentialSource } from '../auth/credentials.js';
import { dockerConfigPath } from '../auth/docker-config.js';
import { OcictlError } from '../errors.js';
import { normaliseServer } from '../reference/reference.js';
import { type AccessInput, credentialsCheck, credentialsSource, permissionChecks } from './access.js';
import { Budget, type Check, check, seconds, skip, within } from './check.js';
import { containerdConfigChecks } from './containerd.js';
import { containerdSocketCheck } from './containerd-socket.js';
import { configFilesCheck } from './files.js';
import { routeOf } from './http.js';
import { dnsCheck, tcpCheck } from './network.js';
import { v2Checks } from './registry.js';
import { tlsChecks } from './tls.js';

export interface DoctorOptions {
  /** Docker config.json with the credentials (default $DOCKER_CONFIG/config.json). */
  dockerConfig?: string;
  /** Credentials tried before config.json. */
  credentials?: CredentialSource;
  /** Hosts directories (default /etc/containerd/certs.d, /etc/docker/certs.d). */
  hostsDirs?: string[];
  /** `--insecure-registry`: true, or the registries it names. */
  insecure?: boolean | string[];
  /** The whole run's time budget, ms (default 30 s). */
  timeoutMs?: number;
  /** PROJECT/REPO: check pull and push permission there. */
  repo?: string;
  /** containerd's config.toml (default /etc/containerd/config.toml when it exists). */
  containerdConfig?: string;
  /** containerd's socket (default $CONTAINERD_ADDRESS, else /run/containerd/containerd.sock). */
  containerdSocket?: string;
}

export interface DoctorReport {
  server: string;
  checks: Check[];
}

export const DEFAULT_DOCTOR_TIMEOUT_MS = 30_000;

const REPO = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

/** Whether anything failed (the CLI's exit status 1). */
export function doctorFailed(r: DoctorReport): boolean {
  return r.checks.some((c) => c.status === 'fail');
}

export async function doctor(serverArg: string, o: DoctorOptions = {}): Promise<DoctorReport> {
  const server = normaliseServer(serverArg);
  if (o.repo !== undefined && !REPO.test(o.repo)) {
    throw new OcictlError('INVALID_ARGUMENT', `--repo "${o.repo}" is not a repository name`, { hint: 'give PROJECT/REPO in lower case, e.g. --repo lidabai/nginx' });
  }
  const totalMs = o.timeoutMs ?? DEFAULT_DOCTOR_TIMEOUT_MS;
  const budget = new Budget(totalMs);
  const insecure = o.insecure === true || (Array.isArray(o.insecure) && (o.insecure.includes(server) || o.insecure.includes(server.replace(/:443$/, ''))));
  const checks: Check[] = [];

  const files = await configFilesCheck(server, o.hostsDirs);
  checks.push(files.check);
  const t = files.target;

  const net: Check[] = [];
  const network = async (): Promise<void> => {
    const dns = await dnsCheck(t, budget);
    net.push(dns);
    if (dns.status === 'fail') {
      net.push(...['tcp connect', 'tls', 'v2 endpoint', 'login'].map((n) => skip(n, `${t.hostname} does not resolve`)));
      return;
    }
    const tcp = await tcpCheck(t, budget);
    net.push(tcp);
    if (tcp.status === 'fail') {
      net.push(...['tls', 'v2 endpoint', 'login'].map((n) => skip(n, `no TCP connection to ${t.hostname}:${t.port}`)));
      return;
    }
    const tl = await tlsChecks(t, budget, insecure);
    net.push(...tl.checks);
    if (!tl.usable) {
      net.push(...['v2 endpoint', 'login'].map((n) => skip(n, 'no working TLS connection')));
      return;
    }
    const route = routeOf(t, { plainHttp: tl.plainHttp, credentialsAllowed: tl.credentialsAllowed, ...(tl.credentialsRefused ? { credentialsRefused: tl.credentialsRefused } : {}), insecure, ...(o.hostsDirs ? { hostsDirs: o.hostsDirs } : {}) });
    const v2 = await v2Checks(t, route, budget);
    net.push(...v2.checks);
    const creds = await credentialsSource(server, o.dockerConfig ?? dockerConfigPath(), o.credentials);
    if (!creds.creds && creds.check.status === 'warn' && v2.answer?.status === 200) {
      creds.check = check('credentials', 'ok', `${creds.check.detail.replace(/: anonymous access only$/, '')}; the registry asks for none`);
    }
    net.push(creds.check);
    if (!v2.answer) {
      net.push(skip('login', 'no answer from /v2/'));
      return;
    }
    const input: AccessInput = { target: t, route, budget, clockBroken: v2.clockBroken, ...(v2.challenge ? { challenge: v2.challenge } : {}), ...(creds.creds ? { creds: creds.creds } : {}), ...(creds.who ? { who: creds.who } : {}) };
    const login = await credentialsCheck(input);
    net.push(login);
    if (o.repo) net.push(...(await permissionChecks(input, o.repo, login)));
  };
  const finished = await within(network().then(() => true), budget.left() + 1000, () => false);
  // A check still running when the time is up is abandoned: what it adds later is not reported.
  checks.push(...net.slice());
  if (!finished) {
    checks.push(check('time', 'fail', `the checks did not finish within ${seconds(totalMs)}: the ones after "${checks[checks.length - 1]?.name ?? 'start'}" did not run`, 'check the network and the registry (it may hang), or raise --timeout'));
  }
  if (!checks.some((c) => c.name === 'credentials')) {
    const creds = await within(
      credentialsSource(server, o.dockerConfig ?? dockerConfigPath(), o.credentials).catch(() => undefined),
      Math.max(budget.left(), 2000),
      () => undefined,
    );
    checks.push(creds ? creds.check : skip('credentials', 'the credential helper did not answer in time'));
  }
  const ctd = await containerdConfigChecks(t, o.containerdConfig);
  checks.push(...ctd.checks);
  checks.push(budget.expired() ? skip('containerd socket', `no time left within ${seconds(totalMs)}`) : await containerdSocketCheck(t, budget, o.containerdSocket, ctd.configPath));
  return { server, checks: [...checks] };
}
