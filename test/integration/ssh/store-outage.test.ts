import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { GATEWAY_AUDIENCE } from '../../../src/tokens/gateway-token.js';
import { startGateway } from '../../helpers/gateways/gateway.js';
import { eventually } from '../../helpers/eventually.js';
import { startRedisServer, stopRedisServer } from '../../helpers/peers/redis-server.js';
import { closedPort, requireBinary } from '../../helpers/peers/services.js';
import { fetchUserCert, keygen, prepareSshd, runSsh, SSH_TEST_POLICY, writeClientConfig, NODE_LOGIN } from '../../helpers/peers/ssh.js';

test('SSH fails closed while the store is away (revocations cannot be checked), and recovers by itself', async (t) => {
  const bin = requireBinary(t, 'redis-server');
  const node = await prepareSshd(t);
  if (!bin || !node) return;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-ssh-outage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const port = await closedPort();
  let redis = await startRedisServer(bin, port);
  t.after(() => stopRedisServer(redis));
  const gw = await startGateway({
    ...SSH_TEST_POLICY,
    state: { redis_url: `redis://127.0.0.1:${port}` },
    ssh: { listen: '127.0.0.1:0', nodes: [{ name: 'node1', addr: `127.0.0.1:${node.port}`, labels: { env: 'dev' }, host_key: node.hostKey }] },
  });
  t.after(() => gw.stop());
  await gw.gateway.ssh!.ready();
  const sshd = await node.start(await (await fetch(`${gw.url}/api/v1/ssh/ca?type=user`)).text());
  t.after(() => sshd.stop());

  // Signing keys live in Redis here, so the token comes from the gateway's own issuer.
  const token = await gw.gateway.issuer.mint({
    subject: 'corp:alice',
    audience: GATEWAY_AUDIENCE,
    claims: { preferred_username: 'alice', groups: ['admins'], connector: 'corp' },
  });
  const key = keygen(dir, 'alice');
  const cert = await fetchUserCert(gw.url, token, key);
  writeFileSync(join(dir, 'known_hosts'), `${cert.known_hosts}\n`);
  const cfg = writeClientConfig(dir, { key, knownHosts: join(dir, 'known_hosts'), proxy: `127.0.0.1:${gw.gateway.ssh!.address().port}`, nodes: ['node1'] });
  const ssh = () => runSsh('ssh', ['-F', cfg, `${NODE_LOGIN}@node1`, 'echo reached']);
  assert.equal((await ssh()).stdout, 'reached\n');

  await stopRedisServer(redis);
  const refused = await ssh();
  assert.equal(refused.code, 255);
  assert.equal(refused.stdout, '');
  assert.match(refused.stderr, /gatehouse: .*(unreachable|unavailable)/i);
  const event = await gw.waitForEvent((e) => e.type === 'ssh.auth' && e.outcome === 'failure' && e.reason === 'store_unavailable');
  assert.equal(event.code, 'GH3011W');

  redis = await startRedisServer(bin, port);
  await eventually(async () => (await ssh()).stdout === 'reached\n', { timeoutMs: 60_000, intervalMs: 100, message: 'ssh did not work again' });
});
