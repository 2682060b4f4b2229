import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { createSshCa } from '../../../src/ssh-ca/ca.js';
import { parsePublicKeyLine } from '../../../src/ssh-ca/keys.js';
import { startGateway, type TestGateway } from '../../helpers/gateways/gateway.js';
import { closedPort } from '../../helpers/peers/services.js';
import { mintGatewayToken, NODE_LOGIN, prepareSshd, runSsh, SSH_TEST_POLICY, type Sshd } from '../../helpers/peers/ssh.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));

/** `ssh -G` output as a map of the first value of each option. */
function resolved(config: string, host: string): Map<string, string> {
  const r = spawnSync('ssh', ['-G', '-F', config, host], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const options = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const [key, ...value] = line.split(' ');
    if (key && !options.has(key)) options.set(key, value.join(' '));
  }
  return options;
}

describe('the ssh config and known_hosts the CLI writes, with stock OpenSSH', () => {
  let gw: TestGateway;
  let node: Sshd | undefined;
  let outsider: Sshd | undefined;
  let dir: string;
  let home: string;
  let sshPort: number;
  let skip = false;
  let env: Record<string, string>;
  const cli = (env: Record<string, string>, ...args: string[]) =>
    runSsh(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), ...args], { env, timeoutMs: 60_000 });
  const ssh = () => join(home, 'ssh');

  before(async (t) => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-client-config-'));
    const prepared = await prepareSshd(t as never);
    const other = await prepareSshd(t as never);
    if (!prepared || !other) return void (skip = true);
    sshPort = await closedPort();
    gw = await startGateway({
      ...SSH_TEST_POLICY,
      ssh: {
        listen: `127.0.0.1:${sshPort}`,
        nodes: [
          { name: 'node1', addr: `127.0.0.1:${prepared.port}`, labels: { env: 'dev' }, host_key: prepared.hostKey },
          { name: 'prod1', addr: `127.0.0.1:${prepared.port}`, labels: { env: 'prod' }, host_key: prepared.hostKey },
        ],
      },
    });
    const userCa = await (await fetch(`${gw.url}/api/v1/ssh/ca?type=user`)).text();
    node = await prepared.start(userCa);
    // A host outside the gateway's scope with a genuine certificate from the gateway's host CA.
    const ca = createSshCa({ dataDir: gw.dataDir });
    const now = Math.floor(Date.now() / 1000);
    const hostCert = await ca.signHost({
      publicKey: parsePublicKeyLine(readFileSync(join(other.dir, 'host_ed25519.pub'), 'utf8')),
      keyId: 'outside',
      principals: ['outside.example', 'node1'],
      validAfter: now - 60,
      validBefore: now + 3600,
    });
    writeFileSync(join(other.dir, 'host_ed25519-cert.pub'), `${hostCert.certType} ${hostCert.blob.toString('base64')}\n`);
    outsider = await other.start(userCa, [`HostCertificate ${join(other.dir, 'host_ed25519-cert.pub')}`]);

    home = mkdtempSync(join(dir, 'alice-'));
    env = {
      GATEHOUSE_HOME: home,
      GATEHOUSE_SERVER: gw.url,
      GATEHOUSE_TOKEN: await mintGatewayToken(gw, { connector: 'corp', username: 'alice', groups: ['admins'] }),
    };
    const cert = await cli(env, 'ssh', 'cert');
    assert.equal(cert.code, 0, cert.stderr);
  });
  after(async () => {
    await gw?.stop();
    await node?.stop();
    await outsider?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('known_hosts trusts the host CA for the gateway ([host]:port) and the nodes one may reach, nothing else', async () => {
    if (skip) return;
    const knownHosts = join(ssh(), 'known_hosts');
    const gateway = `\\[127\\.0\\.0\\.1\\]:${sshPort},\\[localhost\\]:${sshPort}`;
    assert.match(readFileSync(knownHosts, 'utf8'), new RegExp(`^@cert-authority ${gateway},node1,prod1 ssh-ed25519 \\S+ gatehouse-host-ca\\n$`));
    const found = (host: string, file = knownHosts) => spawnSync('ssh-keygen', ['-F', host, '-f', file], { encoding: 'utf8', timeout: 30_000 }).status === 0;
    for (const host of [`[127.0.0.1]:${sshPort}`, `[localhost]:${sshPort}`, 'node1', 'prod1']) assert.ok(found(host), host);
    for (const host of ['outside.example', 'github.com', '127.0.0.1', `[127.0.0.1]:22`, '[node1]:2222']) assert.ok(!found(host), host);

    // bob (a developer) may reach node1 only: prod1 is neither trusted nor named for him.
    const bobHome = mkdtempSync(join(dir, 'bob-'));
    const token = await mintGatewayToken(gw, { connector: 'corp', username: 'bob', groups: ['devs'] });
    assert.equal((await cli({ GATEHOUSE_HOME: bobHome, GATEHOUSE_SERVER: gw.url, GATEHOUSE_TOKEN: token }, 'ssh', 'cert')).code, 0);
    const bobs = join(bobHome, 'ssh', 'known_hosts');
    assert.match(readFileSync(bobs, 'utf8'), new RegExp(`^@cert-authority ${gateway},node1 ssh-ed25519 `));
    assert.ok(!found('prod1', bobs));
    // The public line (not signed in) covers the gateway alone: node names are not advertised.
    const anonymous = await (await fetch(`${gw.url}/api/v1/ssh/ca?type=host`)).text();
    assert.match(anonymous, new RegExp(`^@cert-authority ${gateway} ssh-ed25519 `));
    // gatehouse ssh ca, signed in, prints the line for the nodes too.
    const ca = await cli(env, 'ssh', 'ca');
    assert.match(ca.stdout, new RegExp(`^@cert-authority ${gateway},node1,prod1 ssh-ed25519 `, 'm'));
  });

  test('ssh -F config login@node1.gatehouse reaches node1 with StrictHostKeyChecking=yes; so does gatehouse ssh', async () => {
    if (skip) return;
    const config = join(ssh(), 'config');
    assert.match(readFileSync(config, 'utf8'), /\nHost node1\.gatehouse\n {2}HostName node1\n/);
    const stock = await runSsh('ssh', ['-F', config, '-o', 'BatchMode=yes', `${NODE_LOGIN}@node1.gatehouse`, 'echo stock-$((6*7))'], { timeoutMs: 30_000 });
    assert.equal(stock.stdout, 'stock-42\n', stock.stderr);
    const exec = await gw.waitForEvent((e) => e.type === 'exec' && String(e.details?.command).includes('stock-'));
    assert.equal(exec.details?.node, 'node1', 'the gateway was asked for the node name, not the alias');
    for (const target of ['node1', 'node1.gatehouse', `${NODE_LOGIN}@prod1.gatehouse`]) {
      const wrapped = await cli(env, 'ssh', target, 'echo', `wrapped-${target}`);
      assert.equal(wrapped.stdout, `wrapped-${target}\n`, wrapped.stderr);
    }
  });

  test('a host outside the scope is not trusted, though its certificate comes from the same host CA', async () => {
    if (skip) return;
    const knownHosts = join(ssh(), 'known_hosts');
    const attempt = (alias: string, file = knownHosts) =>
      runSsh(
        'ssh',
        [
          '-F',
          '/dev/null',
          '-p',
          String(outsider!.port),
          '-o',
          `HostKeyAlias=${alias}`,
          '-o',
          `UserKnownHostsFile=${file}`,
          '-o',
          'GlobalKnownHostsFile=/dev/null',
          '-o',
          'StrictHostKeyChecking=yes',
          '-o',
          'BatchMode=yes',
          '-o',
          `IdentityFile=${join(ssh(), 'id_ed25519')}`,
          `${NODE_LOGIN}@127.0.0.1`,
          'true',
        ],
        { timeoutMs: 30_000 },
      );
    const outside = await attempt('outside.example');
    assert.equal(outside.code, 255);
    assert.match(outside.stderr, /Host key verification failed/);
    // Controls: the same certificate is accepted under an in-scope name, and under `*` (the old
    // line) the outside name was trusted too; both then stop at user authentication.
    const inScope = await attempt('node1');
    assert.doesNotMatch(inScope.stderr, /Host key verification failed/);
    assert.match(inScope.stderr, /Permission denied/);
    const wildcard = join(dir, 'wildcard_known_hosts');
    writeFileSync(wildcard, readFileSync(knownHosts, 'utf8').replace(/^@cert-authority \S+/, '@cert-authority *'));
    const old = await attempt('outside.example', wildcard);
    assert.doesNotMatch(old.stderr, /Host key verification failed/);
  });

  test('ssh -G: the Included config does not shadow the person’s own Host node1', async () => {
    if (skip) return;
    const mine = join(dir, 'my_ssh_config');
    writeFileSync(mine, [`Include ${join(ssh(), 'config')}`, 'Host node1', '  HostName node1.corp.example', '  Port 2200', '  User me', ''].join('\n'));
    const own = resolved(mine, 'node1');
    assert.equal(own.get('hostname'), 'node1.corp.example');
    assert.equal(own.get('port'), '2200');
    assert.equal(own.get('user'), 'me');
    assert.equal(own.get('proxyjump'), undefined);
    const ours = resolved(mine, 'node1.gatehouse');
    assert.equal(ours.get('hostname'), 'node1');
    assert.equal(ours.get('proxyjump'), 'gatehouse-proxy');
    assert.equal(ours.get('stricthostkeychecking'), 'true');

    // The suffix is configurable and kept for later rewrites (gatehouse login, gatehouse ssh).
    const token = await mintGatewayToken(gw, { connector: 'corp', username: 'bob', groups: ['devs'] });
    const other = mkdtempSync(join(dir, 'suffix-'));
    const env = { GATEHOUSE_HOME: other, GATEHOUSE_SERVER: gw.url, GATEHOUSE_TOKEN: token };
    assert.equal((await cli(env, 'ssh', 'cert', '--host-suffix', '.gh')).code, 0);
    assert.equal(resolved(join(other, 'ssh', 'config'), 'node1.gh').get('hostname'), 'node1');
    assert.equal((await cli(env, 'ssh', 'cert')).code, 0);
    assert.equal(resolved(join(other, 'ssh', 'config'), 'node1.gh').get('proxyjump'), 'gatehouse-proxy');
    const bad = await cli(env, 'ssh', 'cert', '--host-suffix', '*');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /host suffix/);
  });
});
