#!/usr/bin/env node
// loadscope command line: TypeScript sources run through tsx (no build step).
import { register } from 'tsx/esm/api';

register();
const { main, explain } = await import('../src/cli/main.ts');
let code;
try {
  code = await main(process.argv.slice(2));
} catch (err) {
  code = explain(err);
}
process.exitCode = code;
