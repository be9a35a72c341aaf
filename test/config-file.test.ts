import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, symlink, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DockerConfigCredentials, removeCredentials, saveCredentials } from '../src/auth/credentials.js';
import { readDockerConfig } from '../src/auth/docker-config.js';

async function tmp(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'ocictl-cfg-'));
}

test('save writes auths[host].auth = base64(user:password), 0600 in a 0700 dir, keeping other keys', async () => {
  const dir = await tmp();
  try {
    const cfgDir = path.join(dir, 'docker');
    const file = path.join(cfgDir, 'config.json');
    await mkdir(cfgDir, { recursive: true });
    await writeFile(file, JSON.stringify({ auths: { 'other:5000': { auth: 'eDp5' } }, psFormat: 'table {{.ID}}', proxies: { default: { httpProxy: 'x' } } }));
    await saveCredentials(file, '192.168.2.250:443', { username: 'admin', password: 'Harbor12345' });
    const cfg = JSON.parse(await readFile(file, 'utf8'));
    assert.equal(cfg.auths['192.168.2.250:443'].auth, Buffer.from('admin:Harbor12345').toString('base64'));
    assert.equal(cfg.auths['other:5000'].auth, 'eDp5');
    assert.equal(cfg.psFormat, 'table {{.ID}}');
    assert.deepEqual(cfg.proxies, { default: { httpProxy: 'x' } });
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const fresh = path.join(dir, 'fresh', 'config.json');
    await saveCredentials(fresh, 'h:1', { username: 'u', password: 'p:with:colons' });
    assert.equal((await stat(path.dirname(fresh))).mode & 0o777, 0o700);
    const c = await new DockerConfigCredentials(fresh).get('h:1');
    assert.deepEqual(c, { username: 'u', password: 'p:with:colons' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('look-ups treat host and host:443 and legacy https:// keys as one registry', async () => {
  const dir = await tmp();
  try {
    const file = path.join(dir, 'config.json');
    const b = (s: string): string => Buffer.from(s).toString('base64');
    await writeFile(file, JSON.stringify({ auths: { 'harbor.local': { auth: b('a:1') }, 'https://legacy.example.com/v1/': { auth: b('b:2') }, 'https://index.docker.io/v1/': { auth: b('c:3') } } }));
    const src = new DockerConfigCredentials(file);
    assert.equal((await src.get('harbor.local:443'))?.username, 'a');
    assert.equal((await src.get('legacy.example.com'))?.username, 'b');
    assert.equal((await src.get('docker.io'))?.username, 'c');
    assert.equal(await src.get('unknown:5000'), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('remove deletes only that host and follows a symlinked config', async () => {
  const dir = await tmp();
  try {
    const real = path.join(dir, 'real.json');
    const link = path.join(dir, 'config.json');
    await writeFile(real, JSON.stringify({ auths: { 'a:1': { auth: 'eDp5' }, 'b:2': { auth: 'eDp5' } }, currentContext: 'x' }));
    await symlink(real, link);
    assert.equal(await removeCredentials(link, 'a:1'), true);
    assert.equal(await removeCredentials(link, 'zzz:1'), false);
    const cfg = JSON.parse(await readFile(real, 'utf8'));
    assert.deepEqual(Object.keys(cfg.auths), ['b:2']);
    assert.equal(cfg.currentContext, 'x');
    assert.ok((await stat(link, { bigint: false })).isFile());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('invalid config.json is refused with a one-line error naming the file', async () => {
  const dir = await tmp();
  try {
    const file = path.join(dir, 'config.json');
    for (const bad of ['{', '[]', '{"auths": 3}', '{"auths": {"h": {"auth": 5}}}', '{"credHelpers": {"h": 1}}']) {
      await writeFile(file, bad);
      await assert.rejects(readDockerConfig(file), (e: Error & { code?: string }) => e.code === 'CONFIG_INVALID' && e.message.includes(file) && !e.message.includes('\n'));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('concurrent saves in one process keep every entry', async () => {
  const dir = await tmp();
  try {
    const file = path.join(dir, 'config.json');
    await Promise.all(Array.from({ length: 20 }, (_, i) => saveCredentials(file, `host${i}:5000`, { username: `u${i}`, password: `p${i}` })));
    const cfg = JSON.parse(await readFile(file, 'utf8'));
    assert.equal(Object.keys(cfg.auths).length, 20);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
