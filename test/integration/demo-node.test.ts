// The demo's toy SSH node (src/demo-node) on 127.0.0.1: the gateway's own upstream connection
// (connectUpstream, pinned host key, a 2-minute certificate from the user CA) logs in and runs
// the toy shell; real OpenSSH logs in with a CA-signed certificate too. It refuses what sshd with
// TrustedUserCAKeys refuses (another CA, another principal, an expired certificate, a person's
// gateway-only certificate, a plain key), and offers no SFTP and no forwarding.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import ssh2, { type Client } from 'ssh2';
import { startDemoNode, type DemoNode } from '../../src/demo-node/server.js';
import { connectUpstream } from '../../src/proxy/ssh/upstream.js';
import { useClientCertificate } from '../../src/proxy/ssh/ssh2-extensions.js';
import { createSshCa, type SshCa } from '../../src/ssh-ca/ca.js';
import { GATEWAY_ONLY_OPTION } from '../../src/ssh-ca/identity.js';
import { generateEd25519, openSshPrivateKey, parsePublicKeyLine, publicKeyOf } from '../../src/ssh-ca/keys.js';
import { keygen, runSsh } from '../helpers/peers/ssh.js';
import { requireBinary } from '../helpers/peers/services.js';

const now = () => Math.floor(Date.now() / 1000);
const noForwarding = { portForwarding: false, agentForwarding: false };

let dir: string;
let ca: SshCa;
let node: DemoNode;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-demo-node-'));
  ca = createSshCa({ dataDir: dir });
  node = await startDemoNode({ hostname: 'demo-node', trustedUserCas: async () => (await ca.userCaLines()).map((l) => parsePublicKeyLine(l).blob) });
});
after(async () => {
  await node?.close();
  rmSync(dir, { recursive: true, force: true });
});

const nodeConfig = () => ({ name: 'demo-node', addr: node.addr, labels: {}, host_key: node.hostKey });

/** Runs one command over a client; resolves with its output and exit code. */
function exec(client: Client, command: string, pty = false): Promise<{ out: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    client.exec(command, { pty }, (err, channel) => {
      if (err) return reject(err);
      let out = '';
      let code: number | null = null;
      channel.on('data', (d: Buffer) => (out += d.toString()));
      channel.stderr.on('data', (d: Buffer) => (out += d.toString()));
      channel.on('exit', (c: number | null) => (code = c));
      channel.on('close', () => resolve({ out, code }));
    });
  });
}

/** Logs in as `login` with a certificate over `fields`, signed by `signer`; 'ready' or 'refused'. */
async function tryLogin(
  login: string,
  cert: { signer?: SshCa; principals?: string[]; validBefore?: number; criticalOptions?: Record<string, string> } | 'plain key',
) {
  const key = generateEd25519();
  const client = new ssh2.Client();
  const outcome = new Promise<'ready' | 'refused'>((resolve, reject) => {
    client.once('ready', () => resolve('ready'));
    client.once('error', (err: Error & { level?: string }) => (err.level === 'client-authentication' ? resolve('refused') : reject(err)));
  });
  const [host, port] = node.addr.split(':');
  client.connect({
    host,
    port: Number(port),
    username: login,
    authHandler: [{ type: 'publickey', username: login, key: openSshPrivateKey(key) } as never],
    hostVerifier: (presented: Buffer) => presented.equals(parsePublicKeyLine(node.hostKey).blob),
  });
  if (cert !== 'plain key') {
    const signed = await (cert.signer ?? ca).signUser({
      publicKey: publicKeyOf(key),
      keyId: 'alice',
      principals: cert.principals ?? [login],
      validAfter: now() - 60,
      validBefore: cert.validBefore ?? now() + 120,
      criticalOptions: cert.criticalOptions,
    });
    useClientCertificate(client, { certType: signed.certType, blob: signed.blob, privateKey: key });
  }
  const result = await outcome;
  client.end();
  return result;
}

