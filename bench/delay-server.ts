// An HTTP server that delays every response by a known amount (default 2 ms ± 0.5 ms, uniform,
// deterministic) and measures, per request, the delay it actually injected: from the request's
// arrival (headers parsed) to the response being handed to the socket, on process.hrtime.
// GET /__stats returns the HDR summary (µs) of the delays since the last GET /__reset.
// argv[2]: JSON { delayUs, jitterUs }. Prints {"port":N} once listening.
import { createServer } from 'node:http';
import { createHistogram, record, summarize } from '../src/core/histogram.ts';

const opts = JSON.parse(process.argv[2] ?? '{}') as { delayUs?: number; jitterUs?: number };
const delayUs = opts.delayUs ?? 2000;
const jitterUs = opts.jitterUs ?? 500;
let seed = 12345;
const rand = () => {
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed / 4294967296;
};
let hist = createHistogram();
let requested = createHistogram();
const body = Buffer.from('x'.repeat(255) + '\n');

const server = createServer((req, res) => {
  if (req.url === '/__stats') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ injected: summarize(hist), requested: summarize(requested) }));
    return;
  }
  if (req.url === '/__reset') {
    hist = createHistogram();
    requested = createHistogram();
    res.end('ok');
    return;
  }
  const start = process.hrtime.bigint();
  const want = delayUs + (rand() * 2 - 1) * jitterUs;
  record(requested, want);
  setTimeout(() => {
    res.setHeader('content-length', body.length);
    res.end(body);
    record(hist, Number(process.hrtime.bigint() - start) / 1000);
  }, want / 1000);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as { port: number }).port }) + '\n');
});
process.on('SIGTERM', () => process.exit(0));
