// Entry of the bundled services under test:
//   node --import tsx src/services/main.ts --role backend|frontend --name N --host 127.0.0.1 --port 0
//        [--config JSON] [--backend http://host:port | --backends URL,URL,...] [--max-sockets N] [--upstream-timeout-ms N]
//        [--drain-timeout-ms N] [--drain-delay-ms N] [--exit-on-stdin-close]
//        [--rate-limit-rps R [--rate-limit-burst B]] [--max-requests-per-socket N] [--metrics-at-exit FILE]
// A frontend's backend list can be replaced at run time: PUT /_loadscope/backends (control.ts).
// Prints one JSON ready line on stdout and nothing else there. Bad flags: one line on stderr, exit 2.
// Exit codes: 0 drained, 1 cannot listen, 2 usage, 3 drain timeout cut requests.
import { parseArgs, UsageError, type Options } from './args.ts';
import { backend } from './backend.ts';
import { frontend } from './frontend.ts';
import { serve } from './server.ts';

let opts: Options;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`loadscope service: ${err.message}\n`);
  process.exit(2);
}

serve(opts, opts.role === 'backend' ? backend : frontend);