describe('demo node', () => {
  test("the gateway's upstream connection logs in with the pinned host key and runs the toy shell", async () => {
    const client = await connectUpstream({ node: nodeConfig(), login: 'root', user: 'alice', access: noForwarding, ca, requireHostKey: true });
    try {
      assert.deepEqual(await exec(client, 'whoami'), { out: 'root\n', code: 0 });
      assert.deepEqual(await exec(client, 'cat /etc/passwd'), { out: 'cat: /etc/passwd: No such file or directory\n', code: 1 });
      assert.deepEqual(await exec(client, 'sh -c id'), { out: 'toy-sh: sh: command not found (type help)\n', code: 127 });
      assert.match(
        (await exec(client, 'cat README.txt', true)).out,
        /You \(alice\) came in through the gateway as "root" with a short-lived\r\n/,
        'the certificate key id is the user',
      );
    } finally {
      client.end();
    }
  });

  test('a pty shell: prompt, a command, exit with its status', async () => {
    const client = await connectUpstream({ node: nodeConfig(), login: 'bob', user: 'bob', access: noForwarding, ca, requireHostKey: true });
    try {
      const result = await new Promise<{ out: string; code: number | null }>((resolve, reject) => {
        client.shell({ term: 'xterm-256color', cols: 80, rows: 24 }, (err, channel) => {
          if (err) return reject(err);
          let out = '';
          let code: number | null = null;
          channel.on('data', (d: Buffer) => {
            out += d.toString();
            if (out.endsWith('bob@demo-node:~$ ') && !out.includes('hostname')) channel.write('hostname\r');
            else if (out.endsWith('demo-node\r\nbob@demo-node:~$ ')) channel.write('exit 3\r');
          });
          channel.on('exit', (c: number | null) => (code = c));
          channel.on('close', () => resolve({ out, code }));
        });
      });
      assert.equal(result.code, 3);
      assert.match(result.out, /^Gatehouse demo node demo-node: a toy shell, not a real system\. Type help\.\r\nbob@demo-node:~\$ hostname\r\ndemo-node\r\n/);
    } finally {
      client.end();
    }
  });

  test('another pinned host key: the gateway refuses the node', async () => {
    const other = { ...nodeConfig(), host_key: `ssh-ed25519 ${publicKeyOf(generateEd25519()).blob.toString('base64')}` };
    await assert.rejects(connectUpstream({ node: other, login: 'root', user: 'alice', access: noForwarding, ca, requireHostKey: true }), {
      code: 'node_unreachable',
    });
  });

  test('refuses what TrustedUserCAKeys refuses', async () => {
    const stranger = createSshCa({ dataDir: mkdtempSync(join(dir, 'other-ca-')) });
    assert.equal(await tryLogin('root', {}), 'ready', 'the control: a good certificate');
    assert.equal(await tryLogin('root', { signer: stranger }), 'refused', 'another CA');
    assert.equal(await tryLogin('root', { principals: ['alice'] }), 'refused', 'another principal');
    assert.equal(await tryLogin('root', { validBefore: now() - 1 }), 'refused', 'expired');
    assert.equal(await tryLogin('root', { criticalOptions: { [GATEWAY_ONLY_OPTION]: '' } }), 'refused', "a person's certificate only works at the gateway");
    assert.equal(await tryLogin('root', 'plain key'), 'refused', 'a plain key');
  });

  test('real OpenSSH: a CA-signed certificate logs in; no SFTP, no forwarding', async (t) => {
    const ssh = requireBinary(t, 'ssh');
    if (!ssh) return;
    const key = keygen(dir, 'id_openssh');
    const cert = await ca.signUser({
      publicKey: parsePublicKeyLine(readFileSync(`${key}.pub`, 'utf8')),
      keyId: 'alice',
      principals: ['root'],
      validAfter: now() - 60,
      validBefore: now() + 300,
    });
    writeFileSync(`${key}-cert.pub`, `${cert.certType} ${cert.blob.toString('base64')} alice\n`);
    const [host, port] = node.addr.split(':');
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, `[${host}]:${port} ${node.hostKey}\n`);
    const opts = [
      '-F',
      '/dev/null',
      '-i',
      key,
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      `UserKnownHostsFile=${knownHosts}`,
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'BatchMode=yes',
    ];
    const run = (args: string[]) => runSsh(ssh, [...opts, '-p', port, ...args], { timeoutMs: 30_000 });

    const who = await run([`root@${host}`, 'whoami']);
    assert.equal(who.code, 0, who.stderr);
    assert.equal(who.stdout, 'root\n');
    const passwd = await run([`root@${host}`, 'cat /etc/passwd']);
    assert.equal(passwd.code, 1);
    assert.equal(passwd.stdout, 'cat: /etc/passwd: No such file or directory\n');
    const wrongLogin = await run([`alice@${host}`, 'whoami']);
    assert.equal(wrongLogin.code, 255, 'the certificate is for root only');
    assert.match(wrongLogin.stderr, /Permission denied/);
    const sftp = await run(['-s', `root@${host}`, 'sftp']);
    assert.notEqual(sftp.code, 0, 'no sftp subsystem');
    const forward = await run(['-W', '127.0.0.1:22', `root@${host}`]);
    assert.equal(forward.code, 255, 'no TCP forwarding');
  });
});
