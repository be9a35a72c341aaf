// Smoke run of the benchmark (scripts/bench.ts) with a tiny image: it must run
// every contender of push and pull end to end and report sane figures. The real
// benchmark (`npm run bench`) is not part of the test suite.
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { run, runOk, tmpDir } from '../fixtures/proc.js';
import type { BenchReport } from '../scripts/bench.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

test('bench smoke: push and pull rows with every contender, ratios, RSS and JSON', { timeout: 120_000 }, async () => {
  const dir = await tmpDir('ocictl-bench-smoke');
  try {
    const json = path.join(dir, 'report.json');
    const r = await runOk(
      process.execPath,
      [path.join(ROOT, 'dist', 'scripts', 'bench.js'), '--size', '3MiB', '--layers', '2', '--runs', '1', '--ops', 'push,pull', '--quiet', '--json', json],
      { timeoutMs: 110_000 },
    );
    assert.match(r.stdout, /skopeo\/ocictl: \d+\.\d\d× \(median\)/);
    const report = JSON.parse(await readFile(json, 'utf8')) as BenchReport;
    assert.equal(report.image.blobs, 4); // config + 2 random layers + 1 text layer
    assert.deepEqual(report.ops.map((o) => o.op), ['push', 'pull']);
    for (const op of report.ops) {
      assert.deepEqual(Object.keys(op.tools).sort(), ['curl floor', 'node floor', 'ocictl', 'skopeo']);
      for (const [tool, s] of Object.entries(op.tools)) {
        assert.equal(s.runs.length, 1, tool);
        assert.ok(s.medianSeconds > 0 && s.medianSeconds < 60, `${op.op} ${tool}: ${s.medianSeconds}`);
        assert.ok(s.maxRssMB > 1, `${op.op} ${tool} RSS ${s.maxRssMB}`);
      }
      assert.ok((op.ratioMedian ?? 0) > 0);
      assert.ok((op.vsFloor?.['curl floor'] ?? 0) > 0);
      // the spread and the disk probe beside every result
      for (const s of Object.values(op.tools)) assert.ok(s.minSeconds <= s.medianSeconds && s.medianSeconds <= s.maxSeconds);
      assert.ok(op.pairRatio && op.pairRatio.min > 0);
      assert.ok(op.disk && op.disk.bufferedSeconds.median > 0, `${op.op}: disk probe`);
    }
    assert.match(r.stdout, /disk probe \(the same [\d.]+ MiB, once a round\): buffered \+ fsync [\d.]+ \/ [\d.]+ \/ [\d.]+ s/);
    assert.match(r.stdout, /ocictl +[\d.]+ +[\d.]+ +[\d.]+ /); // median, min, max
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('bench: a run whose result is wrong fails the bench (non-zero exit, a line naming the run)', { timeout: 120_000 }, async () => {
  const dir = await tmpDir('ocictl-bench-wrong');
  try {
    // An "ocictl" that exits 0 having pulled nothing.
    const fake = path.join(dir, 'fake-ocictl.js');
    await writeFile(fake, "process.stdout.write('ok\\n');\n");
    const r = await run(
      process.execPath,
      [path.join(ROOT, 'dist', 'scripts', 'bench.js'), '--size', '3MiB', '--layers', '2', '--runs', '1', '--ops', 'pull', '--quiet', '--ocictl-bin', fake, '--json', path.join(dir, 'r.json')],
      { timeoutMs: 110_000 },
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /pull, run 1, ocictl: the correctness check failed: blob sha256:[0-9a-f]{64} is missing/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
