// `ocictl doctor` against real servers on 127.0.0.1, each set up broken in one way: the Harbor-like front
// (token service, users, a user with pull but no push, a project that does not exist), docker-registry with
// broken certificates (unknown CA, SAN for another name, expired), a plain-HTTP registry, a token realm on a
// closed port, a front whose Date is 15 minutes ahead, a malformed hosts.toml, a containerd config with mirrors
// and no config_path, a closed port and a server that accepts and never answers. Each run is the CLI as a
// process: exit 1, and the failing check names the cause and its fix; a healthy Harbor with its CA exits 0.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import { readFileSync } from 'node:fs';
import { startHarbor, type RunningHarbor } from '../fixtures/harbor.js';
import { makePki } from '../fixtures/pki.js';
import { freePort } from '../fixtures/proc.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { credentialHelperEnv } from '../fixtures/credhelper.js';
import { startContainerdStore } from '../fixtures/containerd/daemon.js';
import { sandbox, type Sandbox } from './lib/cli.js';
import { doctor } from '../src/index.js';

interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail' | 'skip';
  detail: string;
  fix?: string;
}
interface Report {
  server: string;
  checks: Check[];
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

let sb: Sandbox;
let h: RunningHarbor;
const stops: (() => Promise<void>)[] = [];
/** Every secret a test put anywhere: no doctor output may hold one. */
const secrets: string[] = [];

async function hostsDir(name: string, trust: Record<string, string> = {}): Promise<string> {
  const d = path.join(sb.dir, `hosts-${name}`);
  await mkdir(d, { recursive: true });
  for (const [host, ca] of Object.entries(trust)) {
    await mkdir(path.join(d, host), { recursive: true });
    await copyFile(ca, path.join(d, host, 'ca.crt'));
  }
  return d;
}

async function dockerConfig(name: string, config: unknown): Promise<string> {
  const d = path.join(sb.dir, `docker-${name}`);
  await mkdir(d, { recursive: true, mode: 0o700 });
  await writeFile(path.join(d, 'config.json'), JSON.stringify(config, null, '\t'), { mode: 0o600 });
  return d;
}

async function runDoctor(args: string[], o: { config?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; report: Report; stdout: string; stderr: string; ms: number }> {
  // Unless the test gives one: a containerd config whose config_path is the hosts dir in use (a sound node).
  const ctd: string[] = [];
  if (!args.includes('--containerd-config')) {
    const hd = args[args.indexOf('--hosts-dir') + 1]!;
    const file = `${hd}.containerd.toml`;
    await writeFile(file, `version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "${hd}"\n`);
    ctd.push('--containerd-config', file);
  }
  const t0 = Date.now();
  const r = await sb.ocictl(['doctor', '--format', 'json', ...ctd, ...args], {
    env: { ...(o.config ? { DOCKER_CONFIG: o.config } : {}), ...o.env },
  });
  const ms = Date.now() - t0;
  for (const s of secrets) assert.ok(!`${r.stdout}${r.stderr}`.includes(s), `doctor ${args.join(' ')}: a secret in the output`);
  assert.doesNotMatch(`${r.stdout}${r.stderr}`, /eyJ[A-Za-z0-9_-]{8,}\.eyJ/, 'a token in the output');
  let report: Report;
  try {
    report = JSON.parse(r.stdout) as Report;
  } catch {
    assert.fail(`stdout is not one JSON document: ${r.stdout.slice(0, 300)} / ${r.stderr}`);
  }
  assert.deepEqual(Object.keys(report), ['server', 'checks']);
  for (const c of report.checks) {
    assert.ok(['ok', 'warn', 'fail', 'skip'].includes(c.status), `${c.name}: status ${c.status}`);
    assert.ok(c.detail.length > 0 && !c.detail.includes('\n'), `${c.name}: one-line detail`);
    if (c.status === 'warn' || c.status === 'fail') assert.ok(c.fix && c.fix.length > 0, `${c.name} (${c.status}) has a fix`);
  }
  return { code: r.code, report, stdout: r.stdout, stderr: r.stderr, ms };
}

function get(r: Report, name: string): Check {
  const c = r.checks.find((x) => x.name === name);
  assert.ok(c, `no check "${name}" in ${r.checks.map((x) => x.name).join(', ')}`);
  return c;
}

function failing(r: Report): string[] {
  return r.checks.filter((c) => c.status === 'fail').map((c) => c.name);
}

before(async () => {
  sb = await sandbox('ocitest-doctor-');
  h = await startHarbor();
  stops.push(() => h.stop());
  for (const [u, p] of Object.entries(h.users)) secrets.push(p, b64(`${u}:${p}`));
});

after(async () => {
  for (const s of stops.reverse()) await s().catch(() => undefined);
  await sb.cleanup();
});

describe('doctor against the Harbor-like front', () => {
  let trusted: string;
  before(async () => {
    trusted = await hostsDir('trusted', { [h.host]: h.pki.caCert });
  });

  async function loginConfig(user: string, env?: NodeJS.ProcessEnv, config: unknown = {}): Promise<string> {
    const d = await dockerConfig(`login-${user.replace(/[^a-z]/gi, '')}-${Math.random().toString(36).slice(2, 7)}`, config);
    const r = await sb.ocictl(['--hosts-dir', trusted, 'login', '-u', user, '--password-stdin', h.host], { input: `${h.users[user]}\n`, env: { DOCKER_CONFIG: d, ...env } });
    assert.equal(r.code, 0, r.stderr);
    return d;
  }

  test('healthy: CA installed, admin logged in, containerd config_path pointing at the hosts dir: exit 0', async () => {
    const cfg = await loginConfig('admin');
    const ctd = path.join(sb.dir, 'containerd-ok.toml');
    await writeFile(ctd, `version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "${trusted}"\n`);
    const r = await runDoctor(['--hosts-dir', trusted, h.host, '--repo', 'lidabai/busybox', '--containerd-config', ctd], { config: cfg });
    assert.equal(r.code, 0, JSON.stringify(r.report, null, 1));
    assert.equal(r.report.server, h.host);
    assert.deepEqual(failing(r.report), []);
    for (const n of ['config files', 'tcp connect', 'tls', 'tls chain', 'tls name', 'tls expiry', 'clock', 'v2 challenge', 'token realm', 'credentials', 'login', 'pull permission', 'push permission', 'containerd config_path', 'containerd registry', 'containerd credentials']) {
      assert.equal(get(r.report, n).status, 'ok', `${n}: ${get(r.report, n).detail}`);
    }
    assert.match(get(r.report, 'tls chain').detail, new RegExp(`${h.host}/\\*\\.crt \\(certs\\.d\\)`));
    assert.match(get(r.report, 'v2 challenge').detail, /^Bearer realm=".*\/service\/token" service="harbor-registry"/);
    assert.match(get(r.report, 'credentials').detail, /user admin, from .*config\.json/);
    assert.match(get(r.report, 'push permission').detail, /empty upload session was opened/);
    assert.equal(get(r.report, 'containerd socket').status, 'skip');
  });

  test('a robot account through the credential helper: robot$ name shown as it is, pull and push ok', async () => {
    const env = credentialHelperEnv(path.join(sb.dir, 'helper-creds.json'));
    const cfg = await loginConfig(h.robot, env, { credsStore: 'ocitest' });
    const r = await runDoctor(['--hosts-dir', trusted, h.host, '--repo', 'lidabai/ci'], { config: cfg, env });
    assert.equal(r.code, 0, JSON.stringify(r.report, null, 1));
    assert.match(get(r.report, 'credentials').detail, /user robot\$lidabai\+ci, from docker-credential-ocitest \(credsStore in .*config\.json\)$/);
    assert.match(get(r.report, 'push permission').detail, /^user robot\$lidabai\+ci may push lidabai\/ci/);
  });

  test('a user with pull but no push: push permission fails with the role to give', async () => {
    const cfg = await loginConfig('dev');
    const r = await runDoctor(['--hosts-dir', trusted, h.host, '--repo', 'lidabai/busybox'], { config: cfg });
    assert.equal(r.code, 1);
    assert.deepEqual(failing(r.report), ['push permission']);
    assert.equal(get(r.report, 'pull permission').status, 'ok');
    const c = get(r.report, 'push permission');
    assert.match(c.detail, /user dev may pull but not push lidabai\/busybox/);
    assert.match(c.detail, /the token grants pull on lidabai\/busybox/);
    assert.match(c.fix!, /Developer .*role in project lidabai/);
  });

  test('a project that does not exist is told apart from no permission', async () => {
    const cfg = await loginConfig('admin');
    const r = await runDoctor(['--hosts-dir', trusted, h.host, '--repo', 'nosuchproject/app'], { config: cfg });
    assert.equal(r.code, 1);
    assert.deepEqual(failing(r.report), ['pull permission']);
    assert.match(get(r.report, 'pull permission').detail, /project nosuchproject does not exist/);
    assert.match(get(r.report, 'pull permission').fix!, /New Project/);
    assert.equal(get(r.report, 'push permission').status, 'skip');
    assert.match(get(r.report, 'push permission').detail, /does not exist/);
  });

  test('a wrong password: login fails with the user name and `ocictl login` as the fix', async () => {
    const cfg = await dockerConfig('wrong', { auths: { [h.host]: { auth: b64('admin:not-the-password') } } });
    secrets.push('not-the-password');
    const r = await runDoctor(['--hosts-dir', trusted, h.host, '--repo', 'lidabai/busybox'], { config: cfg });
    assert.equal(r.code, 1);
    assert.equal(get(r.report, 'login').status, 'fail');
    assert.match(get(r.report, 'login').detail, /user admin was refused \(401\)/);
    assert.equal(get(r.report, 'login').fix, `ocictl login ${h.host} -u 'admin'`);
    assert.equal(get(r.report, 'pull permission').status, 'skip');
  });

  test('the CA is not installed: x509 unknown authority, the fix installs it; credentials are not sent', async () => {
    const cfg = await loginConfig('admin');
    const empty = await hostsDir('empty');
    const r = await runDoctor(['--hosts-dir', empty, h.host], { config: cfg });
    assert.equal(r.code, 1);
    assert.deepEqual(failing(r.report), ['tls chain']);
    const c = get(r.report, 'tls chain');
    assert.match(c.detail, /certificate signed by unknown authority: CN=ocitest CA \w+ .* the system store/);
    assert.match(c.fix!, new RegExp(`ocictl containerd registry add ${h.host} --ca ca\\.pem`));
    assert.equal(get(r.report, 'login').status, 'skip');
    assert.match(get(r.report, 'login').detail, /not trusted/);
    assert.equal(get(r.report, 'v2 challenge').status, 'ok', 'anonymous checks still run');
  });

  test('a malformed hosts.toml: the file and line, and exit 1', async () => {
    const d = await hostsDir('malformed');
    await mkdir(path.join(d, h.host), { recursive: true });
    const file = path.join(d, h.host, 'hosts.toml');
    await writeFile(file, `server = "https://${h.host}"\n\n[host."https://${h.host}"\n  capabilities = ["pull"]\n`);
    const r = await runDoctor(['--hosts-dir', d, h.host], {});
    assert.equal(r.code, 1);
    const c = get(r.report, 'config files');
    assert.equal(c.status, 'fail');
    assert.match(c.detail, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:\\d+: not valid TOML`));
    assert.match(c.fix!, /correct line 3 of/);
  });

  test('a front whose Date is 15 minutes ahead: clock fails and says by how much', async () => {
    const port = await freePort();
    const ca = readFileSync(h.pki.caCert);
    const proxy = https.createServer({ key: readFileSync(h.pki.serverKey), cert: readFileSync(h.pki.serverCert) }, (req, res) => {
      const up = https.request({ host: '127.0.0.1', port: h.port, method: req.method, path: req.url, headers: req.headers, ca }, (ur) => {
        const headers = { ...ur.headers, date: new Date(Date.now() + 15 * 60_000).toUTCString() };
        res.writeHead(ur.statusCode ?? 502, headers);
        ur.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
    stops.push(() => new Promise<void>((resolve) => { proxy.closeAllConnections(); proxy.close(() => resolve()); }));
    const host = `127.0.0.1:${port}`;
    const d = await hostsDir('skew', { [host]: h.pki.caCert, [h.host]: h.pki.caCert });
    const r = await runDoctor(['--hosts-dir', d, host], {});
    assert.equal(r.code, 1);
    assert.deepEqual(failing(r.report), ['clock']);
    const c = get(r.report, 'clock');
    assert.match(c.detail, /is 1[45] min \d+ s ahead of this machine/);
    assert.match(c.fix!, /timedatectl set-ntp true/);
  });

  test('containerd config with mirrors for the server and no config_path; a plaintext password', async () => {
    const ctd = path.join(sb.dir, 'containerd-mirrors.toml');
    secrets.push('Harbor12345');
    await writeFile(
      ctd,
      [
        'version = 2',
        '[plugins."io.containerd.grpc.v1.cri".registry.mirrors."' + h.host + '"]',
        `  endpoint = ["https://${h.host}"]`,
        '[plugins."io.containerd.grpc.v1.cri".registry.configs."' + h.host + '".auth]',
        '  username = "admin"',
        '  password = "Harbor12345"',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const r = await runDoctor(['--hosts-dir', trusted, h.host, '--containerd-config', ctd], {});
    assert.equal(r.code, 1);
    assert.deepEqual(failing(r.report), ['containerd config_path', 'containerd credentials']);
    assert.match(get(r.report, 'containerd config_path').detail, /config_path is not set in .*containerd-mirrors\.toml: containerd's CRI plugin \(kubelet's pulls\) ignores hosts\.toml/);
    assert.match(get(r.report, 'containerd config_path').fix!, /add config_path = "\/etc\/containerd\/certs\.d" under \[plugins\."io\.containerd\.grpc\.v1\.cri"\.registry\]/);
    assert.equal(get(r.report, 'containerd registry').status, 'warn');
    assert.match(get(r.report, 'containerd registry').detail, /containerd-mirrors\.toml:2: registry\.mirrors\."127\.0\.0\.1:\d+" is deprecated/);
    assert.match(get(r.report, 'containerd credentials').detail, /:6: password for a registry in plain text/);
    assert.match(get(r.report, 'containerd credentials').fix!, new RegExp(`ocictl pull-secret ${h.host} --name harbor-pull \\| kubectl apply -f -`));
  });
});

describe('doctor against broken registries', () => {
  test('a certificate for another name: the SAN and the name used', async () => {
    const pki = await makePki(path.join(sb.dir, 'pki-other'), { hosts: ['other.example'] });
    const reg: RunningRegistry = await startRegistry({ tls: pki, brokenTls: true });
    stops.push(() => reg.stop());
    const d = await hostsDir('other', { [reg.host]: pki.caCert });
    const r = await runDoctor(['--hosts-dir', d, reg.host]);
    assert.equal(r.code, 1);
    assert.deepEqual(failing(r.report), ['tls name']);
    assert.match(get(r.report, 'tls name').detail, /the certificate is for DNS:other\.example, not 127\.0\.0\.1/);
    assert.match(get(r.report, 'tls name').fix!, /subjectAltName IP:127\.0\.0\.1/);
    assert.equal(get(r.report, 'tls chain').status, 'ok');
  });

  test('an expired certificate: when it expired, and renew it', async () => {
    const pki = await makePki(path.join(sb.dir, 'pki-expired'), { expiredServer: true });
    const reg = await startRegistry({ tls: pki, brokenTls: true });
    stops.push(() => reg.stop());
    const d = await hostsDir('expired', { [reg.host]: pki.caCert });
    const r = await runDoctor(['--hosts-dir', d, reg.host]);
    assert.equal(r.code, 1);
    assert.deepEqual(failing(r.report), ['tls expiry']);
    assert.match(get(r.report, 'tls expiry').detail, /expired on .* \(1 day ago\)/);
    assert.match(get(r.report, 'tls expiry').fix!, /renew the registry certificate/);
    assert.equal(get(r.report, 'tls chain').status, 'ok', 'the CA still signs it');
  });

  test('a plain-HTTP registry: say so, name --insecure-registry and hosts.toml; with the flag only a warning', async () => {
    const reg = await startRegistry({});
    stops.push(() => reg.stop());
    const d = await hostsDir('plain');
    const r = await runDoctor(['--hosts-dir', d, reg.host]);
    assert.equal(r.code, 1);
    assert.deepEqual(failing(r.report), ['tls']);
    assert.match(get(r.report, 'tls').detail, /speaks plain HTTP, not TLS/);
    assert.match(get(r.report, 'tls').fix!, /--insecure-registry/);
    assert.match(get(r.report, 'tls').fix!, new RegExp(`server = "http://${reg.host}"`));
    const ok = await runDoctor(['--hosts-dir', d, '--insecure-registry', reg.host]);
    assert.equal(ok.code, 0, JSON.stringify(ok.report, null, 1));
    assert.equal(get(ok.report, 'tls').status, 'warn');
    assert.equal(get(ok.report, 'v2 challenge').status, 'ok');
  });

  test('a token realm on a closed port: the realm URL', async () => {
    const closed = await freePort();
    const pki = await makePki(path.join(sb.dir, 'pki-realm'));
    const realm = `https://127.0.0.1:${closed}/service/token`;
    const reg = await startRegistry({ tls: pki, token: { realm, service: 'harbor-registry', issuer: 'x', rootCertBundle: pki.caCert } });
    stops.push(() => reg.stop());
    const d = await hostsDir('realm', { [reg.host]: pki.caCert });
    const r = await runDoctor(['--hosts-dir', d, reg.host]);
    assert.equal(r.code, 1);
    assert.deepEqual(failing(r.report), ['token realm']);
    assert.match(get(r.report, 'token realm').detail, new RegExp(`the token service ${realm.replace(/[.?]/g, '\\$&')} is unreachable: connection refused`));
    assert.match(get(r.report, 'token realm').fix!, /external_url/);
  });

  test('a closed port: host:port and connection refused; the network checks after it are skipped', async () => {
    const port = await freePort();
    const r = await runDoctor(['--hosts-dir', await hostsDir('closed'), `127.0.0.1:${port}`]);
    assert.equal(r.code, 1);
    assert.deepEqual(failing(r.report), ['tcp connect']);
    assert.equal(get(r.report, 'tcp connect').detail, `127.0.0.1:${port}: connection refused`);
    assert.match(get(r.report, 'tcp connect').fix!, new RegExp(`nothing listens on 127\\.0\\.0\\.1:${port}`));
    assert.equal(get(r.report, 'tls').status, 'skip');
    assert.match(get(r.report, 'tls').detail, /no TCP connection/);
  });

  test('a server that accepts and never answers: done within --timeout, the TLS check names the hang', async () => {
    const sockets = new Set<net.Socket>();
    const hang = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    const port = await freePort();
    await new Promise<void>((resolve) => hang.listen(port, '127.0.0.1', resolve));
    stops.push(() => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); hang.close(() => resolve()); }));
    const r = await runDoctor(['--hosts-dir', await hostsDir('hang'), '--timeout', '3', `127.0.0.1:${port}`]);
    assert.equal(r.code, 1);
    assert.ok(r.ms < 3000 + 2500, `took ${r.ms} ms with --timeout 3`);
    assert.deepEqual(failing(r.report), ['tls']);
    assert.match(get(r.report, 'tls').detail, /accepted the connection but finished no TLS handshake within 2\.\d s/);
  });

  test('a TLS server that completes the handshake and never answers HTTP: done within --timeout, v2 endpoint names it', async () => {
    const pki = await makePki(path.join(sb.dir, 'pki-mute'));
    const sockets = new Set<net.Socket>();
    const mute = https.createServer({ key: readFileSync(pki.serverKey), cert: readFileSync(pki.serverCert) }, () => undefined);
    mute.on('secureConnection', (s) => sockets.add(s));
    const port = await freePort();
    await new Promise<void>((resolve) => mute.listen(port, '127.0.0.1', resolve));
    stops.push(() => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); mute.close(() => resolve()); }));
    const d = await hostsDir('mute', { [`127.0.0.1:${port}`]: pki.caCert });
    const r = await runDoctor(['--hosts-dir', d, '--timeout', '4', `127.0.0.1:${port}`]);
    assert.equal(r.code, 1);
    assert.ok(r.ms < 4000 + 2500, `took ${r.ms} ms with --timeout 4`);
    assert.equal(get(r.report, 'tls chain').status, 'ok');
    assert.ok(failing(r.report).includes('v2 endpoint'), JSON.stringify(r.report.checks));
    assert.match(get(r.report, 'v2 endpoint').detail, /no answer to GET https:\/\/127\.0\.0\.1:\d+\/v2\/ before the time ran out/);
  });

  test('bad usage exits 2; the library returns the same report shape', async () => {
    const r = await sb.ocictl(['doctor', '127.0.0.1:1', '--repo', 'Not A Repo']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^ocictl: --repo "Not A Repo" is not a repository name/);
    const lib = await doctor('127.0.0.1:1', { hostsDirs: [await hostsDir('lib')], containerdConfig: path.join(sb.dir, 'none.toml'), timeoutMs: 5000 });
    assert.equal(lib.server, '127.0.0.1:1');
    assert.equal(lib.checks.find((c) => c.name === 'tcp connect')?.status, 'fail');
  });
});

