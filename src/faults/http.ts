import http from 'node:http';
import type { FaultPod } from '../core/faults.ts';

// http-errors and http-delay: a PUT of the fault state to each target backend pod's control endpoint
// (src/services/faults.ts), a DELETE to undo it.

const PATH = '/_loadscope/fault';
const TIMEOUT_MS = 2000;

/** Sends one control request to a pod; resolves with the status, rejects on a network error or timeout. */
function call(pod: FaultPod, method: 'PUT' | 'DELETE', body?: unknown): Promise<number> {
  const text = body === undefined ? '' : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(`${pod.url}${PATH}`, { method, timeout: TIMEOUT_MS, agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error(`${pod.name}: control request timed out`)));
    req.on('error', reject);
    req.end(text);
  });
}

/** Sets the fault state on every pod; rejects naming the first pod that refused. */
export async function setHttpFault(pods: FaultPod[], state: { errors?: { share: number; status: number }; delay?: { ms: number; jitterMs: number } }): Promise<void> {
  await Promise.all(
    pods.map(async (p) => {
      const status = await call(p, 'PUT', state);
      if (status !== 200) throw new Error(`${p.name} refused the fault (HTTP ${status})`);
    }),
  );
}

/** Clears the fault state of every pod that still answers. */
export async function clearHttpFault(pods: FaultPod[]): Promise<void> {
  await Promise.all(pods.map((p) => call(p, 'DELETE').catch(() => 0)));
}
