import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../../src/config/load.js';
import { appAudience, audienceCollisions, createAudienceRegistry, GATEWAY_AUDIENCE } from '../../../src/core/audiences.js';

const base = {
  server: { public_url: 'https://gate.example.com' },
  connectors: [{ type: 'oidc', id: 'corp', name: 'Corp', issuer: 'https://idp.example.com', client_id: 'gatehouse', client_secret: 'x' }], // secret-scan: allow
};
const cluster = (name: string, audience: string) => ({ name, audience, api_server: 'https://127.0.0.1:6443' });
const app = (name: string) => ({ name, upstream: 'http://127.0.0.1:9', public_host: `${name}.apps.example.com` });

/** parseConfig's error for a config, or undefined when it loads. */
const problems = (extra: Record<string, unknown>) => {
  try {
    parseConfig({ ...base, ...extra }, { env: {} });
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
};

describe('audience registry', () => {
  test('app audiences are namespaced, so an app named like the gateway or a cluster is not one', () => {
    assert.equal(appAudience('gatehouse'), 'gatehouse-app:gatehouse');
    const registry = createAudienceRegistry(() => ({ clusters: [cluster('prod', 'prod')], apps: [{ name: 'gatehouse' }, { name: 'prod' }] }));
    assert.equal(registry.kindOf(GATEWAY_AUDIENCE), 'gateway');
    assert.equal(registry.kindOf('prod'), 'cluster');
    assert.equal(registry.kindOf('gatehouse-app:prod'), 'app');
    assert.equal(registry.kindOf('gatehouse-cli'), 'cli');
    assert.equal(registry.kindOf('nobody'), undefined);
    assert.deepEqual(registry.clusterAudiences(), ['prod']);
    assert.deepEqual(audienceCollisions({ clusters: [cluster('prod', 'prod')], apps: [{ name: 'gatehouse' }, { name: 'prod' }] }), []);
  });

  // Hostile configs: every audience equal to another kind's (or another cluster's) is refused, naming both.
  const hostile: [string, Record<string, unknown>, RegExp][] = [
    [
      'cluster audience = the gateway audience',
      { clusters: [cluster('prod', 'gatehouse')] },
      /audience "gatehouse" of cluster "prod" collides with the gateway API/,
    ],
    ['cluster audience = the CLI client id (ID tokens)', { clusters: [cluster('prod', 'gatehouse-cli')] }, /cluster "prod" collides with the CLI client id/],
    [
      'cluster audience = an app assertion audience',
      { clusters: [cluster('prod', 'gatehouse-app:wiki')], apps: [app('wiki')] },
      /audience "gatehouse-app:wiki" of cluster "prod" collides with app "wiki"/,
    ],
    [
      'cluster audience in the app namespace (no such app yet)',
      { clusters: [cluster('prod', 'gatehouse-app:later')] },
      /cluster "prod" is in the "gatehouse-app:" namespace/,
    ],
    [
      'cluster audience = forward-auth assertions',
      { clusters: [cluster('prod', 'gatehouse-forward-auth')] },
      /cluster "prod" collides with forward-auth assertions/,
    ],
    [
      'two clusters with one audience',
      { clusters: [cluster('prod', 'k8s'), cluster('dev', 'k8s')] },
      /audience "k8s" of cluster "dev" collides with cluster "prod"/,
    ],
    ['CLI client id = the gateway audience', { cli: { client_id: 'gatehouse' } }, /collides with the gateway API/],
    [
      'CLI client id = a cluster audience',
      { cli: { client_id: 'k8s' }, clusters: [cluster('prod', 'k8s')] },
      /audience "k8s" of cluster "prod" collides with the CLI client id/,
    ],
  ];
  for (const [name, extra, message] of hostile) {
    test(`config loading refuses: ${name}`, () => {
      const error = problems(extra);
      assert.ok(error, 'refused');
      assert.match(error, message);
    });
  }

  test('an app named "gatehouse" or after a cluster audience loads (its audience is namespaced)', () => {
    assert.equal(problems({ clusters: [cluster('prod', 'prod')], apps: [app('gatehouse'), app('prod')] }), undefined);
  });
});