describe('doctor and client certificates', () => {
  test('hosts.toml names a client certificate the server requires: ok; without it: the fix names client = [...]', async () => {
    const pki = await makePki(path.join(sb.dir, 'pki-mtls'));
    const reg = await startRegistry({ tls: pki, clientCA: pki.caCert });
    stops.push(() => reg.stop());
    const hostsToml = (client: boolean): string => {
      const c = client ? `client = [["${pki.clientCert}", "${pki.clientKey}"]]\n` : '';
      return `server = "https://${reg.host}"\nca = "${pki.caCert}"\n${c}\n[host."https://${reg.host}"]\n  capabilities = ["pull", "resolve", "push"]\n  ca = "${pki.caCert}"\n  ${c}`;
    };
    const withCert = await hostsDir('mtls-with');
    await mkdir(path.join(withCert, reg.host), { recursive: true });
    await writeFile(path.join(withCert, reg.host, 'hosts.toml'), hostsToml(true));
    const ok = await runDoctor(['--hosts-dir', withCert, reg.host]);
    assert.equal(ok.code, 0, JSON.stringify(ok.report, null, 1));
    assert.match(get(ok.report, 'config files').detail, /a client certificate/);
    assert.match(get(ok.report, 'client certificate').detail, /^CN=ocitest-client from .*hosts\.toml, valid until .*; the server requires it/);
    const without = await hostsDir('mtls-without');
    await mkdir(path.join(without, reg.host), { recursive: true });
    await writeFile(path.join(without, reg.host, 'hosts.toml'), hostsToml(false));
    const r = await runDoctor(['--hosts-dir', without, reg.host]);
    assert.equal(r.code, 1);
    assert.deepEqual(failing(r.report), ['tls']);
    assert.match(get(r.report, 'tls').detail, /the server wants a client certificate and .*hosts\.toml names none/);
    assert.match(get(r.report, 'tls').fix!, /client = \[\[".*client\.cert", ".*client\.key"\]\]/);
  });
});

