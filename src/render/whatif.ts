// The page of `loadscope whatif` and the shape of whatif.json: a run's recorded replicas beside those the
// HPA computation gives with another spec on the same recorded load, and the estimated time over the SLO.
import { fig, renderPage, type PageChart } from './capacity.ts';

/** One sync of the replay: the load it saw and the replicas, recorded (the run's own sync nearest in time) and replayed. */
export interface WhatifSync {
  /** Seconds since the run started. */
  t: number;
  /** CPU of the scaled service's ready pods, millicores summed; requests per second they served. */
  cpuMillis: number;
  rps: number;
  recorded: { current: number; desired: number } | null;
  replayed: { current: number; desired: number; ready: number; reason: string };
}

/** An HPA spec as whatif shows it. */
export interface WhatifSpecSummary {
  source: string;
  target: string;
  minReplicas: number;
  maxReplicas: number;
  metrics: string[];
  behavior: string;
  syncPeriodS: number;
  metricResolutionS: number;
}

/** The content of whatif.json. */
export interface WhatifDoc {
  schemaVersion: 1;
  runDir: string;
  runId: string;
  scenario: string;
  recordedSpec: WhatifSpecSummary;
  otherSpec: WhatifSpecSummary;
  syncs: WhatifSync[];
  /** Per 1 s window (index = seconds since the start): offered load, ready replicas, over-SLO estimates. */
  windows: { t: number[]; offeredRps: number[]; recordedReady: (number | null)[]; replayedReady: number[]; recordedOver: number[]; replayedOver: number[]; measuredViolation: (number | null)[] };
  overSlo: {
    /** Windows the run's own SLO analysis found in violation (null: the run had no SLO). */
    measuredS: number | null;
    /** The estimate (below) applied to the recorded replicas: how far the estimate is from the measurement. */
    estimatedRecordedS: number;
    estimatedReplayedS: number;
    capacityPerReplica: number | null;
    capacitySource: string;
    method: string;
  };
  /** Replay with the run's own spec against the recorded replicas: share of syncs where desired matched, largest difference. */
  fidelity: { syncs: number; sameDesired: number; maxDifference: number } | null;
  /** What the journal lacks for an exact replay, and the approximations made for it. */
  approximations: string[];
}

const REC = '#8a94a3';
const REP = '#1565c0';
const LOAD = '#2e7d32';

function charts(doc: WhatifDoc): PageChart[] {
  const w = doc.windows;
  return [
    {
      id: 'replicas', title: 'Ready replicas', xLabel: 'seconds since start', yLabel: 'replicas', x: w.t,
      series: [
        { label: 'recorded', color: REC, stepped: true, values: w.recordedReady },
        { label: 'replayed', color: REP, stepped: true, values: w.replayedReady },
      ],
    },
    {
      id: 'load', title: 'Offered load and estimated capacity', xLabel: 'seconds since start', yLabel: 'req/s', x: w.t,
      series: [
        { label: 'offered', color: LOAD, values: w.offeredRps },
        ...(doc.overSlo.capacityPerReplica !== null
          ? [
              { label: 'capacity, recorded replicas', color: REC, dash: [5, 4], values: w.recordedReady.map((r) => (r === null ? null : r * doc.overSlo.capacityPerReplica!)) },
              { label: 'capacity, replayed replicas', color: REP, dash: [5, 4], values: w.replayedReady.map((r) => r * doc.overSlo.capacityPerReplica!) },
            ]
          : []),
      ],
    },
    {
      id: 'over', title: 'Over the SLO per 1 s window: measured in the run, estimated for both timelines', xLabel: 'seconds since start', yLabel: 'over (1) / not (0)', x: w.t,
      series: [
        { label: 'measured', color: '#c62828', stepped: true, values: w.measuredViolation },
        { label: 'estimated, recorded', color: REC, stepped: true, values: w.recordedOver },
        { label: 'estimated, replayed', color: REP, stepped: true, values: w.replayedOver },
      ],
    },
  ];
}

/** The self-contained whatif.html. */
export function renderWhatif(doc: WhatifDoc): string {
  const view = {
    title: `loadscope whatif: ${doc.scenario}`,
    doc,
    specs: [
      { role: 'recorded', ...doc.recordedSpec, metrics: doc.recordedSpec.metrics.join('; ') },
      { role: 'replayed', ...doc.otherSpec, metrics: doc.otherSpec.metrics.join('; ') },
    ],
    over: {
      measured: doc.overSlo.measuredS === null ? 'no SLO in the run' : `${doc.overSlo.measuredS} s`,
      recorded: `${doc.overSlo.estimatedRecordedS} s`,
      replayed: `${doc.overSlo.estimatedReplayedS} s`,
      capacity: doc.overSlo.capacityPerReplica === null ? 'unknown' : `${fig(doc.overSlo.capacityPerReplica)} req/s per replica (${doc.overSlo.capacitySource})`,
    },
    rows: doc.syncs.map((s) => ({
      t: fig(s.t), cpu: fig(s.cpuMillis), rps: fig(s.rps),
      recorded: s.recorded ? `${s.recorded.current} → ${s.recorded.desired}` : '—',
      replayed: `${s.replayed.current} → ${s.replayed.desired}`,
      differs: s.recorded !== null && s.recorded.desired !== s.replayed.desired,
      reason: s.replayed.reason,
    })),
    fidelity: doc.fidelity ? `${doc.fidelity.sameDesired} of ${doc.fidelity.syncs} syncs gave the recorded desired replicas; largest difference ${doc.fidelity.maxDifference}` : '',
  };
  return renderPage('whatif', view, charts(doc));
}
