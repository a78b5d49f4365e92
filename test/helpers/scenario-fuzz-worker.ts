// The fuzzer's judging thread (see scenario-fuzz.ts): one case in, its Verdict out. A process warning
// emitted while a case is judged (the CLI would print it) fails the case.
import { parentPort } from 'node:worker_threads';
import { judge, type Verdict } from './scenario-fuzz.ts';

let warnings: string[] = [];
process.removeAllListeners('warning');
process.on('warning', (w) => warnings.push(`${w.name}: ${w.message}`));

parentPort!.on('message', (job: { text: string; file: string; expectValid: boolean }) => {
  warnings = [];
  const v: Verdict = judge(job.text, job.file, job.expectValid);
  setImmediate(() => {
    if (warnings.length && !v.failure) v.failure = `printed a warning: ${warnings[0].slice(0, 200)}`;
    parentPort!.postMessage(v);
  });
});