describe("doctor and containerd's socket", () => {
  test('containerd runs CRI with config_path holding the hosts.toml ocictl uses: ok; CRI refused to load: fail with its error', async () => {
    const d = await hostsDir('ctd', { [h.host]: h.pki.caCert });
    const good = await startContainerdStore(path.join(sb.dir, 'ctd-good'), { extraToml: `[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "${d}"` });
    stops.push(() => good.stop());
    const r = await runDoctor(['--hosts-dir', d, h.host, '--containerd-socket', good.socket]);
    assert.equal(r.code, 0, JSON.stringify(r.report, null, 1));
    const c = get(r.report, 'containerd socket');
    assert.equal(c.status, 'ok');
    assert.match(c.detail, new RegExp(`^containerd 1\\.\\S+ at .*: CRI loaded with config_path "${d}"; containerd resolves ${h.host} with ${d}/${h.host}, as ocictl does$`));
    await good.stop();

    const bad = await startContainerdStore(path.join(sb.dir, 'ctd-bad'), {
      extraToml: `[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "${d}"\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\n  endpoint = ["https://mirror.example"]`,
    });
    stops.push(() => bad.stop());
    const r2 = await runDoctor(['--hosts-dir', d, h.host, '--containerd-socket', bad.socket]);
    assert.equal(r2.code, 1);
    assert.deepEqual(failing(r2.report), ['containerd socket']);
    assert.match(get(r2.report, 'containerd socket').detail, /the CRI plugin failed to load: invalid plugin config: `mirrors` cannot be set when `config_path` is provided/);
    assert.match(get(r2.report, 'containerd socket').fix!, /ocictl containerd lint --fix/);
  });
});

