// Unit tests of the auth building blocks: WWW-Authenticate parsing, scope merging, token responses and
// requests (GET with Basic, OAuth2 refresh POST with GET fallback), the Authorizer's cache and 401 handling,
// config.json key normalisation, and registry error bodies turned into one line.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { Authorizer } from '../src/auth/authorizer.js';
import { challengeScopes, parseChallenges } from '../src/auth/challenge.js';
import { DockerConfigCredentials, StaticCredentials } from '../src/auth/credentials.js';
import { DOCKER_HUB_KEY, configKey, decodeAuth, hostAliases, hostOfKey } from '../src/auth/docker-config.js';
import { mergeScopes, repositoryScope } from '../src/auth/scope.js';
import { type TokenHttp, fetchToken, parseTokenResponse } from '../src/auth/token.js';
import { RegistryError } from '../src/errors.js';
import { registryError, undouble } from '../src/registry/errors.js';
import { credentialHelperEnv } from '../fixtures/credhelper.js';

const REALM = 'https://harbor.example:8443/service/token';
const HARBOR_CHALLENGE = `Bearer realm="${REALM}",service="harbor-registry",scope="repository:lidabai/busybox:pull,push"`;

describe('WWW-Authenticate', () => {
  it('parses Harbor\'s and distribution\'s challenges, quoted values with commas and escapes, case-insensitively', () => {
    const [c] = parseChallenges(HARBOR_CHALLENGE);
    assert.equal(c!.scheme, 'bearer');
    assert.deepEqual(c!.params, { realm: REALM, service: 'harbor-registry', scope: 'repository:lidabai/busybox:pull,push' });
    assert.deepEqual(challengeScopes(c!), ['repository:lidabai/busybox:pull,push']);
    const d = parseChallenges('BEARER Realm="https://r/t", Service="s", Scope="repository:a:pull repository:b:pull", error="insufficient_scope"');
    assert.equal(d[0]!.params.error, 'insufficient_scope');
    assert.deepEqual(challengeScopes(d[0]!), ['repository:a:pull', 'repository:b:pull']);
    assert.deepEqual(parseChallenges('Basic realm="say \\"hi\\", friend"')[0], { scheme: 'basic', params: { realm: 'say "hi", friend' } });
    assert.deepEqual(parseChallenges('Basic realm=harbor')[0], { scheme: 'basic', params: { realm: 'harbor' } });
  });

  it('several challenges in one header or in several headers; token68 schemes skipped over', () => {
    const one = parseChallenges('Negotiate abc123==, Basic realm="harbor", Bearer realm="https://r/t",service="x"');
    assert.deepEqual(one.map((c) => c.scheme), ['negotiate', 'basic', 'bearer']);
    assert.equal(one[2]!.params.service, 'x');
    const many = parseChallenges(['Basic realm="harbor"', HARBOR_CHALLENGE]);
    assert.deepEqual(many.map((c) => c.scheme), ['basic', 'bearer']);
    assert.deepEqual(parseChallenges(undefined), []);
    assert.deepEqual(parseChallenges(''), []);
  });

  it('never throws on arbitrary input', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => Array.isArray(parseChallenges(s))), { numRuns: 2000 });
  });
});

describe('scopes', () => {
  it('repositoryScope and mergeScopes: one entry per resource, actions in pull,push,delete order, sorted', () => {
    assert.equal(repositoryScope('lidabai/busybox', ['pull', 'push', 'pull']), 'repository:lidabai/busybox:pull,push');
    assert.deepEqual(mergeScopes(['repository:a:push', 'repository:a:pull']), ['repository:a:pull,push']);
    assert.deepEqual(mergeScopes(['repository:b/x:pull', 'repository:a:delete', 'repository:a:pull,push']), ['repository:a:pull,push,delete', 'repository:b/x:pull']);
    // A registry with a port inside the resource name keeps it (the actions are after the last ':').
    assert.deepEqual(mergeScopes(['registry:catalog:*']), ['registry:catalog:*']);
    assert.deepEqual(mergeScopes([]), []);
  });
});

