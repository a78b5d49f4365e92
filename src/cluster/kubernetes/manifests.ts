// The objects a `deploy: true` run applies: the manifests of a directory (fixtures/k8s/ by default),
// plus the generated ConfigMap that carries the bundled services, each put in the run's namespace and
// labelled with the run. Pure apart from reading files.
import type { KubernetesObject } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { LoadscopeError } from '../../core/errors.ts';
import { hpaSpecOf } from '../../scenario/autoscaler.ts';
import type { ScenarioSpec } from '../../scenario/schema.ts';

/** The label every object of a run carries (its value: runLabel(runId)). */
export const RUN_LABEL = 'loadscope.io/run';
/** The full run id (a label value is limited to 63 characters). */
export const RUN_ID_ANNOTATION = 'loadscope.io/run-id';
/** The ConfigMap that carries the bundled services (main.mjs), mounted by their Deployments. */
export const SERVICES_CONFIGMAP = 'loadscope-services';
export const DEFAULT_MANIFESTS = fileURLToPath(new URL('../../../fixtures/k8s/', import.meta.url));

/** `text` as a DNS label of at most `max` characters: lower case, [a-z0-9-], alphanumeric at both ends; a hash keeps cut names apart. */
function dnsLabel(text: string, max: number): string {
  const clean = text.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  if (clean.length <= max && clean.length > 0) return clean;
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 10);
  return `${clean.slice(0, max - 11).replace(/-+$/, '')}-${hash}`;
}

/** The run's label value. */
export function runLabel(runId: string): string {
  return dnsLabel(runId, 63);
}

/** The namespace a run creates when the scenario names none. */
export function runNamespace(runId: string): string {
  return dnsLabel(`loadscope-${runId}`, 63);
}

/** An object as read from a manifest: kind, apiVersion and name are checked to be there. */
export type Manifest = KubernetesObject & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> } } & Record<string, unknown>;

/** Every document of every *.yaml / *.yml file of `dir`, in file-name order; problems name the file and line. */
export function readManifests(dir: string): Manifest[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch (cause) {
    throw new LoadscopeError('FILE_NOT_FOUND', `cannot read the manifests directory ${dir}`, { cause, hint: 'cluster.manifests is a directory of Kubernetes YAML files (default fixtures/k8s/)' });
  }
  if (!files.length) throw new LoadscopeError('FILE_NOT_FOUND', `${dir} holds no .yaml manifests`, { hint: 'cluster.manifests is a directory of Kubernetes YAML files (default fixtures/k8s/)' });
  const out: Manifest[] = [];
  for (const f of files) {
    const path = join(dir, f);
    const text = readFileSync(path, 'utf8');
    for (const doc of parseAllDocuments(text)) {
      const line = text.slice(0, doc.range[0]).split('\n').length;
      if (doc.errors.length) throw new LoadscopeError('SCENARIO_INVALID', `${path}:${line}: YAML: ${doc.errors[0].message.split('\n')[0]}`, { hint: 'fix the manifest' });
      const o = doc.toJS() as Manifest | null;
      if (o === null) continue;
      if (typeof o !== 'object' || !o.apiVersion || !o.kind || !o.metadata?.name) {
        throw new LoadscopeError('SCENARIO_INVALID', `${path}:${line}: a manifest needs apiVersion, kind and metadata.name`, { hint: 'each YAML document is one Kubernetes object' });
      }
      if (o.metadata.namespace !== undefined) {
        throw new LoadscopeError('SCENARIO_INVALID', `${path}:${line}: ${o.kind}/${o.metadata.name} names a namespace (${o.metadata.namespace})`, { hint: 'leave metadata.namespace out: the run puts every object into its own namespace' });
      }
      out.push(o);
    }
  }
  return out;
}

/** The backend container's variable holding its node's address (the Downward API's status.hostIP). */
const NODE_IP_ENV = 'LOADSCOPE_NODE_IP';

