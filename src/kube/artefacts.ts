import { stringify } from 'yaml';
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

/** What stands for the TokenReview bearer token wherever the token itself must not appear. */
const TOKENREVIEW_TOKEN_PLACEHOLDER = '${TOKENREVIEW_TOKEN}';

/**
 * The kubeconfig-format file kube-apiserver's --authentication-token-webhook-config-file reads.
 * `withToken: false` (the gateway's API) always writes the placeholder: the token is a secret.
 */
export function webhookKubeconfig(config: Config, options: { withToken?: boolean } = {}): Record<string, unknown> {
  const token = (options.withToken ?? true) && config.tokenreview?.bearer_token ? config.tokenreview.bearer_token : TOKENREVIEW_TOKEN_PLACEHOLDER;
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'gatehouse', cluster: { server: `${config.server.public_url}/apis/authentication.k8s.io/v1/tokenreviews` } }],
    users: [{ name: 'kube-apiserver', user: { token } }],
    contexts: [{ name: 'webhook', context: { cluster: 'gatehouse', user: 'kube-apiserver' } }],
    'current-context': 'webhook',
  };
}

/*
 * The printed artefacts: `gatehouse kube ...` prints these from a local config, and the gateway's
 * /api/v1/kube/artefacts/* answers the same text, so both paths print the same bytes.
 */

export function apiserverConfigText(config: Config, cluster: ClusterConfig): string {
  const { flags, authenticationConfiguration } = apiserverConfig(config, cluster);
  return (
    `# kube-apiserver flags (any version):\n${flags.map((f) => `#   ${f}`).join('\n')}\n#\n` +
    `# Or, on Kubernetes 1.30+, save the document below and pass --authentication-config=FILE:\n---\n${stringify(authenticationConfiguration)}`
  );
}

export function rbacText(config: Config): string {
  return rbacManifests(config)
    .map((d) => `---\n${stringify(d)}`)
    .join('');
}

export function webhookConfigText(config: Config, options: { withToken?: boolean } = {}): string {
  return `# Save as a file and pass to kube-apiserver:\n#   --authentication-token-webhook-config-file=FILE\n#   --authentication-token-webhook-version=v1\n${stringify(webhookKubeconfig(config, options))}`;
}
