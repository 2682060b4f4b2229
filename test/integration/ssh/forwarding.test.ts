import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from '../../helpers/gateways/gateway.js';
import { closedPort, requireBinary } from '../../helpers/peers/services.js';
import { fetchUserCert, keygen, mintGatewayToken, prepareSshd, runSsh, writeClientConfig, type Sshd, NODE_LOGIN } from '../../helpers/peers/ssh.js';
import { startChild } from '../../helpers/processes.js';

/** alice's role allows port and agent forwarding; carol reaches the same node without either. */
const POLICY = {
  connectors: [{ type: 'oidc', id: 'corp', issuer: 'http://127.0.0.1:9/', client_id: 'gatehouse', client_secret: 'unused' }], // secret-scan: allow
  roles: [
    { name: 'ops', logins: [NODE_LOGIN], node_labels: { env: ['*'] }, port_forwarding: true, agent_forwarding: true },
    { name: 'plain', logins: [NODE_LOGIN], node_labels: { env: ['*'] } },
  ],
  mappings: [
    { match: { claim: 'groups', value: 'admins' }, roles: ['ops'] },
    { match: { claim: 'groups', value: 'plain' }, roles: ['plain'] },
  ],
};

describe('port and agent forwarding through the gateway, only where a role allows it (real ssh, ssh-agent, sshd)', () => {
  let gw: TestGateway;
  let sshd: Sshd | undefined;
  let dir: string;
  let skip = false;
  let echo: Server;
  let echoPort: number;
  const config: Record<'alice' | 'carol', string> = { alice: '', carol: '' };

  before(async (t) => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-fwd-'));
    const node = await prepareSshd(t as never);
    if (!node || !requireBinary(t as never, 'ssh-agent') || !requireBinary(t as never, 'ssh-add')) return void (skip = true);
    gw = await startGateway({
      ...POLICY,
      ssh: {
        listen: `127.0.0.1:${await closedPort()}`,
        nodes: [{ name: 'node1', addr: `127.0.0.1:${node.port}`, labels: { env: 'dev' }, host_key: node.hostKey }],
      },
    });
    sshd = await node.start(await (await fetch(`${gw.url}/api/v1/ssh/ca?type=user`)).text());
    for (const [user, group] of [
      ['alice', 'admins'],
      ['carol', 'plain'],
    ] as const) {
      const home = join(dir, user);
      mkdirSync(home);
      const key = keygen(home, 'id');
      const cert = await fetchUserCert(gw.url, await mintGatewayToken(gw, { connector: 'corp', username: user, groups: [group] }), key);
      writeFileSync(join(home, 'known_hosts'), `${cert.known_hosts}\n`);
      config[user] = writeClientConfig(home, {
        key,
        knownHosts: join(home, 'known_hosts'),
        proxy: `127.0.0.1:${gw.gateway.ssh!.address().port}`,
        nodes: ['node1'],
      });
    }
    // A TCP service next to the client (and, here, next to the node): answers each line in upper case.
    echo = createServer((socket) => socket.on('data', (d) => socket.write(d.toString().toUpperCase())).on('error', () => {}));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    echoPort = (echo.address() as { port: number }).port;
  });
  after(async () => {
    echo?.close();
    await gw?.stop();
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('ssh -W (a direct-tcpip channel leaving from the node, as -L uses): relayed when allowed; refused with a reason otherwise', async () => {
    if (skip) return;
    const relayed = await runSsh('ssh', ['-F', config.alice, '-W', `127.0.0.1:${echoPort}`, `${NODE_LOGIN}@node1`], { input: 'hello\n' });
    assert.equal(relayed.stdout, 'HELLO\n', relayed.stderr);
    const opened = await gw.waitForEvent((e) => e.type === 'session.start' && e.details?.kind === 'direct-tcpip');
    assert.equal(opened.user, 'alice');
    assert.equal(opened.details?.dest, `127.0.0.1:${echoPort}`);

    const refused = await runSsh('ssh', ['-F', config.carol, '-W', `127.0.0.1:${echoPort}`, `${NODE_LOGIN}@node1`], { input: 'hello\n' });
    assert.equal(refused.stdout, '');
    assert.match(refused.stderr, /port forwarding is not allowed for your roles/);
    const denied = await gw.waitForEvent((e) => e.type === 'access.denied' && e.reason === 'port_forwarding_not_allowed' && e.details?.kind === 'direct-tcpip');
    assert.equal(denied.user, 'carol');
    assert.equal(denied.code, 'GH3021W');
  });

  test('ssh -R: the node listens, its connections come back through the client; refused without the role', async () => {
    if (skip) return;
    const port = await closedPort();
    // On the node: connect to the forwarded port (it exists before the command runs), say hello, read the answer.
    const remote = `exec 3<>/dev/tcp/127.0.0.1/${port} && echo hello >&3 && head -n1 <&3`;
    const forwarded = await runSsh('ssh', [
      '-F',
      config.alice,
      '-o',
      'ExitOnForwardFailure=yes',
      '-R',
      `127.0.0.1:${port}:127.0.0.1:${echoPort}`,
      `${NODE_LOGIN}@node1`,
      `bash -c '${remote}'`,
    ]);
    assert.equal(forwarded.code, 0, forwarded.stderr);
    assert.equal(forwarded.stdout, 'HELLO\n');
    const listen = await gw.waitForEvent((e) => e.type === 'session.start' && e.details?.kind === 'tcpip-forward');
    assert.equal(listen.details?.bind, `127.0.0.1:${port}`);
    const connection = await gw.waitForEvent((e) => e.type === 'session.start' && e.details?.kind === 'forwarded-tcpip');
    assert.equal(connection.user, 'alice');

    const refused = await runSsh('ssh', [
      '-F',
      config.carol,
      '-o',
      'ExitOnForwardFailure=yes',
      '-R',
      `127.0.0.1:${port}:127.0.0.1:${echoPort}`,
      `${NODE_LOGIN}@node1`,
      'true',
    ]);
    assert.equal(refused.code, 255);
    assert.match(refused.stderr, /remote port forwarding failed/);
    const denied = await gw.waitForEvent((e) => e.type === 'access.denied' && e.details?.kind === 'tcpip-forward');
    assert.equal(denied.user, 'carol');
    assert.equal(denied.reason, 'port_forwarding_not_allowed');
  });

  test('ssh -A: the node sees the client agent (keys stay on the client) when allowed; no agent otherwise', async () => {
    if (skip) return;
    const socket = join(dir, 'agent.sock');
    const agent = startChild('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && spawnSync('ssh-add', ['-l'], { env: { ...process.env, SSH_AUTH_SOCK: socket } }).status === 2; i++)
        await new Promise((r) => setTimeout(r, 50));
      const agentKey = keygen(dir, 'agent-key');
      const added = spawnSync('ssh-add', [agentKey], { env: { ...process.env, SSH_AUTH_SOCK: socket }, encoding: 'utf8' });
      assert.equal(added.status, 0, added.stderr);
      const fingerprint = spawnSync('ssh-keygen', ['-l', '-f', `${agentKey}.pub`], { encoding: 'utf8' }).stdout.split(' ')[1];
      const env = { SSH_AUTH_SOCK: socket };

      const forwarded = await runSsh('ssh', ['-F', config.alice, '-A', `${NODE_LOGIN}@node1`, 'ssh-add -l'], { env });
      assert.equal(forwarded.code, 0, forwarded.stderr);
      assert.ok(forwarded.stdout.includes(fingerprint), forwarded.stdout);
      const used = await gw.waitForEvent((e) => e.type === 'session.start' && e.details?.kind === 'auth-agent');
      assert.equal(used.user, 'alice');
      const session = await gw.waitForEvent((e) => e.type === 'session.start' && e.details?.command === 'ssh-add -l' && e.user === 'alice');
      assert.equal(session.details?.agent_forwarding, true);

      const refused = await runSsh('ssh', ['-F', config.carol, '-A', `${NODE_LOGIN}@node1`, 'ssh-add -l'], { env });
      assert.equal(refused.code, 2, 'ssh-add: no agent to talk to');
      const denied = await gw.waitForEvent((e) => e.type === 'access.denied' && e.reason === 'agent_forwarding_not_allowed');
      assert.equal(denied.user, 'carol');
    } finally {
      await agent.stop();
    }
  });
});
