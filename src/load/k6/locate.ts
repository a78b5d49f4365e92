import { execFile } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { LoadscopeError } from '../../core/errors.ts';

/** The k6 version scripts/setup.sh builds from the Go module proxy (keep the two in step). */
export const K6_VERSION = 'v1.8.1';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Where to look for k6; every field has a default so tests can point it at an empty machine. */
export interface LocateOptions {
  /** Environment to read LOADSCOPE_K6 and PATH from; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Repository root holding .tools/bin/k6; default this checkout. */
  root?: string;
}

/** A usable k6 binary and the version it reports. */
export interface K6Binary {
  path: string;
  version: string;
  /** How it was found: the LOADSCOPE_K6 variable, the repository's tools folder, or PATH. */
  source: 'env' | 'tools' | 'path';
}

/**
 * Finds k6: $LOADSCOPE_K6, then <root>/.tools/bin/k6 (built by `npm run setup`), then PATH.
 * Throws LoadscopeError('ENVIRONMENT') with a hint saying how to get k6 on this machine.
 */
export async function locateK6(opts: LocateOptions = {}): Promise<K6Binary> {
  const env = opts.env ?? process.env;
  const root = opts.root ?? ROOT;
  const pathDirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  const candidates: { path: string; source: K6Binary['source'] }[] = [];
  if (env.LOADSCOPE_K6) candidates.push({ path: env.LOADSCOPE_K6, source: 'env' });
  candidates.push({ path: join(root, '.tools', 'bin', 'k6'), source: 'tools' });
  for (const d of pathDirs) candidates.push({ path: join(d, 'k6'), source: 'path' });

  const tried: string[] = [];
  for (const c of candidates) {
    if (c.source === 'env' && !isExecutable(c.path)) {
      throw new LoadscopeError('ENVIRONMENT', `LOADSCOPE_K6=${c.path} is not an executable file`, { hint: 'point LOADSCOPE_K6 at a k6 binary, or unset it to use .tools/bin/k6' });
    }
    if (!isExecutable(c.path)) {
      tried.push(c.path);
      continue;
    }
    const version = await k6Version(c.path).catch(() => undefined);
    if (version === undefined) {
      if (c.source === 'env') throw new LoadscopeError('ENVIRONMENT', `LOADSCOPE_K6=${c.path} does not run as k6 (\`k6 version\` failed)`, { hint: 'point LOADSCOPE_K6 at a k6 binary, or unset it to use .tools/bin/k6' });
      tried.push(`${c.path} (not runnable)`);
      continue;
    }
    return { path: c.path, version, source: c.source };
  }
  const hasGo = pathDirs.some((d) => isExecutable(join(d, 'go')));
  const build = `GOBIN=$PWD/.tools/bin go install go.k6.io/k6@${K6_VERSION}`;
  throw new LoadscopeError('ENVIRONMENT', `the k6 engine needs the k6 binary, and none was found (looked in: ${tried.join(', ')})`, {
    hint: hasGo
      ? `run \`npm run setup\` (builds k6 ${K6_VERSION} from the Go module proxy into .tools/bin), or \`${build}\` in the repository`
      : `Go is not installed, so k6 cannot be built here: install Go >= 1.24 (https://go.dev/dl/) and run \`npm run setup\`, or put a k6 ${K6_VERSION} binary on PATH or in LOADSCOPE_K6; or use engine: autocannon`,
  });
}

/** `k6 version` → "v1.8.1" (throws when the binary does not answer like k6). */
export async function k6Version(path: string): Promise<string> {
  const { stdout } = await promisify(execFile)(path, ['version'], { timeout: 10_000, env: { ...process.env, K6_NO_USAGE_REPORT: 'true' } });
  const m = /k6 (v\d+\.\d+\.\d+\S*)/.exec(stdout);
  if (!m) throw new Error(`unexpected \`k6 version\` output: ${stdout.slice(0, 200)}`);
  return m[1];
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
