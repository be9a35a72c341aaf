/**
 * The TLS checks, with Node's tls module directly: whether SERVER speaks TLS
 * at all (or plain HTTP), which CA source signs the certificate it presents
 * (hosts.toml `ca`, certs.d `ca.crt`, the system store, in turn), its names
 * against the one used, its expiry, and the client certificate hosts.toml
 * names. One handshake without verification gives the chain; each source is
 * then tried against it.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { fastRequest } from '../transport/fast-http.js';
import { isNotTls } from '../transport/errors.js';
import { bracketHost } from '../transport/hosts-dir.js';
import { type Budget, type Check, check, seconds, skip } from './check.js';
import type { Target } from './files.js';

export interface TlsOutcome {
  checks: Check[];
  /** The server answers plain HTTP (and ocictl may use it: --insecure-registry or hosts.toml http). */
  plainHttp: boolean;
  /** Whether the HTTP checks can go on at all. */
  usable: boolean;
  /** Whether credentials may be sent (verified TLS, or plain HTTP the user allowed). */
  credentialsAllowed: boolean;
  /** Why they may not, for the skip messages. */
  credentialsRefused?: string;
}

interface Handshake {
  chain: X509Certificate[];
  peer: tls.PeerCertificate;
  protocol: string;
  /** An error right after the handshake (TLS 1.3: a refused or missing client certificate shows here). */
  after?: NodeJS.ErrnoException;
}

/** A TLS alert about the client's certificate (42 bad certificate, 116 certificate required, ...). */
function clientCertAlert(e: NodeJS.ErrnoException | undefined): boolean {
  return !!e && /alert (bad certificate|certificate required|unknown ca|certificate unknown|handshake failure)|CERTIFICATE_REQUIRED/i.test(`${e.code ?? ''} ${e.message}`);
}

type HandshakeResult = { ok: true; h: Handshake } | { ok: false; error: NodeJS.ErrnoException; timedOut: boolean };

const UNTRUSTED = 'the certificate is not trusted: credentials are not sent to an unverified server';

function handshake(t: Target, ms: number, client?: { cert: string; key: string }): Promise<HandshakeResult> {
  return new Promise((resolve) => {
    const s = tls.connect({
      host: t.hostname,
      port: t.port,
      ...(net.isIP(t.hostname) ? {} : { servername: t.hostname }),
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
      ...(client ? { cert: client.cert, key: client.key } : {}),
    });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ ok: false, error: Object.assign(new Error(`no TLS handshake within ${seconds(ms)}`), { code: 'ETIMEDOUT' }), timedOut: true });
    }, ms);
    s.once('secureConnect', () => {
      clearTimeout(timer);
      const peer = s.getPeerCertificate(true);
      const chain: X509Certificate[] = [];
      const seen = new Set<string>();
      for (let c: tls.DetailedPeerCertificate | undefined = peer; c?.raw && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
        seen.add(c.fingerprint256);
        chain.push(new X509Certificate(c.raw));
      }
      const protocol = s.getProtocol() ?? 'TLS';
      // TLS 1.3: a server that wants a client certificate says so after the handshake; give it a moment.
      // A server that completes the handshake and then says nothing is not waited for long.
      const wait = setTimeout(() => done(), Math.min(1000, ms));
      const done = (): void => {
        clearTimeout(wait);
        s.destroy();
        resolve({ ok: true, h: { chain, peer, protocol } });
      };
      s.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(wait);
        s.destroy();
        resolve({ ok: true, h: { chain, peer, protocol, after: e } });
      });
      s.write(`HEAD /v2/ HTTP/1.1\r\nhost: ${bracketHost(t.hostname)}:${t.port}\r\nconnection: close\r\n\r\n`);
      s.once('data', done);
      s.once('end', done);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ ok: false, error: e, timedOut: false });
    });
  });
}

function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function parseAll(pems: readonly string[]): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const p of pems.flatMap(splitPem)) {
    try {
      out.push(new X509Certificate(p));
    } catch {
      // a certificate that does not parse signs nothing
    }
  }
  return out;
}