describe('token responses', () => {
  it('token or access_token; lifetime counted from when the request was sent, with a margin of at least 1 s', () => {
    const t0 = 1_700_000_000_000;
    const t = parseTokenResponse(JSON.stringify({ token: 'T', access_token: 'A', expires_in: 1800, issued_at: '2001-01-01T00:00:00Z' }), 'h', t0);
    assert.equal(t.token, 'T');
    assert.equal(t.expiresAt, t0 + (1800 - 30) * 1000, 'a server clock far off is ignored');
    assert.equal(parseTokenResponse(JSON.stringify({ access_token: 'A', expires_in: 2 }), 'h', t0).expiresAt, t0 + 1000);
    assert.equal(parseTokenResponse(JSON.stringify({ token: 'T' }), 'h', t0).expiresAt, t0 + (60 - 12) * 1000, 'default 60 s');
    assert.equal(parseTokenResponse(JSON.stringify({ token: 'T', expires_in: 10 ** 9 }), 'h', t0).expiresAt, t0 + (86400 - 30) * 1000, 'capped at a day');
    assert.equal(parseTokenResponse(JSON.stringify({ token: 'T', refresh_token: 'R' }), 'h', t0).refreshToken, 'R');
  });

  it('refuses what is not a token, in one line that does not echo the body', () => {
    for (const body of ['', 'not json', '[]', '{}', JSON.stringify({ token: 'a\r\nb' }), JSON.stringify({ token: '' })]) {
      assert.throws(() => parseTokenResponse(body, 'h'), (e: Error) => /token service of h/.test(e.message) && !e.message.includes('\n'));
    }
  });
});

/** A fake token service recording each exchange. */
function fakeHttp(answers: ((r: Parameters<TokenHttp>[0]) => { status: number; text: string })[]): { http: TokenHttp; calls: Parameters<TokenHttp>[0][] } {
  const calls: Parameters<TokenHttp>[0][] = [];
  let i = 0;
  const http: TokenHttp = async (r) => {
    calls.push(r);
    const a = answers[Math.min(i++, answers.length - 1)]!;
    return a(r);
  };
  return { http, calls };
}
const ok = (token: string, expires = 1800) => () => ({ status: 200, text: JSON.stringify({ token, expires_in: expires }) });
const basicOf = (h: string | undefined): string => Buffer.from((h ?? '').replace(/^Basic /, ''), 'base64').toString();

