/**
 * Docker's config.json and DOCKER_AUTH_CONFIG read as docker/cli reads them (configfile,
 * credentials.ConvertToHostname, the environment store in front of the file store).
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage, skopeoPush } from '../fixtures/images.js';
import { tmpDir } from '../fixtures/proc.js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.js';
import { DockerConfigCredentials } from '../src/auth/credentials.js';
import { decodeAuth, envAuthConfig, hostOfKey } from '../src/auth/docker-config.js';
import { OcictlError } from '../src/errors.js';
import { assertOneLineError, ocictl } from './faults-lib.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

let work: string;
before(async () => {
  work = await tmpDir('ocitest-compat-config');
});
after(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

let k = 0;
async function configWith(doc: unknown): Promise<string> {
  const file = path.join(work, `c${++k}`, 'config.json');
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, JSON.stringify(doc));
  return file;
}

describe('config.json keys, as docker/cli converts them to host names', () => {
  it('ConvertToHostname facts', () => {
    const table: Array<[string, string]> = [
      ['example.com', 'example.com'],
      ['https://example.com/v2/', 'example.com'],
      ['http://example.com', 'example.com'],
      ['ftp://example.com', 'example.com'],
      ['127.0.0.1:6556', '127.0.0.1:6556'],
      ['[::1]:6556', '[::1]:6556'],
      ['::1:6556', '::1:6556'], // without a scheme docker keeps it as written
      ['example.com:6555', 'example.com:6555'],
      ['https://127.0.0.1:6555/v2/', '127.0.0.1:6555'],
      ['https://::1:6555/v2/', '[::1]:6555'],
      ['https://[::1]:6555/v2/', '[::1]:6555'],
      ['https://example.com:6555/v2/', 'example.com:6555'],
      ['https://index.docker.io/v1/', 'docker.io'],
    ];
    for (const [key, host] of table) assert.equal(hostOfKey(key), host, key);
  });

  it('a legacy key is found for the host it names', async () => {
    const file = await configWith({ auths: {
      'https://[::1]:6555/v2/': { auth: b64('v6:pw1') },
      'https://::1:7000/v2/': { auth: b64('v6b:pw2') },
      'http://legacy.example:5000/v1/': { auth: b64('old:pw3') },
      'https://index.docker.io/v1/': { auth: b64('hub:pw4') },
    } });
    const c = new DockerConfigCredentials(file, {});
    assert.deepEqual(await c.get('[::1]:6555'), { username: 'v6', password: 'pw1' });
    assert.deepEqual(await c.get('[::1]:7000'), { username: 'v6b', password: 'pw2' });
    assert.deepEqual(await c.get('legacy.example:5000'), { username: 'old', password: 'pw3' });
    assert.deepEqual(await c.get('docker.io'), { username: 'hub', password: 'pw4' });
    assert.equal(await c.get('[::1]:6556'), undefined);
  });

  it('the exact key wins over a legacy spelling of the same host', async () => {
    const file = await configWith({ auths: { 'https://reg.example/v2/': { auth: b64('legacy:a') }, 'reg.example': { auth: b64('exact:b') } } });
    assert.deepEqual(await new DockerConfigCredentials(file, {}).get('reg.example'), { username: 'exact', password: 'b' });
  });

  it('auth decoding: user:password, NULs trimmed from the password, an empty user refused', () => {
    assert.deepEqual(decodeAuth(b64('u:p:with:colons'), 'k'), { username: 'u', password: 'p:with:colons' });
    assert.deepEqual(decodeAuth(b64('u:pw\0\0'), 'k'), { username: 'u', password: 'pw' });
    assert.throws(() => decodeAuth(b64(':pw'), 'k'), OcictlError);
    assert.throws(() => decodeAuth(b64('nocolon'), 'k'), OcictlError);
  });
});

describe('DOCKER_AUTH_CONFIG', () => {
  const envAuth = JSON.stringify({ auths: { 'env.example.test': { auth: b64('env_user:env_pass') } } });

  it('is read before config.json, which still answers for other hosts', async () => {
    const file = await configWith({ auths: { 'foo.example.test': { auth: b64('user:pass') }, 'env.example.test': { auth: b64('file_user:file_pass') } } });
    const c = new DockerConfigCredentials(file, { DOCKER_AUTH_CONFIG: envAuth });
    assert.deepEqual(await c.get('env.example.test'), { username: 'env_user', password: 'env_pass' });
    assert.deepEqual(await c.get('foo.example.test'), { username: 'user', password: 'pass' });
    assert.equal(await c.get('other.example.test'), undefined);
  });

  it('is ignored when empty or unset', async () => {
    const file = await configWith({ auths: { 'env.example.test': { auth: b64('file_user:file_pass') } } });
    for (const env of [{}, { DOCKER_AUTH_CONFIG: '' }]) {
      assert.deepEqual(await new DockerConfigCredentials(file, env).get('env.example.test'), { username: 'file_user', password: 'file_pass' });
    }
    assert.equal(envAuthConfig({}), undefined);
  });

  it('takes only {"auths": {HOST: {"auth": ...}}}: anything else is a one-line CONFIG_INVALID', () => {
    for (const bad of [
      JSON.stringify({ auths: { 'env.example.test': { username: 'env_user', password: 'env_pass', serveraddress: 'env.example.test' } } }),
      JSON.stringify({ auths: { h: {} } }),
      JSON.stringify({ auths: { h: { auth: b64('nocolon') } } }),
      JSON.stringify({ auths: {}, credsStore: 'x' }),
      `${envAuth}${envAuth}`,
      '[]',
      'not json',
    ]) {
      assert.throws(() => envAuthConfig({ DOCKER_AUTH_CONFIG: bad }), (e: unknown) => e instanceof OcictlError && e.code === 'CONFIG_INVALID' && !e.message.includes('\n') && !e.message.includes('env_pass'), bad);
    }
  });
});

describe('DOCKER_AUTH_CONFIG with a real registry', { timeout: 120_000 }, () => {
  let reg: RunningRegistry;
  before(async () => {
    reg = await startRegistry({ htpasswd: { envuser: 'Env-Pass-42' } });
    const layout = path.join(work, 'layout');
    await buildImage(layout, 'v1', { layers: [{ size: 50_000, seed: 3 }] });
    await skopeoPush(layout, 'v1', `docker://${reg.host}/env/img:1`, ['--dest-tls-verify=false', '--dest-creds', 'envuser:Env-Pass-42']);
  });
  after(async () => {
    await reg?.stop();
  });

  it('a pull authenticates with it; a malformed one fails in one line without echoing it', async () => {
    const dockerConfig = path.join(work, 'empty-docker');
    const good = JSON.stringify({ auths: { [reg.host]: { auth: b64('envuser:Env-Pass-42') } } });
    const r = await ocictl(['--insecure-registry', 'pull', '-q', `${reg.host}/env/img:1`], { dockerConfig, dataRoot: path.join(work, 'd1'), extra: { DOCKER_AUTH_CONFIG: good } });
    assert.equal(r.code, 0, r.stderr);
    const denied = await ocictl(['--insecure-registry', 'pull', '-q', `${reg.host}/env/img:1`], { dockerConfig, dataRoot: path.join(work, 'd2') });
    assertOneLineError(denied, 'no credentials');
    const bad = JSON.stringify({ auths: { [reg.host]: { username: 'envuser', password: 'Env-Pass-42' } } });
    const r3 = await ocictl(['--insecure-registry', 'pull', '-q', `${reg.host}/env/img:1`], { dockerConfig, dataRoot: path.join(work, 'd3'), extra: { DOCKER_AUTH_CONFIG: bad } });
    const line = assertOneLineError(r3, 'malformed DOCKER_AUTH_CONFIG');
    assert.match(line, /DOCKER_AUTH_CONFIG/);
    assert.doesNotMatch(`${r3.stdout}${r3.stderr}`, /Env-Pass-42/);
  });
});
