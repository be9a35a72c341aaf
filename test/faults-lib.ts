// Helpers shared by the fault, crash, security and hostile-input tests: run the CLI as a real
// process, check that a failure is one clear line, and check a store for consistency.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, type RunResult } from '../fixtures/proc.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const OCICTL = path.join(REPO_ROOT, 'bin', 'ocictl.js');

export interface CliEnv {
  dockerConfig: string;
  dataRoot: string;
  extra?: NodeJS.ProcessEnv;
}

export function cliEnv(e: CliEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: e.dockerConfig, OCICTL_DATA_ROOT: e.dataRoot, ...(e.extra ?? {}) };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.CONTAINERD_NAMESPACE;
  return env;
}

/** Runs `ocictl args` to completion (SIGKILL after timeoutMs → code 124). */
export function ocictl(args: string[], e: CliEnv, opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return run(process.execPath, [OCICTL, ...args], { env: cliEnv(e), timeoutMs: opts.timeoutMs ?? 60_000, ...(opts.input !== undefined ? { input: opts.input } : {}) });
}

/** Starts `ocictl args` without waiting (for kill -9 and races). */
export function spawnOcictl(args: string[], e: CliEnv): ChildProcess {
  return spawn(process.execPath, [OCICTL, ...args], { env: cliEnv(e), stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Asserts a failed run: non-zero exit (not a timeout), exactly one `ocictl: ` line on stderr, no stack trace. Returns that line. */
export function assertOneLineError(r: RunResult, what: string): string {
  assert.notEqual(r.code, 0, `${what}: expected failure, got exit 0\n${r.stdout}${r.stderr}`);
  assert.notEqual(r.code, 124, `${what}: hung (killed after timeout)\n${r.stderr}`);
  assert.ok(r.code === 1 || r.code === 2, `${what}: exit code ${r.code} (a crash?)\n${r.stderr}`);
  const all = `${r.stdout}\n${r.stderr}`;
  assert.doesNotMatch(all, /^\s+at .+[(:]\d+/m, `${what}: stack trace in output\n${all}`);
  assert.doesNotMatch(all, /(TypeError|RangeError|SyntaxError|ReferenceError|Unhandled|UnhandledPromiseRejection)\b/, `${what}: internal error in output\n${all}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  const errLines = lines.filter((l) => l.startsWith('ocictl: ') || l.startsWith('error: '));
  assert.equal(errLines.length, 1, `${what}: expected one error line, got:\n${r.stderr}`);
  const line = errLines[0] as string;
  assert.ok(line.length < 600, `${what}: error line too long (${line.length})`);
  return line;
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface StoreCheck {
  names: string[];
  /** Digests reachable from index.json, all present and verified. */
  reachable: Set<string>;
  /** Blob files present. */
  blobs: number;
}

/**
 * Checks a namespace of the store: index.json is valid JSON; every blob file has a digest name
 * and verifies; every blob reachable from the index (manifests, configs, layers) is present;
 * no temporary file is visible beside index.json or in blobs/.
 */
export async function checkStore(dataRoot: string, namespace = 'default'): Promise<StoreCheck> {
  const dir = path.join(dataRoot, namespace);
  const index = JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8')) as { manifests: Desc[] };
  assert.ok(Array.isArray(index.manifests), 'index.json has a manifests array');
  const blobsDir = path.join(dir, 'blobs', 'sha256');
  const files = await fs.readdir(blobsDir);
  for (const f of files) {
    assert.match(f, /^[a-f0-9]{64}$/, `unexpected file in blobs/: ${f}`);
    const got = await sha256File(path.join(blobsDir, f));
    assert.equal(got, `sha256:${f}`, `blob ${f} does not verify`);
  }
  for (const f of await fs.readdir(dir)) {
    assert.ok(!/\.tmp$/.test(f), `temporary file visible in the store: ${f}`);
  }
  const reachable = new Set<string>();
  const stack: Desc[] = [...index.manifests];
  while (stack.length) {
    const d = stack.pop() as Desc;
    if (reachable.has(d.digest)) continue;
    reachable.add(d.digest);
    const p = path.join(blobsDir, d.digest.slice(7));
    const st = await fs.stat(p).catch(() => undefined);
    if (/manifest|index/.test(d.mediaType)) {
      // Children of an index may be absent (other platforms); a manifest named in index.json must be there.
      if (!st) {
        assert.ok(!index.manifests.some((m) => m.digest === d.digest), `manifest ${d.digest} named in index.json is missing`);
        continue;
      }
      const doc = JSON.parse(await fs.readFile(p, 'utf8')) as { manifests?: Desc[]; config?: Desc; layers?: Desc[] };
      if (doc.manifests) stack.push(...doc.manifests);
      else {
        assert.ok(doc.config, `manifest ${d.digest} has a config`);
        for (const b of [doc.config as Desc, ...(doc.layers ?? [])]) {
          const bs = await fs.stat(path.join(blobsDir, b.digest.slice(7))).catch(() => undefined);
          assert.ok(bs, `blob ${b.digest} of manifest ${d.digest} is missing`);
          assert.equal(bs.size, b.size, `blob ${b.digest} has the wrong size`);
          reachable.add(b.digest);
        }
      }
    } else {
      assert.ok(st, `blob ${d.digest} is missing`);
    }
  }
  const names = index.manifests.map((m) => m.annotations?.['io.containerd.image.name'] ?? '').filter(Boolean);
  return { names, reachable, blobs: files.length };
}

/** Files in the store's ingest/ directory. */
export async function ingestFiles(dataRoot: string, namespace = 'default'): Promise<string[]> {
  return fs.readdir(path.join(dataRoot, namespace, 'ingest')).catch(() => []);
}

/** Waits for a child to exit; returns its code (or 128+signal). */
export function waitExit(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once('exit', (code, sig) => resolve(code ?? (sig === 'SIGKILL' ? 137 : 128)));
  });
}

/** Collects a child's stdout+stderr. */
export function collectOutput(child: ChildProcess): () => string {
  const parts: Buffer[] = [];
  child.stdout?.on('data', (b: Buffer) => parts.push(b));
  child.stderr?.on('data', (b: Buffer) => parts.push(b));
  return () => Buffer.concat(parts).toString('utf8');
}