describe('doctor and credentials', () => {
  test('a Basic-auth registry over TLS: the login is checked against /v2/; a wrong password fails', async () => {
    const pki = await makePki(path.join(sb.dir, 'pki-basic'));
    const reg = await startRegistry({ tls: pki, htpasswd: { alice: 'alice-Secret-9' } });
    stops.push(() => reg.stop());
    secrets.push('alice-Secret-9', 'wrong-Secret-8');
    const d = await hostsDir('basic', { [reg.host]: pki.caCert });
    const good = await dockerConfig('basic-good', { auths: { [reg.host]: { auth: b64('alice:alice-Secret-9') } } });
    const r = await runDoctor(['--hosts-dir', d, reg.host, '--repo', 'team/app'], { config: good });
    assert.equal(r.code, 0, JSON.stringify(r.report, null, 1));
    assert.match(get(r.report, 'v2 challenge').detail, /^Basic realm="basic-realm"/);
    assert.equal(get(r.report, 'token realm').status, 'skip');
    assert.match(get(r.report, 'login').detail, /^user alice accepted; GET \/v2\/ answered 200/);
    assert.equal(get(r.report, 'push permission').status, 'ok');
    const bad = await dockerConfig('basic-bad', { auths: { [reg.host]: { auth: b64('alice:wrong-Secret-8') } } });
    const r2 = await runDoctor(['--hosts-dir', d, reg.host], { config: bad });
    assert.equal(r2.code, 1);
    assert.deepEqual(failing(r2.report), ['login']);
    assert.match(get(r2.report, 'login').detail, /user alice was not accepted: GET \/v2\/ with them answered HTTP 401/);
  });

  test('credentials never go over plain HTTP: not to a plain-HTTP registry, not to a plain-HTTP token service', async () => {
    const seen: string[] = [];
    const record = (req: http.IncomingMessage): void => {
      if (req.headers.authorization) seen.push(`${req.method} ${req.url}`);
    };
    // a plain-HTTP registry asking for Basic credentials
    const plain = http.createServer((req, res) => {
      record(req);
      req.resume();
      res.writeHead(401, { 'www-authenticate': 'Basic realm="plain"', 'docker-distribution-api-version': 'registry/2.0', 'content-length': '0' });
      res.end();
    });
    // a TLS registry whose Bearer realm is plain HTTP on another port
    const realm = http.createServer((req, res) => {
      record(req);
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"token":"x"}');
    });
    const pki = await makePki(path.join(sb.dir, 'pki-httprealm'));
    const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
    const tlsReg = https.createServer({ key: readFileSync(pki.serverKey), cert: readFileSync(pki.serverCert) }, (req, res) => {
      record(req);
      req.resume();
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${p2}/token",service="reg"`, 'content-length': '0' });
      res.end();
    });
    for (const [srv, port] of [[plain, p1], [realm, p2], [tlsReg, p3]] as const) {
      await new Promise<void>((resolve) => srv.listen(port, '127.0.0.1', resolve));
      stops.push(() => new Promise<void>((resolve) => { srv.closeAllConnections(); srv.close(() => resolve()); }));
    }
    secrets.push('carol-Secret-7');
    const cfg = await dockerConfig('plain-creds', { auths: { [`127.0.0.1:${p1}`]: { auth: b64('carol:carol-Secret-7') }, [`127.0.0.1:${p3}`]: { auth: b64('carol:carol-Secret-7') } } });
    const d = await hostsDir('plain-creds', { [`127.0.0.1:${p3}`]: pki.caCert });
    const r1 = await runDoctor(['--hosts-dir', d, `127.0.0.1:${p1}`, '--repo', 'a/b'], { config: cfg });
    assert.equal(r1.code, 1);
    assert.equal(get(r1.report, 'tls').status, 'fail');
    assert.equal(get(r1.report, 'login').status, 'skip');
    assert.match(get(r1.report, 'login').detail, /plain HTTP without --insecure-registry: credentials are not sent/);
    const r2 = await runDoctor(['--hosts-dir', d, `127.0.0.1:${p3}`, '--repo', 'a/b'], { config: cfg });
    assert.equal(get(r2.report, 'token realm').status, 'warn');
    assert.match(get(r2.report, 'token realm').detail, /over plain HTTP: credentials are not sent to it/);
    assert.equal(get(r2.report, 'login').status, 'skip');
    assert.match(get(r2.report, 'login').detail, /is plain HTTP: credentials are not sent to it/);
    assert.equal(get(r2.report, 'pull permission').status, 'skip');
    assert.match(get(r2.report, 'pull permission').detail, /^the credentials could not be used: .* is plain HTTP/);
    assert.deepEqual(seen, [], 'no request carried an Authorization header');
  });
});
