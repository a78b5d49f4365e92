// A harness that will be killed mid-fault (test/faults/faults.test.ts): runs a local-cluster scenario
// with a pod-pause and a bandwidth fault on, printing its pod and fault events on stdout as NDJSON.
import { join } from 'node:path';
import { runScenario } from '../../../src/run/run.ts';
import { parseScenario } from '../../../src/scenario/load.ts';

// the run's directory, made (and removed) by the test: this process is killed
const dir = process.env.LS_CRASH_RUN_DIR;
if (!dir) throw new Error('LS_CRASH_RUN_DIR: the directory for the run, made by the test');
const text = `name: faults-crash
cluster: { mode: local }
services:
  backend: { replicas: 2 }
stages: [{ duration: 30s, rate: 20 }]
probes: off
faults:
  - { name: hang, kind: pod-pause, target: backend/backend-1, at: 1s, duration: 25s }
  - { name: slow, kind: bandwidth, target: backend/backend-2, at: 1s, duration: 25s, rate: 1mbit }
`;
await runScenario(parseScenario(text, join(dir, 'faults-crash.yaml')), {
  outDir: dir,
  onRecord: (r) => {
    if (r.type === 'event' && (r.kind === 'pod.ready' || r.kind.startsWith('fault.'))) process.stdout.write(JSON.stringify({ ...r.attrs, event: r.kind }) + '\n');
  },
});
