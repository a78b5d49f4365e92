// Scratch comparison for engine development: `node --import tsx bench/cmp.ts REPS DURATION_S spec.json...`
// runs engine-child specs (or `wrk`, `ac` for the autocannon CLI) interleaved against a private nginx and prints CPU µs per request.
import { measureLoad } from './lib/measure.ts';
import { startNginx } from './lib/nginx.ts';
import { spread } from './lib/stats.ts';
import { autocannon, engineChild, wrk } from './lib/tools.ts';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const [repsArg, durArg, ...specs] = process.argv.slice(2);
const reps = Number(repsArg);
const dur = Number(durArg);
const nginx = await startNginx();
try {
  const tools = specs.map((s) => (s === 'wrk' ? wrk(nginx.fileUrl, 16, dur) : s === 'ac' ? autocannon(nginx.fileUrl, 16, dur) : engineChild(root, s, { url: nginx.fileUrl, connections: 16, durationMs: dur * 1000, ...JSON.parse(s) })));
  const res: Record<string, number[]> = {};
  const rps: Record<string, number[]> = {};
  for (let r = 0; r < reps; r++) {
    for (let i = 0; i < tools.length; i++) {
      const t = tools[(i + r) % tools.length];
      const m = await measureLoad(nginx, t, { durationMs: dur * 1000 });
      (res[t.name] ??= []).push(m.cpuPer100k * 10);
      (rps[t.name] ??= []).push(m.rps);
      if (!m.ok) console.log(t.name, m.error);
    }
  }
  for (const k of Object.keys(res)) {
    const s = spread(res[k]);
    const q = spread(rps[k]);
    console.log(`${k.padEnd(60)} µs/req median ${s.median.toFixed(1)} [${s.min.toFixed(1)}–${s.max.toFixed(1)}]  req/s ${Math.round(q.median)}`);
  }
} finally {
  await nginx.stop();
}