describe('fetchToken', () => {
  it('GET with Basic credentials; robot names URL-encoded in account; each scope its own parameter', async () => {
    const { http, calls } = fakeHttp([ok('T')]);
    const t = await fetchToken(http, { realm: REALM, service: 'harbor-registry', scopes: ['repository:a:pull,push', 'repository:b:pull'], credentials: { username: 'robot$lidabai+ci', password: 's3cret' } }, 'h');
    assert.equal(t.token, 'T');
    assert.equal(calls.length, 1);
    const u = new URL(calls[0]!.url);
    assert.equal(calls[0]!.method, 'GET');
    assert.match(calls[0]!.url, /account=robot%24lidabai%2Bci/);
    assert.deepEqual(u.searchParams.getAll('scope'), ['repository:a:pull,push', 'repository:b:pull']);
    assert.equal(u.searchParams.get('service'), 'harbor-registry');
    assert.equal(basicOf(calls[0]!.headers.authorization), 'robot$lidabai+ci:s3cret');
  });

  it('anonymous: no Authorization, no account', async () => {
    const { http, calls } = fakeHttp([ok('T')]);
    await fetchToken(http, { realm: REALM, service: 'harbor-registry', scopes: ['repository:library/busybox:pull'] }, 'h');
    assert.equal(calls[0]!.headers.authorization, undefined);
    assert.ok(!calls[0]!.url.includes('account='));
  });

  it('identitytoken: OAuth2 POST grant_type=refresh_token first', async () => {
    const { http, calls } = fakeHttp([ok('FROM-POST')]);
    const t = await fetchToken(http, { realm: REALM, service: 'svc', scopes: ['repository:a:pull'], credentials: { username: 'alice', password: '', identityToken: 'REFRESH' } }, 'h');
    assert.equal(t.token, 'FROM-POST');
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.method, 'POST');
    const body = new URLSearchParams(calls[0]!.body);
    assert.equal(body.get('grant_type'), 'refresh_token');
    assert.equal(body.get('refresh_token'), 'REFRESH');
    assert.equal(body.get('service'), 'svc');
    assert.equal(body.get('scope'), 'repository:a:pull');
    assert.equal(calls[0]!.headers['content-type'], 'application/x-www-form-urlencoded');
  });

  it('identitytoken: 405 (Harbor) / 404 / 401 / 400 fall back to GET with the token as the password', async () => {
    for (const status of [405, 404, 401, 400]) {
      const { http, calls } = fakeHttp([() => ({ status, text: '' }), ok('FROM-GET')]);
      const t = await fetchToken(http, { realm: REALM, service: 'svc', scopes: [], credentials: { username: 'alice', password: '', identityToken: 'REFRESH' } }, 'h');
      assert.equal(t.token, 'FROM-GET');
      assert.deepEqual(calls.map((c) => c.method), ['POST', 'GET']);
      assert.equal(basicOf(calls[1]!.headers.authorization), 'alice:REFRESH');
    }
    // From a helper the user name is "<token>" (or empty).
    const { http, calls } = fakeHttp([() => ({ status: 405, text: '' }), ok('G')]);
    await fetchToken(http, { realm: REALM, scopes: [], credentials: { identityToken: 'REFRESH' } }, 'h');
    assert.equal(basicOf(calls[1]!.headers.authorization), '<token>:REFRESH');
  });

  it('refused credentials: UNAUTHORIZED saying so; other failures name the status; a realm that is not http(s) is refused', async () => {
    const { http } = fakeHttp([() => ({ status: 401, text: '' })]);
    await assert.rejects(fetchToken(http, { realm: REALM, scopes: [], credentials: { username: 'u', password: 'wrong' } }, 'h'), (e: Error & { code?: string }) => e.code === 'UNAUTHORIZED' && /not accepted/.test(e.message) && !e.message.includes('wrong'));
    const { http: h2 } = fakeHttp([() => ({ status: 400, text: 'Unable to handle service: x' })]);
    await assert.rejects(fetchToken(h2, { realm: REALM, scopes: [] }, 'h'), /answered HTTP 400/);
    await assert.rejects(fetchToken(h2, { realm: 'file:///etc/passwd', scopes: [] }, 'h'), /scheme file:/);
  });
});

