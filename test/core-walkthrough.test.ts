/**
 * The walkthrough's client steps, verbatim with `ocictl` in place of
 * `nerdctl` and 127.0.0.1:PORT in place of 192.168.2.250:443, against a real
 * docker-registry with TLS (a throwaway CA) and htpasswd — plus the failures a
 * user meets on the way (unknown CA, wrong password, registry down).
 */
import assert from 'node:assert/strict';
import { readFile, stat, writeFile, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxImage, skopeoPush } from '../fixtures/images.js';
import { freePort, run, tmpDir } from '../fixtures/proc.js';
import { type RunningRegistry, startRegistry } from '../fixtures/registry.js';
import { isOneLineError, type Sandbox, sandbox } from './lib/cli.js';

describe('walkthrough against TLS + htpasswd', () => {
  let harbor: RunningRegistry; // the "Harbor": TLS + htpasswd
  let hub: RunningRegistry; // stands in for Docker Hub through a hosts.toml mirror
  let sb: Sandbox;
  let H: string;
  let busyboxDigest: string;

  before(async () => {
    [harbor, hub] = await Promise.all([startRegistry({ tls: true, htpasswd: { admin: 'Harbor12345' } }), startRegistry({})]);
    H = harbor.host;
    sb = await sandbox();
    const layout = await tmpDir('ocictl-layout-');
    const img = await buildBusyboxImage(layout, '1.23.1');
    busyboxDigest = img.manifestDigest;
    await skopeoPush(layout, '1.23.1', `docker://${hub.host}/library/nginx:1.23.1`, ['--dest-tls-verify=false']);
    // Docker Hub is reached through a mirror, the way containerd's hosts.toml does it.
    await mkdir(path.join(sb.hostsDir, 'docker.io'), { recursive: true });
    await writeFile(path.join(sb.hostsDir, 'docker.io', 'hosts.toml'), `server = "https://registry-1.docker.io"\n\n[host."http://${hub.host}"]\n  capabilities = ["pull", "resolve"]\n`);
    sb.env.OCICTL_HOSTS_DIR = sb.hostsDir;
  });

  after(async () => {
    await Promise.all([harbor?.stop(), hub?.stop()]);
    await sb?.cleanup();
  });

  test('every command of the walkthrough passes verbatim', async () => {
    const w = (line: string): string[] => line.replaceAll('192.168.2.250:443', H).split(' ').slice(1);
    const ok = async (line: string): Promise<string> => {
      const r = await sb.ocictl(w(line));
      assert.equal(r.code, 0, `${line}\n${r.stderr}`);
      return r.stdout + r.stderr;
    };
    // A Kubernetes node that already had the image in k8s.io (so that rm has something to remove).
    const pre = await sb.ocictl(['-n', 'k8s.io', 'pull', 'nginx:1.23.1']);
    assert.equal(pre.code, 0, pre.stderr);
    assert.equal((await sb.ocictl(['-n', 'k8s.io', 'tag', 'nginx:1.23.1', `${H}/lidabai/nginx:1.23.1`])).code, 0);

    const login = await ok('nerdctl login 192.168.2.250:443 -u admin -p Harbor12345 --insecure-registry');
    assert.match(login, /Login Succeeded/);
    const cfg = JSON.parse(await readFile(path.join(sb.dockerConfig, 'config.json'), 'utf8'));
    assert.equal(cfg.auths[H].auth, Buffer.from('admin:Harbor12345').toString('base64'));
    assert.equal((await stat(path.join(sb.dockerConfig, 'config.json'))).mode & 0o777, 0o600);
    assert.equal((await stat(sb.dockerConfig)).mode & 0o777, 0o700);

    await ok('nerdctl pull nginx:1.23.1');
    await ok('nerdctl image tag nginx:1.23.1 192.168.2.250:443/lidabai/nginx:1.23.1');
    const push = await ok('nerdctl image push 192.168.2.250:443/lidabai/nginx:1.23.1 --insecure-registry');
    assert.match(push, new RegExp(`digest: ${busyboxDigest}`));
    const rm = await ok('nerdctl -n k8s.io image rm 192.168.2.250:443/lidabai/nginx:1.23.1');
    assert.match(rm, new RegExp(`Untagged: ${H}/lidabai/nginx:1.23.1`));
    const imagesAfterRm = await ok('nerdctl -n k8s.io images');
    assert.doesNotMatch(imagesAfterRm, /lidabai\/nginx/);
    const pull = await ok('nerdctl -n k8s.io pull 192.168.2.250:443/lidabai/nginx:1.23.1 --insecure-registry');
    assert.match(pull, new RegExp(busyboxDigest));
    const images = await ok('nerdctl -n k8s.io images');
    assert.match(images, new RegExp(`${H}/lidabai/nginx\\s+1\\.23\\.1\\s+${busyboxDigest.slice(7, 19)}`));
    const logout = await ok('nerdctl logout 192.168.2.250:443');
    assert.match(logout, new RegExp(`Removing login credentials for ${H}`));
    const after = JSON.parse(await readFile(path.join(sb.dockerConfig, 'config.json'), 'utf8'));
    assert.equal(after.auths[H], undefined);

    // What was pushed is what skopeo reads back, and the k8s.io store is an OCI layout skopeo reads.
    const raw = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', 'admin:Harbor12345', `docker://${H}/lidabai/nginx:1.23.1`]);
    assert.equal(raw.code, 0, raw.stderr);
    const { createHash } = await import('node:crypto');
    assert.equal(`sha256:${createHash('sha256').update(raw.stdout).digest('hex')}`, busyboxDigest);
    const local = await run('skopeo', ['inspect', '--raw', `oci:${path.join(sb.dataRoot, 'k8s.io')}:${H}/lidabai/nginx:1.23.1`]);
    assert.equal(local.code, 0, local.stderr);
    assert.equal(`sha256:${createHash('sha256').update(local.stdout).digest('hex')}`, busyboxDigest);
  });

  test('rm of an image the namespace does not hold fails clearly', async () => {
    const r = await sb.ocictl(['-n', 'k8s.io', 'image', 'rm', `${H}/lidabai/none:1`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no such image/);
    assert.ok(isOneLineError(r.stderr), r.stderr);
  });

  test('without --insecure-registry or a CA: one line naming both remedies', async () => {
    const r = await sb.ocictl(['login', H, '-u', 'admin', '--password-stdin'], { input: 'Harbor12345\n' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /x509: certificate signed by unknown authority/);
    assert.match(r.stderr, new RegExp(`${sb.hostsDir}/${H}/ca.crt`.replaceAll('.', '\\.')));
    assert.match(r.stderr, /--insecure-registry/);
    assert.ok(isOneLineError(r.stderr), r.stderr);
    const pull = await sb.ocictl(['pull', `${H}/lidabai/nginx:1.23.1`]);
    assert.equal(pull.code, 1);
    assert.match(pull.stderr, /unknown authority/);
  });

  test('with the CA in the hosts dir no flag is needed; wrong password changes nothing', async () => {
    await sb.trustCa(H, harbor.pki!.caCert);
    const cfgFile = path.join(sb.dockerConfig, 'config.json');
    const before = await readFile(cfgFile, 'utf8');
    const bad = await sb.ocictl(['login', H, '-u', 'admin', '--password-stdin'], { input: 'wrong\n' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /not accepted/);
    assert.ok(isOneLineError(bad.stderr), bad.stderr);
    assert.equal(await readFile(cfgFile, 'utf8'), before);
    const good = await sb.ocictl(['login', H, '-u', 'admin', '--password-stdin'], { input: 'Harbor12345\n' });
    assert.equal(good.code, 0, good.stderr);
    assert.doesNotMatch(good.stdout + good.stderr, /Harbor12345/);
    const pull = await sb.ocictl(['pull', '-q', `${H}/lidabai/nginx:1.23.1`]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.equal(pull.stdout.trim(), `${H}/lidabai/nginx:1.23.1`);
  });

  test('pull without credentials is refused with a hint to log in', async () => {
    const sb2 = await sandbox();
    try {
      await sb2.trustCa(H, harbor.pki!.caCert);
      const r = await sb2.ocictl(['--hosts-dir', sb2.hostsDir, 'pull', `${H}/lidabai/nginx:1.23.1`]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`ocictl login ${H}`));
      assert.ok(isOneLineError(r.stderr), r.stderr);
    } finally {
      await sb2.cleanup();
    }
  });

  test('image not found, invalid reference, registry down: one clear line each', async () => {
    const nf = await sb.ocictl(['pull', `${H}/lidabai/nope:1`]);
    assert.equal(nf.code, 1);
    assert.match(nf.stderr, /manifest unknown|not found/);
    assert.ok(isOneLineError(nf.stderr), nf.stderr);
    const inv = await sb.ocictl(['pull', `${H}/Lidabai/nginx:1`]);
    assert.equal(inv.code, 1);
    assert.match(inv.stderr, /must be lower case/);
    const port = await freePort();
    const down = await sb.ocictl(['--retries', '0', 'pull', `127.0.0.1:${port}/a/b:1`]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /connection refused/);
    assert.ok(isOneLineError(down.stderr), down.stderr);
    // The store has no leftovers from the failed pulls.
    const ingest = await readdir(path.join(sb.dataRoot, 'default', 'ingest'));
    assert.deepEqual(ingest, []);
  });
});
