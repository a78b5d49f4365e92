import { formatDuration } from '../core/clock.ts';
import { decode } from '../core/histogram.ts';
import type { JournalRecord, PlannedStage } from '../core/types.ts';

/** Live figures for the progress line, fed with journal records; holds no display code. */
export class ProgressTracker {
  stage = 'starting';
  runStart = 0;
  totalMs = 0;
  lastWindow = -1;
  rps = 0;
  p99Ms = 0;
  errors = 0;
  requests = 0;

  constructor(plan: PlannedStage[] = []) {
    this.totalMs = plan.reduce((a, s) => a + s.durationMs, 0);
  }

  feed(r: JournalRecord): void {
    if (r.type === 'run') {
      this.runStart = r.startedAt;
      this.totalMs = r.plan.reduce((a, s) => a + s.durationMs, 0);
    } else if (r.type === 'event' && r.kind === 'stage.start') {
      this.stage = String(r.attrs.stage);
    } else if (r.type === 'sample') {
      const idx = Math.floor((r.time - this.runStart) / 1000);
      if (r.metric === 'http.reqs') {
        this.requests += r.value;
        if (idx > this.lastWindow) {
          this.lastWindow = idx;
          this.rps = 0;
        }
        if (idx === this.lastWindow) this.rps += r.value;
      } else if (r.metric === 'http.errors') {
        this.errors += r.value;
      } else if (r.metric === 'http.latency_us' && r.hist && idx === this.lastWindow) {
        this.p99Ms = Math.max(this.p99Ms * 0, decode(r.hist).getValueAtPercentile(99) / 1000);
      }
    }
  }

  line(nowMs: number): string {
    const elapsed = this.runStart ? Math.max(0, nowMs - this.runStart) : 0;
    return `[${this.stage}] ${formatDuration(elapsed)}/${formatDuration(this.totalMs)}  ${Math.round(this.rps)} req/s  p99 ${this.p99Ms.toFixed(1)} ms  errors ${this.errors}  total ${this.requests}`;
  }
}