let systemStore: X509Certificate[] | undefined;
function systemCAs(): X509Certificate[] {
  if (!systemStore) {
    const pems = [...tls.rootCertificates];
    const extra = process.env.NODE_EXTRA_CA_CERTS;
    if (extra) {
      try {
        pems.push(readFileSync(extra, 'utf8'));
      } catch {
        // Node ignores a missing file too
      }
    }
    systemStore = parseAll(pems);
  }
  return systemStore;
}

/** Whether one of `cas` signs the chain presented (walking through the intermediates it holds). */
function signedBy(chain: readonly X509Certificate[], cas: readonly X509Certificate[]): X509Certificate | undefined {
  for (let i = 0; i < chain.length; i++) {
    const c = chain[i]!;
    for (const ca of cas) {
      if (c.checkIssued(ca) && c.verify(ca.publicKey)) return ca;
      if (c.fingerprint256 === ca.fingerprint256) return ca;
    }
    const next = chain[i + 1];
    if (!next || !c.checkIssued(next) || !c.verify(next.publicKey)) return undefined;
  }
  return undefined;
}

function cn(subject: string): string {
  return /(?:^|\n)CN=([^\n]*)/.exec(subject)?.[1] ?? subject.replace(/\n/g, ', ');
}

/** Plain-HTTP probe: does `GET /v2/` over http answer at all? */
async function answersPlainHttp(t: Target, budget: Budget): Promise<number | undefined> {
  try {
    const r = await fastRequest({ url: `http://${bracketHost(t.hostname)}:${t.port}/v2/`, headers: { 'user-agent': 'ocictl-doctor' }, tls: {}, timeoutMs: budget.op(5000), signal: budget.signal(5000) });
    await r.body.dump().catch(() => undefined);
    return r.status;
  } catch {
    return undefined;
  }
}

