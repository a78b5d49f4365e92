// Polling for tests against real systems (a control plane, pods): the value `probe` yields once it
// yields one, or an error naming what did not happen in time and the probe's last error.
import { setTimeout as sleep } from 'node:timers/promises';

export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s${last ? ` (${String(last)})` : ''}`);
    await sleep(everyMs);
  }
}
