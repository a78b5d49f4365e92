#!/usr/bin/env node
// loadscope command line: TypeScript sources run through tsx (no build step).
import { register } from 'tsx/esm/api';

register();
// A reader that went away (`loadscope history list | head`) is not an error of ours: stop quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}
const { main, explain } = await import('../src/cli/main.ts');
let code;
try {
  code = await main(process.argv.slice(2));
} catch (err) {
  code = explain(err);
}
process.exitCode = code;