export async function tlsChecks(t: Target, budget: Budget, insecure: boolean): Promise<TlsOutcome> {
  const names = ['tls', 'tls chain', 'tls name', 'tls expiry', 'client certificate'];
  const skipRest = (why: string, from = 1): Check[] => names.slice(from).map((n) => skip(n, why));
  const hp = `${t.hostname}:${t.port}`;
  if (t.scheme === 'http') {
    return {
      checks: [check('tls', 'warn', `${t.hostsToml ?? 'hosts.toml'} sets plain HTTP for ${t.server} (server = "http://..."): traffic and credentials are not encrypted`, `serve the registry over HTTPS and set server = "https://${t.server}" with its ca in ${t.hostsToml ?? 'hosts.toml'}`), ...skipRest('plain HTTP: no certificate')],
      plainHttp: true,
      usable: true,
      credentialsAllowed: true,
    };
  }
  const ep = t.endpoint;
  const client = ep?.clientCert && ep.clientKey ? { cert: ep.clientCert, key: ep.clientKey } : undefined;
  const ms = budget.op(10_000);
  const r = await handshake(t, ms, client);
  if (!r.ok) {
    if (r.timedOut) {
      return {
        checks: [check('tls', 'fail', `${hp} accepted the connection but finished no TLS handshake within ${seconds(ms)}`, `the registry (or a proxy in front of it) hangs: restart it and check its logs; if it serves plain HTTP, pass --insecure-registry`), ...skipRest('the TLS handshake did not finish')],
        plainHttp: false,
        usable: false,
        credentialsAllowed: false,
      };
    }
    if (isNotTls(r.error) || r.error.code === 'ECONNRESET') {
      const status = await answersPlainHttp(t, budget);
      if (status !== undefined) {
        const fixText = `pass --insecure-registry (ocictl ... --insecure-registry), or write ${t.hostsDir}/hosts.toml with server = "http://${t.server}" and [host."http://${t.server}"] (containerd reads it too); better, serve TLS`;
        if (insecure) {
          return {
            checks: [check('tls', 'warn', `${t.server} speaks plain HTTP, not TLS (HTTP ${status} on /v2/); --insecure-registry allows it, and credentials go unencrypted`, fixText), ...skipRest('plain HTTP: no certificate')],
            plainHttp: true,
            usable: true,
            credentialsAllowed: true,
          };
        }
        return {
          checks: [check('tls', 'fail', `${t.server} speaks plain HTTP, not TLS (HTTP ${status} on http://${hp}/v2/)`, fixText), ...skipRest('plain HTTP: no certificate')],
          plainHttp: true,
          usable: true,
          credentialsAllowed: false,
          credentialsRefused: 'plain HTTP without --insecure-registry: credentials are not sent',
        };
      }
    }
    if (clientCertAlert(r.error)) {
      return {
        checks: [check('tls', 'fail', `TLS handshake with ${hp} failed: ${alertText(r.error)}: ${client ? `the server refused the client certificate from ${t.endpoint?.source}` : `the server wants a client certificate and ${t.hostsToml ?? t.hostsDir} names none`}`, clientFix(t, !!client)), ...skipRest('the TLS handshake failed')],
        plainHttp: false,
        usable: false,
        credentialsAllowed: false,
      };
    }
    return {
      checks: [
        check('tls', 'fail', `TLS handshake with ${hp} failed: ${alertText(r.error)}`, `check the registry's TLS set-up (openssl s_client -connect ${hp})`),
        ...skipRest('the TLS handshake failed'),
      ],
      plainHttp: false,
      usable: false,
      credentialsAllowed: false,
    };
  }
  const { chain, peer, protocol } = r.h;
  const leaf = chain[0];
  const out: Check[] = [check('tls', 'ok', `${hp} speaks ${protocol}${leaf ? `; certificate CN=${cn(leaf.subject)}, issued by CN=${cn(leaf.issuer)}` : ''}`)];
  if (!leaf) {
    return { checks: [check('tls', 'fail', `${hp} sent no certificate`, 'configure the registry with a certificate'), ...skipRest('no certificate', 1)], plainHttp: false, usable: false, credentialsAllowed: false };
  }
  // chain: hosts.toml / certs.d CAs, then the system store
  const sources: { name: string; cas: X509Certificate[] }[] = [];
  if (ep?.ca.length) sources.push({ name: ep.explicit ? `${ep.source} ca` : `${ep.source}/*.crt (certs.d)`, cas: parseAll(ep.ca) });
  sources.push({ name: 'the system store', cas: systemCAs() });
  // The first source holding a CA that signs the chain, and that CA.
  let verifiedBy: { name: string; ca: X509Certificate } | undefined;
  for (const src of sources) {
    const ca = signedBy(chain, src.cas);
    if (ca) {
      verifiedBy = { name: src.name, ca };
      break;
    }
  }
  const skipVerify = insecure || ep?.skipVerify === true;
  let trusted = false;
  if (verifiedBy) {
    trusted = true;
    out.push(check('tls chain', 'ok', `signed by CN=${cn(verifiedBy.ca.subject)}, found in ${verifiedBy.name}`));
  } else {
    const tried = sources.map((s) => s.name).join(', ');
    const detail = `x509: certificate signed by unknown authority: CN=${cn(leaf.issuer)} (issuer of ${hp}'s certificate) is in none of: ${tried}`;
    const fix = `get the registry's CA certificate (Harbor: Administration → Configuration → System Settings → Registry Root Certificate) and run: ocictl containerd registry add ${t.server} --ca ca.pem (writes ${t.hostsDir}/hosts.toml + ca.crt)`;
    out.push(skipVerify ? check('tls chain', 'warn', `${detail}; not verified (${insecure ? '--insecure-registry' : 'skip_verify'})`, fix) : check('tls chain', 'fail', detail, fix));
  }
  // name
  const idErr = tls.checkServerIdentity(t.hostname, peer);
  const sans = leaf.subjectAltName ?? '(no subjectAltName)';
  let nameOk = true;
  if (idErr) {
    nameOk = false;
    const d = `the certificate is for ${sans.replace(/IP Address:/g, 'IP:')}, not ${t.hostname}`;
    const f = `reissue the registry certificate with subjectAltName ${net.isIP(t.hostname) ? 'IP' : 'DNS'}:${t.hostname}, or use a name it holds (${sans.replace(/IP Address:|DNS:/g, '')})`;
    out.push(skipVerify ? check('tls name', 'warn', `${d}; not verified (${insecure ? '--insecure-registry' : 'skip_verify'})`, f) : check('tls name', 'fail', d, f));
  } else out.push(check('tls name', 'ok', `${t.hostname} matches ${sans.replace(/IP Address:/g, 'IP:')}`));
  // expiry
  const now = Date.now();
  const to = Date.parse(leaf.validTo);
  const from = Date.parse(leaf.validFrom);
  const days = Math.floor((to - now) / 86_400_000);
  let timeOk = true;
  const renew = `renew the registry certificate (its CA must sign the new one; ${t.hostsDir}/ca.crt stays)`;
  if (to < now) {
    timeOk = false;
    const ago = Math.floor((now - to) / 86_400_000);
    const when = ago === 0 ? 'today' : `${ago} day${ago === 1 ? '' : 's'} ago`;
    out.push(skipVerify ? check('tls expiry', 'warn', `expired on ${leaf.validTo}; not verified`, renew) : check('tls expiry', 'fail', `the certificate of ${hp} expired on ${leaf.validTo} (${when})`, renew));
  } else if (from > now) {
    timeOk = false;
    out.push(check('tls expiry', 'fail', `the certificate of ${hp} is not valid before ${leaf.validFrom} (this machine's clock or the certificate is wrong)`, 'check this machine\'s clock (timedatectl), then the certificate'));
  } else if (days < 14) {
    out.push(check('tls expiry', 'warn', `expires in ${days} day${days === 1 ? '' : 's'} (${leaf.validTo})`, renew));
  } else out.push(check('tls expiry', 'ok', `valid until ${leaf.validTo} (${days} days)`));
  // client certificate
  const refused = clientCertAlert(r.h.after);
  if (refused) {
    out.push(
      client
        ? check('client certificate', 'fail', `the server refused the client certificate from ${t.endpoint?.source} (${alertText(r.h.after!)})`, clientFix(t, true))
        : check('client certificate', 'fail', `the server demands a client certificate (${alertText(r.h.after!)}) and ${t.hostsToml ?? `${t.hostsDir}`} names none`, clientFix(t, false)),
    );
  } else out.push(await clientCertCheck(t, budget, client));
  const ok = (trusted && nameOk && timeOk) || skipVerify;
  const out2: TlsOutcome = { checks: out, plainHttp: false, usable: !refused, credentialsAllowed: ok && !refused };
  if (!ok) out2.credentialsRefused = UNTRUSTED;
  return out2;
}

