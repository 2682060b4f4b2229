/** Kubernetes: the clusters a kubeconfig can name, and the artefacts an operator pastes into a cluster. */
import { z } from 'zod';
import { errors, json, text, UNAUTHENTICATED, type ApiOperation } from './operation.js';

const kubeCluster = z.object({
  name: z.string(),
  audience: z.string().describe('The `aud` of tokens for this cluster.'),
  mode: z.enum(['oidc', 'proxy']).describe('`oidc`: the API server trusts Gatehouse tokens; `proxy`: kubectl goes through the Gatehouse proxy.'),
  api_server: z.url().describe('What kubectl talks to: the API server, or for `proxy` the Gatehouse proxy’s URL for the cluster.'),
  ca_data: z.string().optional().describe('Base64 PEM of the CA kubectl trusts for api_server (absent when none is configured or readable).'),
});

export const kubeClusters = z.object({ clusters: z.array(kubeCluster) }).meta({ description: 'Every configured cluster.' });
export type KubeClusters = z.infer<typeof kubeClusters>;

const FORBIDDEN = { 403: 'The caller has no role with `cluster_artefacts: true` (`cluster_artefacts_forbidden`).' };
const artefact = (kind: string, summary: string, extra: Partial<ApiOperation> = {}): ApiOperation => ({
  method: 'get',
  path: `/api/v1/kube/artefacts/${kind}`,
  tag: 'kube',
  summary,
  description: `Byte for byte what \`gatehouse kube ${kind}\` prints from the same config file.`,
  auth: 'principal',
  ...extra,
  responses: { 200: text('The artefact.', 'text/yaml', 'YAML'), ...errors({ ...UNAUTHENTICATED, ...FORBIDDEN }), ...extra.responses },
});

export const kubeOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/api/v1/kube/clusters',
    tag: 'kube',
    summary: 'The clusters, with what a kubeconfig needs for each',
    auth: 'principal',
    responses: { 200: json('The clusters.', 'KubeClusters', kubeClusters), ...errors(UNAUTHENTICATED) },
  },
  artefact('apiserver-config', 'kube-apiserver OIDC flags and AuthenticationConfiguration for one cluster', {
    query: z.object({ cluster: z.string().describe('The cluster’s name.') }),
    responses: errors({ 404: 'No cluster has that name (`unknown_cluster`).' }),
  }),
  artefact('rbac', 'RoleBindings and ClusterRoleBindings for every role’s Kubernetes groups'),
  artefact('webhook-config', 'The TokenReview webhook’s kubeconfig (its token is the `${TOKENREVIEW_TOKEN}` placeholder)'),
];