/** What plan() needs besides the manifests. */
export interface PlanOptions {
  runId: string;
  namespace: string;
  /** The bundled services as one ES module (cluster/process.ts builds it). */
  bundle: string;
  /** Whether the cluster serves ciliumnetworkpolicies.cilium.io: then the Cilium policy, else the NetworkPolicy. */
  cilium: boolean;
}

type Container = { name: string; args?: string[]; env?: { name: string; value?: string; valueFrom?: unknown }[]; resources?: { requests?: Record<string, string>; limits?: Record<string, string> } };

/**
 * The objects to apply, in order (ConfigMap first, HPA last): the manifests in the run's namespace
 * and labelled with the run, one of the two network policies, the scenario's backend routes (the
 * backend's `--config` argument),
 * replicas and resources on the Deployments, and the scenario's autoscaler spec on the HPA.
 */
export function plan(manifests: Manifest[], spec: ScenarioSpec, o: PlanOptions): Manifest[] {
  const b = spec.services.backend;
  const configMap: Manifest = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: SERVICES_CONFIGMAP },
    data: { 'main.mjs': o.bundle },
  };
  const out: Manifest[] = [configMap];
  for (const m of manifests) {
    const o2 = structuredClone(m);
    if (o2.kind === 'CiliumNetworkPolicy' && !o.cilium) continue;
    if (o2.kind === 'NetworkPolicy' && o2.apiVersion.startsWith('networking.k8s.io/') && o.cilium) continue;
    if (o2.kind === 'Deployment' && (o2.metadata.name === 'backend' || o2.metadata.name === 'frontend')) {
      const svc = spec.services[o2.metadata.name];
      const podSpec = (o2.spec as { replicas?: number; template?: { spec?: { containers?: Container[] } } } | undefined);
      if (podSpec) podSpec.replicas = svc.replicas;
      const c = podSpec?.template?.spec?.containers?.find((x) => x.name === o2.metadata.name);
      const config = c?.args?.indexOf('--config') ?? -1;
      if (c?.args && config >= 0 && o2.metadata.name === 'backend') c.args[config + 1] = JSON.stringify({ routes: b.routes, default: b.default });
      // http faults: the backend's fault endpoint answers its node's address too (where the harness calls from on the test control plane)
      if (c && o2.metadata.name === 'backend' && spec.faults.some((f) => f.kind === 'http-errors' || f.kind === 'http-delay')) {
        (c.env ??= []).push({ name: NODE_IP_ENV, valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } });
        (c.args ??= []).push('--control-from', `$(${NODE_IP_ENV})`);
      }
      if (c) {
        const req = svc.resources.requests;
        const lim = svc.resources.limits;
        if (req.cpu !== undefined) ((c.resources ??= {}).requests ??= {}).cpu = `${req.cpu}m`;
        if (req.memory !== undefined) ((c.resources ??= {}).requests ??= {}).memory = String(req.memory);
        if (lim.cpu !== undefined) ((c.resources ??= {}).limits ??= {}).cpu = `${lim.cpu}m`;
        if (lim.memory !== undefined) ((c.resources ??= {}).limits ??= {}).memory = String(lim.memory);
      }
    }
    if (o2.kind === 'HorizontalPodAutoscaler' && spec.autoscaler) o2.spec = hpaSpecOf(spec.autoscaler);
    out.push(o2);
  }
  const hpas = out.filter((m) => m.kind === 'HorizontalPodAutoscaler');
  const rest = out.filter((m) => m.kind !== 'HorizontalPodAutoscaler');
  return [...rest, ...hpas].map((m) => ({
    ...m,
    metadata: {
      ...m.metadata,
      namespace: o.namespace,
      labels: { ...m.metadata.labels, [RUN_LABEL]: runLabel(o.runId) },
      annotations: { ...m.metadata.annotations, [RUN_ID_ANNOTATION]: o.runId },
    },
  }));
}

/** The manifests directory of a scenario (relative paths from the current directory). */
export function manifestsDir(dir: string | undefined): string {
  return dir === undefined ? DEFAULT_MANIFESTS : resolve(dir);
}
