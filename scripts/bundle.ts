/**
 * Bundles the command line (dist/src/cli/main.js, as tsc wrote it) into one
 * file, dist/cli/main.js. What commands import lazily stays lazy: esbuild
 * runs a module's code only when its import() is reached.
 *
 * Why: Node's ESM loader reads, resolves and compiles each of the ~60 modules
 * a pull loads one after the other; from one file a command starts 15–25 ms
 * sooner (docs/performance.md; a split bundle of 30 chunks gained less). The
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
  platform: 'node',
  target: 'node20',
  // Loaded only with OCICTL_HTTP=undici: stays a package import.
  external: ['undici'],
  // CommonJS dependencies (node-forge, commander) require Node's built-ins.
  banner: { js: "import { createRequire as __ocictlCreateRequire } from 'node:module'; const require = __ocictlCreateRequire(import.meta.url);" },
  sourcemap: 'linked',
  logLevel: 'warning',
});
