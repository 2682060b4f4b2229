// The gateway is killed with SIGKILL in the middle of a recorded session: the recording written so
// far must still play (asciinema play), hold what was seen before the crash, and say it is incomplete.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { transcript } from '../../../src/recording/reader.js';
import { eventually, giveUp } from '../../helpers/eventually.js';
import { closedPort, requireBinary, tcpReachable } from '../../helpers/peers/services.js';
import { fetchUserCert, keygen, mintGatewayToken, prepareSshd, SSH_TEST_POLICY, writeClientConfig, NODE_LOGIN } from '../../helpers/peers/ssh.js';
import { startChild } from '../../helpers/processes.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));

test('SIGKILL mid-session leaves a playable partial recording', { timeout: 120_000 }, async (t) => {
  const node = await prepareSshd(t);
  if (!node || !requireBinary(t, 'asciinema')) return;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-crash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [httpPort, sshPort] = [await closedPort(), await closedPort()];
  const url = `http://127.0.0.1:${httpPort}`;
  const recordings = join(dir, 'recordings');
  writeFileSync(
    join(dir, 'gatehouse.yaml'),
    stringify({
      server: { public_url: url, listen: `127.0.0.1:${httpPort}` },
      state: { data_dir: join(dir, 'data') },
      ...SSH_TEST_POLICY,
      ssh: { listen: `127.0.0.1:${sshPort}`, nodes: [{ name: 'node1', addr: `127.0.0.1:${node.port}`, labels: { env: 'dev' }, host_key: node.hostKey }] },
      recordings: { dir: recordings },
    }),
  );
  const { child: gateway } = startChild(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', join(dir, 'gatehouse.yaml')], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'warn' },
  });
  let gatewayLog = '';
  gateway.stderr!.on('data', (d: Buffer) => (gatewayLog += d.toString()));
  const gatewayExit = new Promise((r) => gateway.once('exit', r));
  t.after(() => {
    if (gateway.exitCode === null && gateway.signalCode === null) gateway.kill('SIGKILL');
  });
  await eventually(
    () => {
      if (gateway.exitCode !== null) giveUp(`gateway did not start: ${gatewayLog}`);
      return tcpReachable('127.0.0.1', sshPort, 200);
    },
    { timeoutMs: 45_000, intervalMs: 100, message: () => `gateway did not start: ${gatewayLog}` },
  );
  const sshd = await node.start(await (await fetch(`${url}/api/v1/ssh/ca?type=user`)).text());
  t.after(() => sshd.stop());

  const key = keygen(dir, 'alice');
  const token = await mintGatewayToken({ url, dataDir: join(dir, 'data') } as never, { connector: 'corp', username: 'alice', groups: ['admins'] });
  const cert = await fetchUserCert(url, token, key);
  writeFileSync(join(dir, 'known_hosts'), `${cert.known_hosts}\n`);
  const cfg = writeClientConfig(dir, { key, knownHosts: join(dir, 'known_hosts'), proxy: `127.0.0.1:${sshPort}`, nodes: ['node1'] });

  const { child: ssh } = startChild('ssh', ['-F', cfg, '-tt', `${NODE_LOGIN}@node1`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let seen = '';
  ssh.stdout!.on('data', (d: Buffer) => (seen += d.toString()));
  const sshExit = new Promise<number | null>((r) => ssh.once('exit', (code) => r(code)));
  ssh.stdin!.write('echo before-crash-$((2+3))\n');
  await eventually(() => seen.includes('before-crash-5'), { timeoutMs: 20_000, message: () => `no output through the gateway: ${seen}` });
  gateway.kill('SIGKILL');
  await gatewayExit;
  assert.equal(gateway.signalCode, 'SIGKILL');
  assert.equal(await sshExit, 255, 'the client sees the connection drop');

  const casts = readdirSync(recordings).filter((f) => f.endsWith('.cast'));
  assert.equal(casts.length, 1);
  const cast = join(recordings, casts[0]);
  const meta = JSON.parse(readFileSync(cast.replace(/\.cast$/, '.json'), 'utf8'));
  assert.equal(meta.complete, undefined, 'the metadata says the session never ended');
  assert.equal(meta.end, undefined);
  const play = spawnSync('asciinema', ['play', '-s', '100', cast], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(play.status, 0, play.stderr);
  assert.match(await transcript(cast), /before-crash-5/);
});
