/**
 * Interoperability with skopeo and the Docker CLI, plain HTTP and TLS modes,
 * client certificates, multi-platform pulls, and corrupt blobs from a server.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildImage, buildMultiPlatformImage, skopeoPush } from '../fixtures/images.js';
import { run, tmpDir } from '../fixtures/proc.js';
import { type RunningRegistry, startRegistry } from '../fixtures/registry.js';
import { isOneLineError, sandbox } from './lib/cli.js';

const sha = (b: string | Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('plain-HTTP registry', () => {
  let reg: RunningRegistry;
  let layout: string;
  before(async () => {
    reg = await startRegistry({});
    layout = await tmpDir('ocictl-layout-');
  });
  after(async () => {
    await reg?.stop();
  });

  test('skopeo pushes, ocictl pulls the same digests; ocictl pushes, skopeo copies it back byte-identical', async () => {
    const sb = await sandbox();
    try {
      const img = await buildImage(layout, 'v1', { layers: [{ size: 3 << 20 }, { size: 200_000, compressible: true }, { size: 1 << 20 }] });
      await skopeoPush(layout, 'v1', `docker://${reg.host}/interop/app:v1`, ['--dest-tls-verify=false']);
      // Loopback plain HTTP is used without flags, as docker and containerd do for 127.0.0.0/8.
      const pull = await sb.ocictl(['pull', `${reg.host}/interop/app:v1`]);
      assert.equal(pull.code, 0, pull.stderr);
      assert.match(pull.stdout, new RegExp(img.manifestDigest));
      const blobs = new Set(await readdir(path.join(sb.dataRoot, 'default', 'blobs', 'sha256')));
      for (const l of img.layers) assert.ok(blobs.has(l.digest.slice(7)), `layer ${l.digest} in store`);
      assert.ok(blobs.has(img.configDigest.slice(7)));
      // Every stored blob hashes to its name.
      for (const b of blobs) assert.equal(sha(await readFile(path.join(sb.dataRoot, 'default', 'blobs', 'sha256', b))), `sha256:${b}`);

      assert.equal((await sb.ocictl(['tag', `${reg.host}/interop/app:v1`, `${reg.host}/interop/copy:v2`])).code, 0);
      const push = await sb.ocictl(['push', `${reg.host}/interop/copy:v2`]);
      assert.equal(push.code, 0, push.stderr);
      const raw = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/interop/copy:v2`]);
      assert.equal(sha(raw.stdout), img.manifestDigest);
      const back = await tmpDir('ocictl-back-');
      const cp = await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${reg.host}/interop/copy:v2`, `oci:${back}:v2`]);
      assert.equal(cp.code, 0, cp.stderr);
      for (const l of img.layers) {
        assert.equal(sha(await readFile(path.join(back, 'blobs', 'sha256', l.digest.slice(7)))), l.digest);
        assert.deepEqual(await readFile(path.join(back, 'blobs', 'sha256', l.digest.slice(7))), await readFile(path.join(layout, 'blobs', 'sha256', l.digest.slice(7))));
      }
      // skopeo reads ocictl's store as an OCI layout.
      const fromStore = await tmpDir('ocictl-fromstore-');
      const cp2 = await run('skopeo', ['copy', `oci:${path.join(sb.dataRoot, 'default')}:${reg.host}/interop/app:v1`, `oci:${fromStore}:x`]);
      assert.equal(cp2.code, 0, cp2.stderr);
      // A second push skips every blob (HEAD).
      const again = await sb.ocictl(['push', `${reg.host}/interop/copy:v2`]);
      assert.equal(again.code, 0);
      assert.equal((again.stderr.match(/already exists/g) ?? []).length, img.layers.length + 1, again.stderr);
    } finally {
      await sb.cleanup();
    }
  });

  test('multi-platform: host platform by default, --platform, --all-platforms', async () => {
    const sb = await sandbox();
    try {
      const mp = await buildMultiPlatformImage(layout, 'multi', ['linux/amd64', 'linux/arm64/v8', 'linux/s390x'], { layers: [{ size: 50_000, seed: 7 }] });
      await skopeoPush(layout, 'multi', `docker://${reg.host}/interop/multi:1`, ['--dest-tls-verify=false', '--all', '--preserve-digests']);
      const r1 = await sb.ocictl(['pull', `${reg.host}/interop/multi:1`]);
      assert.equal(r1.code, 0, r1.stderr);
      assert.match(r1.stdout, new RegExp(mp.indexDigest));
      const arm = mp.children.find((c) => c.platform?.architecture === 'arm64');
      const r2 = await sb.ocictl(['-n', 'arm', 'pull', '--platform', 'linux/arm64', `${reg.host}/interop/multi:1`]);
      assert.equal(r2.code, 0, r2.stderr);
      const armBlobs = new Set(await readdir(path.join(sb.dataRoot, 'arm', 'blobs', 'sha256')));
      assert.ok(armBlobs.has(arm!.layers[0]!.digest.slice(7)));
      const s390 = mp.children.find((c) => c.platform?.architecture === 's390x');
      assert.ok(!armBlobs.has(s390!.layers[0]!.digest.slice(7)), 'other platforms not pulled');
      const r3 = await sb.ocictl(['-n', 'all', 'pull', '--all-platforms', `${reg.host}/interop/multi:1`]);
      assert.equal(r3.code, 0, r3.stderr);
      const allBlobs = new Set(await readdir(path.join(sb.dataRoot, 'all', 'blobs', 'sha256')));
      for (const c of mp.children) assert.ok(allBlobs.has(c.layers[0]!.digest.slice(7)));
      const bad = await sb.ocictl(['pull', '--platform', 'windows/arm', `${reg.host}/interop/multi:1`]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /no image for platform windows\/arm.*linux\/amd64/);
      // A whole index pushed back keeps its digest.
      const push = await sb.ocictl(['-n', 'all', 'push', `${reg.host}/interop/multi:1`]);
      assert.equal(push.code, 0, push.stderr);
      assert.match(push.stdout, new RegExp(mp.indexDigest));
    } finally {
      await sb.cleanup();
    }
  });

  test('a corrupt blob from the server never enters the store', async () => {
    const sb = await sandbox();
    try {
      const img = await buildImage(layout, 'corrupt', { layers: [{ size: 300_000, seed: 99 }] });
      await skopeoPush(layout, 'corrupt', `docker://${reg.host}/interop/corrupt:1`, ['--dest-tls-verify=false']);
      const d = img.layers[0]!.digest.slice(7);
      const dataFile = path.join(reg.dataDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', d.slice(0, 2), d, 'data');
      const buf = await readFile(dataFile);
      buf[1000] = buf[1000]! ^ 0xff;
      await writeFile(dataFile, buf);
      const r = await sb.ocictl(['pull', `${reg.host}/interop/corrupt:1`]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`blob sha256:${d} failed verification`));
      assert.match(r.stderr, new RegExp(`from ${reg.host.replaceAll('.', '\\.')}/interop/corrupt`));
      assert.ok(isOneLineError(r.stderr), r.stderr);
      const blobs = await readdir(path.join(sb.dataRoot, 'default', 'blobs', 'sha256'));
      assert.ok(!blobs.includes(d));
      assert.deepEqual(await readdir(path.join(sb.dataRoot, 'default', 'ingest')), []);
      const images = await sb.ocictl(['images', '-q']);
      assert.equal(images.stdout.trim(), '');
    } finally {
      await sb.cleanup();
    }
  });
});

describe('TLS registries', () => {
  test('CA through a hosts dir (hosts.toml and ca.crt), client certificates through hosts.toml', async () => {
    const reg = await startRegistry({ tls: true });
    const mtls = await startRegistry({ tls: reg.pki!, clientCA: reg.pki!.caCert });
    const sb = await sandbox();
    try {
      const layout = await tmpDir('ocictl-layout-');
      const img = await buildImage(layout, 't', { layers: [{ size: 100_000, seed: 3 }] });
      await skopeoPush(layout, 't', `docker://${reg.host}/tls/app:1`, ['--dest-cert-dir', reg.pki!.certDir]);
      // ca.crt style
      await sb.trustCa(reg.host, reg.pki!.caCert);
      const r = await sb.ocictl(['--hosts-dir', sb.hostsDir, 'pull', `${reg.host}/tls/app:1`]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(img.manifestDigest));
      // mTLS: without a client certificate the handshake fails.
      await sb.trustCa(mtls.host, reg.pki!.caCert);
      await sb.ocictl(['--hosts-dir', sb.hostsDir, 'tag', `${reg.host}/tls/app:1`, `${mtls.host}/tls/app:1`]);
      const refused = await sb.ocictl(['--hosts-dir', sb.hostsDir, '--retries', '0', 'push', `${mtls.host}/tls/app:1`]);
      assert.equal(refused.code, 1);
      assert.ok(isOneLineError(refused.stderr), refused.stderr);
      // hosts.toml with ca and a [cert, key] client pair.
      const dir = path.join(sb.hostsDir, mtls.host);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'hosts.toml'), `server = "https://${mtls.host}"\nca = "${reg.pki!.caCert}"\nclient = [["${reg.pki!.clientCert}", "${reg.pki!.clientKey}"]]\n\n[host."https://${mtls.host}"]\n  capabilities = ["pull", "resolve", "push"]\n  ca = "${reg.pki!.caCert}"\n  client = [["${reg.pki!.clientCert}", "${reg.pki!.clientKey}"]]\n`);
      const ok = await sb.ocictl(['--hosts-dir', sb.hostsDir, 'push', `${mtls.host}/tls/app:1`]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, new RegExp(img.manifestDigest));
    } finally {
      await Promise.all([reg.stop(), mtls.stop()]);
      await sb.cleanup();
    }
  });

  test('OCICTL_HTTP=undici (the fallback HTTP client): login, push, pull and copy over TLS + htpasswd, same digests', async () => {
    const reg = await startRegistry({ tls: true, htpasswd: { admin: 'Harbor12345' } });
    const sb = await sandbox();
    // Says, as the process exits, whether undici was loaded.
    const hook = path.join(sb.dir, 'undici-hook.mjs');
    await writeFile(hook, "import { createRequire } from 'node:module';\nconst r = createRequire(import.meta.url);\nprocess.on('exit', () => process.stderr.write(`UNDICI ${Object.keys(r.cache).some((k) => k.includes('/node_modules/undici/'))}\\n`));\n");
    const undici = { env: { OCICTL_HTTP: 'undici', NODE_OPTIONS: `--import=${hook}` } };
    try {
      const layout = await tmpDir('ocictl-layout-');
      const img = await buildImage(layout, 'u', { layers: [{ size: 2 << 20, seed: 11 }, { size: 70_000, seed: 12 }] });
      await sb.trustCa(reg.host, reg.pki!.caCert);
      const h = ['--hosts-dir', sb.hostsDir];
      assert.equal((await sb.ocictl([...h, 'login', reg.host, '-u', 'admin', '--password-stdin'], { ...undici, input: 'Harbor12345' })).code, 0);
      assert.equal((await sb.ocictl(['copy', '-q', `oci:${layout}:u`, `store:${reg.host}/fallback/app:1`], undici)).code, 0);
      const push = await sb.ocictl([...h, 'push', `${reg.host}/fallback/app:1`], undici);
      assert.equal(push.code, 0, push.stderr);
      assert.match(push.stdout, new RegExp(img.manifestDigest));
      assert.match(push.stderr, /UNDICI true/, 'the push went through undici');
      assert.equal((await sb.ocictl(['rmi', `${reg.host}/fallback/app:1`], undici)).code, 0);
      const pull = await sb.ocictl([...h, 'pull', `${reg.host}/fallback/app:1`], undici);
      assert.equal(pull.code, 0, pull.stderr);
      assert.match(pull.stdout, new RegExp(img.manifestDigest));
      for (const l of img.layers) assert.equal(sha(await readFile(path.join(sb.dataRoot, 'default', 'blobs', 'sha256', l.digest.slice(7)))), l.digest);
      const copy = await sb.ocictl([...h, 'copy', '-q', `${reg.host}/fallback/app:1`, `${reg.host}/fallback/copy:1`], undici);
      assert.equal(copy.code, 0, copy.stderr);
      assert.equal(copy.stdout.trim(), img.manifestDigest);
      // By default no command loads undici: the same pull and push through fast-http.
      const fast = { env: { NODE_OPTIONS: `--import=${hook}` } };
      const again = await sb.ocictl([...h, 'pull', `${reg.host}/fallback/copy:1`], fast);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /UNDICI false/);
      const pushFast = await sb.ocictl([...h, 'push', `${reg.host}/fallback/copy:1`], fast);
      assert.equal(pushFast.code, 0, pushFast.stderr);
      assert.match(pushFast.stderr, /UNDICI false/);
    } finally {
      await reg.stop();
      await sb.cleanup();
    }
  });

  test('--insecure-registry on a plain-HTTP port falls back to HTTP and may send credentials there', async () => {
    const reg = await startRegistry({ htpasswd: { admin: 'Harbor12345' } });
    const sb = await sandbox();
    try {
      const noflag = await sb.ocictl(['login', reg.host, '-u', 'admin', '--password-stdin'], { input: 'Harbor12345' });
      assert.equal(noflag.code, 1);
      assert.match(noflag.stderr, /refusing to send credentials over plain HTTP.*--insecure-registry/);
      const r = await sb.ocictl(['login', reg.host, '-u', 'admin', '--password-stdin', '--insecure-registry'], { input: 'Harbor12345' });
      assert.equal(r.code, 0, r.stderr);
    } finally {
      await reg.stop();
      await sb.cleanup();
    }
  });
});

describe('credentials written by others', () => {
  test('ocictl uses a config.json written by the Docker CLI; skopeo --authfile uses one written by ocictl', async () => {
    const reg = await startRegistry({ tls: true, htpasswd: { admin: 'Harbor12345' } });
    const sb = await sandbox();
    const certsd = `/etc/docker/certs.d/${reg.host}`;
    try {
      await mkdir(certsd, { recursive: true });
      await writeFile(path.join(certsd, 'ca.crt'), await readFile(reg.pki!.caCert));
      const dockerCfg = await tmpDir('ocictl-dockercli-');
      const dl = await run('/usr/local/bin/docker', ['login', reg.host, '-u', 'admin', '--password-stdin'], { input: 'Harbor12345\n', env: { ...sb.env, DOCKER_CONFIG: dockerCfg } });
      assert.equal(dl.code, 0, dl.stderr);
      const layout = await tmpDir('ocictl-layout-');
      const img = await buildImage(layout, 'd', { layers: [{ size: 10_000, seed: 5 }] });
      await skopeoPush(layout, 'd', `docker://${reg.host}/cli/app:1`, ['--dest-cert-dir', reg.pki!.certDir, '--dest-creds', 'admin:Harbor12345']);
      const pull = await sb.ocictl(['--hosts-dir', '/etc/docker/certs.d', 'pull', `${reg.host}/cli/app:1`], { env: { DOCKER_CONFIG: dockerCfg } });
      assert.equal(pull.code, 0, pull.stderr);
      assert.match(pull.stdout, new RegExp(img.manifestDigest));
      const login = await sb.ocictl(['--hosts-dir', '/etc/docker/certs.d', 'login', reg.host, '-u', 'admin', '-p', 'Harbor12345']);
      assert.equal(login.code, 0, login.stderr);
      const sk = await run('skopeo', ['inspect', '--raw', '--cert-dir', reg.pki!.certDir, '--authfile', path.join(sb.dockerConfig, 'config.json'), `docker://${reg.host}/cli/app:1`]);
      assert.equal(sk.code, 0, sk.stderr);
      assert.equal(sha(sk.stdout), img.manifestDigest);
    } finally {
      await run('rm', ['-rf', certsd]);
      await reg.stop();
      await sb.cleanup();
    }
  });
});
