// The CPU a process spends per wake-up at a low and a higher message rate: two Node processes
// ping-pong 200 bytes over loopback TCP, and the server's CPU time (/proc/<pid>/schedstat) per round
// trip is printed for 8 s phases of 100 and 1,000 round trips a second, alternating. On a virtual
// machine the low-rate figure moves with the host (docs/compare.md, "The machine's own shift").
// Usage: node bench/wake-cost.mjs [phases, default 4]
import net from 'node:net';
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';

const schedNs = (pid) => Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);

if (process.argv[2] === 'server') {
  const reply = 'x'.repeat(300);
  const server = net.createServer((s) => s.on('data', () => s.write(reply, 'latin1')));
  server.listen(0, '127.0.0.1', () => process.send(server.address().port));
} else {
  const phases = Number(process.argv[2] ?? 4);
  const child = fork(new URL(import.meta.url).pathname, ['server']);
  const port = await new Promise((r) => child.once('message', r));
  const s = net.connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  const msg = 'y'.repeat(200);
  for (let k = 0; k < phases; k++) {
    const rate = k % 2 ? 1000 : 100;
    let got = 0;
    const onData = () => got++;
    s.on('data', onData);
    const n = rate * 8;
    const c0 = schedNs(child.pid);
    const t0 = Date.now();
    for (let i = 0; i < n; i++) {
      const d = t0 + (i * 1000) / rate - Date.now();
      if (d > 0) await new Promise((r) => setTimeout(r, d));
      s.write(msg, 'latin1');
    }
    await new Promise((r) => setTimeout(r, 300));
    s.off('data', onData);
    console.log(`${rate} round trips/s: server ${((schedNs(child.pid) - c0) / 1000 / n).toFixed(1)} µs CPU per round trip (${got} replies)`);
  }
  s.destroy();
  child.kill();
}
