import { z } from 'zod';

/** Keys that only `mode: kubernetes` takes. */
const KUBERNETES_KEYS = ['kubeconfig', 'context', 'namespace', 'deploy', 'manifests'] as const;

/** A DNS-1123 label: what a namespace name may be. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * The scenario's `cluster` key: where the bundled services run. Defaults live here. `kubernetes`
 * runs them in a real cluster (src/cluster/kubernetes/); its keys are rejected under any other mode.
 */
export const clusterSchema = z
  .strictObject({
    mode: z
      .enum(['auto', 'loopback', 'local', 'kubernetes'])
      .default('auto')
      .meta({ description: 'Where bundled services run. auto: the embedded local cluster when it can run here, else loopback processes. kubernetes: a real cluster (kubeconfig or in-cluster config).' }),
    kubeconfig: z.string().min(1).optional().meta({ description: 'kubernetes only: the kubeconfig file (default $KUBECONFIG, then ~/.kube/config, then the in-cluster service account).' }),
    context: z.string().min(1).optional().meta({ description: 'kubernetes only: the kubeconfig context (default: its current-context).' }),
    namespace: z
      .string()
      .regex(DNS_LABEL, { message: 'a namespace is a DNS label: lower-case letters, digits and "-", at most 63 characters, starting and ending with a letter or digit' })
      .optional()
      .meta({ description: 'kubernetes only: the namespace to deploy into and watch (default: a fresh namespace loadscope-<run id>, deleted at the end).' }),
    deploy: z.boolean().optional().meta({ description: 'kubernetes only: apply the manifests (default true); false watches what already runs in `namespace` and loads target.url.' }),
    manifests: z.string().min(1).optional().meta({ description: 'kubernetes only: a directory of manifests to apply instead of fixtures/k8s/ (relative to the current directory).' }),
  })
  .superRefine((c, ctx) => {
    if (c.mode !== 'kubernetes') {
      for (const key of KUBERNETES_KEYS) {
        if (c[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `"${key}" applies to mode: kubernetes only (this cluster is mode: ${c.mode})` });
      }
      return;
    }
    if (c.deploy === false && c.namespace === undefined) {
      ctx.addIssue({ code: 'custom', path: ['deploy'], message: 'deploy: false watches services that already run: name their namespace (cluster.namespace)' });
    }
    if (c.deploy === false && c.manifests !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['manifests'], message: '"manifests" are applied with deploy: true only' });
    }
  })
  .transform((c): ClusterSpec => {
    if (c.mode !== 'kubernetes') return { mode: c.mode };
    const { kubeconfig, context, namespace, manifests } = c;
    return { mode: 'kubernetes', deploy: c.deploy ?? true, ...(kubeconfig && { kubeconfig }), ...(context && { context }), ...(namespace && { namespace }), ...(manifests && { manifests }) };
  })
  .default({ mode: 'auto' });

/** `mode: kubernetes` after validation: deploy defaulted; the rest absent when not written. */
export interface KubernetesClusterSpec {
  mode: 'kubernetes';
  deploy: boolean;
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  manifests?: string;
}

/** The validated `cluster` key. */
export type ClusterSpec = { mode: 'auto' | 'loopback' | 'local' } | KubernetesClusterSpec;
