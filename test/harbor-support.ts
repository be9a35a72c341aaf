// Shared by the test/harbor-*.test.ts files: a started Harbor-like front with busybox pushed by admin,
// ocictl run as a process against it, and the "nothing secret in any output" check applied to every run.
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile, copyFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHarbor, type HarborOptions, type RunningHarbor } from '../fixtures/harbor.js';
import { buildBusyboxImage, skopeoPush, type BuiltImage } from '../fixtures/images.js';
import { freePort, run, tmpDir, type RunResult } from '../fixtures/proc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Repository root (this file runs from dist/test). */
export const repoRoot = path.resolve(here, '..', '..');
export const ocictlBin = path.join(repoRoot, 'bin', 'ocictl.js');

const JWT = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/;

export interface HarborCtx {
  h: RunningHarbor;
  work: string;
  /** --hosts-dir with <host:port>/ca.crt for the front (and any extra host added with trustHost). */
  hostsDir: string;
  bb: BuiltImage;
  /** Everything ocictl (and the library, through debug hooks) printed, for the secret scan. */
  outputs: string[];
  /** Extra secrets a test introduced (identity tokens, ...). */
  extraSecrets: string[];
  /** A fresh DOCKER_CONFIG dir (optionally with this config.json). */
  dockerConfig(name: string, config?: unknown): Promise<string>;
  /** A fresh OCICTL data root. */
  dataRoot(name: string): Promise<string>;
  /** Adds <host>/ca.crt for another host:port served with the front's certificate (proxies). */
  trustHost(host: string): Promise<void>;
  /** Runs `node bin/ocictl.js --hosts-dir H [--debug] ...args`, scans its output for secrets, returns the result. */
  ocictl(args: string[], o: { config: string; dataRoot: string; input?: string; env?: NodeJS.ProcessEnv; debug?: boolean }): Promise<RunResult>;
  /** Fails when `text` holds a password, a Basic credential or any token. */
  assertNoSecrets(text: string, where: string): void;
  stop(): Promise<void>;
}

export function b64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}

/** Scopes asked for in one /service/token call. */
export function scopesOf(query: string): string[] {
  return new URLSearchParams(query).getAll('scope');
}

/** The `ocictl: ...` error lines of a run. */
export function errorLines(r: RunResult): string[] {
  return r.stderr.split('\n').filter((l) => l.startsWith('ocictl:'));
}

export async function startHarborCtx(prefix: string, opts: HarborOptions = {}): Promise<HarborCtx> {
  const work = await tmpDir(`ocitest-${prefix}`);
  let h: RunningHarbor | undefined;
  try {
    let bb: BuiltImage;
    [h, bb] = await Promise.all([startHarbor(opts), buildBusyboxImage(path.join(work, 'bb'), '1.0')]);
    const front = h;
    const cd = ['--dest-cert-dir', front.pki.certDir, '--dest-creds', `admin:${front.users.admin}`];
    await skopeoPush(path.join(work, 'bb'), '1.0', `docker://${front.host}/lidabai/busybox:1.0`, cd);
    await skopeoPush(path.join(work, 'bb'), '1.0', `docker://${front.host}/library/busybox:1.0`, cd);
    const hostsDir = path.join(work, 'hosts');
    const trustHost = async (host: string): Promise<void> => {
      await mkdir(path.join(hostsDir, host), { recursive: true });
      await copyFile(front.pki.caCert, path.join(hostsDir, host, 'ca.crt'));
    };
    await trustHost(front.host);
    const outputs: string[] = [];
    const extraSecrets: string[] = [];
    const assertNoSecrets = (text: string, where: string): void => {
      const secrets: string[] = [];
      for (const [u, p] of Object.entries(front.users)) secrets.push(p, b64(`${u}:${p}`));
      secrets.push(...extraSecrets);
      for (const s of secrets) assert.ok(!text.includes(s), `${where}: output contains a secret (${s.slice(0, 3)}...)`);
      const m = JWT.exec(text);
      assert.ok(!m, `${where}: output contains a token (${m?.[0].slice(0, 12)}...)`);
    };
    let n = 0;
    const ctx: HarborCtx = {
      h: front,
      work,
      hostsDir,
      bb,
      outputs,
      extraSecrets,
      trustHost,
      assertNoSecrets,
      async dockerConfig(name, config) {
        const d = path.join(work, `docker-${name}-${n++}`);
        await mkdir(d, { recursive: true, mode: 0o700 });
        if (config !== undefined) await writeFile(path.join(d, 'config.json'), JSON.stringify(config, null, '\t'), { mode: 0o600 });
        return d;
      },
      async dataRoot(name) {
        const d = path.join(work, `data-${name}-${n++}`);
        await mkdir(d, { recursive: true });
        return d;
      },
      async ocictl(args, o) {
        const env: NodeJS.ProcessEnv = { ...process.env, ...o.env, DOCKER_CONFIG: o.config, OCICTL_DATA_ROOT: o.dataRoot };
        delete env.NODE_EXTRA_CA_CERTS;
        const full = ['--hosts-dir', hostsDir, ...(o.debug === false ? [] : ['--debug']), ...args];
        const r = await run(process.execPath, [ocictlBin, ...full], { env, ...(o.input !== undefined ? { input: o.input } : {}), timeoutMs: 120_000 });
        outputs.push(r.stdout, r.stderr);
        assertNoSecrets(`${r.stdout}\n${r.stderr}`, `ocictl ${args.join(' ')}`);
        return r;
      },
      async stop() {
        await front.stop();
        await rm(work, { recursive: true, force: true });
      },
    };
    return ctx;
  } catch (e) {
    await h?.stop();
    await rm(work, { recursive: true, force: true });
    throw e;
  }
}

/** Logs in with ocictl (password on stdin) into a fresh DOCKER_CONFIG; returns the config dir. */
export async function loginAs(ctx: HarborCtx, user: string, host = ctx.h.host, env?: NodeJS.ProcessEnv): Promise<string> {
  const cfg = await ctx.dockerConfig(user.replace(/[^a-z]/gi, ''));
  const r = await ctx.ocictl(['login', '-u', user, '--password-stdin', host], { config: cfg, dataRoot: ctx.work, input: `${ctx.h.users[user]}\n`, ...(env ? { env } : {}) });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Login Succeeded/);
  return cfg;
}

/** A TCP relay to the front that limits client→server bytes to `bytesPerSecond` (to make an upload last). */
export async function throttledRelay(targetPort: number, bytesPerSecond: number): Promise<{ port: number; host: string; close(): Promise<void> }> {
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const up = net.connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(up);
    const done = (): void => {
      client.destroy();
      up.destroy();
      sockets.delete(client);
      sockets.delete(up);
    };
    client.on('error', done);
    up.on('error', done);
    client.on('close', done);
    up.on('close', done);
    up.pipe(client);
    // Paced copy: at most bytesPerSecond, in slices of 16 KiB.
    let queue: Promise<void> = Promise.resolve();
    client.on('data', (chunk: Buffer) => {
      client.pause();
      queue = queue.then(async () => {
        for (let i = 0; i < chunk.length; i += 16384) {
          const part = chunk.subarray(i, i + 16384);
          if (up.destroyed) return;
          up.write(part);
          await new Promise((r) => setTimeout(r, (part.length / bytesPerSecond) * 1000));
        }
        client.resume();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    host: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
