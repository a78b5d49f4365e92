import { z } from 'zod';
import { parseDuration } from '../core/clock.ts';
import { validateHpaSpec, type HpaSpec } from './hpa.ts';
import { LIMITS, quote } from './limits.ts';

/** The metric the controller can serve: per pod (Pods), per Service (Object), summed over the target's pods (External). */
export const REQUESTS_PER_SECOND = 'http_requests_per_second';

/** Defaults of the loadscope-only timing keys (kube-controller-manager's sync period, metrics-server's resolution). */
const DEFAULT_SYNC_PERIOD_MS = 15_000;
const DEFAULT_METRIC_RESOLUTION_MS = 15_000;

// The scenario's `autoscaler:` section: an autoscaling/v2 HorizontalPodAutoscaler spec as written in a cluster
// (paste `spec:` of `kubectl get hpa -o yaml`), plus two loadscope-only timing keys. Structure is checked here;
// the API server's semantic checks come from validateHpaSpec (hpa.ts), each reported at its own path.

/** Services the bundled Deployments are named after. */
const SERVICES = ['backend', 'frontend'] as const;

const timing = (what: string, defaultMs: number) =>
  z
    .string()
    .default(`${defaultMs / 1000}s`)
    .meta({ description: what, examples: ['5s', '15s'] })
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined || ms < 1000 || ms > 600_000) {
        ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration between 1s and 10m; write e.g. "5s", "15s"` });
        return z.NEVER;
      }
      return ms;
    });

/** A Kubernetes quantity. A YAML number is read as Kubernetes reads it (`averageValue: 1` is 1 cpu, not 1m). */
const quantity = z
  .union([z.string(), z.number()])
  .meta({ description: 'A Kubernetes quantity: "500m", "1", "128Mi", "1.5k".' })
  .transform((q) => (typeof q === 'number' ? String(q) : q));

const objectReference = z.strictObject({
  apiVersion: z.string().optional(),
  kind: z.string().min(1),
  name: z.string().min(1),
});

const metricTarget = z.strictObject({
  type: z.enum(['Utilization', 'Value', 'AverageValue']),
  value: quantity.optional(),
  averageValue: quantity.optional(),
  averageUtilization: z.number().optional().meta({ description: 'Percent of the pods\' requests (Resource metrics).' }),
});

const metricIdentifier = z.strictObject({
  name: z.string().min(1).meta({ description: `loadscope measures "${REQUESTS_PER_SECOND}" (requests each pod, the Service, or all the target's pods served per second).` }),
  selector: z.unknown().optional(),
});

const metric = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('Resource'), resource: z.strictObject({ name: z.enum(['cpu', 'memory']), target: metricTarget }) }),
  z.strictObject({
    type: z.literal('ContainerResource'),
    containerResource: z.strictObject({
      name: z.enum(['cpu', 'memory']),
      container: z.string().min(1).meta({ description: 'The container: loadscope pods run one, named after the service (the scale target\'s name).' }),
      target: metricTarget,
    }),
  }),
  z.strictObject({ type: z.literal('External'), external: z.strictObject({ metric: metricIdentifier, target: metricTarget }) }),
  z.strictObject({ type: z.literal('Pods'), pods: z.strictObject({ metric: metricIdentifier, target: metricTarget }) }),
  z.strictObject({ type: z.literal('Object'), object: z.strictObject({ describedObject: objectReference, metric: metricIdentifier, target: metricTarget }) }),
]);

const scalingRules = z.strictObject({
  stabilizationWindowSeconds: z.number().optional(),
  selectPolicy: z.enum(['Max', 'Min', 'Disabled']).optional(),
  policies: z.array(z.strictObject({ type: z.enum(['Pods', 'Percent']), value: z.number(), periodSeconds: z.number() })).optional(),
  tolerance: quantity.optional().meta({ description: 'Kubernetes 1.33+: per-direction tolerance, e.g. "0.05".' }),
});

