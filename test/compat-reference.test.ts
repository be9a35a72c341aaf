/**
 * Image references agree with distribution/reference v0.6 (ParseNormalizedNamed, FamiliarName,
 * ParseAnyReference) — the facts below are what that package answers; the deliberate
 * differences (docs/compatibility.md) are tested as such at the end.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OcictlError } from '../src/errors.js';
import { familiarName, parseAnyReference, parseReference } from '../src/reference/reference.js';

const HEX = '0123456789abcdef'.repeat(4);
const D = `sha256:${'f'.repeat(64)}`;

function refused(input: string): void {
  assert.throws(() => parseReference(input), (e: unknown) => e instanceof OcictlError && e.code === 'INVALID_REFERENCE' && !e.message.includes('\n'), JSON.stringify(input));
}

test('accepted names: registry, path, tag and digest as upstream splits them', () => {
  // input → [registry, repository, tag, digest] (no default tag added)
  const table: Array<[string, string, string, string?, string?]> = [
    ['test_com', 'docker.io', 'library/test_com'],
    ['test.com:tag', 'docker.io', 'library/test.com', 'tag'],
    ['test.com:5000', 'docker.io', 'library/test.com', '5000'],
    ['test.com/repo:tag', 'test.com', 'repo', 'tag'],
    ['test:5000/repo', 'test:5000', 'repo'],
    [`test:5000/repo:tag@${D}`, 'test:5000', 'repo', 'tag', D],
    ['lowercase:Uppercase', 'docker.io', 'library/lowercase', 'Uppercase'],
    ['sub-dom1.foo.com/bar/baz/quux:some-long-tag', 'sub-dom1.foo.com', 'bar/baz/quux', 'some-long-tag'],
    ['b.gcr.io/test.example.com/my-app:test.example.com', 'b.gcr.io', 'test.example.com/my-app', 'test.example.com'],
    ['xn--n3h.com/myimage:xn--n3h.com', 'xn--n3h.com', 'myimage', 'xn--n3h.com'],
    ['foo_bar.com:8080', 'docker.io', 'library/foo_bar.com', '8080'],
    ['foo/foo_bar.com:8080', 'docker.io', 'foo/foo_bar.com', '8080'],
    ['192.168.1.1', 'docker.io', 'library/192.168.1.1'],
    ['192.168.1.1:5000/repo:5050', '192.168.1.1:5000', 'repo', '5050'],
    ['localhost/debian', 'localhost', 'debian'],
    ['localhost:5000/library/debian', 'localhost:5000', 'library/debian'],
    ['index.docker.io/debian', 'docker.io', 'library/debian'],
    ['docker.io/docker/docker', 'docker.io', 'docker/docker'],
    // an upper-case first component is a registry host (a path is lower case)
    ['LOCALDOMAIN/foo', 'LOCALDOMAIN', 'foo'],
    ['LOCALDOMAIN/library/debian', 'LOCALDOMAIN', 'library/debian'],
    ['Docker/docker', 'Docker', 'docker'],
    // bracketed IPv6 hosts, with or without a port
    ['[2001:db8::1]/repo', '[2001:db8::1]', 'repo'],
    ['[2001:db8:1:2:3:4:5:6]/repo:tag', '[2001:db8:1:2:3:4:5:6]', 'repo', 'tag'],
    [`[2001:db8::1]:5000/repo:tag@${D}`, '[2001:db8::1]:5000', 'repo', 'tag', D],
    ['[2001:db8::]:5000/repo', '[2001:db8::]:5000', 'repo'],
    ['[::1]:5000/repo', '[::1]:5000', 'repo'],
    ['[fc00::1]:5000/docker/docker', '[fc00::1]:5000', 'docker/docker'],
    // a 64-hex path is fine once a registry removes the ambiguity with an image ID
    [`docker.io/${HEX}`, 'docker.io', `library/${HEX}`],
    [`${HEX}:tag`, 'docker.io', `library/${HEX}`, 'tag'],
    ['thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev', 'docker.io', 'library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev'],
    // the 255-character limit is on the path; the registry does not count
    [`example.com/${'a'.repeat(255)}:tag`, 'example.com', 'a'.repeat(255), 'tag'],
    [`${'a/'.repeat(127)}a:tag-puts-this-over-max`, 'docker.io', `${'a/'.repeat(127)}a`, 'tag-puts-this-over-max'],
  ];
  for (const [input, registry, repository, tag, digest] of table) {
    const r = parseReference(input, { defaultTag: null });
    assert.deepEqual([r.registry, r.repository, r.tag, r.digest], [registry, repository, tag, digest], input);
  }
});

test('refused names, each with a one-line INVALID_REFERENCE', () => {
  for (const input of [
    '', ':justtag', `@${D}`, 'repo@sha256:ffffffffffffffffffffffffffffffffff', `validname@invaliddigest:${'f'.repeat(64)}`,
    'Uppercase:tag', 'test:5000/Uppercase/lowercase:tag', `domain/${'a'.repeat(256)}:tag`, 'aa/asdf$$^/aa',
    'https://github.com/docker/docker', 'docker/Docker', '-docker', '-docker/docker', '-docker.io/docker/docker',
    'docker///docker', 'docker.io/docker/Docker', 'docker.io/docker///docker',
    '[fc00::1]', '[fc00::1]:5000', 'fc00::1:5000/debian', '[2001:db8::1]', '[2001:db8::1]:5000', '[2001:db8::1]:tag',
    '[fe80::1%eth0]:5000/debian', '[fe80::1%@invalidzone]:5000/repo', '[2001:db8:3:4::192.0.2.33]:5000/debian',
    HEX, // a bare 64-hex name is an image ID, never a repository
  ]) refused(input);
  // the path limit counts `library/` that normalisation adds
  refused('a'.repeat(248));
  assert.equal(parseReference('a'.repeat(247)).repository.length, 255);
});

test('familiar names, as docker prints them', () => {
  const table: Array<[string, string]> = [
    ['docker.io/library/nginx:1.23.1', 'nginx'],
    ['nginx', 'nginx'],
    ['docker.io/bitnami/nginx', 'bitnami/nginx'],
    ['docker.io/library/a/b', 'library/a/b'],
    ['index.docker.io/fooo/bar', 'fooo/bar'],
    ['localhost/fooo', 'localhost/fooo'],
    ['LOCALDOMAIN/fooo/bar', 'LOCALDOMAIN/fooo/bar'],
    ['127.0.0.1:5000/lidabai/nginx:1', '127.0.0.1:5000/lidabai/nginx'],
    [`[::1]:5000/x@${D}`, '[::1]:5000/x'],
  ];
  for (const [input, want] of table) assert.equal(familiarName(input), want, input);
  assert.equal(familiarName(parseReference('busybox:1')), 'busybox');
  assert.equal(parseReference(`redis:7@${D}`).familiar(), `redis:7@${D}`);
});

test('any reference: image IDs and digests, else a name', () => {
  assert.deepEqual(parseAnyReference(HEX), { kind: 'digest', digest: `sha256:${HEX}` });
  assert.deepEqual(parseAnyReference(`sha256:${HEX}`), { kind: 'digest', digest: `sha256:${HEX}` });
  const named = parseAnyReference('redis');
  assert.equal(named.kind, 'named');
  assert.equal(named.kind === 'named' && named.reference.toString(), 'docker.io/library/redis:latest');
  const short = parseAnyReference(HEX.slice(0, 20));
  assert.equal(short.kind === 'named' && short.reference.repository, `library/${HEX.slice(0, 20)}`, 'a short ID is a name');
  // a digest of an algorithm ocictl does not know reads as name:tag, as upstream
  const md5 = parseAnyReference(`md5:${'a'.repeat(32)}`);
  assert.equal(md5.kind === 'named' && md5.reference.toString(), `docker.io/library/md5:${'a'.repeat(32)}`);
  assert.throws(() => parseAnyReference('Not/Valid/ref:'), OcictlError);
});

test('deliberate differences: stricter ports, docker.io spellings', () => {
  // upstream takes any digits as a port; ocictl refuses what no TCP port can be
  refused('host:99999/a');
  refused('host:0/a');
  refused('[::1]:70000/a');
  // registry-1.docker.io is Docker Hub's API host: ocictl treats it as docker.io
  assert.equal(parseReference('registry-1.docker.io/library/nginx').toString(), 'docker.io/library/nginx:latest');
});
