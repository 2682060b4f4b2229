import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveAccess } from '../../../../src/access/index.js';
import { parseConfig } from '../../../../src/config/load.js';
import type { ExternalIdentity } from '../../../../src/core/types.js';
import { createAppRegistry, hostnameOf } from '../../../../src/proxy/http/apps.js';
import { renderTemplate } from '../../../../src/access/templates.js';
import { listItem } from '../../../../src/proxy/http/headers.js';
import { rewriteLocation } from '../../../../src/proxy/http/target.js';
import { createForwarder } from '../../../../src/proxy/http/forward.js';
import { ConfigError } from '../../../../src/core/config-error.js';

const config = (apps: unknown[], server: Record<string, unknown> = {}) =>
  parseConfig({ server: { public_url: 'https://gatehouse.example.com', ...server }, connectors: [{ type: 'demo' }], apps });

describe('apps config', () => {
  test('defaults: <name>.<apps_domain>, else /apps/<name>/; rewrite, timeouts, assertion ttl', () => {
    const withDomain = createAppRegistry(config([{ name: 'grafana', upstream: 'http://g:3000' }], { apps_domain: 'apps.example.com' }));
    assert.equal(withDomain.byName.get('grafana')!.publicHost, 'grafana.apps.example.com');
    const plain = createAppRegistry(config([{ name: 'wiki', upstream: 'http://w:8080', trust_gateway_origin: true }]));
    const wiki = plain.byName.get('wiki')!;
    assert.equal(wiki.path, '/apps/wiki/');
    assert.deepEqual(wiki.config.rewrite, { host: 'upstream', redirects: true });
    assert.deepEqual(wiki.config.timeouts, { connect: 5000, response: 60000, idle: 300000 });
    assert.equal(wiki.config.assertion_ttl, 300000);
    assert.equal(wiki.config.audit_requests, false);
  });

  test('invalid apps are reported with their paths', () => {
    const problems = (apps: unknown[]) => {
      try {
        config(apps);
        return '';
      } catch (err) {
        return String((err as Error).message);
      }
    };
    assert.match(problems([{ name: 'a', upstream: 'http://a', public_host: 'a.example.com', path: '/apps/a/' }]), /apps\.0.*public_host or path, not both/s);
    assert.match(problems([{ name: 'a', upstream: 'http://a', path: '/login/', trust_gateway_origin: true }]), /apps\.0.*gateway path/s);
    assert.match(problems([{ name: 'a', upstream: 'http://a', path: '/' }]), /apps\.0/);
    assert.match(problems([{ name: 'a', upstream: 'http://a', path: 'apps/a' }]), /starts and ends with/);
    assert.match(
      problems([
        { name: 'a', upstream: 'http://a', trust_gateway_origin: true },
        { name: 'a', upstream: 'http://b', trust_gateway_origin: true },
      ]),
      /apps\.1\.name.*already uses/s,
    );
    assert.match(problems([{ name: 'A b', upstream: 'http://a' }]), /apps\.0\.name/);
    assert.match(problems([{ name: 'a', upstream: 'ftp://a' }]), /apps\.0\.upstream/);
    assert.match(problems([{ name: 'a', upstream: 'http://a', headers: { 'bad header': 'x' } }]), /apps\.0\.headers/);
    assert.match(problems([{ name: 'a', upstream: 'http://a', bogus: 1 }]), /apps\.0/);
    assert.match(problems([{ name: 'a', upstream: 'http://a', public_host: 'gatehouse.example.com' }]), /apps\.0\.public_host.*gateway's own host/);
    assert.match(problems([{ name: 'a', path: '/apps/a/' }]), /apps\.0\.path.*without upstream/);
  });

  test('matching by host (port and case ignored) and by longest path prefix', () => {
    const r = createAppRegistry(
      config([
        { name: 'grafana', upstream: 'http://g', public_host: 'grafana.example.com' },
        { name: 'apps', upstream: 'http://a', path: '/apps/', trust_gateway_origin: true },
        { name: 'wiki', upstream: 'http://w', path: '/apps/wiki/', trust_gateway_origin: true },
        { name: 'guarded', public_host: 'guarded.example.com' },
      ]),
    );
    assert.equal(r.byHost('Grafana.Example.com:8443')?.name, 'grafana');
    assert.equal(r.byHost('grafana.example.com.')?.name, 'grafana');
    assert.equal(r.byHost('gatehouse.example.com'), undefined);
    assert.equal(r.byHost(undefined), undefined);
    assert.equal(r.byPath('/apps/wiki/x')?.name, 'wiki');
    assert.equal(r.byPath('/apps/wiki')?.name, 'wiki');
    assert.equal(r.byPath('/apps/wiki?x=1')?.name, 'wiki');
    assert.equal(r.byPath('/apps/wikipedia')?.name, 'apps');
    assert.equal(r.byPath('/login'), undefined);
    assert.deepEqual(r.publicHosts.sort(), ['grafana.example.com', 'guarded.example.com']);
    assert.equal(hostnameOf('[::1]:8080'), '::1');
  });
});

test('redirect rewriting: upstream URLs and the Host we sent go back to the public origin', () => {
  const o = { upstream: new URL('http://10.0.0.5:3000'), sentHost: '10.0.0.5:3000', origin: 'https://grafana.example.com' };
  assert.equal(rewriteLocation('http://10.0.0.5:3000/login?x=1#h', o), 'https://grafana.example.com/login?x=1#h');
  assert.equal(rewriteLocation('/login', o), '/login');
  assert.equal(rewriteLocation('https://accounts.example.org/sso', o), 'https://accounts.example.org/sso');
  assert.equal(rewriteLocation('//evil.example/x', o), '//evil.example/x');
  const stripped = { ...o, origin: 'https://gatehouse.example.com', prefix: '/apps/wiki/' };
  assert.equal(rewriteLocation('/login', stripped), '/apps/wiki/login');
  assert.equal(rewriteLocation('http://10.0.0.5:3000/a/b', stripped), 'https://gatehouse.example.com/apps/wiki/a/b');
  assert.equal(rewriteLocation('not a url', o), 'not a url');
});

test('header templates render identity fields once (IdP values are not expanded again)', () => {
  const identity: ExternalIdentity = {
    connector: 'corp',
    subject: 's1',
    username: 'ana',
    email: 'ana@example.com',
    groups: ['team-a', '{{email}}'],
    claims: { dept: 'ops' },
  };
  const policy = {
    roles: [
      {
        name: 'dev',
        kubernetes_groups: [],
        kubernetes_users: [],
        logins: [],
        node_labels: {},
        apps: [],
        port_forwarding: false,
        agent_forwarding: false,
        ssh_revoke: false,
        deny: { kubernetes_groups: [], kubernetes_users: [], logins: [], apps: [] },
      },
    ],
    mappings: [{ match: { connector: 'corp' }, roles: ['dev'] }],
    groupPrefixes: { corp: 'corp:' },
  };
  const values = { groupPrefix: policy.groupPrefixes.corp, roles: resolveAccess(identity, policy).roles, listItem };
  assert.equal(renderTemplate('{{username}} <{{email}}> {{email.local}}@{{email.domain}}', identity, values), 'ana <ana@example.com> ana@example.com');
  assert.equal(renderTemplate('{{groups}}|{{roles}}|{{connector}}|{{subject}}', identity, values), 'team-a,{{email}}|dev|corp|s1');
  assert.equal(renderTemplate('{{external.dept}} {{external.groups}} {{nope}}', identity, values), 'ops corp:team-a,corp:{{email}} ');
});

test('a Host header with anything but name[:port] matches no app', () => {
  const r = createAppRegistry(config([{ name: 'grafana', upstream: 'http://g', public_host: 'grafana.example.com' }]));
  for (const bad of [
    'grafana.example.com:evil@attacker.example',
    'grafana.example.com:80/x',
    'grafana.example.com:',
    'grafana.example.com:123456',
    'grafana.example.com evil',
  ]) {
    assert.equal(r.byHost(bad), undefined, bad);
  }
  assert.equal(r.byHost('grafana.example.com:443')?.name, 'grafana');
});

describe('upstream TLS', () => {
  test('ca_file needs an https upstream', () => {
    assert.throws(() => config([{ name: 'wiki', upstream: 'http://w:8080', ca_file: '/etc/ca.pem' }]), /apps\.0\.ca_file: ca_file needs an https upstream/);
    assert.doesNotThrow(() => config([{ name: 'wiki', upstream: 'https://w:8443', ca_file: '/etc/ca.pem', trust_gateway_origin: true }]));
  });

  test('an unreadable ca_file stops start-up, naming the app', () => {
    const registry = createAppRegistry(
      config([
        { name: 'ok', upstream: 'https://a:1', trust_gateway_origin: true },
        { name: 'wiki', upstream: 'https://w:8443', ca_file: '/nonexistent/ca.pem', trust_gateway_origin: true },
      ]),
    );
    assert.throws(
      () => createForwarder(registry.apps),
      (err: unknown) => err instanceof ConfigError && /apps\.1\.ca_file: cannot read \/nonexistent\/ca\.pem \(ENOENT\)/.test(err.message),
    );
  });
});
