// The hostile-input corpus (test/corpus/): malformed references, manifests, WWW-Authenticate
// headers, token responses, config.json files, hosts.toml and containerd config.toml files,
// and tarballs. Each case is fed to the real CLI and must give exactly one clear line and a
// non-zero exit: no stack trace, no hang. Manifest limits (over 4 MiB, deep index nesting,
// digest header mismatch) are generated here.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type FaultProxy } from '../fixtures/fault-proxy.js';
import { freePort, tmpDir, type RunResult } from '../fixtures/proc.js';
import { REPO_ROOT, assertOneLineError, ocictl, type CliEnv } from './faults-lib.js';

const CORPUS = path.join(REPO_ROOT, 'test', 'corpus');
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const TIMEOUT = 20_000;

async function files(dir: string): Promise<string[]> {
  return (await fs.readdir(path.join(CORPUS, dir))).sort();
}

async function lines(file: string): Promise<string[]> {
  return (await fs.readFile(path.join(CORPUS, file), 'utf8')).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
}

/** Runs jobs a few at a time. */
async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: n }, async () => {
    for (let t = queue.shift(); t !== undefined; t = queue.shift()) await fn(t);
  }));
}

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const json = (v: unknown): Record<string, string> => ({ 'content-type': 'application/json', 'x-v': String(v) });

