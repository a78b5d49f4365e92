// Test helper standing in for a run with a virtual node that dies: starts the node on the control
// plane of the kubeconfig given, runs one backend pod on it, prints `{"tag","node","pod"}` once the
// pod is Running, then idles until killed (test/kube/node.test.ts SIGKILLs it and sweeps).
//   node --import tsx test/helpers/kube-node-parent.ts <kubeconfig> <run id>
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { Ledger } from '../../src/core/ledger.ts';
import { POD_CIDR, SERVICE_CIDR } from '../../src/kube/types.ts';
import { startKubeNode } from '../../src/run/kube-node.ts';

const [kubeconfig, runId] = process.argv.slice(2);
setInterval(() => {}, 60_000);
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const kn = await startKubeNode({ kubeConfig: kc, podCidr: POD_CIDR, serviceCidr: SERVICE_CIDR, runId, ledger: new Ledger(runId), sink: { sample() {}, event() {} } });
await core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'orphan' }, spec: { nodeName: kn.node.name, containers: [{ name: 'b', image: 'loadscope-backend' }] } } });
for (;;) {
  const p = await core.readNamespacedPod({ name: 'orphan', namespace: 'default' });
  if (p.status?.phase === 'Running') break;
  await sleep(100);
}
process.stdout.write(JSON.stringify({ tag: kn.host.tag, node: kn.node.name, pod: 'orphan' }) + '\n');
