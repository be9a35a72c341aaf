#!/usr/bin/env node
// The command line as bundled by `npm run build` (scripts/bundle.ts): one file
// to load instead of ~60 modules.
import { main } from '../dist/cli/main.js';

// If the event loop ever drains before the command settles (a promise that
// can never resolve), fail loudly instead of exiting 0 with nothing done.
let settled = false;
process.on('exit', (code) => {
  if (!settled && code === 0) {
    process.stderr.write('ocictl: internal error: the command ended without a result; run again with --debug and report it\n');
    process.exitCode = 70;
  }
});
main(process.argv).then(
  (code) => {
    settled = true;
    process.exitCode = code;
  },
  (e) => {
    settled = true;
    process.stderr.write(`ocictl: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
