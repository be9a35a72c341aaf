// Smoke run of the benchmark (scripts/bench.ts) with a tiny image: it must run
// every contender of push and pull end to end and report sane figures. The real
// benchmark (`npm run bench`) is not part of the test suite.
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runOk, tmpDir } from '../fixtures/proc.js';
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
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
