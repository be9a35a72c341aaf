/** Reachability: name resolution, then a TCP connection to host:port. */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { bracketHost } from '../transport/hosts-dir.js';
import { type Budget, type Check, check, seconds, within } from './check.js';
import type { Target } from './files.js';

export async function dnsCheck(t: Target, budget: Budget): Promise<Check> {
  const name = 'name resolution';
  if (net.isIP(t.hostname)) return check(name, 'ok', `${t.hostname} is an IP address`);
  const ms = budget.op(5000);
  const r = await within(
    lookup(t.hostname, { all: true }).then(
      (a) => ({ ok: true as const, addrs: a.map((x) => x.address) }),
      (e: NodeJS.ErrnoException) => ({ ok: false as const, code: e.code ?? e.message }),
    ),
    ms,
    () => ({ ok: false as const, code: `no answer within ${seconds(ms)}` }),
  );
  if (r.ok) return check(name, 'ok', `${t.hostname} → ${r.addrs.join(', ')}`);
  return check(name, 'fail', `cannot resolve ${t.hostname} (${r.code})`, `check the name and this machine's DNS (/etc/resolv.conf), or add "${t.hostname}" to /etc/hosts`);
}

export async function tcpCheck(t: Target, budget: Budget): Promise<Check> {
  const name = 'tcp connect';
  const hp = `${bracketHost(t.hostname)}:${t.port}`;
  const ms = budget.op(10_000);
  const started = Date.now();
  const r = await new Promise<{ ok: true } | { ok: false; why: string }>((resolve) => {
    const s = net.connect({ host: t.hostname, port: t.port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ ok: false, why: `timed out after ${seconds(ms)}` });
    }, ms);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve({ ok: true });
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ ok: false, why: e.code === 'ECONNREFUSED' ? 'connection refused' : e.code ?? e.message });
    });
  });
  if (r.ok) return check(name, 'ok', `connected to ${hp} in ${Date.now() - started} ms`);
  return check(
    name,
    'fail',
    `${hp}: ${r.why}`,
    r.why === 'connection refused'
      ? `start the registry or fix the port: nothing listens on ${hp} (check the address in the image name${t.hostsToml ? ` and \`server\` in ${t.hostsToml}` : ''})`
      : `check that ${hp} is reachable from this machine (firewall, proxy, routing)`,
  );
}
