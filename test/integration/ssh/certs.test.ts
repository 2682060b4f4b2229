import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from '../../helpers/gateways/gateway.js';
import { requireBinary } from '../../helpers/peers/services.js';
import { keygen, mintGatewayToken } from '../../helpers/peers/ssh.js';

export const SSH_POLICY = {
  connectors: [{ type: 'oidc', id: 'corp', issuer: 'http://127.0.0.1:9/', client_id: 'gatehouse', client_secret: 'unused' }], // secret-scan: allow
  roles: [
    { name: 'ops', logins: ['root', 'ops'], node_labels: { env: ['*'] }, port_forwarding: true, max_session_ttl: '2h' },
    { name: 'dev', logins: ['{{external.username}}'], node_labels: { env: ['dev'] } },
  ],
  mappings: [
    { match: { claim: 'groups', value: 'admins' }, roles: ['ops'] },
    { match: { claim: 'groups', value: 'devs' }, roles: ['dev'] },
  ],
};

describe('SSH certificate API', () => {
  let gw: TestGateway;
  let dir: string;
  before(async () => {
    gw = await startGateway({ ...SSH_POLICY, ssh: { listen: '127.0.0.1:0', cert_ttl: '8h' } });
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-certs-'));
  });
  after(async () => {
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the CA lines: TrustedUserCAKeys for nodes, @cert-authority for clients; public', async () => {
    const user = await fetch(`${gw.url}/api/v1/ssh/ca?type=user`);
    assert.equal(user.status, 200);
    const userLine = await user.text();
    assert.match(userLine, /^ssh-ed25519 AAAA[A-Za-z0-9+/=]+ gatehouse-user-ca\n$/);
    const host = await fetch(`${gw.url}/api/v1/ssh/ca?type=host`);
    const hostLine = await host.text();
    // Scoped to the gateway's names (never `*`); this gateway listens on port 0, so any port of them.
    assert.match(hostLine, /^@cert-authority \[127\.0\.0\.1\]:\*,\[localhost\]:\* ssh-ed25519 AAAA[A-Za-z0-9+/=]+ gatehouse-host-ca\n$/);
    assert.notEqual(userLine.split(' ')[1], hostLine.split(' ')[3], 'two distinct CAs');
    const bad = await fetch(`${gw.url}/api/v1/ssh/ca?type=root`);
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: string }).error, 'invalid_request');
    // Persisted 0600 under data_dir and stable.
    assert.equal(statSync(join(gw.dataDir, 'ssh-ca.json')).mode & 0o777, 0o600);
    assert.equal(await (await fetch(`${gw.url}/api/v1/ssh/ca?type=user`)).text(), userLine);
  });

  test('signs the caller key: key id, principals = allowed logins, validity, extensions; audited', async (t) => {
    if (!requireBinary(t, 'ssh-keygen')) return;
    const key = keygen(dir, 'alice');
    const token = await mintGatewayToken(gw, { connector: 'corp', username: 'alice', groups: ['admins', 'devs'] });
    const res = await fetch(`${gw.url}/api/v1/ssh/certs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ public_key: readFileSync(`${key}.pub`, 'utf8') }),
    });
    assert.equal(res.status, 201);
    const body = (await res.json()) as Record<string, unknown>;
    assert.deepEqual(body.principals, ['alice', 'ops', 'root']);
    assert.match(String(body.known_hosts), /^@cert-authority \[127\.0\.0\.1\]:\*,\[localhost\]:\* ssh-ed25519 /);
    writeFileSync(`${key}-cert.pub`, `${body.certificate}\n`);
    const shown = spawnSync('ssh-keygen', ['-L', '-f', `${key}-cert.pub`], { encoding: 'utf8' });
    assert.equal(shown.status, 0, shown.stderr);
    assert.match(shown.stdout, /user certificate/);
    assert.match(shown.stdout, /Key ID: "alice"/);
    assert.match(shown.stdout, /Principals: \n\s+alice\n\s+ops\n\s+root\n/);
    assert.match(shown.stdout, /Critical Options: \n\s+gatehouse-only@gatehouse/);
    assert.match(shown.stdout, /permit-port-forwarding/);
    assert.match(shown.stdout, /permit-pty/);
    assert.doesNotMatch(shown.stdout, /permit-agent-forwarding/);
    // Valid from a minute ago, and not past the roles' max_session_ttl (2h).
    const after = Date.parse(String(body.valid_after));
    const before = Date.parse(String(body.valid_before));
    assert.ok(Math.abs(Date.now() - 60_000 - after) < 10_000);
    assert.ok(before - Date.now() <= 2 * 3_600_000 && before - Date.now() > 2 * 3_600_000 - 10_000);
    const event = await gw.waitForEvent((e) => e.type === 'ssh.cert.issued' && e.outcome === 'success');
    assert.equal(event.code, 'GH3000I');
    assert.equal(event.user, 'alice');
    assert.deepEqual(event.details?.principals, ['alice', 'ops', 'root']);
    assert.equal(event.details?.serial, String(/Serial: (\d+)/.exec(shown.stdout)?.[1]));
  });

  test('refuses: no credentials, a malformed key, a person without logins', async () => {
    const anonymous = await fetch(`${gw.url}/api/v1/ssh/certs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as { error: string }).error, 'unauthenticated');

    const token = await mintGatewayToken(gw, { connector: 'corp', username: 'mallory', groups: ['admins'] });
    const post = (body: unknown, auth = token) =>
      fetch(`${gw.url}/api/v1/ssh/certs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    for (const publicKey of [
      'ssh-ed25519 notbase64!',
      'ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIA88z16EE3zJoaBiX3IdI6SWGD2tmn359namotaG7oGj',
      'ssh-dss AAAAB3NzaC1kc3MAAAA=',
      42,
    ]) {
      const res = await post({ public_key: publicKey });
      assert.equal(res.status, 400, String(publicKey));
      assert.equal(((await res.json()) as { error: string }).error, 'invalid_public_key');
    }
    const failed = await gw.waitForEvent((e) => e.type === 'ssh.cert.issued' && e.outcome === 'failure' && e.user === 'mallory');
    assert.equal(failed.reason, 'invalid_public_key');
    assert.equal(failed.code, 'GH3001W');

    const nobody = await mintGatewayToken(gw, { connector: 'corp', username: 'nobody', groups: [] });
    const res = await post({ public_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA88z16EE3zJoaBiX3IdI6SWGD2tmn359namotaG7oGj' }, nobody);
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { error: string }).error, 'no_ssh_logins');
  });
});
