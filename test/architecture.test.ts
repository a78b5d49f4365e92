// The dependency rules of .dependency-cruiser.cjs hold for src/, and they catch what they are meant to
// catch: run on a scratch tree laid out like src/, each planted violation is reported under its rule.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './helpers/cli.ts';

const run = promisify(execFile);
const depcruise = join(repoRoot, 'node_modules', '.bin', 'depcruise');

async function cruise(cwd: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run(depcruise, ['src', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], { cwd });
    return { code: 0, out: stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

test('src/ follows the layer rules: no violation, no cycle', async (t) => {
  const { code, out } = await cruise(repoRoot);
  t.is(code, 0, out);
});

test('each rule reports a planted violation (type-only imports count)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-arch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(join(repoRoot, '.dependency-cruiser.cjs'), join(dir, '.dependency-cruiser.cjs'));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', allowImportingTsExtensions: true, noEmit: true } }));
  const files: Record<string, string> = {
    'src/core/types.ts': 'export type Id = string;\n',
    // layer 2 → layer 2, type only
    'src/cluster/pods.ts': "import type { Rate } from '../autoscale/rate.ts';\nexport type Pods = Rate;\n",
    'src/autoscale/rate.ts': "import type { Id } from '../core/types.ts';\nexport type Rate = Id;\n",
    // layer 1 → layer 3 (upward)
    'src/scenario/load.ts': "import { summary } from '../analyze/summary.ts';\nexport const load = summary;\n",
    'src/analyze/summary.ts': 'export const summary = 1;\n',
    // analysis reading a file
    'src/analyze/read.ts': "import { readFileSync } from 'node:fs';\nexport const read = readFileSync;\n",
    // a cycle inside one folder
    'src/run/a.ts': "import { b } from './b.ts';\nexport const a = () => b;\n",
    'src/run/b.ts': "import { a } from './a.ts';\nexport const b = () => a;\n",
    // services reaching into the cluster
    'src/services/main.ts': "import type { Pods } from '../cluster/pods.ts';\nexport type M = Pods;\n",
    // product code importing a test helper
    'src/render/view.ts': "import { helper } from '../../test/helper.ts';\nexport const v = helper;\n",
    'test/helper.ts': 'export const helper = 1;\n',
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const { code, out } = await cruise(dir);
  t.not(code, 0);
  t.regex(out, /layer-cluster: src\/cluster\/pods\.ts → src\/autoscale\/rate\.ts/);
  t.regex(out, /layer-scenario: src\/scenario\/load\.ts → src\/analyze\/summary\.ts/);
  t.regex(out, /no-circular: src\/run\/a\.ts → /);
  t.regex(out, /services-stand-alone: src\/services\/main\.ts → src\/cluster\/pods\.ts/);
  t.regex(out, /src-not-to-tests: src\/render\/view\.ts → test\/helper\.ts/);
  t.regex(out, /analyze-is-pure: src\/analyze\/read\.ts → (node:)?fs/);
});
