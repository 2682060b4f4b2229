import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from '../../helpers/gateways/gateway.js';
import { closedPort } from '../../helpers/peers/services.js';
import { fetchUserCert, keygen, mintGatewayToken, prepareSshd, runSsh, writeClientConfig, type Sshd, NODE_LOGIN } from '../../helpers/peers/ssh.js';
import { startChild } from '../../helpers/processes.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));

const POLICY = {
  connectors: [{ type: 'oidc', id: 'corp', issuer: 'http://127.0.0.1:9/', client_id: 'gatehouse', client_secret: 'unused' }], // secret-scan: allow
  roles: [
    { name: 'ops', logins: [NODE_LOGIN], node_labels: { env: ['*'] } },
    { name: 'security', ssh_revoke: true },
  ],
  mappings: [
    { match: { claim: 'groups', value: 'admins' }, roles: ['ops'] },
    { match: { claim: 'groups', value: 'security' }, roles: ['security'] },
  ],
};

describe('SSH certificate revocation: by serial or per person, refused at once and live connections ended (real ssh, sshd)', () => {
  let gw: TestGateway;
  let sshd: Sshd | undefined;
  let dir: string;
  let skip = false;
  let proxy: string;
  const token = (username: string, groups: string[]) => mintGatewayToken(gw, { connector: 'corp', username, groups });

  /** A key, a certificate and an ssh config for `username`, in a directory of its own. */
  const person = async (username: string, name = username) => {
    const home = join(dir, name);
    mkdirSync(home);
    const key = keygen(home, 'id');
    const cert = await fetchUserCert(gw.url, await token(username, ['admins']), key);
    writeFileSync(join(home, 'known_hosts'), `${cert.known_hosts}\n`);
    return { serial: String(cert.serial), key, config: writeClientConfig(home, { key, knownHosts: join(home, 'known_hosts'), proxy, nodes: ['node1'] }) };
  };
  const revoke = async (bearer: string, body: unknown) => {
    const res = await fetch(`${gw.url}/api/v1/ssh/certs/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  before(async (t) => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-revoke-'));
    const node = await prepareSshd(t as never);
    if (!node) return void (skip = true);
    gw = await startGateway({
      ...POLICY,
      ssh: {
        listen: `127.0.0.1:${await closedPort()}`,
        nodes: [{ name: 'node1', addr: `127.0.0.1:${node.port}`, labels: { env: 'dev' }, host_key: node.hostKey }],
      },
    });
    proxy = `127.0.0.1:${gw.gateway.ssh!.address().port}`;
    sshd = await node.start(await (await fetch(`${gw.url}/api/v1/ssh/ca?type=user`)).text());
  });
  after(async () => {
    await gw?.stop();
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("gatehouse ssh revoke: this machine's certificate is refused from then on, with the reason; audited", async () => {
    if (skip) return;
    const home = join(dir, 'cli-home');
    const env = { GATEHOUSE_HOME: home, GATEHOUSE_SERVER: gw.url, GATEHOUSE_TOKEN: await token('alice', ['admins']) };
    const cli = (...args: string[]) => runSsh(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), ...args], { env, timeoutMs: 60_000 });
    assert.equal((await cli('ssh', 'cert')).code, 0);
    const config = join(home, 'ssh', 'config');
    assert.equal((await runSsh('ssh', ['-F', config, '-o', 'BatchMode=yes', `${NODE_LOGIN}@node1.gatehouse`, 'true'])).code, 0);

    const revoked = await cli('ssh', 'revoke');
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /Revoked certificate \d+ of alice/);
    assert.ok(!existsSync(join(home, 'ssh', 'id_ed25519-cert.pub')), 'the revoked certificate is gone from this machine');
    const audited = await gw.waitForEvent((e) => e.type === 'ssh.cert.revoked' && e.user === 'alice');
    assert.equal(audited.outcome, 'success');
    assert.equal(audited.code, 'GH3002I');

    // Stock ssh with the old certificate: put it back, as someone holding a copy would.
    const copy = await person('alice', 'alice-copy');
    assert.equal((await revoke(env.GATEHOUSE_TOKEN, { serial: copy.serial })).status, 200);
    const refused = await runSsh('ssh', ['-F', copy.config, `${NODE_LOGIN}@node1`, 'true']);
    assert.equal(refused.code, 255);
    assert.match(refused.stderr, /gatehouse: This certificate has been revoked/);
    const denied = await gw.waitForEvent((e) => e.type === 'ssh.auth' && e.reason === 'cert_revoked');
    assert.equal(denied.outcome, 'failure');
  });

  test('a connection already open with a certificate ends when the certificate is revoked', async () => {
    if (skip) return;
    const dave = await person('dave');
    const { child } = startChild('ssh', ['-F', dave.config, `${NODE_LOGIN}@node1`, 'echo started; exec sleep 60'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    await new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => d.toString().includes('started') && resolve()));
    assert.equal((await revoke(await token('dave', ['admins']), { serial: dave.serial })).status, 200);
    const { code, signal } = await closed;
    clearTimeout(killer);
    assert.equal(signal, null, 'ended by the gateway, not by the test');
    assert.equal(code, 255);
  });

  test("others' certificates: unknown serial (404) and forbidden (403) without ssh_revoke; with it, every certificate of a person issued so far", async () => {
    if (skip) return;
    const bob = await person('bob');
    const alice = await token('alice', ['admins']);
    const notYours = await revoke(alice, { serial: bob.serial });
    assert.equal(notYours.status, 404);
    assert.equal(notYours.body.error, 'cert_unknown');
    const forbidden = await revoke(alice, { user: 'bob' });
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.body.error, 'revoke_forbidden');
    const refusals = gw.auditEvents().filter((e) => e.type === 'ssh.cert.revoked' && e.outcome === 'failure' && e.user === 'alice');
    assert.deepEqual(refusals.map((e) => e.reason).sort(), ['cert_unknown', 'revoke_forbidden']);
    assert.equal((await runSsh('ssh', ['-F', bob.config, `${NODE_LOGIN}@node1`, 'true'])).code, 0, 'still valid');

    const all = await revoke(await token('sec', ['security']), { user: 'bob' });
    assert.equal(all.status, 200, JSON.stringify(all.body));
    assert.equal((all.body.revoked as { user: string }).user, 'bob');
    assert.equal((await runSsh('ssh', ['-F', bob.config, `${NODE_LOGIN}@node1`, 'true'])).code, 255);
    const audited = await gw.waitForEvent((e) => e.type === 'ssh.cert.revoked' && e.user === 'sec');
    assert.equal(audited.details?.target_user, 'bob');

    // Certificates issued after the revocation's second work.
    await new Promise((r) => setTimeout(r, 1100));
    const again = await person('bob', 'bob-again');
    assert.equal((await runSsh('ssh', ['-F', again.config, `${NODE_LOGIN}@node1`, 'true'])).code, 0);
  });

  test('bad requests: a serial that is not a number, both or neither target, no credentials', async () => {
    if (skip) return;
    const alice = await token('alice', ['admins']);
    const before = gw.auditEvents().filter((e) => e.type === 'ssh.cert.revoked' && e.reason === 'invalid_request').length;
    const bodies = [{ serial: '../../etc/passwd' }, { serial: '1', user: 'bob' }, {}, { user: '' }];
    for (const body of bodies) {
      const res = await revoke(alice, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.error, 'invalid_request');
    }
    const audited = gw.auditEvents().filter((e) => e.type === 'ssh.cert.revoked' && e.reason === 'invalid_request');
    assert.equal(audited.length - before, bodies.length, 'each refusal is audited');
    assert.ok(audited.every((e) => e.user === 'alice' && e.outcome === 'failure'));
    const anonymous = await fetch(`${gw.url}/api/v1/ssh/certs/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"user":"bob"}',
    });
    assert.equal(anonymous.status, 401);
  });
});
