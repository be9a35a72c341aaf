// Harbor's policy errors as ocictl shows them: Harbor's own message, the repository:tag concerned and what
// to do next, in one line. 412 immutable tag (manifest PUT), 412 vulnerability and signature policies
// (manifest GET, and HEAD repeated as GET for the message), 403 quota, 403 proxy-cache project, 429.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { freePort } from '../fixtures/proc.js';
import { resolve } from '../src/api.js';
import { RegistryError } from '../src/errors.js';
import { type HarborCtx, errorLines, loginAs, startHarborCtx } from './harbor-support.js';

describe('ocictl against Harbor: policy errors explained', () => {
  let ctx: HarborCtx;
  let cfg = '';
  let data = '';
  const ref = (repoTag: string): string => `${ctx.h.host}/${repoTag}`;

  /** Pushes the local busybox under `repoTag` and returns the single error line (the push must fail). */
  const failingPush = async (repoTag: string): Promise<string> => {
    assert.equal((await ctx.ocictl(['tag', ref('lidabai/busybox:1.0'), ref(repoTag)], { config: cfg, dataRoot: data })).code, 0);
    const r = await ctx.ocictl(['--retries', '0', 'push', ref(repoTag)], { config: cfg, dataRoot: data });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const lines = errorLines(r);
    assert.equal(lines.length, 1, r.stderr);
    return lines[0]!;
  };
  const failingPull = async (repoTag: string, host = ctx.h.host): Promise<string> => {
    const r = await ctx.ocictl(['--retries', '0', 'pull', `${host}/${repoTag}`], { config: cfg, dataRoot: data });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const lines = errorLines(r);
    assert.equal(lines.length, 1, r.stderr);
    return lines[0]!;
  };

  before(async () => {
    ctx = await startHarborCtx('harbor-errors');
    data = await ctx.dataRoot('main');
    cfg = await loginAs(ctx, 'admin');
    const r = await ctx.ocictl(['pull', ref('lidabai/busybox:1.0')], { config: cfg, dataRoot: data });
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    if (ctx) await ctx.stop();
  });

  it('412 immutable tag on manifest PUT: Harbor\'s message, the tag, what to do', async () => {
    ctx.h.policies.immutable.add('lidabai/busybox:stable');
    const line = await failingPush('lidabai/busybox:stable');
    assert.ok(line.includes(`push manifest ${ref('lidabai/busybox:stable')}: Failed to process request due to 'lidabai/busybox:stable' configured as immutable.`), line);
    assert.match(line, /immutable on this Harbor: push under a new tag/);
    // The blobs went up; only the manifest was refused.
    assert.ok(ctx.h.requests.some((r) => r.method === 'PUT' && r.path === '/v2/lidabai/busybox/manifests/stable' && r.status === 412));
  });

  it('412 vulnerability policy on manifest GET (pull): Harbor\'s message and the reference', async () => {
    ctx.h.policies.vulnerable.add('lidabai/busybox');
    try {
      const line = await failingPull('lidabai/busybox:1.0');
      assert.ok(line.includes(`${ref('lidabai/busybox:1.0')}: current image with 3 vulnerabilities cannot be pulled due to configured policy`), line);
      assert.ok(line.includes('please contact your project administrator to exempt matched vulnerabilities through configuring the CVE allowlist.'), line);
      assert.match(line, /vulnerability policy blocks this pull/);
    } finally {
      ctx.h.policies.vulnerable.delete('lidabai/busybox');
    }
  });

  it('412 on HEAD (no body) is repeated as GET to show Harbor\'s message', async () => {
    const { h } = ctx;
    h.policies.vulnerable.add('lidabai/busybox');
    const debug: string[] = [];
    try {
      h.resetLog();
      await assert.rejects(
        resolve(ref('lidabai/busybox:1.0'), { dockerConfig: path.join(cfg, 'config.json'), hostsDirs: [ctx.hostsDir], debug: (l) => debug.push(l) }),
        (e: unknown) => {
          assert.ok(e instanceof RegistryError);
          assert.equal(e.status, 412);
          assert.equal(e.code, 'PRECONDITION');
          assert.match(e.message, /lidabai\/busybox:1\.0: current image with 3 vulnerabilities cannot be pulled/);
          ctx.outputs.push(e.message, e.hint ?? '');
          return true;
        },
      );
      const m = h.requests.filter((r) => r.path === '/v2/lidabai/busybox/manifests/1.0' && r.status === 412).map((r) => r.method);
      assert.deepEqual(m, ['HEAD', 'GET']);
    } finally {
      h.policies.vulnerable.delete('lidabai/busybox');
      ctx.outputs.push(...debug);
    }
  });

  it('412 signature policy: "The image is not signed by cosign." with the reference', async () => {
    ctx.h.policies.unsigned.add('lidabai/busybox');
    try {
      const line = await failingPull('lidabai/busybox:1.0');
      assert.ok(line.includes(`${ref('lidabai/busybox:1.0')}: The image is not signed by cosign.`), line);
      assert.match(line, /only serves signed images/);
    } finally {
      ctx.h.policies.unsigned.delete('lidabai/busybox');
    }
  });

  it('403 quota exceeded: Harbor\'s message with the reference', async () => {
    ctx.h.policies.quota.add('lidabai/full');
    const line = await failingPush('lidabai/full:3.0');
    assert.ok(line.includes(`push ${ref('lidabai/full:3.0')}: Quota exceeded when processing the request of adding 1.0 MiB of storage resource`), line);
    assert.match(line, /exceed the configured upper limit of 10\.0 MiB\.: the project's storage quota is exhausted/);
  });

  it('403 push to a proxy-cache project: Harbor\'s message with the reference', async () => {
    ctx.h.policies.proxyCache.add('dockerhub');
    const line = await failingPush('dockerhub/busybox:1.0');
    assert.ok(line.includes(`push ${ref('dockerhub/busybox:1.0')}: can not push artifact to a proxy project: dockerhub`), line);
    assert.match(line, /proxy-cache projects are read-only/);
  });

  it('429 from a proxy-cache project\'s upstream: Harbor\'s message, the reference, retry later', async () => {
    // Harbor's rate-limit answer comes from its proxy-cache middleware, which the fixture does not model:
    // a small HTTPS front before the fixture answers it for one repository and passes everything else on.
    const { h } = ctx;
    const port = await freePort();
    let limited = 0;
    const srv = https.createServer({ key: readFileSync(h.pki.serverKey), cert: readFileSync(h.pki.serverCert) }, (req, res) => {
      if (/^\/v2\/library\/hub-busybox\/manifests\//.test(req.url ?? '')) {
        limited++;
        req.resume();
        const body = JSON.stringify({ errors: [{ code: 'TOO_MANY_REQUEST', message: 'too many requests to upstream registry' }] });
        res.writeHead(429, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Retry-After': '1' });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      const up = https.request({ host: '127.0.0.1', port: h.port, method: req.method, path: req.url, headers: req.headers, ca: h.pki.caPem }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers as http.OutgoingHttpHeaders);
        ur.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
    try {
      const host = `127.0.0.1:${port}`;
      await ctx.trustHost(host);
      const anonCfg = await ctx.dockerConfig('anon429');
      const r = await ctx.ocictl(['--retries', '1', 'pull', `${host}/library/hub-busybox:1.36`], { config: anonCfg, dataRoot: data });
      assert.equal(r.code, 1, r.stderr);
      const lines = errorLines(r);
      assert.equal(lines.length, 1, r.stderr);
      assert.ok(lines[0]!.includes(`${host}/library/hub-busybox:1.36: too many requests to upstream registry`), lines[0]);
      assert.match(lines[0]!, /rate-limiting; retry later/);
      assert.equal(limited, 2, 'one retry after Retry-After, then the error');
    } finally {
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});