describe('Authorizer', () => {
  const creds = new StaticCredentials({ username: 'admin', password: 'pw' });
  const challenge = `Bearer realm="${REALM}",service="harbor-registry"`;

  it('asks nothing before a challenge; then one token per scope set, shared by concurrent requests, reused while fresh', async () => {
    let n = 0;
    const { http, calls } = fakeHttp([() => ({ status: 200, text: JSON.stringify({ token: `T${++n}`, expires_in: 1800 }) })]);
    const a = new Authorizer('h', creds, http);
    assert.equal(await a.header(['repository:a:pull'], true), undefined);
    assert.equal(await a.unauthorized(challenge, ['repository:a:pull'], undefined), true);
    const [x, y] = await Promise.all([a.header(['repository:a:pull'], true), a.header(['repository:a:pull'], true)]);
    assert.equal(x, 'Bearer T1');
    assert.equal(y, 'Bearer T1');
    assert.equal(await a.header(['repository:a:pull'], true), 'Bearer T1');
    assert.equal(await a.header(['repository:a:push', 'repository:a:pull'], true), 'Bearer T2');
    assert.equal(calls.length, 2);
    assert.deepEqual(new URL(calls[1]!.url).searchParams.getAll('scope'), ['repository:a:pull,push']);
  });

  it('an expired token is not sent: a new one is fetched first', async () => {
    let n = 0;
    const { http, calls } = fakeHttp([() => ({ status: 200, text: JSON.stringify({ token: `T${++n}`, expires_in: 1 }) })]);
    const a = new Authorizer('h', creds, http);
    await a.unauthorized(challenge, [], undefined);
    assert.equal(await a.header(['repository:a:pull'], true), 'Bearer T1');
    assert.equal(await a.header(['repository:a:pull'], true), 'Bearer T2', 'a 1 s token is never reused (1 s margin)');
    assert.equal(calls.length, 2);
  });

  it('a refused token (insufficient_scope, or Harbor\'s Basic realm="harbor") is replaced once; the replacement refused is final', async () => {
    let n = 0;
    const { http, calls } = fakeHttp([() => ({ status: 200, text: JSON.stringify({ token: `T${++n}` }) })]);
    const a = new Authorizer('h', creds, http);
    const scopes = ['repository:a:pull,push'];
    await a.unauthorized(challenge, scopes, undefined);
    const first = await a.header(scopes, true);
    assert.equal(first, 'Bearer T1');
    // Harbor answers a refused token with a Basic challenge: ocictl stays with the token service.
    assert.equal(await a.unauthorized('Basic realm="harbor"', scopes, first), true);
    assert.equal(a.knownChallenge?.scheme, 'bearer');
    // A second request refused with the same old token does not fetch yet another one.
    assert.equal(await a.unauthorized('Basic realm="harbor"', scopes, first), true);
    const second = await a.header(scopes, true);
    assert.equal(second, 'Bearer T2');
    assert.equal(await a.unauthorized(`${challenge},scope="repository:a:pull,push",error="insufficient_scope"`, scopes, second), false);
    assert.equal(calls.length, 2);
  });

  it('Basic registries: credentials sent as Basic, never to a host where they are not allowed', async () => {
    const { http, calls } = fakeHttp([ok('T')]);
    const a = new Authorizer('h', creds, http);
    await a.unauthorized('Basic realm="r"', [], undefined);
    assert.equal(basicOf(await a.header([], true)), 'admin:pw');
    assert.equal(await a.header([], false), undefined);
    assert.equal(await a.unauthorized('Basic realm="r"', [], await a.header([], true)), false, 'refused Basic credentials are final');
    assert.equal(calls.length, 0);
  });

  it('verifyCredentials keeps the token it got for the next request (login asks once)', async () => {
    const { http, calls } = fakeHttp([ok('L')]);
    const a = new Authorizer('h', new StaticCredentials({}), http);
    await a.unauthorized(challenge, [], undefined);
    await a.verifyCredentials({ username: 'admin', password: 'pw' });
    assert.equal(await a.header([], true), 'Bearer L');
    assert.equal(calls.length, 1);
  });
});

