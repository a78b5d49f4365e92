#!/usr/bin/env node
// loadscope command line: TypeScript sources run through tsx (no build step).
import { register } from 'tsx/esm/api';

register();
// A reader that went away (`loadscope history list | head`, a parent or CI step that died) is not an
// error of ours: nothing more is printed there. A command that holds things it must remove (a run, a
// capacity search) listens for 'loadscope:output-closed' (OUTPUT_CLOSED in src/cli/command.ts) and stops
// as on Ctrl-C, its results written and everything it created removed; any other command ends quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code !== 'EPIPE') throw err;
    stream.write = (...args) => {
      const done = args.findLast((a) => typeof a === 'function');
      if (done) queueMicrotask(done);
      return true;
    };
    if (process.listenerCount('loadscope:output-closed') > 0) process.emit('loadscope:output-closed');
    else process.exit(process.exitCode ?? 0);
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
