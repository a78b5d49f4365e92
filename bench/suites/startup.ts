// Start-up: from spawning `loadscope run` to the first request reaching the target. The target is a
// server inside the bench (same clock as the spawn), so no log parsing decides the figure.
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { collect, spawnTracked, waitExit } from '../lib/proc.ts';
import { spread } from '../lib/stats.ts';
import type { BenchContext, Suite } from '../lib/types.ts';

const suite: Suite = {
  name: 'startup',
  description: '`loadscope run` to first request',
  quick: true,
  async run(ctx: BenchContext) {
    const reps = ctx.quick ? 2 : 5;
    let first = NaN;
    const server = createServer((_req, res) => {
      if (Number.isNaN(first)) first = performance.now();
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const built = existsSync(join(ctx.root, 'src/kernel/probes.ts')) && existsSync(join(ctx.root, 'bpf/.output'));
    try {
      const file = join(ctx.tmp, 'startup.yaml');
      writeFileSync(
        file,
        `name: bench-startup
engine: autocannon
target:
  url: http://127.0.0.1:${port}
requests:
  - { method: GET, path: / }
stages:
  - { name: s, duration: 1s, connections: 1 }
probes: auto
`,
      );
      const times: number[] = [];
      let probes = 'unknown';
      for (let r = 0; r < reps; r++) {
        first = NaN;
        const t0 = performance.now();
        const child = spawnTracked(process.execPath, [join(ctx.root, 'bin', 'loadscope.js'), 'run', file, '--out', join(ctx.tmp, `startup-${r}`)], { cwd: ctx.root });
        const io = collect(child);
        const code = await waitExit(child, 120_000);
        if (code !== 0 && code !== 99) {
          ctx.log(`run ${r + 1} exited ${code}: ${io.stderr().trim().split('\n').slice(-2).join(' ')}`);
          continue;
        }
        probes = /probes (on|off)[^\n]*/.exec(io.stderr())?.[0] ?? probes;
        if (!Number.isNaN(first)) times.push((first - t0) / 1000);
        ctx.log(`rep ${r + 1}/${reps}: first request after ${((first - t0) / 1000).toFixed(2)} s (${probes})`);
      }
      if (times.length === 0) return ctx.skip('loadscope run → first request', 'no run reached the target');
      ctx.line({
        name: 'loadscope run → first request',
        compared: `spawn of \`node bin/loadscope.js run\` (url target, probes: auto) to the first request arriving at a server in the bench process; probes were ${probes.replace(/^probes /, '')}${built ? '' : ' (probes not built here)'}`,
        unit: 's',
        spread: spread(times),
        goal: { op: '<=', value: 3 },
        ...(probes.startsWith('probes on') ? {} : { note: 'without probes: the goal is stated with probes built' }),
      });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  },
};

export default suite;
