import type { ClusterConfig, Config } from '../config/schema.js';
import { KUBE_USERNAME_PREFIX } from './names.js';

/**
 * What a cluster operator pastes into kube-apiserver: the --oidc-* flags (any version) or an
 * AuthenticationConfiguration (apiserver.config.k8s.io/v1beta1, Kubernetes 1.30+), both
 * trusting Gatehouse as issuer with this cluster's audience.
 */
export function apiserverConfig(config: Config, cluster: ClusterConfig) {
  const issuer = config.server.public_url;
  const flags = [
    `--oidc-issuer-url=${issuer}`,
    `--oidc-client-id=${cluster.audience}`,
    '--oidc-username-claim=preferred_username',
    `--oidc-username-prefix=${KUBE_USERNAME_PREFIX}`,
    '--oidc-groups-claim=groups',
    `--oidc-signing-algs=${config.tokens.signing_alg}`,
  ];
  const authenticationConfiguration = {
    apiVersion: 'apiserver.config.k8s.io/v1beta1',
    kind: 'AuthenticationConfiguration',
    jwt: [
      {
        issuer: { url: issuer, audiences: [cluster.audience], audienceMatchPolicy: 'MatchAny' },
        claimValidationRules: [
          { expression: "has(claims.preferred_username) && claims.preferred_username != ''", message: 'the token names no user' },
          { expression: `claims.exp - claims.iat <= ${Math.ceil(config.tokens.ttl / 1000)}`, message: 'Gatehouse tokens are short-lived' },
        ],
        claimMappings: {
          username: { claim: 'preferred_username', prefix: KUBE_USERNAME_PREFIX },
          groups: { claim: 'groups', prefix: '' },
          uid: { claim: 'sub' },
          extra: [
            { key: 'gatehouse.dev/connector', valueExpression: "has(claims.connector) ? claims.connector : ''" },
            { key: 'gatehouse.dev/roles', valueExpression: 'has(claims.roles) ? claims.roles : []' },
          ],
        },
        userValidationRules: [
          { expression: "!user.username.startsWith('system:')", message: 'system: usernames are reserved' },
          { expression: "user.groups.all(g, !g.startsWith('system:'))", message: 'system: groups are reserved' },
        ],
      },
    ],
  };
  return { flags, authenticationConfiguration };
}

/** RBAC for every role's literal Kubernetes groups: a ClusterRoleBinding, or RoleBindings per namespace. */
export function rbacManifests(config: Config): Record<string, unknown>[] {
  const docs: Record<string, unknown>[] = [];
  for (const role of config.roles) {
    const binding = role.kubernetes_rbac;
    for (const group of role.kubernetes_groups.filter((g) => !g.includes('{{'))) {
      const subjects = [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: group }];
      const roleRef = { kind: 'ClusterRole', apiGroup: 'rbac.authorization.k8s.io', name: binding.cluster_role };
      const labels = { 'app.kubernetes.io/managed-by': 'gatehouse', 'gatehouse.dev/role': role.name };
      const name = `gatehouse:${role.name}:${group}`.replace(/[^a-z0-9:.-]/gi, '-').toLowerCase();
      if (!binding.namespaces.length) {
        docs.push({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name, labels }, roleRef, subjects });
      } else {
        for (const namespace of binding.namespaces) {
          docs.push({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name, namespace, labels }, roleRef, subjects });
        }
      }
    }
  }
  return docs;
}

/** The kubeconfig-format file kube-apiserver's --authentication-token-webhook-config-file reads. */
export function webhookKubeconfig(config: Config): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'gatehouse', cluster: { server: `${config.server.public_url}/apis/authentication.k8s.io/v1/tokenreviews` } }],
    users: [{ name: 'kube-apiserver', user: { token: config.tokenreview?.bearer_token ?? '${TOKENREVIEW_TOKEN}' } }],
    contexts: [{ name: 'webhook', context: { cluster: 'gatehouse', user: 'kube-apiserver' } }],
    'current-context': 'webhook',
  };
}
