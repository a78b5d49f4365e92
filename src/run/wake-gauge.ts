// The machine's cost of a wake-up, measured beside every run (machine.wake_cpu_us, once a second).
//
// On a virtual machine the CPU a thread spends each time it wakes from idle (its caches and TLB cold,
// the vCPU's halt and wake) changes with what the host runs next to it, by tens of percent from one
// minute to the next (docs/compare.md, Limits). A service that does little per request — a proxy at
// 10% of a core — spends most of its CPU on those wake-ups, so its CPU per request follows the host.
// Two threads of our own ping-pong a small message over loopback TCP 10 times a second, and the
// answering thread reads its own CPU time (/proc/thread-self/schedstat, ns) at each message: the CPU
// of being woken by the network and answering, in the same runtime the bundled services use. compare
// takes the change of its median between two runs as the machine's own shift. It costs about 0.4% of
// one core (two threads, 10 wake-ups a second each).
import { Worker } from 'node:worker_threads';
import { now } from '../core/clock.ts';
import type { Sink } from '../core/types.ts';

/** Round trips a second; the echo thread posts the median of each second's. */
export const WAKE_GAUGE_HZ = 10;

// Plain JavaScript, evaluated in the workers (no TypeScript loader needed there). The echo thread
// listens on loopback and answers each message; its CPU from one message to the next is the cost of
// being woken by the network and answering, as a lightly loaded service is. The sender thread writes
// a message every 1/hz s, so each message finds the echo thread asleep.
const ECHO = `(() => {
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const net = require('node:net');
let fd;
try {
  fd = fs.openSync('/proc/thread-self/schedstat', 'r');
} catch {
  parentPort.postMessage({ unavailable: 'no /proc/thread-self/schedstat' });
  return;
}
const buf = Buffer.alloc(96);
const cpuNs = () => Number(buf.toString('latin1', 0, fs.readSync(fd, buf, 0, buf.length, 0)).split(' ')[0]);
const reply = Buffer.alloc(256, 120);
const per = [];
let last;
const server = net.createServer((s) => {
  s.setNoDelay(true);
  s.on('data', () => {
    s.write(reply);
    const t = cpuNs();
    if (last !== undefined) per.push(t - last);
    last = t;
    if (per.length === workerData.hz) {
      per.sort((a, b) => a - b);
      parentPort.postMessage({ us: per[per.length >> 1] / 1000 });
      per.length = 0;
    }
  });
  s.on('error', () => {});
});
server.on('error', (e) => parentPort.postMessage({ unavailable: e.message }));
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
})();
`;
const SENDER = `(() => {
const { workerData } = require('node:worker_threads');
const net = require('node:net');
const msg = Buffer.alloc(128, 121);
const s = net.connect(workerData.port, '127.0.0.1', () => {
  s.setNoDelay(true);
  setInterval(() => s.write(msg), 1000 / workerData.hz);
});
s.on('data', () => {});
s.on('error', () => {});
})();
`;

export interface WakeGauge {
  stop(): Promise<void>;
}

/**
 * Starts the gauge: each second's median CPU per wake-up goes to `sink` as machine.wake_cpu_us (µs).
 * Where the thread cannot read its CPU time or listen on loopback, `onStatus` says so once and nothing is sampled.
 */
export function startWakeGauge(sink: Sink, onStatus: (line: string) => void = () => {}): WakeGauge {
  const opts = { eval: true, execArgv: [] as string[], stdout: false, stderr: false };
  const echo = new Worker(ECHO, { ...opts, workerData: { hz: WAKE_GAUGE_HZ } });
  let sender: Worker | undefined;
  let stopped = false;
  echo.unref();
  echo.on('message', (m: { us?: number; port?: number; unavailable?: string }) => {
    if (m.unavailable) onStatus(`machine gauge off: ${m.unavailable}`);
    else if (m.port !== undefined && !stopped) {
      sender = new Worker(SENDER, { ...opts, workerData: { hz: WAKE_GAUGE_HZ, port: m.port } });
      sender.unref();
      sender.on('error', (e) => onStatus(`machine gauge stopped: ${e.message}`));
    } else if (typeof m.us === 'number' && Number.isFinite(m.us)) sink.sample({ metric: 'machine.wake_cpu_us', time: now(), value: Math.round(m.us * 100) / 100, tags: {} });
  });
  echo.on('error', (e) => onStatus(`machine gauge stopped: ${e.message}`));
  return {
    async stop() {
      stopped = true;
      echo.removeAllListeners('message');
      await Promise.all([sender?.terminate(), echo.terminate()]);
    },
  };
}
