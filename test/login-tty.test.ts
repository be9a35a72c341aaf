/** Interactive login on a terminal: user name asked, password asked without echo. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { run } from '../fixtures/proc.js';
import { startRegistry } from '../fixtures/registry.js';
import { ocictlBin, repoRoot, sandbox } from './lib/cli.js';

test('login prompts on a TTY and does not echo the password', async () => {
  const reg = await startRegistry({ tls: true, htpasswd: { admin: 'Harbor12345' } });
  const sb = await sandbox();
  try {
    const spec = {
      argv: [process.execPath, ocictlBin, 'login', reg.host, '--insecure-registry'],
      env: sb.env,
      answers: [['Username: ', 'admin'], ['Password: ', 'Harbor12345']],
    };
    const r = await run('python3', [path.join(repoRoot, 'test', 'lib', 'pty-run.py'), JSON.stringify(spec)], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Username: /);
    assert.match(r.stdout, /Password: /);
    assert.match(r.stdout, /Login Succeeded/);
    assert.doesNotMatch(r.stdout, /Harbor12345/, 'the password is not echoed');
    const cfg = JSON.parse(await readFile(path.join(sb.dockerConfig, 'config.json'), 'utf8'));
    assert.equal(cfg.auths[reg.host].auth, Buffer.from('admin:Harbor12345').toString('base64'));
    // Without a terminal and without credentials: one line saying what to pass.
    const noTty = await sb.ocictl(['login', reg.host, '--insecure-registry']);
    assert.equal(noTty.code, 2);
    assert.match(noTty.stderr, /no credentials given and no terminal.*-u USER/);
  } finally {
    await reg.stop();
    await sb.cleanup();
  }
});
