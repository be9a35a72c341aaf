// The docker-credential-ocitest helper speaks the docker-credential-helpers protocol; proc helpers behave.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as http from 'node:http';
import * as path from 'node:path';
import { credentialHelperEnv, credentialHelperPath } from '../fixtures/credhelper.js';
import { freePort, run, tmpDir, waitForHttp } from '../fixtures/proc.js';

describe('docker-credential-ocitest', () => {
  let dir = '';
  let file = '';
  let env: NodeJS.ProcessEnv;
  const helper = (action: string, input?: string): ReturnType<typeof run> =>
    run('docker-credential-ocitest', [action], { env, input });
  before(async () => {
    dir = await tmpDir('ocitest-creds');
    file = path.join(dir, 'creds.json');
    env = { ...credentialHelperEnv(file), OCITEST_CREDS_LOG: path.join(dir, 'calls.log') };
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is an executable on PATH via credentialHelperEnv', () => {
    assert.ok(statSync(credentialHelperPath).mode & 0o111);
  });

  it('store / get / list / erase round trip, usernames with $ and +', async () => {
    const s = await helper('store', JSON.stringify({ ServerURL: '127.0.0.1:5000', Username: 'robot$lidabai+ci', Secret: 'p@ss:word' }));
    assert.equal(s.code, 0, s.stderr + s.stdout);
    assert.equal(s.stdout, '');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    await helper('store', JSON.stringify({ ServerURL: 'https://index.docker.io/v1/', Username: 'me', Secret: 'x' }));
    const g = await helper('get', '127.0.0.1:5000\n');
    assert.equal(g.code, 0);
    assert.deepEqual(JSON.parse(g.stdout), { ServerURL: '127.0.0.1:5000', Username: 'robot$lidabai+ci', Secret: 'p@ss:word' });
    const l = await helper('list');
    assert.deepEqual(JSON.parse(l.stdout), { '127.0.0.1:5000': 'robot$lidabai+ci', 'https://index.docker.io/v1/': 'me' });
    const e = await helper('erase', '127.0.0.1:5000');
    assert.equal(e.code, 0);
    const gone = await helper('get', '127.0.0.1:5000');
    assert.equal(gone.code, 1);
    assert.equal(gone.stdout.trim(), 'credentials not found in native keychain');
    const again = await helper('erase', '127.0.0.1:5000');
    assert.equal(again.code, 1);
    assert.deepEqual(Object.keys(JSON.parse(readFileSync(file, 'utf8')) as object), ['https://index.docker.io/v1/']);
    const log = readFileSync(path.join(dir, 'calls.log'), 'utf8').trim().split('\n');
    assert.deepEqual(log.slice(0, 3), ['store 127.0.0.1:5000', 'store https://index.docker.io/v1/', 'get 127.0.0.1:5000']);
  });

  it('version, bad input, unknown action, missing OCITEST_CREDS_FILE', async () => {
    assert.match((await helper('version')).stdout, /docker-credential-ocitest/);
    assert.equal((await helper('store', 'not json')).code, 1);
    assert.equal((await helper('store', JSON.stringify({ ServerURL: '', Username: 'a', Secret: 'b' }))).code, 1);
    assert.equal((await helper('frobnicate')).code, 1);
    const noFile = await run(credentialHelperPath, ['list'], { env: { ...env, OCITEST_CREDS_FILE: '' } });
    assert.equal(noFile.code, 1);
    assert.match(noFile.stderr, /OCITEST_CREDS_FILE/);
  });
});

describe('proc', () => {
  it('run: exit codes, stdin, env, cwd, timeout', async () => {
    const r = await run('sh', ['-c', 'read x; echo "$x $FOO $(pwd)"; exit 3'], { input: 'hi\n', env: { ...process.env, FOO: 'bar' }, cwd: '/' });
    assert.deepEqual([r.code, r.stdout], [3, 'hi bar /\n']);
    const t0 = Date.now();
    const slow = await run('sleep', ['10'], { timeoutMs: 200 });
    assert.equal(slow.code, 124);
    assert.ok(Date.now() - t0 < 5000);
  });

  it('freePort + waitForHttp: any status means up', async () => {
    const port = await freePort();
    assert.ok(port > 0);
    const srv = http.createServer((_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    setTimeout(() => srv.listen(port, '127.0.0.1'), 150);
    try {
      await waitForHttp(`http://127.0.0.1:${port}/`, { timeoutMs: 5000 });
    } finally {
      srv.close();
    }
    await assert.rejects(waitForHttp(`http://127.0.0.1:${await freePort()}/`, { timeoutMs: 300 }), /not up/);
  });
});
