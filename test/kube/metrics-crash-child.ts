// Test helper standing in for a run that dies while it serves the metrics APIs: starts them with a
// ledger, prints what it created as one JSON line, then idles until the test SIGKILLs it.
//   LOADSCOPE_LEDGER_DIR=<dir> node --import tsx test/kube/metrics-crash-child.ts <kubeconfig>
import { Ledger } from '../../src/core/ledger.ts';
import { MetricsApi } from '../../src/kube/metrics-api.ts';

setInterval(() => {}, 60_000);
const ledger = new Ledger(`metrics-crash-${process.pid}`);
const api = await MetricsApi.start({ kubeconfig: process.argv[2] ?? '', ledger, provider: { pods: async () => [] } });
process.stdout.write(`${JSON.stringify({ pid: process.pid, link: api.link, address: api.address })}\n`);
