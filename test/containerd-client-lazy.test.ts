// Importing ocictl's library (and src/containerd) loads no gRPC code:
// grpc-js and protobufjs load only when a ContainerdClient connects.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { test } from 'node:test';

const probe = (modules: string[]) => `
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
for (const m of ${JSON.stringify(modules)}) await import(new URL(m, ${JSON.stringify(import.meta.url)}).href);
const M = require('node:module');
console.log(Object.keys(M._cache).filter((k) => /[\\\\/]node_modules[\\\\/](@grpc|protobufjs)[\\\\/]/.test(k)).length);
`;

function loaded(modules: string[]): Promise<number> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, ['--input-type=module', '-e', probe(modules)], { timeout: 60_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message} ${stderr}`)) : resolve(Number(stdout.trim())),
    ),
  );
}

test('importing the library and src/containerd loads neither grpc-js nor protobufjs', async () => {
  assert.equal(await loaded(['../src/index.js', '../src/containerd/index.js', '../src/containerd/socket.js']), 0);
});

test('the probe sees them once the gRPC layer is loaded (so the check above can fail)', async () => {
  assert.ok((await loaded(['../src/containerd/rpc.js'])) > 10);
});