/** The `autoscaler:` section. Its output is an HpaSpec plus syncPeriod and metricResolution in ms. */
export const autoscalerSchema = z
  .strictObject({
    scaleTargetRef: z.strictObject({
      apiVersion: z.string().optional(),
      kind: z.literal('Deployment', { message: 'loadscope scales the bundled Deployments: kind must be "Deployment"' }),
      name: z.enum(SERVICES),
    }),
    minReplicas: z.number().max(LIMITS.replicas, { message: `at most ${LIMITS.replicas} replicas` }).optional(),
    maxReplicas: z.number().max(LIMITS.replicas, { message: `at most ${LIMITS.replicas} replicas` }),
    metrics: z.array(metric).optional(),
    behavior: z.strictObject({ scaleUp: scalingRules.optional(), scaleDown: scalingRules.optional() }).optional(),
    syncPeriod: timing('loadscope only: how often the controller reconciles (kube-controller-manager --horizontal-pod-autoscaler-sync-period).', DEFAULT_SYNC_PERIOD_MS),
    metricResolution: timing('loadscope only: the window usage rates are computed over and how often pods are scraped (metrics-server --metric-resolution).', DEFAULT_METRIC_RESOLUTION_MS),
  })
  .superRefine(
    (a, ctx) => {
      // Runs even when the structure has problems (every problem at once), so it reads the value defensively and
      // skips paths that already have one.
      const taken = (path: (string | number)[]) => structural.some((p) => p.length > 0 && p.length <= path.length && p.every((k, i) => k === path[i]));
      const add = (path: (string | number)[], message: string) => {
        if (!taken(path)) ctx.addIssue({ code: 'custom', path, message });
      };
      let semantic: string[] = [];
      try {
        semantic = validateHpaSpec(hpaSpecOf(a));
      } catch (err) {
        // validateHpaSpec expects the structure it checks the meaning of; a malformed one is reported already.
        if (!structural.length) throw err;
      }
      for (const problem of semantic) {
        const cut = problem.indexOf(': ');
        add(pathOf(problem.slice(0, cut)), problem.slice(cut + 2));
      }
      const metrics: unknown[] = Array.isArray(a?.metrics) ? a.metrics : [];
      const service = a?.scaleTargetRef?.name;
      metrics.forEach((raw, i) => {
        type Id = { metric?: { name?: unknown; selector?: unknown } };
        const m = raw as { type?: unknown; pods?: Id; external?: Id; object?: Id & { describedObject?: { kind?: unknown; name?: unknown } }; containerResource?: { container?: unknown } };
        const container = m?.type === 'ContainerResource' ? m.containerResource?.container : undefined;
        if (typeof container === 'string' && typeof service === 'string' && container !== service) {
          add(
            ['metrics', i, 'containerResource', 'container'],
            `loadscope pods run one container, named after the service: write container: ${service} (the scale target), not "${container}"`,
          );
        }
        const at = m?.type === 'Pods' ? 'pods' : m?.type === 'Object' ? 'object' : m?.type === 'External' ? 'external' : undefined;
        if (!at) return;
        const id = m[at]?.metric;
        if (typeof id?.name === 'string' && id.name !== REQUESTS_PER_SECOND) {
          const what = at === 'external' ? ` (requests per second the target's pods served, summed)` : '';
          add(['metrics', i, at, 'metric', 'name'], `loadscope measures "${REQUESTS_PER_SECOND}"${what} only, not "${id.name}"`);
        }
        if (id?.selector !== undefined) add(['metrics', i, at, 'metric', 'selector'], 'metric selectors are not supported: the metric is measured on the pods themselves');
        const ref = m.object?.describedObject;
        if (at === 'object' && ref && (ref.kind !== 'Service' || !(SERVICES as readonly unknown[]).includes(ref.name))) {
          add(['metrics', i, 'object', 'describedObject'], `loadscope measures Object metrics of the Services ${SERVICES.join(' and ')}, not ${named(ref.kind)}/${named(ref.name)}`);
        }
      });
    },
    {
      when: (payload) => {
        structural = payload.issues.map((i) => (i.path ?? []).map((k) => (typeof k === 'symbol' ? String(k) : k)));
        return payload.value !== null && typeof payload.value === 'object';
      },
    },
  );

/** Paths of the structural problems of the section being checked (set just before its semantic checks run). */
let structural: (string | number)[][] = [];

/** The validated section. */
export type AutoscalerSpec = z.output<typeof autoscalerSchema>;

/** The HPA spec inside the section (without the loadscope-only keys). */
export function hpaSpecOf(a: AutoscalerSpec): HpaSpec {
  const { syncPeriod: _s, metricResolution: _m, ...spec } = a;
  return spec as HpaSpec;
}

/** "metrics[0].resource.target.type" → ['metrics', 0, 'resource', 'target', 'type']. */
function pathOf(text: string): (string | number)[] {
  return [...text.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]));
}

/**
 * Cross-section checks for the scenario's superRefine: a (Container)Resource Utilization target is a
 * percentage of the target service's resource requests, so they must be set. Reports at the metric's target.
 */
export function checkAutoscalerRequests(
  a: AutoscalerSpec | undefined,
  requestsOf: (service: string) => { cpu?: number; memory?: number } | undefined,
  addIssue: (path: (string | number)[], message: string) => void,
): void {
  // Runs even when other parts of the scenario have problems, so it reads defensively.
  const service = a?.scaleTargetRef?.name;
  if (typeof service !== 'string' || !Array.isArray(a?.metrics)) return;
  a.metrics.forEach((m, i) => {
    const key = m?.type === 'Resource' ? 'resource' : m?.type === 'ContainerResource' ? 'containerResource' : undefined;
    const src = m?.type === 'Resource' ? m.resource : m?.type === 'ContainerResource' ? m.containerResource : undefined;
    if (!key || src?.target?.type !== 'Utilization') return;
    const r = src.name;
    if ((r === 'cpu' || r === 'memory') && requestsOf(service)?.[r] === undefined) {
      addIssue(
        ['autoscaler', 'metrics', i, key, 'target'],
        `${r} Utilization is a percentage of the pods' requests: set services.${service}.resources.requests.${r} (or use type AverageValue)`,
      );
    }
  });
}

/** A value of the scenario in a message: quoted text, or what it is when it is not text. */
function named(v: unknown): string {
  return typeof v === 'string' ? quote(v) : `(${v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v})`;
}
