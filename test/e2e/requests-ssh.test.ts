import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../helpers/eventually.js';
import { startGateway, type TestGateway } from '../helpers/gateways/gateway.js';
import { dave, PROD_LABELS, requestIdsOf, requestPolicy, requestsApi, sam } from '../helpers/gateways/requests.js';
import { closedPort } from '../helpers/peers/services.js';
import { fetchUserCert, keygen, NODE_LOGIN, prepareSshd, runSsh, writeClientConfig, type Sshd } from '../helpers/peers/ssh.js';
import { startChild } from '../helpers/processes.js';

/** root, as issue 17 asks; an sshd not run as root can only log in whoever runs it. */
const ADMIN_LOGIN = process.getuid?.() === 0 ? 'root' : NODE_LOGIN;

describe('ssh under a just-in-time access request (real ssh through the gateway to a real sshd)', () => {
  let gw: TestGateway;
  let sshd: Sshd | undefined;
  let dir: string;
  let config: string;
  let key: string;
  let api: ReturnType<typeof requestsApi>;
  let skip = false;
  const events = () => gw.auditEvents();

  const ssh = (...command: string[]) => runSsh('ssh', ['-F', config, `${ADMIN_LOGIN}@node1`, ...command]);
  /** `ssh login@node1` kept open until the gateway ends it; resolves once the remote shell has started. */
  const openSession = async () => {
    const session = startChild('ssh', ['-F', config, `${ADMIN_LOGIN}@node1`, 'echo started; exec sleep 60'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    session.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    session.child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await eventually(() => out.includes('started') || session.child.exitCode !== null, { timeoutMs: 30_000, message: () => `no session: ${out}` });
    assert.equal(session.child.exitCode, null, `the session is open: ${out}`);
    return { ...session, out: () => out };
  };
  /** Refused before approval and after the end alike: the banner, and one more access.denied. */
  const assertRefused = async () => {
    const before = events().filter((e) => e.type === 'access.denied' && e.reason === 'login_not_allowed').length;
    const refused = await ssh('echo', 'ok');
    assert.equal(refused.code, 255, refused.stderr);
    assert.doesNotMatch(refused.stdout, /ok/);
    assert.match(refused.stderr, new RegExp(`gatehouse: dave may not log in as "${ADMIN_LOGIN}" on node1 \\(allowed: dave\\)`));
    const denied = await eventually(
      () =>
        events()
          .filter((e) => e.type === 'access.denied' && e.reason === 'login_not_allowed')
          .slice(before)[0],
      {
        timeoutMs: 10_000,
        message: 'no access.denied for the refused login',
      },
    );
    assert.deepEqual([denied.user, denied.connector, denied.details!.node, denied.details!.login], ['dave', 'corp', 'node1', ADMIN_LOGIN]);
    assert.deepEqual(denied.details!.allowed, ['dave']);
    return denied;
  };

  before(async (t) => {
    dir = mkdtempSync(join(tmpdir(), 'gh-requests-ssh-'));
    const node = await prepareSshd(t as never);
    if (!node) return void (skip = true);
    gw = await startGateway({
      ...requestPolicy(ADMIN_LOGIN),
      connectors: [{ type: 'oidc', id: 'corp', issuer: 'http://127.0.0.1:9/', client_id: 'gatehouse', client_secret: 'unused' }], // secret-scan: allow
      ssh: {
        listen: `127.0.0.1:${await closedPort()}`,
        nodes: [{ name: 'node1', addr: `127.0.0.1:${node.port}`, labels: PROD_LABELS, host_key: node.hostKey }],
      },
    });
    api = requestsApi(gw);
    sshd = await node.start(await (await fetch(`${gw.url}/api/v1/ssh/ca?type=user`)).text());
    // dave's certificate from before any request: access is resolved from policy at every connection.
    key = keygen(dir, 'dave');
    const cert = await fetchUserCert(gw.url, await api.bearer(dave), key);
    assert.deepEqual(cert.principals, ['dave']);
    writeFileSync(join(dir, 'known_hosts'), `${cert.known_hosts}\n`);
    config = writeClientConfig(dir, { key, knownHosts: join(dir, 'known_hosts'), proxy: `127.0.0.1:${gw.gateway.ssh!.address().port}`, nodes: ['node1'] });
  });
  after(async () => {
    await gw?.stop();
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test(`ssh ${ADMIN_LOGIN}@node1: refused before approval, allowed once approved, and an open session ends when the request is dropped`, async () => {
    if (skip) return;
    await assertRefused();

    const request = await api.create(dave, { reason: 'INC-4711 restart the stuck worker' });
    const pending = await assertRefused();
    assert.deepEqual(requestIdsOf(pending), [], 'a pending request grants nothing');
    await api.approve(sam, request.id);

    // The certificate dave already had will do: the gateway resolves the login from policy at connect time.
    const allowed = await eventually(
      async () => {
        const run = await ssh('echo', 'ok-as-$(id -un)');
        return run.code === 0 ? run : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000, message: 'ssh never got in after the approval' },
    );
    assert.equal(allowed.stdout.trim(), `ok-as-${ADMIN_LOGIN}`);
    const auth = await gw.waitForEvent((e) => e.type === 'ssh.auth' && e.outcome === 'success' && e.details?.login === ADMIN_LOGIN, 10_000);
    assert.deepEqual(requestIdsOf(auth), [request.id], 'the login is audited under the request');
    assert.deepEqual(auth.details!.access_requests, [{ id: request.id, reason: 'INC-4711 restart the stuck worker' }]);

    const session = await openSession();
    const dropped = await api.drop(dave, request.id);
    assert.equal(dropped.state, 'revoked');
    const { code, signal } = await session.exited;
    assert.equal(signal, null, `ended by the gateway, not by the test: ${session.out()}`);
    assert.equal(code, 255, session.out());
    const revoke = await gw.waitForEvent((e) => e.type === 'access_request.revoke' && e.details?.request_id === request.id);
    assert.deepEqual([revoke.outcome, revoke.user, revoke.details!.from], ['success', 'dave', 'active']);

    const after = await assertRefused();
    assert.deepEqual(requestIdsOf(after), [], 'nothing is done under an ended request');
  });

  test(`a request that expires by time ends its open ssh session; a certificate fetched under it ends no later than it`, async () => {
    if (skip) return;
    const request = await api.create(dave, { reason: 'INC-4712 a short look', duration: 15 });
    const active = await api.approve(sam, request.id);
    const endsAt = Date.parse(active.expires_at!);

    // A certificate fetched now names the admin login and is valid no longer than the request.
    const freshKey = keygen(dir, 'dave-fresh');
    const fresh = await fetchUserCert(gw.url, await api.bearer(dave), freshKey);
    assert.deepEqual([...(fresh.principals as string[])].sort(), [ADMIN_LOGIN, 'dave'].sort());
    assert.ok(Date.parse(String(fresh.valid_before)) <= endsAt, `certificate valid until ${fresh.valid_before}, the request ends ${active.expires_at}`);

    const session = await openSession();
    const { code, signal } = await session.exited;
    assert.equal(signal, null, `ended by the gateway, not by the test: ${session.out()}`);
    assert.equal(code, 255, session.out());
    const expired = await gw.waitForEvent((e) => e.type === 'access_request.expire' && e.details?.request_id === request.id, 30_000);
    assert.deepEqual([expired.user, expired.details!.ended_by, expired.details!.from], ['dave', 'expiry', 'active']);
    assert.deepEqual(requestIdsOf(expired), [request.id]);

    const after = await assertRefused();
    assert.deepEqual(requestIdsOf(after), []);
  });
});
