// The README's scenario reference is a scenario: every key it shows must validate as written.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseScenario } from '../../src/scenario/load.ts';

test('the README\'s scenario reference validates, faults and secrets included', (t) => {
  const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
  const block = /## Scenario reference[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  t.truthy(block, 'a yaml block under "Scenario reference"');
  const saved = process.env.API_KEY;
  process.env.API_KEY = 'readme-example';
  try {
    const s = parseScenario(block!, 'README.md');
    t.is(s.spec.stages.length, 3);
    t.deepEqual(s.spec.faults.map((f) => f.kind), ['pod-kill', 'pod-pause', 'packet-loss']);
  } finally {
    if (saved === undefined) delete process.env.API_KEY;
    else process.env.API_KEY = saved;
  }
});
