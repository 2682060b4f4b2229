import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { createSessionManager } from '../../../src/sessions/sessions.js';
import { startGateway } from '../../helpers/gateways/gateway.js';
import { prepareSshd, SSH_TEST_POLICY, NODE_LOGIN } from '../../helpers/peers/ssh.js';

test('a web terminal ends when its gateway session reaches its absolute expiry, and says so', { timeout: 60_000 }, async (t) => {
  const node = await prepareSshd(t);
  if (!node) return;
  const gw = await startGateway({
    ...SSH_TEST_POLICY,
    ssh: { listen: '127.0.0.1:0', nodes: [{ name: 'node1', addr: `127.0.0.1:${node.port}`, labels: { env: 'dev' }, host_key: node.hostKey }] },
  });
  t.after(() => gw.stop());
  const sshd = await node.start(await (await fetch(`${gw.url}/api/v1/ssh/ca?type=user`)).text());
  t.after(() => sshd.stop());

  // A session as a sign-in leaves it, in the gateway's own store, but lasting only a few seconds.
  const sessions = createSessionManager({ store: gw.gateway.store, idleTtlMs: 60_000, absoluteTtlMs: 4_000 });
  const session = await sessions.create({ connector: 'corp', subject: 'alice', username: 'alice', groups: ['admins'], claims: {} });
  const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/terminal/node1/ws?login=${NODE_LOGIN}`, {
    headers: { cookie: `gatehouse_session=${session.id}`, origin: gw.url },
  });
  const messages: unknown[] = [];
  ws.on('message', (data, isBinary) => !isBinary && messages.push(JSON.parse(data.toString())));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  await new Promise((resolve) => ws.once('close', resolve));
  assert.deepEqual(messages, [{ type: 'ended', reason: 'the Gatehouse session expired' }]);
  const end = await gw.waitForEvent((e) => e.type === 'session.end' && e.details?.via === 'web-terminal', 10_000);
  assert.equal(end.user, 'alice');
});
