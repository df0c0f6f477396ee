#!/usr/bin/env -S node --max-semi-space-size=8 --min-semi-space-size=8 --no-allocation-site-pretenuring
/** canary-gateway's executable (package.json `bin`, the Docker image's entry point). */
import { runCli } from './cli.js';
import { collectStartupGarbage } from './runtime/heap.js';

// After the imports (they compile schemas), before anything runs: see collectStartupGarbage.
collectStartupGarbage();
runCli(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`canary-gateway: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
