#!/usr/bin/env node
// loadscope's own benchmark (bench/run.ts): overhead and error bars against independent tools.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../bench/run.ts');
process.exitCode = await main(process.argv.slice(2));
