/**
 * hosts.toml read and used as containerd's remotes/docker/config reads and uses it: host order,
 * capabilities (referrers valid, resolve only through hosts that have it), paths, headers, the
 * scheme defaults (localhost:80 on HTTP), `::1`, falling back from a failing mirror to the next
 * host and then to `server`, and the host's headers sent to its token service.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type FaultProxy } from '../fixtures/fault-proxy.js';
import { buildImage, skopeoPush, type BuiltImage } from '../fixtures/images.js';
import { freePort, tmpDir } from '../fixtures/proc.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { StaticCredentials } from '../src/auth/credentials.js';
import { OcictlError } from '../src/errors.js';
import { parseReference } from '../src/reference/reference.js';
import { RegistryClient } from '../src/registry/client.js';
import { hostsFor, loadHostsDir } from '../src/transport/hosts-dir.js';
import { assertOneLineError, checkStore, ocictl, type CliEnv } from './faults-lib.js';

let scratch: string;
before(async () => {
  scratch = await tmpDir('ocitest-compat-hosts');
});
after(async () => {
  if (scratch) await fs.rm(scratch, { recursive: true, force: true });
});

let k = 0;
async function hostsDir(host: string, toml: string, files: Record<string, string> = {}): Promise<string> {
  const root = path.join(scratch, `certs${++k}`);
  const dir = path.join(root, host);
  await fs.mkdir(dir, { recursive: true });
  if (toml) await fs.writeFile(path.join(dir, 'hosts.toml'), toml);
  for (const [name, text] of Object.entries(files)) await fs.writeFile(path.join(dir, name), text);
  return root;
}

const PEM = '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n';

describe('hosts.toml as containerd parses it', () => {
  it('mirrors in file order, then server; paths, capabilities, headers, TLS files', async () => {
    const root = await hostsDir('test-default.registry', `
server = "https://test-default.registry"
ca = "default.pem"
[header]
  x-custom-1 = "custom header"

[host."https://mirror.registry"]
  capabilities = ["pull"]
  ca = "mirror.pem"
  skip_verify = false
  [host."https://mirror.registry".header]
    x-custom-2 = ["value1", "value2"]

[host."https://mirror-bak.registry/us"]
  capabilities = ["pull"]
  skip_verify = true

[host."http://mirror.registry"]
  capabilities = ["pull"]

[host."https://test-1.registry"]
  capabilities = ["pull", "resolve", "push", "referrers"]
  ca = ["mirror.pem", "special.pem"]
  client = [["client.cert", "client.key"], ["client.pem", ""]]

[host."https://test-2.registry"]
  client = "client.pem"

[host."https://no-referrers.registry"]
  capabilities = ["Pull", "RESOLVE", "push"]

[host."https://noncompliantmirror.registry/v2/namespaceprefix"]
  capabilities = ["pull"]
  override_path = true

[host."https://noprefixnoncompliant.registry"]
  override_path = true

[host."onlyheader.registry".header]
  x-custom-1 = "justaheader"

[host."https://dial-timeout.registry"]
  dial_timeout = "3s"

[host."https://empty-caps.registry"]
  capabilities = []
`, { 'default.pem': PEM, 'mirror.pem': PEM, 'special.pem': PEM, 'client.cert': PEM, 'client.key': PEM, 'client.pem': PEM });
    const all = ['pull', 'resolve', 'push', 'referrers'];
    const hosts = await hostsFor('test-default.registry', { hostsDirs: [root] });
    const dir = path.join(root, 'test-default.registry');
    const seen = hosts.map((h) => ({ url: h.url, caps: h.capabilities }));
    assert.deepEqual(seen, [
      { url: 'https://mirror.registry/v2', caps: ['pull'] },
      { url: 'https://mirror-bak.registry/us/v2', caps: ['pull'] },
      { url: 'http://mirror.registry/v2', caps: ['pull'] },
      { url: 'https://test-1.registry/v2', caps: all },
      { url: 'https://test-2.registry/v2', caps: all },
      { url: 'https://no-referrers.registry/v2', caps: ['pull', 'resolve', 'push'] },
      { url: 'https://noncompliantmirror.registry/v2/namespaceprefix', caps: ['pull'] },
      { url: 'https://noprefixnoncompliant.registry', caps: all },
      { url: 'https://onlyheader.registry/v2', caps: all },
      { url: 'https://dial-timeout.registry/v2', caps: all },
      { url: 'https://empty-caps.registry/v2', caps: all },
      { url: 'https://test-default.registry/v2', caps: all },
    ]);
    const [mirror, bak, plain, t1, t2] = hosts;
    assert.deepEqual(mirror!.caFiles, [path.join(dir, 'mirror.pem')]);
    assert.equal(mirror!.skipVerify, false);
    assert.deepEqual(mirror!.headers, { 'x-custom-2': 'value1, value2' });
    assert.equal(bak!.skipVerify, true);
    assert.equal(plain!.scheme, 'http:', 'http without TLS settings stays on HTTP');
    assert.equal(plain!.httpFallback, false);
    assert.deepEqual(t1!.caFiles, [path.join(dir, 'mirror.pem'), path.join(dir, 'special.pem')]);
    assert.deepEqual(t1!.clientFiles, [[path.join(dir, 'client.cert'), path.join(dir, 'client.key')], [path.join(dir, 'client.pem'), '']]);
    assert.deepEqual(t2!.clientFiles, [[path.join(dir, 'client.pem'), '']]);
    assert.equal(hosts[6]!.overridePath, true);
    assert.deepEqual(hosts[8]!.headers, { 'x-custom-1': 'justaheader' });
    assert.equal(hosts[9]!.dialTimeoutMs, 3000);
    const server = hosts[hosts.length - 1]!;
    assert.deepEqual(server.caFiles, [path.join(dir, 'default.pem')]);
    assert.deepEqual(server.headers, { 'x-custom-1': 'custom header' });
    assert.equal(server.explicit, true);
    // loadHostsDir gives the same entries before the scheme defaults
    assert.deepEqual((await loadHostsDir(root, 'test-default.registry')).map((e) => e.url), seen.map((s) => s.url));
  });

  it('with no server, the last host is the registry itself, keeping the top-level settings', async () => {
    const root = await hostsDir('docker.io', '[host."https://mirror.example"]\n  capabilities = ["pull", "resolve"]\n');
    const hosts = await hostsFor('docker.io', { hostsDirs: [root] });
    assert.deepEqual(hosts.map((h) => [h.url, h.explicit]), [['https://mirror.example/v2', true], ['https://registry-1.docker.io/v2', false]]);
    const r2 = await hostsDir('127.0.0.1:5000', 'ca = "ca.pem"\n[host."https://m.example"]\n', { 'ca.pem': PEM });
    const h2 = await hostsFor('127.0.0.1:5000', { hostsDirs: [r2] });
    assert.equal(h2[1]!.url, 'https://127.0.0.1:5000/v2');
    assert.equal(h2[1]!.caFiles.length, 1);
  });

  it('the scheme a registry starts on, with no hosts.toml (containerd defaults)', async () => {
    const empty = path.join(scratch, 'none');
    // host → [scheme, falls back to plain HTTP]
    const table: Array<[string, string, boolean]> = [
      ['localhost:80', 'http:', false],
      ['localhost:443', 'https:', false],
      ['localhost', 'https:', false],
      ['localhost:5000', 'https:', true],
      ['localhost:8080', 'https:', true],
      ['127.0.0.254:5000', 'https:', true],
      ['127.0.0.254', 'https:', false],
      ['127.0.0.1:80', 'http:', false],
      ['[::1]:5000', 'https:', true],
      ['::1', 'https:', false],
      ['example.com', 'https:', false],
      ['example.com:5000', 'https:', false],
      ['example.com:80', 'https:', false],
      ['docker.io', 'https:', false],
    ];
    for (const [host, scheme, fallback] of table) {
      const [h] = await hostsFor(host, { hostsDirs: [empty] });
      assert.deepEqual([h!.scheme, h!.httpFallback], [scheme, fallback], host);
      assert.deepEqual(h!.capabilities, ['pull', 'resolve', 'push', 'referrers'], host);
    }
    assert.equal((await hostsFor('::1', { hostsDirs: [empty] }))[0]!.url, 'https://[::1]/v2', 'a bare IPv6 host is bracketed');
    assert.equal((await hostsFor('docker.io', { hostsDirs: [empty] }))[0]!.url, 'https://registry-1.docker.io/v2');
  });

  it('an http:// host with TLS settings is tried on HTTPS first, except on port 80', async () => {
    const root = await hostsDir('reg.example', `
server = "http://reg.example:5000"
skip_verify = true
[host."http://m1.example:5000"]
  ca = "ca.pem"
[host."http://m2.example:80"]
  ca = "ca.pem"
[host."http://m3.example"]
  skip_verify = false
`, { 'ca.pem': PEM });
    const hosts = await hostsFor('reg.example', { hostsDirs: [root] });
    assert.deepEqual(hosts.map((h) => [h.host, h.scheme, h.httpFallback]), [
      ['m1.example:5000', 'https:', true],
      ['m2.example:80', 'http:', false],
      ['m3.example', 'https:', true],
      ['reg.example:5000', 'https:', true],
    ]);
  });

  it('Docker-style certs.d files, and a directory named host_port_', async () => {
    const root = path.join(scratch, 'certsd');
    await fs.mkdir(path.join(root, 'reg.example_5000_'), { recursive: true });
    await fs.writeFile(path.join(root, 'reg.example_5000_', 'ca.crt'), PEM);
    await fs.writeFile(path.join(root, 'reg.example_5000_', 'client.cert'), PEM);
    await fs.writeFile(path.join(root, 'reg.example_5000_', 'client.key'), PEM);
    const [h] = await hostsFor('reg.example:5000', { hostsDirs: [root] });
    assert.equal(h!.url, 'https://reg.example:5000/v2');
    assert.equal(h!.caFiles.length, 1);
    assert.deepEqual(h!.clientFiles, [[path.join(root, 'reg.example_5000_', 'client.cert'), path.join(root, 'reg.example_5000_', 'client.key')]]);
  });

  it('refuses what containerd cannot decode, with one line', async () => {
    for (const bad of [
      '[host."https://m"]\n  capabilities = ["pull", "steal"]\n',
      '[host."https://m"]\n  capabilities = "pull"\n',
      '[host."https://m"]\n  [host."https://m".header]\n    x = 1\n',
      '[host."https://m"]\n  dial_timeout = "soon"\n',
      '[host."https://m"]\n  client = [["a"]]\n',
      'ca = 5\n',
    ]) {
      const root = await hostsDir('r.example', bad);
      await assert.rejects(hostsFor('r.example', { hostsDirs: [root] }), (e: unknown) => e instanceof OcictlError && e.code === 'CONFIG_INVALID' && !e.message.includes('\n'), bad);
    }
  });
});

describe('hosts.toml in use: mirrors, resolve, fallback', { timeout: 240_000 }, () => {
  let reg: RunningRegistry;
  let mirror: FaultProxy;
  let img: BuiltImage;
  let work: string;
  let n = 0;
  const fresh = (): CliEnv => ({ dockerConfig: path.join(work, `docker${++n}`), dataRoot: path.join(work, `data${n}`) });

  before(async () => {
    work = await tmpDir('ocitest-compat-mirrors');
    reg = await startRegistry();
    mirror = await startFaultProxy({ target: reg.url });
    const layout = path.join(work, 'layout');
    img = await buildImage(layout, 'v1', { layers: [{ size: 200_000, seed: 31 }] });
    await skopeoPush(layout, 'v1', `docker://${reg.host}/compat/img:1`, ['--dest-tls-verify=false']);
  });
  after(async () => {
    await mirror?.stop();
    await reg?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  async function certsFor(toml: string): Promise<string> {
    const root = path.join(work, `certs${++n}`);
    await fs.mkdir(path.join(root, reg.host), { recursive: true });
    await fs.writeFile(path.join(root, reg.host, 'hosts.toml'), toml);
    return root;
  }

  it('a pull-only mirror serves content but never resolves a tag', async () => {
    mirror.clearRules();
    mirror.resetLog();
    const root = await certsFor(`server = "http://${reg.host}"\n[host."http://${mirror.host}"]\n  capabilities = ["pull"]\n`);
    const e = fresh();
    const r = await ocictl(['--hosts-dir', root, 'pull', '-q', `${reg.host}/compat/img:1`], e);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!mirror.log.some((l) => /\/manifests\/1$/.test(l.path)), `the tag went to the mirror: ${mirror.log.map((l) => l.path).join(' ')}`);
    assert.ok(mirror.log.some((l) => l.path.includes(`/blobs/${img.layers[0]!.digest}`)), 'the layer came from the mirror');
    await checkStore(e.dataRoot);
  });

  it('a mirror with resolve resolves the tag', async () => {
    mirror.clearRules();
    mirror.resetLog();
    const root = await certsFor(`server = "http://${reg.host}"\n[host."http://${mirror.host}"]\n  capabilities = ["pull", "resolve"]\n`);
    const r = await ocictl(['--hosts-dir', root, 'pull', '-q', `${reg.host}/compat/img:1`], fresh());
    assert.equal(r.code, 0, r.stderr);
    assert.ok(mirror.log.some((l) => /\/manifests\/1$/.test(l.path)));
  });

  it('a mirror that is down, then one that answers errors: the pull goes on to server', async () => {
    const dead = await freePort();
    mirror.clearRules();
    mirror.resetLog();
    mirror.addRule({ path: /\/v2\/compat\//, action: { kind: 'status', status: 503 } });
    const root = await certsFor(`server = "http://${reg.host}"
[host."http://127.0.0.1:${dead}"]
  capabilities = ["pull", "resolve"]
[host."http://${mirror.host}"]
  capabilities = ["pull", "resolve"]
`);
    const e = fresh();
    const r = await ocictl(['--hosts-dir', root, 'pull', '-q', `${reg.host}/compat/img:1`], e);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(mirror.log.length > 0 && mirror.log.every((l) => l.status === 503), 'the second mirror was asked and failed');
    assert.ok(!mirror.log.some((l) => l.path.includes('/blobs/') && mirror.log.filter((x) => x.path === l.path).length > 1), 'a failing mirror is not retried: the next host is');
    const store = await checkStore(e.dataRoot);
    assert.ok(store.reachable.has(img.layers[0]!.digest));
    mirror.clearRules();
  });

  it('a mirror answering 404 hands over to server; when every host fails the error is one line', async () => {
    mirror.clearRules();
    mirror.addRule({ path: /\/v2\/compat\//, action: { kind: 'status', status: 404, body: '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}' } });
    const root = await certsFor(`server = "http://${reg.host}"\n[host."http://${mirror.host}"]\n  capabilities = ["pull", "resolve"]\n`);
    assert.equal((await ocictl(['--hosts-dir', root, 'pull', '-q', `${reg.host}/compat/img:1`], fresh())).code, 0);
    const gone = await ocictl(['--hosts-dir', root, 'pull', '-q', `${reg.host}/compat/img:nosuchtag`], fresh());
    assert.match(assertOneLineError(gone, 'missing tag through a mirror'), /not found|unknown/i);
    mirror.clearRules();
  });

  it('no host with resolve: a one-line configuration error', async () => {
    const root = await certsFor(`server = "http://${reg.host}"\ncapabilities = ["pull"]\n`);
    const r = await ocictl(['--hosts-dir', root, 'pull', '-q', `${reg.host}/compat/img:1`], fresh());
    assert.match(assertOneLineError(r, 'no resolve host'), /resolve/);
  });
});

describe('the host\'s headers go to its token service', { timeout: 60_000 }, () => {
  it('as containerd sends them (WithAuthHeader)', async () => {
    const tokenHeaders: http.IncomingHttpHeaders[] = [];
    const registryHeaders: http.IncomingHttpHeaders[] = [];
    const srv = http.createServer((req, res) => {
      const port = (srv.address() as AddressInfo).port;
      if (req.url?.startsWith('/token')) {
        tokenHeaders.push(req.headers);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ token: 'tok-123' }));
        return;
      }
      registryHeaders.push(req.headers);
      if (req.headers.authorization !== 'Bearer tok-123') {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="svc"`, 'content-type': 'application/json' });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"no"}]}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ name: 'p/r', tags: ['a'] }));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const host = `127.0.0.1:${(srv.address() as AddressInfo).port}`;
      const root = await hostsDir(host, `server = "http://${host}"\n[header]\n  x-tenant = "blue"\n  x-list = ["a", "b"]\n`);
      const client = new RegistryClient({ hostsDirs: [root], credentials: new StaticCredentials({}, true), retries: 0 });
      try {
        assert.deepEqual(await client.listTags(parseReference(`${host}/p/r`)), ['a']);
      } finally {
        await client.close();
      }
      assert.ok(tokenHeaders.length >= 1);
      for (const h of [...tokenHeaders, ...registryHeaders]) {
        assert.equal(h['x-tenant'], 'blue');
        assert.equal(h['x-list'], 'a, b');
      }
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});

describe('login and tag lists through hosts.toml (the registry itself)', { timeout: 120_000 }, () => {
  it('use a [host] table naming the server\'s own host, where the CA may be the only one given', async () => {
    const work = await tmpDir('ocitest-compat-login');
    const reg = await startRegistry({ tls: true, htpasswd: { admin: 'Harbor12345' } });
    try {
      const root = path.join(work, 'certs');
      const dir = path.join(root, reg.host);
      await fs.mkdir(dir, { recursive: true });
      const ca = path.join(dir, 'ca.pem');
      await fs.copyFile((reg.pki as NonNullable<RunningRegistry['pki']>).caCert, ca);
      // As containerd's own docs write it, and as ctr reads it: the CA only inside the [host] table.
      await fs.writeFile(path.join(dir, 'hosts.toml'), `server = "https://${reg.host}"\n\n[host."https://${reg.host}"]\n  capabilities = ["pull", "resolve", "push"]\n  ca = ${JSON.stringify(ca)}\n`);
      const e: CliEnv = { dockerConfig: path.join(work, 'docker'), dataRoot: path.join(work, 'data') };
      const ok = await ocictl(['--hosts-dir', root, 'login', reg.host, '-u', 'admin', '--password-stdin'], e, { input: 'Harbor12345\n' });
      assert.equal(ok.code, 0, ok.stderr);
      const tags = await ocictl(['--hosts-dir', root, 'tags', `${reg.host}/compat/none`], e);
      // The repository does not exist: the registry's own answer (not an x509 error from a CA-less server entry).
      assert.doesNotMatch(tags.stderr, /x509|certificate/);
      const bad = await ocictl(['--hosts-dir', root, 'login', reg.host, '-u', 'admin', '--password-stdin'], { ...e, dockerConfig: path.join(work, 'docker2') }, { input: 'wrong\n' });
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /not accepted/);
      assertOneLineError(bad, 'a refused login');
    } finally {
      await reg.stop();
      await fs.rm(work, { recursive: true, force: true });
    }
  });
});
