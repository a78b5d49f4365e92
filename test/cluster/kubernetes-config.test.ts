// Kubeconfig problems of mode kubernetes (src/cluster/kubernetes/cluster.ts): typed errors that say
// what is wrong and never carry a credential.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubernetesCluster, loadKubeConfig } from '../../src/cluster/kubernetes/cluster.ts';
import { LoadscopeError } from '../../src/core/errors.ts';
import { Ledger } from '../../src/core/ledger.ts';
import { parseScenario } from '../../src/scenario/load.ts';

const dir = mkdtempSync(join(tmpdir(), 'ls-kcfg-'));
process.env.LOADSCOPE_LEDGER_DIR = join(dir, 'ledger');
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
const TOKEN = 'sekrit-token-4f1d9c2b7a6e5d3c';

/** A port nothing listens on (bound, then closed). */
function closedPort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

function kubeconfig(port: number): string {
  const file = join(dir, `kc-${port}`);
  writeFileSync(file, `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true } }]
users: [{ name: u, user: { token: ${TOKEN} } }]
contexts: [{ name: test, context: { cluster: c, user: u } }]
current-context: test
`);
  return file;
}

const fail = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    if (e instanceof LoadscopeError) return e;
    throw e;
  }
  throw new Error('no error');
};

test('a missing kubeconfig file, an unknown context: typed errors naming them', async (t) => {
  const missing = fail(() => loadKubeConfig({ kubeconfig: join(dir, 'nope') }));
  t.is(missing.code, 'FILE_NOT_FOUND');
  t.regex(missing.message, /kubeconfig .*nope does not exist/);
  const file = kubeconfig(await closedPort());
  const ctx = fail(() => loadKubeConfig({ kubeconfig: file, context: 'prod' }));
  t.is(ctx.code, 'ENVIRONMENT');
  t.is(ctx.message, 'the kubeconfig has no context "prod" (it has: test)');
  t.truthy(ctx.hint);
});

test('an API server that does not answer: ENVIRONMENT naming the server, no credential in the error', async (t) => {
  const port = await closedPort();
  const spec = parseScenario(`name: k\ncluster: { mode: kubernetes, kubeconfig: ${kubeconfig(port)} }\nstages: [{ duration: 1s, rate: 1 }]\n`, 'k.yaml').spec;
  const status: string[] = [];
  const c = new KubernetesCluster(spec, { runId: 'r1', sink: { event() {}, sample() {} }, ledger: new Ledger('r1'), onStatus: (l) => status.push(l) });
  const e = await t.throwsAsync(c.start(new AbortController().signal), { instanceOf: LoadscopeError });
  t.is(e.code, 'ENVIRONMENT');
  t.regex(e.message, new RegExp(`^the Kubernetes API server at https://127\\.0\\.0\\.1:${port} does not answer: `));
  t.log(e.message);
  t.false(JSON.stringify([e.message, e.hint, status, c.notices()]).includes(TOKEN));
});
