/**
 * The `containerd socket` check: containerd's own view of SERVER. Through
 * its API (the containerd client: introspection) whether the CRI plugin —
 * the one kubelet pulls through — loaded; through CRI's verbose status the
 * registry `config_path` it actually runs with; then whether that directory
 * holds the hosts.toml ocictl uses for SERVER, found the way containerd finds
 * it, and in a form containerd 1.6 accepts.
 */
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { parse } from 'smol-toml';
import { ContainerdClient } from '../containerd/client.js';
import { checkSocket, defaultAddress } from '../containerd/socket.js';
import { dirNames } from '../transport/hosts-dir.js';
import { type Budget, type Check, check, skip, within } from './check.js';
import type { Target } from './files.js';

const NAME = 'containerd socket';

/** CRI's running config (`info.config` of its verbose Status, through the client), or undefined when CRI does not answer. */
async function criConfig(client: ContainerdClient): Promise<Record<string, unknown> | undefined> {
  const cfg = (await client.criStatus())['config'];
  return cfg ? (JSON.parse(cfg) as Record<string, unknown>) : undefined;
}

/** The hosts.toml (or certs.d directory) containerd would use for `host` under one config_path directory. */
function containerdHostDir(root: string, host: string): string | undefined {
  for (const n of [...dirNames(host), '_default']) if (existsSync(path.join(root, n))) return path.join(root, n);
  return undefined;
}

export async function containerdSocketCheck(t: Target, budget: Budget, socket: string | undefined, fileConfigPath: string[] | undefined): Promise<Check> {
  const address = socket ?? defaultAddress();
  const sc = await checkSocket(address, Math.min(1000, budget.op()));
  if (sc.state === 'missing') return skip(NAME, `no containerd socket at ${sc.path} (containerd does not run here; --containerd-socket names another)`);
  if (sc.state === 'denied') return skip(NAME, `permission denied on ${sc.path}: run doctor as root to ask containerd`);
  if (sc.state !== 'ok') return skip(NAME, sc.error?.message ?? `${sc.path} does not answer`);
  const ms = budget.op(5000);
  const run = async (): Promise<Check> => {
    let client: ContainerdClient;
    try {
      client = await ContainerdClient.connect({ address, namespace: 'k8s.io', timeoutMs: ms });
    } catch (e) {
      return skip(NAME, (e as Error).message);
    }
    try {
      const v = await client.version();
      const plugins = await client.plugins();
      const cri = plugins.find((p) => p.type === 'io.containerd.grpc.v1' && p.id === 'cri');
      const who = `containerd ${v.version} at ${sc.path}`;
      if (!cri) return check(NAME, 'fail', `${who} has no CRI plugin: kubelet cannot pull or run anything through it`, 'remove "cri" from disabled_plugins in config.toml and restart containerd');
      if (cri.initErr) {
        return check(NAME, 'fail', `${who}: the CRI plugin failed to load: ${cri.initErr.split('\n')[0]}`, 'ocictl containerd lint --fix (it moves registry.mirrors/configs to hosts.toml), then restart containerd');
      }
      const cfg = await criConfig(client).catch(() => undefined);
      const reg = cfg?.registry as { configPath?: unknown } | undefined;
      if (!reg) return skip(NAME, `${who}: CRI loaded, but its status carries no registry config to compare`);
      const live = typeof reg.configPath === 'string' ? reg.configPath : '';
      const dirs = live.split(':').filter(Boolean);
      const stale = fileConfigPath && fileConfigPath.join(':') !== dirs.join(':') ? ` (the config file says "${fileConfigPath.join(':')}": restart containerd to apply it)` : '';
      const ocictlDir = t.endpoint ? (t.endpoint.explicit ? path.dirname(t.endpoint.source) : t.endpoint.source) : undefined;
      const theirs = dirs.map((d) => containerdHostDir(d, t.server)).find((x) => x !== undefined);
      if (dirs.length === 0) {
        if (!ocictlDir) return check(NAME, 'ok', `${who}: CRI runs without config_path, and ocictl has no hosts.toml for ${t.server} either: both use https://${t.server} and the system's CAs`);
        return check(NAME, 'fail', `${who}: CRI runs without config_path${stale}: it ignores ${t.endpoint!.source}, which ocictl uses`, `set config_path = "${path.dirname(ocictlDir)}" under [plugins."io.containerd.grpc.v1.cri".registry] and restart containerd`);
      }
      if (!ocictlDir && !theirs) return check(NAME, 'ok', `${who}: CRI's config_path "${live}" has no entry for ${t.server}, nor do ocictl's hosts dirs: both use defaults`);
      if (!ocictlDir) return check(NAME, 'warn', `${who} resolves ${t.server} with ${theirs}, which ocictl does not read${stale}`, `pass --hosts-dir ${path.dirname(theirs!)} (or OCICTL_HOSTS_DIR) to ocictl`);
      if (!theirs || path.resolve(theirs) !== path.resolve(ocictlDir)) {
        return check(NAME, 'fail', `${who}: CRI's config_path is "${live}"${stale}; ${theirs ? `containerd resolves ${t.server} with ${theirs}` : `it holds nothing for ${t.server}`}, ocictl with ${ocictlDir}`, `ocictl containerd registry add ${t.server} --ca ca.pem --hosts-dir ${dirs[0]}, or set config_path to "${path.dirname(ocictlDir)}"`);
      }
      if (t.endpoint?.explicit) {
        // containerd 1.6 ignores a hosts.toml without a [host."..."] table and falls back to its defaults.
        const doc = parse(await fsp.readFile(t.endpoint.source, 'utf8')) as Record<string, unknown>;
        if (!doc.host || typeof doc.host !== 'object' || Object.keys(doc.host).length === 0) {
          return check(NAME, 'fail', `${who} reads ${t.endpoint.source} but containerd 1.6 rejects it: no [host."..."] table ("invalid \`host\` tree"), so it falls back to its defaults`, `add [host."${t.endpoint.url.replace(/\/v2$/, '')}"] with capabilities and the same ca (ocictl containerd lint --fix does it)`);
        }
      }
      return check(NAME, 'ok', `${who}: CRI loaded with config_path "${live}"${stale}; containerd resolves ${t.server} with ${theirs}, as ocictl does`);
    } finally {
      client.close();
    }
  };
  return within(run(), budget.op(15_000), () => skip(NAME, `${sc.path} did not answer in time`));
}
