import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OcictlError } from '../src/errors.js';
import { normaliseServer, parseReference } from '../src/reference/reference.js';

test('Docker normalisation of short names', () => {
  assert.equal(parseReference('nginx:1.23.1').toString(), 'docker.io/library/nginx:1.23.1');
  assert.equal(parseReference('nginx').toString(), 'docker.io/library/nginx:latest');
  assert.equal(parseReference('bitnami/nginx').toString(), 'docker.io/bitnami/nginx:latest');
  assert.equal(parseReference('docker.io/nginx').toString(), 'docker.io/library/nginx:latest');
  assert.equal(parseReference('index.docker.io/library/nginx:1').toString(), 'docker.io/library/nginx:1');
  assert.equal(parseReference('nginx:1.23.1').familiar(), 'nginx:1.23.1');
  assert.equal(parseReference('nginx').apiHost, 'registry-1.docker.io');
});

test('registry hosts: dot, colon or localhost in the first component', () => {
  const r = parseReference('192.168.2.250:443/lidabai/nginx:1.23.1');
  assert.equal(r.registry, '192.168.2.250:443');
  assert.equal(r.repository, 'lidabai/nginx');
  assert.equal(r.tag, '1.23.1');
  assert.equal(parseReference('localhost/foo').registry, 'localhost');
  assert.equal(parseReference('localhost:5000/foo:bar').registry, 'localhost:5000');
  assert.equal(parseReference('harbor.example.com/proj/app').registry, 'harbor.example.com');
  assert.equal(parseReference('harbor.example.com/proj/app').toString(), 'harbor.example.com/proj/app:latest');
  assert.equal(parseReference('foo/bar').registry, 'docker.io', 'first component without . or : is a path');
  assert.equal(parseReference('[::1]:5000/a/b').registry, '[::1]:5000');
});

test('digests and tag+digest', () => {
  const d = `sha256:${'a'.repeat(64)}`;
  const r = parseReference(`127.0.0.1:5000/a/b@${d}`);
  assert.equal(r.digest, d);
  assert.equal(r.tag, undefined);
  assert.equal(r.identifier, d);
  const both = parseReference(`127.0.0.1:5000/a/b:1.0@${d}`);
  assert.equal(both.tag, '1.0');
  assert.equal(both.digest, d);
  assert.equal(both.toString(), `127.0.0.1:5000/a/b:1.0@${d}`);
});

function refusedWith(input: string, pattern: RegExp): void {
  assert.throws(() => parseReference(input), (e: unknown) => {
    assert.ok(e instanceof OcictlError);
    assert.equal(e.code, 'INVALID_REFERENCE');
    assert.match(e.message, pattern);
    return true;
  });
}

test('invalid names say which part is wrong', () => {
  refusedWith('', /empty/);
  refusedWith('Nginx:1', /lower case/);
  refusedWith('127.0.0.1:5000/Lidabai/nginx', /lower case/);
  refusedWith('nginx@sha256:abc', /64 lower-case hex/);
  refusedWith('nginx@md5:' + 'a'.repeat(32), /not supported/);
  refusedWith('nginx:-bad', /tag "-bad" is invalid/);
  refusedWith('nginx:' + 'a'.repeat(129), /tag/);
  refusedWith('a//b', /empty component/);
  refusedWith('host:99999/a', /port/);
  refusedWith('https://host/a', /scheme/);
  refusedWith('a b', /white space/);
  refusedWith('a/b-/c', /component "b-"/);
});

test('login server normalisation', () => {
  assert.equal(normaliseServer(undefined), 'docker.io');
  assert.equal(normaliseServer('https://index.docker.io/v1/'), 'docker.io');
  assert.equal(normaliseServer('https://192.168.2.250:443/'), '192.168.2.250:443');
  assert.equal(normaliseServer('http://harbor.local/v2/'), 'harbor.local');
  assert.equal(normaliseServer('127.0.0.1:5000'), '127.0.0.1:5000');
  assert.throws(() => normaliseServer('bad host'), OcictlError);
});
