import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GATEWAY_AUDIENCE } from '../../src/tokens/gateway-token.js';
import { startGateway, type TestGateway } from '../helpers/gateways/gateway.js';
import { closedPort, REDIS_URL, requireBinary, requireRedis } from '../helpers/peers/services.js';
import { fetchUserCert, keygen, prepareSshd, runSsh, SSH_TEST_POLICY, writeClientConfig, type Sshd, NODE_LOGIN } from '../helpers/peers/ssh.js';

/**
 * Two replicas sharing Redis (CAs, signing keys) and a recordings volume: an SSH session through
 * replica B, with a certificate B signed, is listed and searchable on replica A.
 */
describe('an SSH session through one replica shows up on the other', () => {
  let a: TestGateway;
  let b: TestGateway;
  let sshd: Sshd | undefined;
  let dir: string;
  let skip = false;

  before(async (t) => {
    if (!(await requireRedis(t as never))) return void (skip = true);
    const node = await prepareSshd(t as never);
    if (!node) return void (skip = true);
    dir = mkdtempSync(join(tmpdir(), 'gh-replicas-ssh-'));
    const [portA, portB, sshA, sshB] = await Promise.all([closedPort(), closedPort(), closedPort(), closedPort()]);
    const common = {
      ...SSH_TEST_POLICY,
      server: { public_url: `http://127.0.0.1:${portA}` },
      state: { redis_url: REDIS_URL, redis_prefix: `gh-replicas-ssh-${randomBytes(6).toString('hex')}:` },
      recordings: { dir: join(dir, 'recordings') },
    };
    const nodes = [{ name: 'node1', addr: `127.0.0.1:${node.port}`, labels: { env: 'dev' }, host_key: node.hostKey }];
    a = await startGateway({ ...common, ssh: { listen: `127.0.0.1:${sshA}`, nodes } }, { port: portA });
    b = await startGateway({ ...common, ssh: { listen: `127.0.0.1:${sshB}`, nodes } }, { port: portB });
    // Redis connects in the background; the listeners sign their host certificates once it answers.
    await Promise.all([a, b].map((g) => g.gateway.ssh!.ready()));
    const [caA, caB] = await Promise.all([a, b].map(async (g) => (await fetch(`${g.gateway.url()}/api/v1/ssh/ca?type=user`)).text()));
    assert.equal(caA, caB, 'both replicas use the one user CA from Redis');
    sshd = await node.start(caA);
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
    await sshd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('certificate from B, session through B, recording listed and found by text on A', async (t) => {
    if (skip || !requireBinary(t, 'ssh')) return;
    // A gateway token as `gatehouse login` would hold; either replica verifies it (shared keys).
    const token = await a.gateway.issuer.mint({
      subject: 'corp:alice',
      audience: GATEWAY_AUDIENCE,
      claims: { preferred_username: 'alice', email: 'alice@example.com', groups: ['admins'], connector: 'corp' },
    });
    const key = keygen(dir, 'alice');
    const cert = await fetchUserCert(b.gateway.url(), token, key);
    writeFileSync(join(dir, 'known_hosts'), `${cert.known_hosts}\n`);
    const cfg = writeClientConfig(dir, { key, knownHosts: join(dir, 'known_hosts'), proxy: `127.0.0.1:${b.gateway.ssh!.address().port}`, nodes: ['node1'] });
    const run = await runSsh('ssh', ['-F', cfg, '-tt', `${NODE_LOGIN}@node1`], { input: 'echo via-b-$((6*7))\nexit\n' });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /via-b-42/);
    const end = await b.waitForEvent((e) => e.type === 'session.end' && e.details?.kind === 'shell');

    const list = await fetch(`${a.gateway.url()}/api/v1/recordings?q=via-b-42`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(list.status, 200);
    const { recordings } = (await list.json()) as { recordings: { id: string; node: string; user: string }[] };
    assert.deepEqual(
      recordings.map((r) => [r.id, r.node, r.user]),
      [[end.session_id, 'node1', 'alice']],
    );
  });
});
