import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startGateway } from '../../helpers/gateways/gateway.js';
import { closedPort } from '../../helpers/peers/services.js';
import { fetchUserCert, keygen, mintGatewayToken, prepareSshd, runSsh, SSH_TEST_POLICY, writeClientConfig, NODE_LOGIN } from '../../helpers/peers/ssh.js';

/** On shutdown the listener stops accepting; a running session finishes within ssh.shutdown_grace. */
for (const [grace, finishes] of [
  ['5s', true],
  ['0s', false],
] as const) {
  test(`shutdown with ssh.shutdown_grace ${grace}: a running session ${finishes ? 'finishes' : 'is ended'}`, async (t) => {
    const node = await prepareSshd(t);
    if (!node) return;
    const dir = mkdtempSync(join(tmpdir(), 'gh-ssh-shutdown-'));
    const sshPort = await closedPort();
    const gw = await startGateway({
      ...SSH_TEST_POLICY,
      ssh: {
        listen: `127.0.0.1:${sshPort}`,
        shutdown_grace: grace,
        nodes: [{ name: 'node1', addr: `127.0.0.1:${node.port}`, labels: { env: 'dev' }, host_key: node.hostKey }],
      },
      recordings: { dir: join(dir, 'recordings') },
    });
    const sshd = await node.start(await (await fetch(`${gw.url}/api/v1/ssh/ca?type=user`)).text());
    try {
      const key = keygen(dir, 'alice');
      const cert = await fetchUserCert(gw.url, await mintGatewayToken(gw, { connector: 'corp', username: 'alice', groups: ['admins'] }), key);
      writeFileSync(join(dir, 'known_hosts'), `${cert.known_hosts}\n`);
      const cfg = writeClientConfig(dir, { key, knownHosts: join(dir, 'known_hosts'), proxy: `127.0.0.1:${sshPort}`, nodes: ['node1'] });
      const session = runSsh('ssh', ['-F', cfg, `${NODE_LOGIN}@node1`, 'echo started; sleep 2; echo finished'], { timeoutMs: 30_000 });
      await gw.waitForEvent((e) => e.type === 'session.start');
      const stopped = gw.stop();
      const run = await session;
      await stopped;
      if (finishes) {
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stdout, /started/);
        assert.match(run.stdout, /finished/, 'the session ran to its end after shutdown began');
      } else {
        assert.doesNotMatch(run.stdout, /finished/, 'the session was ended at shutdown');
        assert.notEqual(run.code, 0);
      }
    } finally {
      await sshd.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
