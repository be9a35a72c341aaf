/**
 * Bundles the command line (dist/src/cli/main.js, as tsc wrote it) into
 * dist/cli/main.js plus chunks (dist/cli/chunks/) for what commands import
 * lazily: the containerd client (grpc-js, protobufjs), sync (yaml, semver),
 * doctor, the host side. A command loads and compiles only its own.
 *
 * Why: Node's ESM loader reads, resolves and compiles each of the ~60 modules
 * a pull loads one after the other; bundled, a command starts 15–25 ms sooner
 * (docs/performance.md). One file of 2.1 MB made every command parse what
 * only some need (grpc-js and protobufjs alone are 0.8 MB); split at the lazy
 * imports, `ocictl images` takes 0.19 s instead of 0.25 s and 52 instead of
 * 58 MiB (10 alternating runs each), a pull 6 MiB less at its peak. The
 * library (dist/src) stays as tsc wrote it, with its types; bin/ocictl.js
 * runs the bundle.
 */
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const outdir = path.join(root, 'dist', 'cli');

await rm(outdir, { recursive: true, force: true });
await build({
  entryPoints: { main: path.join(root, 'dist', 'src', 'cli', 'main.js') },
  outdir,
  bundle: true,
  format: 'esm',
  // Lazy imports become chunks, loaded when reached.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  platform: 'node',
  target: 'node20',
  // Loaded only with OCICTL_HTTP=undici: stays a package import.
  external: ['undici'],
  // CommonJS dependencies (node-forge, commander) require Node's built-ins.
  banner: { js: "import { createRequire as __ocictlCreateRequire } from 'node:module'; const require = __ocictlCreateRequire(import.meta.url);" },
  sourcemap: 'linked',
  logLevel: 'warning',
});
