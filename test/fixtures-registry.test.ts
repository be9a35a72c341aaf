// Proves the PKI, docker-registry and image fixtures against real peers (openssl, skopeo, umoci, curl).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { mkdir, rm, writeFile, copyFile } from 'node:fs/promises';
import * as path from 'node:path';
import { makePki, type Pki } from '../fixtures/pki.js';
import { pidAlive, run, tmpDir } from '../fixtures/proc.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import {
  buildBusyboxImage,
  buildImage,
  buildMultiPlatformImage,
  skopeoPush,
  type BuiltImage,
} from '../fixtures/images.js';

const sha256 = (s: string | Buffer): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;

async function fileDigest(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(p, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

async function inspectRaw(ref: string, args: string[]): Promise<string> {
  const r = await run('skopeo', ['inspect', '--raw', ...args, ref]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

describe('pki', () => {
  let dir = '';
  let pki: Pki;
  before(async () => {
    dir = await tmpDir('ocitest-pki');
    pki = await makePki(dir);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('CA, server and client certificates have the required extensions and chain to the CA', async () => {
    const ca = await run('openssl', ['x509', '-in', pki.caCert, '-noout', '-text']);
    assert.match(ca.stdout, /Basic Constraints: critical\s+CA:TRUE/);
    assert.match(ca.stdout, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
    const srv = await run('openssl', ['x509', '-in', pki.serverCert, '-noout', '-text']);
    assert.match(srv.stdout, /IP Address:127\.0\.0\.1/);
    assert.match(srv.stdout, /DNS:localhost/);
    assert.match(srv.stdout, /TLS Web Server Authentication/);
    const cli = await run('openssl', ['x509', '-in', pki.clientCert, '-noout', '-text']);
    assert.match(cli.stdout, /TLS Web Client Authentication/);
    const v = await run('openssl', ['verify', '-CAfile', pki.caCert, pki.serverCert, pki.clientCert]);
    assert.equal(v.code, 0, v.stderr + v.stdout);
    assert.equal(readFileSync(pki.caCert, 'utf8'), pki.caPem);
    assert.deepEqual((await import('node:fs')).readdirSync(pki.certDir), ['ca.crt']);
  });

  it('makes distinct CAs per call and honours hosts/clientCN', async () => {
    const other = await makePki(path.join(dir, 'other'), { hosts: ['localhost', '::1'], clientCN: 'ci-bot' });
    assert.notEqual(other.caPem, pki.caPem);
    const srv = await run('openssl', ['x509', '-in', other.serverCert, '-noout', '-text']);
    assert.match(srv.stdout, /IP Address:0:0:0:0:0:0:0:1/);
    const cli = await run('openssl', ['x509', '-in', other.clientCert, '-noout', '-subject']);
    assert.match(cli.stdout, /CN ?= ?ci-bot/);
  });
});

describe('docker-registry + images through skopeo', () => {
  let work = '';
  let layout = '';
  let plain: RunningRegistry;
  let tlsReg: RunningRegistry;
  let authReg: RunningRegistry;
  let mtlsReg: RunningRegistry;
  let small: BuiltImage;
  let busybox: BuiltImage;
  let dockerImg: BuiltImage;
  let multi: { indexDigest: string; children: BuiltImage[] };
  let dockerList: { indexDigest: string; children: BuiltImage[] };

  before(async () => {
    work = await tmpDir('ocitest-regtest');
    layout = path.join(work, 'layout');
    const started = await Promise.all([
      startRegistry(),
      startRegistry({ tls: true }),
      startRegistry({ tls: true, htpasswd: { admin: 'Harbor12345', 'robot$x+y': 's3cr3t' } }),
      (async () => {
        const pki = await makePki(path.join(work, 'mtls-pki'));
        return startRegistry({ tls: pki, clientCA: pki.caCert });
      })(),
    ]);
    [plain, tlsReg, authReg, mtlsReg] = started;
    small = await buildImage(layout, 'small', { layers: [{ size: 10_000, seed: 1 }, { size: 300_000, compressible: true, seed: 2 }] });
    busybox = await buildBusyboxImage(layout, 'busybox');
    dockerImg = await buildImage(layout, 'docker', { mediaTypeStyle: 'docker' });
    multi = await buildMultiPlatformImage(layout, 'multi', ['linux/amd64', 'linux/arm64/v8']);
    dockerList = await buildMultiPlatformImage(layout, 'dlist', ['linux/amd64', 'linux/arm/v7'], { mediaTypeStyle: 'docker' });
  });
  after(async () => {
    await Promise.all([plain, tlsReg, authReg, mtlsReg].filter(Boolean).map((r) => r.stop()));
    await rm(work, { recursive: true, force: true });
  });

  it('layout: index.json names tags, blobs match their digests, layers are valid gzip tars', async () => {
    const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')) as {
      manifests: { digest: string; annotations: Record<string, string> }[];
    };
    const tags = index.manifests.map((m) => m.annotations['org.opencontainers.image.ref.name']);
    assert.deepEqual(tags.sort(), ['busybox', 'dlist', 'docker', 'multi', 'small']);
    for (const l of small.layers) {
      const p = path.join(layout, 'blobs', 'sha256', l.digest.slice(7));
      assert.equal(await fileDigest(p), l.digest);
      assert.equal(statSync(p).size, l.size);
      const list = await run('tar', ['-tzf', p]);
      assert.equal(list.code, 0, list.stderr);
      const unz = await run('bash', ['-c', `gzip -dc '${p}' | sha256sum`]);
      assert.equal(`sha256:${unz.stdout.split(' ')[0]}`, l.diffId);
    }
    const manifest = readFileSync(path.join(layout, 'blobs', 'sha256', small.manifestDigest.slice(7)));
    assert.equal(sha256(manifest), small.manifestDigest);
    assert.equal(manifest.length, small.manifestSize);
    // text layer is compressible, random one is not
    assert.ok(small.layers[1]!.size < 300_000 / 2, `text layer ${small.layers[1]!.size}`);
    assert.ok(small.layers[0]!.size > 10_000, `random layer ${small.layers[0]!.size}`);
  });

  it('seeded layers are reproducible', async () => {
    const again = await buildImage(path.join(work, 'layout2'), 'small', {
      layers: [{ size: 10_000, seed: 1 }, { size: 300_000, compressible: true, seed: 2 }],
    });
    assert.equal(again.manifestDigest, small.manifestDigest);
  });

  it('busybox image unpacks with umoci into a runnable rootfs', async () => {
    const bundle = path.join(work, 'bundle');
    const r = await run('umoci', ['unpack', '--image', `${layout}:busybox`, bundle]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readlinkSync(path.join(bundle, 'rootfs/bin/sh')), 'busybox');
    const echo = await run(path.join(bundle, 'rootfs/bin/busybox'), ['echo', 'hello']);
    assert.equal(echo.stdout, 'hello\n');
    const cfg = JSON.parse(readFileSync(path.join(bundle, 'config.json'), 'utf8')) as { process: { args: string[] } };
    assert.deepEqual(cfg.process.args, ['/bin/sh']);
    assert.equal(busybox.layers.length, 1);
  });

  it('plain registry: skopeo pushes OCI, Docker and multi-platform images with the digests built', async () => {
    const base = `docker://${plain.host}/lidabai`;
    const insecure = ['--dest-tls-verify=false'];
    await skopeoPush(layout, 'small', `${base}/small:1.0`, insecure);
    await skopeoPush(layout, 'docker', `${base}/docker:1.0`, insecure);
    await skopeoPush(layout, 'multi', `${base}/multi:1.0`, [...insecure, '--all', '--preserve-digests']);
    await skopeoPush(layout, 'dlist', `${base}/dlist:1.0`, [...insecure, '--all', '--preserve-digests']);
    const src = ['--tls-verify=false'];
    assert.equal(sha256(await inspectRaw(`${base}/small:1.0`, src)), small.manifestDigest);
    assert.equal(sha256(await inspectRaw(`${base}/docker:1.0`, src)), dockerImg.manifestDigest);
    assert.match(await inspectRaw(`${base}/docker:1.0`, src), /vnd\.docker\.distribution\.manifest\.v2\+json/);
    assert.equal(sha256(await inspectRaw(`${base}/multi:1.0`, src)), multi.indexDigest);
    assert.equal(sha256(await inspectRaw(`${base}/dlist:1.0`, src)), dockerList.indexDigest);
    const child = await inspectRaw(`${base}/multi@${multi.children[1]!.manifestDigest}`, src);
    assert.equal(sha256(child), multi.children[1]!.manifestDigest);
    const cfg = await run('skopeo', ['inspect', '--config', ...src, `${base}/multi@${multi.children[1]!.manifestDigest}`]);
    const c = JSON.parse(cfg.stdout) as { architecture: string; variant?: string };
    assert.equal(c.architecture, 'arm64');
    assert.equal(c.variant, 'v8');
    // data lands under dataDir
    assert.ok(existsSync(path.join(plain.dataDir, 'docker/registry/v2/repositories/lidabai/small')));
  });

  it('TLS registry: works with the CA in --dest-cert-dir, refuses without it, 400 to plain HTTP', async () => {
    assert.ok(tlsReg.pki);
    assert.match(tlsReg.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    await skopeoPush(layout, 'small', `docker://${tlsReg.host}/lidabai/small:1.0`, ['--dest-cert-dir', tlsReg.pki.certDir]);
    assert.equal(sha256(await inspectRaw(`docker://${tlsReg.host}/lidabai/small:1.0`, ['--cert-dir', tlsReg.pki.certDir])), small.manifestDigest);
    const noCa = await run('skopeo', ['inspect', '--raw', `docker://${tlsReg.host}/lidabai/small:1.0`]);
    assert.notEqual(noCa.code, 0);
    assert.match(noCa.stderr, /x509|certificate/);
    const http = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${tlsReg.host}/v2/`]);
    assert.equal(http.stdout, '400');
  });

  it('htpasswd registry: good credentials push, none or bad are refused', async () => {
    const dest = `docker://${authReg.host}/lidabai/small:1.0`;
    const cd = ['--dest-cert-dir', authReg.pki!.certDir];
    await skopeoPush(layout, 'small', dest, [...cd, '--dest-creds', 'robot$x+y:s3cr3t']);
    const none = await run('skopeo', ['copy', '--quiet', ...cd, `oci:${layout}:small`, dest]);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /authentication required|unauthorized/i);
    const bad = await run('skopeo', ['copy', '--quiet', ...cd, '--dest-creds', 'admin:nope', `oci:${layout}:small`, dest]);
    assert.notEqual(bad.code, 0);
    const r = await run('curl', ['-s', '-i', '--cacert', authReg.pki!.caCert, `${authReg.url}/v2/`]);
    assert.match(r.stdout, /^HTTP\/\S+ 401/);
    assert.match(r.stdout, /www-authenticate: Basic realm="basic-realm"/i);
  });

  it('client-certificate registry: refuses a client without a certificate, accepts one with it', async () => {
    const pki = mtlsReg.pki!;
    const without = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', pki.caCert, `${mtlsReg.url}/v2/`]);
    assert.equal(without.stdout, '000');
    const withCert = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', pki.caCert, '--cert', pki.clientCert, '--key', pki.clientKey, `${mtlsReg.url}/v2/`]);
    assert.equal(withCert.stdout, '200');
    // skopeo's cert dir: *.crt = CA, *.cert + *.key = client pair
    const cd = path.join(work, 'mtls-certs');
    await mkdir(cd, { recursive: true });
    await copyFile(pki.caCert, path.join(cd, 'ca.crt'));
    await copyFile(pki.clientCert, path.join(cd, 'client.cert'));
    await copyFile(pki.clientKey, path.join(cd, 'client.key'));
    await skopeoPush(layout, 'small', `docker://${mtlsReg.host}/lidabai/small:1.0`, ['--dest-cert-dir', cd]);
  });

  it('deleteEnabled:false answers 405 UNSUPPORTED; stop() kills the process and removes its dir', async () => {
    const r = await startRegistry({ deleteEnabled: false });
    try {
      await skopeoPush(layout, 'small', `docker://${r.host}/lidabai/small:1.0`, ['--dest-tls-verify=false']);
      const del = await run('curl', ['-s', '-X', 'DELETE', '-w', ' %{http_code}', `${r.url}/v2/lidabai/small/manifests/${small.manifestDigest}`]);
      assert.match(del.stdout, /UNSUPPORTED[\s\S]* 405$/);
      assert.ok(readFileSync(r.logFile, 'utf8').includes('listening on 127.0.0.1:'));
    } finally {
      await r.stop();
    }
    assert.equal(pidAlive(r.pid), false);
    assert.equal(existsSync(r.dir), false);
  });

  it('streams big layers to disk without holding them in memory', async () => {
    const big = path.join(work, 'big');
    let peak = process.memoryUsage().rss;
    const base = peak;
    const timer = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    const size = 160 * 1024 * 1024;
    let img: BuiltImage;
    try {
      img = await buildImage(big, 'big', { layers: [{ size, seed: 7 }] });
    } finally {
      clearInterval(timer);
    }
    const grow = (peak - base) / 1048576;
    assert.ok(grow < 100, `rss grew by ${grow.toFixed(0)} MiB while building a ${size / 1048576} MiB layer`);
    const blob = path.join(big, 'blobs', 'sha256', img.layers[0]!.digest.slice(7));
    assert.ok(statSync(blob).size > size);
    assert.equal(await fileDigest(blob), img.layers[0]!.digest);
    await rm(big, { recursive: true, force: true });
  });

  it('writes a docker-registry config under dir', async () => {
    await writeFile(path.join(work, 'noop'), '');
    const cfg = readFileSync(path.join(authReg.dir, 'config.yml'), 'utf8');
    assert.match(cfg, /"addr": "127\.0\.0\.1:\d+"/);
    assert.ok(authReg.htpasswdFile && readFileSync(authReg.htpasswdFile, 'utf8').includes('$2y$'));
  });
});
