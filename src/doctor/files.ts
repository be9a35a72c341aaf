/**
 * The `config files` check: which hosts.toml or certs.d directory applies to
 * SERVER (the same search ocictl's transport makes), parsed; a syntax error
 * names the file and line. It also decides the endpoint the other checks use.
 */
import path from 'node:path';
import { TomlError } from 'smol-toml';
import { OcictlError } from '../errors.js';
import { DOCKER_HUB, DOCKER_HUB_API } from '../reference/reference.js';
import { DEFAULT_HOSTS_DIRS, type HostEndpoint, loadHostSettings } from '../transport/hosts-dir.js';
import { type Check, check } from './check.js';

/** Where the checks connect to, and with which settings. */
export interface Target {
  /** SERVER as named (host[:port]). */
  server: string;
  /** Host to connect to (no brackets). */
  hostname: string;
  port: number;
  /** Scheme configured (hosts.toml `server = "http://..."` makes it http). */
  scheme: 'https' | 'http';
  /** Endpoint base, e.g. `https://h:5000/v2`. */
  base: string;
  /** Settings from hosts.toml / certs.d, when some apply. */
  endpoint?: HostEndpoint;
  /** Directory that holds (or would hold) SERVER's settings. */
  hostsDir: string;
  /** The hosts.toml in use, when there is one. */
  hostsToml?: string;
  /** Whether the files parsed. */
  filesOk: boolean;
}

export function defaultPort(scheme: 'https' | 'http'): number {
  return scheme === 'https' ? 443 : 80;
}

function targetFrom(server: string, ep: HostEndpoint | undefined, hostsDir: string, filesOk: boolean): Target {
  // Docker Hub's API lives on another name than the one in image references.
  const u = new URL(ep?.url ?? `https://${server === DOCKER_HUB ? DOCKER_HUB_API : server}/v2`);
  const scheme = u.protocol === 'http:' ? 'http' : 'https';
  const t: Target = {
    server,
    hostname: u.hostname.replace(/^\[|\]$/g, ''),
    port: Number(u.port || defaultPort(scheme)),
    scheme,
    base: `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`,
    hostsDir,
    filesOk,
  };
  if (ep) t.endpoint = ep;
  if (ep?.explicit) t.hostsToml = ep.source;
  return t;
}

export async function configFilesCheck(server: string, hostsDirs: string[] = DEFAULT_HOSTS_DIRS): Promise<{ check: Check; target: Target }> {
  const name = 'config files';
  try {
    const s = await loadHostSettings(server, hostsDirs);
    const ep = s.endpoints.find((e) => e.capabilities.includes('pull') || e.capabilities.includes('resolve'));
    if (!ep) {
      const t = targetFrom(server, undefined, s.dir, true);
      return { target: t, check: check(name, 'ok', `no hosts.toml or certs.d entry for ${server} in ${hostsDirs.join(', ')}: defaults (https://${server}, the system's CAs)`) };
    }
    const t = targetFrom(server, ep, ep.explicit ? path.dirname(ep.source) : ep.source, true);
    const what = [
      ...(ep.explicit ? [`server ${ep.url.replace(/\/v2$/, '')}`] : []),
      `${ep.ca.length} CA${ep.ca.length === 1 ? '' : 's'}${ep.explicit ? '' : ' (*.crt)'}`,
      ep.clientCert ? 'a client certificate' : 'no client certificate',
      ...(ep.skipVerify ? ['skip_verify = true'] : []),
    ].join(', ');
    const where = ep.explicit ? ep.source : `${ep.source} (certs.d style)`;
    if (ep.skipVerify) {
      return { target: t, check: check(name, 'warn', `${where}: ${what}: certificates are not verified`, `install the registry's CA instead: ocictl containerd registry add ${server} --ca ca.pem`) };
    }
    return { target: t, check: check(name, 'ok', `${where}: ${what}`) };
  } catch (e) {
    if (!(e instanceof OcictlError)) throw e;
    const file = /^(\/\S+?hosts\.toml)\b/.exec(e.message)?.[1];
    // A syntax error carries the TOML parser's error, with its line and column.
    const at = e.cause instanceof TomlError ? { line: e.cause.line, column: e.cause.column, message: e.cause.message.split('\n')[0] ?? 'syntax error' } : undefined;
    const t = targetFrom(server, undefined, file ? path.dirname(file) : path.join(hostsDirs[0] ?? DEFAULT_HOSTS_DIRS[0]!, server), false);
    if (file && at) {
      return {
        target: t,
        check: check(name, 'fail', `${file}:${at.line}:${at.column}: not valid TOML (${at.message}); ocictl refuses it and containerd ignores the whole file`, `correct line ${at.line} of ${file}, or write it again: ocictl containerd registry add ${server} --ca ca.pem`),
      };
    }
    return { target: t, check: check(name, 'fail', e.message, e.hint ?? `correct ${file ?? 'the file'}`) };
  }
}
