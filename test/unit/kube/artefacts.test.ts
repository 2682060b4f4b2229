import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../../src/config/load.js';
import { apiserverConfig, rbacManifests, webhookKubeconfig } from '../../../src/kube/artefacts.js';

const config = parseConfig({
  server: { public_url: 'https://gatehouse.example.com', listen: '127.0.0.1:8080' },
  connectors: [{ type: 'demo' }],
  clusters: [{ name: 'prod', audience: 'gatehouse:prod', api_server: 'https://10.0.0.1:6443' }],
  tokenreview: { bearer_token: 'reviewer-token-of-enough-length' }, // secret-scan: allow
  roles: [
    { name: 'admin', kubernetes_groups: ['platform-admins'], kubernetes_rbac: { cluster_role: 'cluster-admin' } },
    { name: 'dev', kubernetes_groups: ['developers', 'team-{{external.groups}}'], kubernetes_rbac: { cluster_role: 'edit', namespaces: ['apps', 'jobs'] } },
  ],
});

test('apiserver flags and AuthenticationConfiguration trust Gatehouse with the cluster audience', () => {
  const { flags, authenticationConfiguration: ac } = apiserverConfig(config, config.clusters[0]);
  assert.ok(flags.includes('--oidc-issuer-url=https://gatehouse.example.com'));
  assert.ok(flags.includes('--oidc-client-id=gatehouse:prod'));
  assert.ok(flags.includes('--oidc-groups-claim=groups'));
  // Field names and shapes of apiserver.config.k8s.io/v1beta1 AuthenticationConfiguration (Kubernetes 1.30+).
  assert.equal(ac.apiVersion, 'apiserver.config.k8s.io/v1beta1');
  assert.equal(ac.kind, 'AuthenticationConfiguration');
  const [jwt] = ac.jwt;
  assert.deepEqual(jwt.issuer, { url: 'https://gatehouse.example.com', audiences: ['gatehouse:prod'], audienceMatchPolicy: 'MatchAny' });
  assert.deepEqual(jwt.claimMappings.username, { claim: 'preferred_username', prefix: 'gatehouse:' });
  assert.deepEqual(jwt.claimMappings.groups, { claim: 'groups', prefix: '' });
  for (const rule of [...jwt.claimValidationRules, ...jwt.userValidationRules]) {
    assert.deepEqual(Object.keys(rule).sort(), ['expression', 'message']);
  }
  for (const extra of jwt.claimMappings.extra) assert.match(extra.key, /^[a-z0-9.-]+\/[a-z0-9-]+$/, 'extra keys are domain-prefixed paths');
});

test('rbac binds each literal group: cluster-wide, or per namespace; templated groups are skipped', () => {
  const docs = rbacManifests(config) as {
    kind: string;
    metadata: { name: string; namespace?: string };
    roleRef: { name: string };
    subjects: { name: string }[];
  }[];
  assert.deepEqual(
    docs.map((d) => [d.kind, d.metadata.namespace ?? '', d.roleRef.name, d.subjects[0].name]),
    [
      ['ClusterRoleBinding', '', 'cluster-admin', 'platform-admins'],
      ['RoleBinding', 'apps', 'edit', 'developers'],
      ['RoleBinding', 'jobs', 'edit', 'developers'],
    ],
  );
  for (const d of docs) assert.match(d.metadata.name, /^[a-z0-9:.-]+$/);
});

test('the webhook kubeconfig points at the TokenReview endpoint with the reviewer token', () => {
  const kc = webhookKubeconfig(config) as { clusters: { cluster: { server: string } }[]; users: { user: { token: string } }[] };
  assert.equal(kc.clusters[0].cluster.server, 'https://gatehouse.example.com/apis/authentication.k8s.io/v1/tokenreviews');
  assert.equal(kc.users[0].user.token, 'reviewer-token-of-enough-length');
});