describe('hostile input corpus', { timeout: 240_000 }, () => {
  let work: string;
  let deadTarget: string;
  let counted = 0;
  const seen: string[] = [];
  const env = (name: string): CliEnv => ({ dockerConfig: path.join(work, name, 'docker'), dataRoot: path.join(work, name, 'data') });
  const check = (r: RunResult, what: string): string => {
    counted++;
    const line = assertOneLineError(r, what);
    seen.push(`${what} → ${line}`);
    return line;
  };

  before(async () => {
    work = await tmpDir('ocitest-hostile');
    // Proxies here answer everything from rules; the target is a port where nothing listens.
    deadTarget = `http://127.0.0.1:${await freePort()}`;
  });

  after(async () => {
    if (work) await fs.rm(work, { recursive: true, force: true });
    if (process.env.OCITEST_SHOW_CORPUS) console.log(seen.join('\n'));
  });

  it('malformed references', async () => {
    const refs = await lines('references.txt');
    assert.ok(refs.length >= 15);
    await pool(refs, 4, async (ref) => {
      const r = await ocictl(['pull', '-q', ref], env('refs'), { timeoutMs: TIMEOUT });
      check(r, `reference ${JSON.stringify(ref.slice(0, 60))}`);
    });
  });

  describe('manifests served by a registry', () => {
    let proxy: FaultProxy;
    before(async () => {
      proxy = await startFaultProxy({ target: deadTarget });
    });
    after(async () => {
      await proxy?.stop();
    });

    let caseNo = 0;
    async function pullServed(body: Buffer, what: string, headers: Record<string, string> = {}, extraRules: () => void = () => undefined): Promise<string> {
      const tag = `case${++caseNo}`;
      extraRules();
      proxy.addRule({ path: new RegExp(`/manifests/${tag}$`), action: { kind: 'respond', status: 200, headers: { 'content-type': OCI_MANIFEST, ...headers }, body } });
      const e = env(`m-${tag}`);
      const r = await ocictl(['--insecure-registry', 'pull', '-q', `${proxy.host}/corpus/m:${tag}`], e, { timeoutMs: TIMEOUT });
      const line = check(r, what);
      // Nothing unverified entered the store.
      const blobs = await fs.readdir(path.join(e.dataRoot, 'default', 'blobs', 'sha256')).catch(() => []);
      for (const b of blobs) assert.equal(sha(await fs.readFile(path.join(e.dataRoot, 'default', 'blobs', 'sha256', b))), `sha256:${b}`);
      return line;
    }

    it('corpus manifests', async () => {
      // Every blob is 100 bytes of "x": no digest in the corpus matches, and sizes of 10 disagree.
      proxy.addRule({ path: /\/blobs\//, action: { kind: 'respond', status: 200, headers: { 'content-type': 'application/octet-stream' }, body: 'x'.repeat(100) } });
      const names = await files('manifests');
      assert.ok(names.length >= 20);
      await pool(names, 4, async (n) => {
        const body = await fs.readFile(path.join(CORPUS, 'manifests', n));
        const line = await pullServed(body, `manifest ${n}`);
        if (n === 'layer-size-smaller-than-blob.json') assert.match(line, /larger than its descriptor/);
        if (n === 'config-size-huge.json') assert.match(line, /limit/);
      });
    });

    it('a manifest over 4 MiB is refused', async () => {
      const big = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, annotations: { pad: 'x'.repeat(4 * 1024 * 1024 + 10) } });
      const line = await pullServed(Buffer.from(big), 'manifest over 4 MiB');
      assert.match(line, /limit/);
    });

    it('a manifest whose Docker-Content-Digest disagrees is refused', async () => {
      const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha('c'), size: 1 }, layers: [] }));
      const line = await pullServed(body, 'manifest with a wrong Docker-Content-Digest', { 'docker-content-digest': sha('something else') });
      assert.match(line, /Docker-Content-Digest|digest/);
    });

    it('an index nested more than a few levels deep is refused', async () => {
      // index(0) → index(1) → ... → index(7), each child served by digest.
      const docs: Buffer[] = [];
      let child: Buffer = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }));
      docs.unshift(child);
      for (let i = 0; i < 7; i++) {
        child = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_INDEX, digest: sha(child), size: child.length, platform: { os: 'linux', architecture: 'amd64' } }] }));
        docs.unshift(child);
      }
      const [top, ...rest] = docs;
      const line = await pullServed(top as Buffer, 'index nested 8 levels', { 'content-type': OCI_INDEX }, () => {
        for (const d of rest) proxy.addRule({ path: new RegExp(`/manifests/${sha(d)}$`), action: { kind: 'respond', status: 200, headers: { 'content-type': OCI_INDEX }, body: d } });
      });
      assert.match(line, /nest|deep|level|platform|no manifest/i);
    });
  });

  it('WWW-Authenticate headers', async () => {
    const proxy = await startFaultProxy({ target: deadTarget });
    try {
      const headers = await lines('www-authenticate.txt');
      assert.ok(headers.length >= 10);
      const e = env('www');
      await fs.mkdir(e.dockerConfig, { recursive: true });
      await fs.writeFile(path.join(e.dockerConfig, 'config.json'), JSON.stringify({ auths: { [proxy.host]: { auth: Buffer.from('u:p').toString('base64') } } }));
      await pool(headers.map((h, i) => ({ h, i })), 4, async ({ h, i }) => {
        proxy.addRule({ path: new RegExp(`^/v2/corpus/w${i}/`), action: { kind: 'respond', status: 401, headers: { 'www-authenticate': h, 'content-type': 'application/json' }, body: '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}' } });
        const r = await ocictl(['--insecure-registry', 'pull', '-q', `${proxy.host}/corpus/w${i}:1`], e, { timeoutMs: TIMEOUT });
        check(r, `WWW-Authenticate ${JSON.stringify(h.slice(0, 60))}`);
      });
    } finally {
      await proxy.stop();
    }
  });

  it('token responses', async () => {
    const proxy = await startFaultProxy({ target: deadTarget });
    try {
      const names = await files('token-responses');
      assert.ok(names.length >= 8);
      const e = env('tok');
      await fs.mkdir(e.dockerConfig, { recursive: true });
      await fs.writeFile(path.join(e.dockerConfig, 'config.json'), JSON.stringify({ auths: { [proxy.host]: { auth: Buffer.from('u:p').toString('base64') } } }));
      await pool(names.map((n, i) => ({ n, i })), 4, async ({ n, i }) => {
        const body = await fs.readFile(path.join(CORPUS, 'token-responses', n));
        proxy.addRule({ path: new RegExp(`^/token${i}\\?`), action: { kind: 'respond', status: 200, headers: json(n), body } });
        proxy.addRule({ path: new RegExp(`^/v2/corpus/t${i}/`), action: { kind: 'respond', status: 401, headers: { 'www-authenticate': `Bearer realm="${proxy.url}/token${i}",service="corpus"`, 'content-type': 'application/json' }, body: '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}' } });
        const r = await ocictl(['--insecure-registry', 'pull', '-q', `${proxy.host}/corpus/t${i}:1`], e, { timeoutMs: TIMEOUT });
        check(r, `token response ${n}`);
      });
    } finally {
      await proxy.stop();
    }
  });

  it('config.json files', async () => {
    const proxy = await startFaultProxy({ target: deadTarget });
    try {
      proxy.addRule({ action: { kind: 'respond', status: 401, headers: { 'www-authenticate': 'Basic realm="corpus"' }, body: '' } });
      const names = await files('config-json');
      assert.ok(names.length >= 8);
      await pool(names, 4, async (n) => {
        const e = env(`cfg-${n}`);
        await fs.mkdir(e.dockerConfig, { recursive: true });
        const text = (await fs.readFile(path.join(CORPUS, 'config-json', n), 'utf8')).replaceAll('HOST', proxy.host);
        await fs.writeFile(path.join(e.dockerConfig, 'config.json'), text);
        const r = await ocictl(['--insecure-registry', 'pull', '-q', `${proxy.host}/corpus/c:1`], e, { timeoutMs: TIMEOUT });
        check(r, `config.json ${n}`);
        const lo = await ocictl(['logout', proxy.host], e, { timeoutMs: TIMEOUT });
        if (lo.code !== 0) check(lo, `logout with config.json ${n}`);
      });
      // A huge config.json (over 16 MiB) is refused without being parsed.
      const e = env('cfg-huge');
      await fs.mkdir(e.dockerConfig, { recursive: true });
      await fs.writeFile(path.join(e.dockerConfig, 'config.json'), `{"auths":{},"pad":"${'x'.repeat(17 * 1024 * 1024)}"}`);
      const r = await ocictl(['--insecure-registry', 'pull', '-q', `${proxy.host}/corpus/c:1`], e, { timeoutMs: TIMEOUT });
      assert.match(check(r, 'config.json over 16 MiB'), /larger than/);
    } finally {
      await proxy.stop();
    }
  });

  it('hosts.toml files', async () => {
    const proxy = await startFaultProxy({ target: deadTarget });
    try {
      proxy.addRule({ action: { kind: 'respond', status: 404, body: '' } });
      const names = await files('hosts-toml');
      assert.ok(names.length >= 8);
      await pool(names, 4, async (n) => {
        const e = env(`hosts-${n}`);
        const dir = path.join(work, `hosts-${n}`, 'certs.d');
        await fs.mkdir(path.join(dir, proxy.host), { recursive: true });
        const text = (await fs.readFile(path.join(CORPUS, 'hosts-toml', n), 'utf8')).replaceAll('HOST', proxy.host);
        await fs.writeFile(path.join(dir, proxy.host, 'hosts.toml'), text);
        const r = await ocictl(['--hosts-dir', dir, 'pull', '-q', `${proxy.host}/corpus/h:1`], e, { timeoutMs: TIMEOUT });
        check(r, `hosts.toml ${n}`);
      });
    } finally {
      await proxy.stop();
    }
  });

  it('containerd config.toml files', async () => {
    const names = await files('config-toml');
    assert.ok(names.length >= 5);
    await pool(names, 4, async (n) => {
      const root = path.join(work, `ctd-${n}`);
      await fs.mkdir(path.join(root, 'etc', 'containerd'), { recursive: true });
      const original = await fs.readFile(path.join(CORPUS, 'config-toml', n));
      await fs.writeFile(path.join(root, 'etc', 'containerd', 'config.toml'), original);
      const r = await ocictl(['containerd', 'config', '--root', root], env('ctd'), { timeoutMs: TIMEOUT });
      check(r, `config.toml ${n}`);
      assert.deepEqual(await fs.readFile(path.join(root, 'etc', 'containerd', 'config.toml')), original, 'the file is left as it was');
    });
  });

  it('tarballs: refused, and nothing is written', async () => {
    const names = await files('tarballs');
    assert.ok(names.length >= 10);
    await pool(names, 4, async (n) => {
      const root = path.join(work, `tar-${n}`);
      await fs.mkdir(root, { recursive: true });
      const r = await ocictl(['containerd', 'install', '--archive', path.join(CORPUS, 'tarballs', n), '--root', root], env('tar'), { timeoutMs: TIMEOUT });
      check(r, `tarball ${n}`);
      assert.deepEqual(await fs.readdir(root), [], `${n}: nothing written under the root`);
    });
  });

  it('raw HTTP responses (the minimal HTTP client)', async () => {
    const names = await files('http-responses');
    assert.ok(names.length >= 20);
    const bodies = await Promise.all(names.map((n) => fs.readFile(path.join(CORPUS, 'http-responses', n))));
    // Answers each request for /v2/corpus/hN/... with case N's bytes, then closes.
    const server = net.createServer((s) => {
      let req = Buffer.alloc(0);
      s.on('error', () => undefined);
      s.on('data', (d: Buffer) => {
        req = Buffer.concat([req, d]);
        if (req[0] === 0x16) {
          // A TLS ClientHello on this plain port: answer as Go's server does, so the client falls back to HTTP.
          s.end('HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n');
          return;
        }
        if (!req.includes('\r\n\r\n')) return;
        const m = /^[A-Z]+ \/v2\/corpus\/h(\d+)\//.exec(req.toString('latin1'));
        s.end(m ? bodies[Number(m[1])] : 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    try {
      const e = env('http');
      await pool(names.map((n, i) => ({ n, i })), 4, async ({ n, i }) => {
        const r = await ocictl(['pull', '-q', '--retries', '0', '--timeout', '3', `${host}/corpus/h${i}:1`], e, { timeoutMs: TIMEOUT });
        check(r, `HTTP response ${n}`);
      });
    } finally {
      server.close();
    }
  });

  it('counts at least 50 cases', () => {
    assert.ok(counted >= 50, `only ${counted} cases ran`);
  });
});