function alertText(e: NodeJS.ErrnoException): string {
  const alert = /alert ([a-z ]+?)(?::|$)/i.exec(e.message)?.[1];
  return alert ? `TLS alert "${alert}"` : (e.message.split('\n')[0] ?? String(e.code));
}

function clientFix(t: Target, have: boolean): string {
  const file = t.hostsToml ?? `${t.hostsDir}/hosts.toml`;
  return have
    ? `use a client certificate signed by the CA the registry trusts for clients, in ${file} (client = [["client.cert", "client.key"]])`
    : `add client = [["${t.hostsDir}/client.cert", "${t.hostsDir}/client.key"]] to ${file} (top level and under [host."https://${t.server}"]), or put client.cert + client.key in ${t.hostsDir}`;
}

async function clientCertCheck(t: Target, budget: Budget, client: { cert: string; key: string } | undefined): Promise<Check> {
  const name = 'client certificate';
  if (!client) return check(name, 'ok', `none configured${t.hostsToml ? ` in ${t.hostsToml}` : ''}, and the server did not demand one`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(client.cert);
    if (!cert.checkPrivateKey(createPrivateKey(client.key))) {
      return check(name, 'fail', `the client key in ${t.endpoint?.source} is not the key of its certificate`, 'pair the client certificate with its own key in hosts.toml (client = [cert, key])');
    }
  } catch (e) {
    return check(name, 'fail', `the client certificate or key in ${t.endpoint?.source} does not parse: ${(e as Error).message}`, 'use PEM files: client = ["client.cert", "client.key"]');
  }
  if (Date.parse(cert.validTo) < Date.now()) return check(name, 'fail', `the client certificate CN=${cn(cert.subject)} expired on ${cert.validTo}`, 'issue a new client certificate');
  const without = await handshake(t, budget.op(5000));
  const asked = !without.ok && !without.timedOut;
  return check(name, 'ok', `CN=${cn(cert.subject)} from ${t.endpoint?.source}, valid until ${cert.validTo}; the server ${asked ? 'requires it (a handshake without it failed)' : 'does not require it'}`);
}