describe('config.json keys', () => {
  it('normalises hosts the way docker and nerdctl do', () => {
    assert.equal(configKey('docker.io'), DOCKER_HUB_KEY);
    assert.equal(configKey('harbor.example.com'), 'harbor.example.com');
    assert.equal(hostOfKey('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(hostOfKey('registry-1.docker.io'), 'docker.io');
    assert.equal(hostOfKey('https://Harbor.Example.com:8443/v2/'), 'harbor.example.com:8443');
    assert.equal(hostOfKey('http://127.0.0.1:5000'), '127.0.0.1:5000');
    assert.deepEqual(hostAliases('harbor.example.com'), ['harbor.example.com', 'harbor.example.com:443']);
    assert.deepEqual(hostAliases('harbor.example.com:443'), ['harbor.example.com:443', 'harbor.example.com']);
    assert.deepEqual(hostAliases('127.0.0.1:5000'), ['127.0.0.1:5000']);
  });

  it('auth splits at the first colon (passwords may hold colons; robot names hold $ and +)', () => {
    const enc = (s: string): string => Buffer.from(s).toString('base64');
    assert.deepEqual(decodeAuth(enc('robot$lidabai+ci:a:b:c'), 'k'), { username: 'robot$lidabai+ci', password: 'a:b:c' });
    assert.throws(() => decodeAuth(enc('nocolon'), 'k'), /not base64 of user:password/);
    assert.throws(() => decodeAuth(enc(':pw'), 'k'), /not base64 of user:password/);
  });

  it('look-ups: legacy keys, identitytoken beside "user:", helper entries with Username "<token>"', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ocitest-authunit-'));
    try {
      const file = path.join(dir, 'config.json');
      const enc = (s: string): string => Buffer.from(s).toString('base64');
      await writeFile(file, JSON.stringify({
        auths: {
          'https://old.example.com/v1/': { auth: enc('u:p') },
          'oidc.example.com': { auth: enc('alice:'), identitytoken: 'REFRESH' },
        },
        credHelpers: { 'helped.example.com': 'ocitest' },
      }));
      const credsFile = path.join(dir, 'helper.json');
      await writeFile(credsFile, JSON.stringify({ 'helped.example.com': { Username: '<token>', Secret: 'IDTOKEN' } }));
      const saved = { PATH: process.env.PATH, OCITEST_CREDS_FILE: process.env.OCITEST_CREDS_FILE };
      const env = credentialHelperEnv(credsFile);
      process.env.PATH = env.PATH;
      process.env.OCITEST_CREDS_FILE = credsFile;
      try {
        const c = new DockerConfigCredentials(file);
        assert.deepEqual(await c.get('old.example.com'), { username: 'u', password: 'p' });
        assert.deepEqual(await c.get('old.example.com:443'), { username: 'u', password: 'p' });
        assert.deepEqual(await c.get('oidc.example.com'), { username: 'alice', password: '', identityToken: 'REFRESH' });
        assert.deepEqual(await c.get('helped.example.com'), { identityToken: 'IDTOKEN' });
        assert.equal(await c.get('other.example.com'), undefined);
      } finally {
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('registry error bodies', () => {
  const body = (code: string, message: string): string => JSON.stringify({ errors: [{ code, message }] });

  it('Harbor\'s doubled messages are shown once', () => {
    assert.equal(undouble('project x not found: project x not found'), 'project x not found');
    assert.equal(undouble('a: b'), 'a: b');
    assert.equal(undouble('same: same: same'), 'same: same: same');
  });

  it('one line: what was done, the registry\'s words, what to do next', () => {
    const e = registryError(412, body('PRECONDITION', "Failed to process request due to 'p/r:t' configured as immutable."), { host: 'h', what: 'push manifest h/p/r:t', push: true, authenticated: true });
    assert.ok(e instanceof RegistryError);
    assert.equal(e.code, 'PRECONDITION');
    assert.equal(e.message, "push manifest h/p/r:t: Failed to process request due to 'p/r:t' configured as immutable.");
    assert.match(e.hint ?? '', /immutable/);
    const u = registryError(401, body('UNAUTHORIZED', 'unauthorized: authentication required: unauthorized: authentication required'), { host: 'h', what: 'push h/x/y:1', push: true, authenticated: true });
    assert.equal(u.message, 'push h/x/y:1: unauthorized: authentication required');
    assert.match(u.hint ?? '', /project may not exist on h \(create it first\).*robot account/);
    const d = registryError(400, body('MANIFEST_BLOB_UNKNOWN', 'blob unknown to registry'), { host: 'h', what: 'push manifest h/x:1' });
    assert.equal(d.message, 'push manifest h/x:1: manifest_blob_unknown: blob unknown to registry');
    const ctl = registryError(403, body('DENIED', 'line1\nline2\u0007'), { host: 'h', what: 'w' });
    assert.ok(!/[\n\u0007]/.test(ctl.message));
    const empty = registryError(404, '', { host: 'h', what: 'manifest h/x:1' });
    assert.equal(empty.message, 'manifest h/x:1: not found');
    const rate = registryError(429, 'too many requests to upstream registry', { host: 'h', what: 'manifest h/x:1' });
    assert.equal(rate.code, 'TOO_MANY_REQUESTS');
    assert.match(rate.hint ?? '', /retry later/);
  });
});
