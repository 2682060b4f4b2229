import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { resolveAccess } from '../../../src/access/index.js';
import { policyFromConfig } from '../../../src/access/index.js';
import { parseConfig } from '../../../src/config/load.js';
import { transcript } from '../../../src/recording/reader.js';
import { createSshCa } from '../../../src/ssh-ca/ca.js';
import { issueUserCert } from '../../../src/ssh-ca/issue.js';
import { parsePublicKeyLine } from '../../../src/ssh-ca/keys.js';
import { eventually } from '../../helpers/eventually.js';
import { startGateway, type TestGateway } from '../../helpers/gateways/gateway.js';
import { closedPort, requireBinary } from '../../helpers/peers/services.js';
import {
  fetchUserCert,
  keygen,
  mintGatewayToken,
  prepareSshd,
  runSsh,
  SSH_TEST_POLICY,
  writeClientConfig,
  type Sshd,
  NODE_LOGIN,
} from '../../helpers/peers/ssh.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('ssh -J through the gateway to a real sshd (OpenSSH on both ends)', () => {
  let gw: TestGateway;
  let sshd: Sshd | undefined;
  let dir: string;
  let recordings: string;
  let cfg: string;
  let key: string;
  let skip = false;
  let sshPort: number;

  before(async (t) => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-jump-'));
    recordings = join(dir, 'recordings');
    const node = await prepareSshd(t as never);
    if (!node) return void (skip = true);
    sshPort = await closedPort();
    gw = await startGateway({
      ...SSH_TEST_POLICY,
      ssh: {
        listen: `127.0.0.1:${sshPort}`,
        nodes: [
          { name: 'node1', addr: `127.0.0.1:${node.port}`, labels: { env: 'dev' }, host_key: node.hostKey },
          { name: 'prod1', addr: `127.0.0.1:${node.port}`, labels: { env: 'prod' }, host_key: node.hostKey },
        ],
      },
      recordings: { dir: recordings },
    });
    // The node trusts the gateway's user CA, as `gatehouse ssh ca` tells operators to set up.
    sshd = await node.start(await (await fetch(`${gw.url}/api/v1/ssh/ca?type=user`)).text());
    key = keygen(dir, 'alice');
    const token = await mintGatewayToken(gw, { connector: 'corp', username: 'alice', groups: ['admins'] });
    const cert = await fetchUserCert(gw.url, token, key);
    writeFileSync(join(dir, 'known_hosts'), `${cert.known_hosts}\n`);
    cfg = writeClientConfig(dir, {
      key,
      knownHosts: join(dir, 'known_hosts'),
      proxy: `127.0.0.1:${gw.gateway.ssh!.address().port}`,
      nodes: ['node1', 'prod1', 'nowhere'],
    });
  });
  after(async () => {
    await gw?.stop();
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('interactive pty session: typed commands, output seen, exit; recorded, playable, searchable', async (t) => {
    if (skip || !requireBinary(t, 'asciinema')) return;
    const run = await runSsh('ssh', ['-F', cfg, '-tt', `${NODE_LOGIN}@node1`], { input: 'echo typed-$((6*7))\nstty size\nexit 5\n' });
    assert.equal(run.code, 5, run.stderr);
    assert.match(run.stdout, /typed-42/);
    const end = await gw.waitForEvent((e) => e.type === 'session.end' && e.details?.kind === 'shell');
    const start = gw.auditEvents().find((e) => e.type === 'session.start' && e.session_id === end.session_id);
    assert.ok(start, 'session.start with the same session id');
    assert.equal(start.details?.recorded, true);
    assert.equal(end.details?.recording, end.session_id, 'recording id = session id');
    assert.equal(end.details?.exit_code, 5);
    const cast = join(recordings, `${end.session_id}.cast`);
    assert.equal(end.details?.recording_sha256, sha256(cast), 'session.end carries the recording hash');
    const meta = JSON.parse(readFileSync(join(recordings, `${end.session_id}.json`), 'utf8'));
    assert.equal(meta.user, 'alice');
    assert.equal(meta.login, NODE_LOGIN);
    assert.equal(meta.node, 'node1');
    assert.equal(meta.exit_code, 5);
    assert.equal(meta.complete, true);
    assert.equal(meta.sha256, sha256(cast));
    const play = spawnSync('asciinema', ['play', '-s', '100', cast], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(play.status, 0, play.stderr);
    assert.match(await transcript(cast), /typed-42/);
    assert.doesNotMatch(readFileSync(cast, 'utf8').split('\n').slice(1).join('\n'), /"i"/, 'input is not recorded by default');
  });

  test('exec: output and a non-zero exit code come back; audited', async () => {
    if (skip) return;
    const run = await runSsh('ssh', ['-F', cfg, `${NODE_LOGIN}@node1`, 'echo hello from $(whoami); echo oops >&2; exit 3']);
    assert.equal(run.stdout, `hello from ${NODE_LOGIN}\n`, run.stderr);
    assert.match(run.stderr, /oops/);
    assert.equal(run.code, 3);
    const exec = await gw.waitForEvent((e) => e.type === 'exec' && String(e.details?.command).includes('hello from'));
    assert.equal(exec.outcome, 'failure');
    assert.equal(exec.details?.exit_code, 3);
    assert.equal(exec.details?.node, 'node1');
    assert.equal(exec.details?.login, NODE_LOGIN);
    assert.equal(exec.user, 'alice');
    // Killed by a signal: the signal comes back too.
    const killed = await runSsh('ssh', ['-F', cfg, `${NODE_LOGIN}@node1`, 'kill -TERM $$']);
    assert.equal(killed.code, 255);
    const signalled = await gw.waitForEvent((e) => e.type === 'exec' && e.details?.command === 'kill -TERM $$');
    assert.equal(signalled.details?.exit_signal, 'SIGTERM');
    assert.equal(signalled.details?.exit_code, null);
  });

  test('scp upload and download of 10 MB with matching checksums; sftp listing; transfers audited', async () => {
    if (skip) return;
    const local = join(dir, 'ten-mb');
    writeFileSync(local, randomBytes(10 * 1024 * 1024));
    const remote = join(sshd!.files, 'uploaded');
    const up = await runSsh('scp', ['-F', cfg, local, `${NODE_LOGIN}@node1:${remote}`], { timeoutMs: 60_000 });
    assert.equal(up.code, 0, up.stderr);
    assert.equal(sha256(remote), sha256(local));
    const back = join(dir, 'downloaded');
    const down = await runSsh('scp', ['-F', cfg, `${NODE_LOGIN}@node1:${remote}`, back], { timeoutMs: 60_000 });
    assert.equal(down.code, 0, down.stderr);
    assert.equal(sha256(back), sha256(local));

    const listing = await runSsh('sftp', ['-F', cfg, '-b', '-', `${NODE_LOGIN}@node1`], { input: `ls -1 ${sshd!.files}\n` });
    assert.equal(listing.code, 0, listing.stderr);
    assert.match(listing.stdout, /uploaded/);

    const upload = await gw.waitForEvent((e) => e.type === 'sftp.upload' && e.details?.path === remote);
    assert.equal(upload.details?.size, 10 * 1024 * 1024);
    assert.equal(upload.details?.direction, 'upload');
    const download = await gw.waitForEvent((e) => e.type === 'sftp.download' && e.details?.path === remote);
    assert.equal(download.details?.size, 10 * 1024 * 1024);
    assert.equal(download.user, 'alice');
  });

  test('refused: a login the roles do not grant, and an unknown node, with a message and access.denied', async () => {
    if (skip) return;
    const login = await runSsh('ssh', ['-F', cfg, 'postgres@node1', 'true']);
    assert.equal(login.code, 255);
    assert.ok(
      login.stderr.includes(`gatehouse: alice may not log in as "postgres" on node1 (allowed: ${[NODE_LOGIN, 'ops'].sort().join(', ')})`),
      login.stderr,
    );
    const denied = await gw.waitForEvent((e) => e.type === 'access.denied' && e.details?.login === 'postgres');
    assert.equal(denied.reason, 'login_not_allowed');
    assert.equal(denied.code, 'GH3021W');

    const unknown = await runSsh('ssh', ['-F', cfg, `${NODE_LOGIN}@nowhere`, 'true']);
    assert.equal(unknown.code, 255);
    assert.match(unknown.stderr, /gatehouse: unknown node "nowhere"/);
    const event = await gw.waitForEvent((e) => e.type === 'access.denied' && e.reason === 'unknown_node');
    assert.equal(event.details?.node, 'nowhere');
  });

  test('refused: a login granted only on other nodes (labels), an expired certificate, a certificate from another CA', async () => {
    if (skip) return;
    // bob is a developer: his own name on env=dev nodes only.
    const bobKey = keygen(dir, 'bob');
    const bobToken = await mintGatewayToken(gw, { connector: 'corp', username: 'bob', groups: ['devs'] });
    await fetchUserCert(gw.url, bobToken, bobKey);
    const bobCfg = writeClientConfig(mkdtempSync(join(dir, 'bob-')), {
      key: bobKey,
      knownHosts: join(dir, 'known_hosts'),
      proxy: `127.0.0.1:${gw.gateway.ssh!.address().port}`,
      nodes: ['node1', 'prod1'],
    });
    const prod = await runSsh('ssh', ['-F', bobCfg, 'bob@prod1', 'true']);
    assert.equal(prod.code, 255);
    assert.match(prod.stderr, /gatehouse: bob has no login on prod1/);
    await gw.waitForEvent((e) => e.type === 'access.denied' && e.user === 'bob' && e.reason === 'no_login_on_node');

    // Certificates signed outside the API: expired (by our CA), and valid but from another CA.
    const config = parseConfig({ server: { public_url: gw.url }, state: { data_dir: gw.dataDir }, ...SSH_TEST_POLICY });
    const identity = { connector: 'corp', subject: 'alice', username: 'alice', groups: ['admins'], claims: {} };
    const access = resolveAccess(identity, policyFromConfig(config));
    const publicKey = parsePublicKeyLine(readFileSync(`${key}.pub`, 'utf8'));
    const cases = [
      {
        name: 'expired',
        ca: createSshCa({ dataDir: gw.dataDir }),
        now: Date.now() - 3 * 3_600_000,
        reason: 'cert_expired',
        message: /certificate has expired/,
      },
      {
        name: 'other-ca',
        ca: createSshCa({ dataDir: mkdtempSync(join(dir, 'rogue-ca-')) }),
        now: Date.now(),
        reason: 'cert_untrusted',
        message: /CA this gateway does not trust/,
      },
    ];
    for (const c of cases) {
      const certDir = mkdtempSync(join(dir, `${c.name}-`));
      const copy = join(certDir, 'id');
      writeFileSync(copy, readFileSync(key), { mode: 0o600 });
      writeFileSync(`${copy}.pub`, readFileSync(`${key}.pub`));
      const cert = await issueUserCert({ ca: c.ca, identity, access, publicKey, certTtlMs: 3_600_000, now: c.now });
      writeFileSync(`${copy}-cert.pub`, `${cert.certType} ${cert.blob.toString('base64')}\n`);
      const caseCfg = writeClientConfig(certDir, {
        key: copy,
        knownHosts: join(dir, 'known_hosts'),
        proxy: `127.0.0.1:${gw.gateway.ssh!.address().port}`,
        nodes: ['node1'],
      });
      const run = await runSsh('ssh', ['-F', caseCfg, `${NODE_LOGIN}@node1`, 'true']);
      assert.equal(run.code, 255, c.name);
      assert.match(run.stderr, c.message, c.name);
      assert.match(run.stderr, /Permission denied \(publickey\)/, c.name);
      const event = await gw.waitForEvent((e) => e.type === 'ssh.auth' && e.outcome === 'failure' && e.reason === c.reason);
      assert.equal(event.details?.stage, 'gateway');
    }
  });

  test('50 concurrent sessions complete, each with its own correct recording', async () => {
    if (skip) return;
    const count = 50;
    const runs = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        runSsh('ssh', ['-F', cfg, '-tt', `${NODE_LOGIN}@node1`, `echo marker-${i}-$((${i}*3)); exit ${i % 7}`], { timeoutMs: 90_000 }),
      ),
    );
    runs.forEach((run, i) => {
      assert.equal(run.code, i % 7, `session ${i}: ${run.stderr}`);
      assert.match(run.stdout, new RegExp(`marker-${i}-${i * 3}\\b`));
    });
    const ends = await eventually(
      () => {
        const found = gw.auditEvents().filter((e) => e.type === 'session.end' && /echo marker-\d+/.test(String(e.details?.command)));
        return found.length >= count && found;
      },
      { timeoutMs: 10_000, message: 'not every session ended' },
    );
    assert.equal(new Set(ends.map((e) => e.session_id)).size, count);
    for (const end of ends) {
      const i = Number(/marker-(\d+)/.exec(String(end.details?.command))![1]);
      const text = await transcript(join(recordings, `${end.session_id}.cast`));
      assert.match(text, new RegExp(`marker-${i}-${i * 3}\\b`));
      assert.equal(text.match(/marker-\d+/g)?.length, 1, `recording ${i} holds only its own session`);
      assert.equal(end.details?.exit_code, i % 7);
      assert.equal(end.details?.recording_sha256, sha256(join(recordings, `${end.session_id}.cast`)));
    }
  });

  const api = async (path: string, groups: string[], username = 'alice') => {
    const token = await mintGatewayToken(gw, { connector: 'corp', username, groups });
    return fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  };
  const shellRecording = () => gw.auditEvents().find((e) => e.type === 'session.end' && e.details?.kind === 'shell' && e.user === 'alice')!.session_id!;

  test('recordings API: text search, filters, own recordings only unless auditor; download audited', async () => {
    if (skip) return;
    const id = shellRecording();
    const found = (await (await api('/api/v1/recordings?q=TYPED-42', ['admins'])).json()) as { recordings: { id: string; user: string }[] };
    assert.deepEqual(
      found.recordings.map((r) => r.id),
      [id],
      'text search over the ANSI-stripped transcript, case-insensitive',
    );
    const byNode = (await (await api('/api/v1/recordings?node=prod1', ['admins'])).json()) as { recordings: unknown[] };
    assert.equal(byNode.recordings.length, 0);
    // The day the session started, not today's: a run that crosses midnight UTC must still find it.
    const startedOn = gw
      .auditEvents()
      .find((e) => e.type === 'session.start' && e.session_id === id)!
      .time.slice(0, 10);
    const inRange = (await (await api(`/api/v1/recordings?user=alice&from=${startedOn}&to=${startedOn}&limit=1000`, ['admins'])).json()) as {
      recordings: { id: string }[];
    };
    assert.ok(inRange.recordings.some((r) => r.id === id));
    const future = (await (await api('/api/v1/recordings?from=2999-01-01', ['admins'])).json()) as { recordings: unknown[] };
    assert.equal(future.recordings.length, 0);
    const bad = await api('/api/v1/recordings?from=yesterday', ['admins']);
    assert.equal(bad.status, 400);

    const bobSees = (await (await api('/api/v1/recordings?limit=1000', ['devs'], 'bob')).json()) as { recordings: { user: string }[] };
    assert.ok(
      bobSees.recordings.every((r) => r.user === 'bob'),
      'non-auditors see only their own',
    );
    const auditorSees = (await (await api('/api/v1/recordings?q=typed-42', ['auditors'], 'carol')).json()) as { recordings: { id: string }[] };
    assert.deepEqual(
      auditorSees.recordings.map((r) => r.id),
      [id],
    );

    const download = await api(`/api/v1/recordings/${id}`, ['auditors'], 'carol');
    assert.equal(download.status, 200);
    assert.match(download.headers.get('content-disposition') ?? '', new RegExp(`${id}\\.cast`));
    assert.equal(await download.text(), readFileSync(join(recordings, `${id}.cast`), 'utf8'));
    const access = await gw.waitForEvent((e) => e.type === 'recording.access' && e.user === 'carol');
    assert.equal(access.outcome, 'success');
    assert.equal(access.session_id, id);
    assert.equal(access.details?.action, 'download');

    const notHers = await api(`/api/v1/recordings/${id}`, ['devs'], 'bob');
    assert.equal(notHers.status, 404);
    assert.equal(((await notHers.json()) as { error: string }).error, 'recording_not_found');
    assert.equal((await api('/api/v1/recordings', [], 'nobody').then((r) => r.json())).recordings.length, 0);
    const anonymous = await fetch(`${gw.url}/api/v1/recordings`);
    assert.equal(anonymous.status, 401);
  });

  test('recording ids are strictly validated: path traversal gets 400 invalid_recording_id and an audit event', async () => {
    if (skip) return;
    for (const attempt of ['..%2f..%2f..%2fetc%2fpasswd', '..%2Fjump.test.ts', '.%2e%2fx', 'abc.json', `${shellRecording()}.json`, `${shellRecording()}%00`]) {
      const res = await api(`/api/v1/recordings/${attempt}`, ['auditors'], 'mallory');
      assert.equal(res.status, 400, attempt);
      assert.equal(((await res.json()) as { error: string }).error, 'invalid_recording_id', attempt);
    }
    const event = await gw.waitForEvent((e) => e.type === 'recording.access' && e.user === 'mallory' && String(e.details?.recording).includes('etc/passwd'));
    assert.equal(event.outcome, 'failure');
    assert.equal(event.reason, 'invalid_recording_id');
    assert.equal(event.code, 'GH3101W');
  });

  test('CLI: gatehouse ssh cert writes key, certificate, known_hosts and config; gatehouse ssh runs a command; gatehouse play replays', async () => {
    if (skip) return;
    const home = mkdtempSync(join(dir, 'home-'));
    const token = await mintGatewayToken(gw, { connector: 'corp', username: 'alice', groups: ['admins'] });
    const env = { GATEHOUSE_HOME: home, GATEHOUSE_SERVER: gw.url, GATEHOUSE_TOKEN: token };
    const cli = (...args: string[]) => runSsh(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), ...args], { env, timeoutMs: 60_000 });
    const cert = await cli('ssh', 'cert');
    assert.equal(cert.code, 0, cert.stderr);
    for (const file of ['id_ed25519', 'id_ed25519-cert.pub', 'known_hosts', 'config'])
      assert.equal(statSync(join(home, 'ssh', file)).mode & 0o777, 0o600, file);
    const config = await cli('ssh', 'config');
    assert.match(config.stdout, /Host gatehouse-proxy\n\s+HostName 127\.0\.0\.1\n\s+Port \d+/);
    assert.match(config.stdout, /Host node1\.gatehouse prod1\.gatehouse\n\s+ProxyJump gatehouse-proxy/);
    const ca = await cli('ssh', 'ca');
    assert.match(ca.stdout, /TrustedUserCAKeys/);
    assert.match(ca.stdout, /^@cert-authority \[127\.0\.0\.1\]:\d+,\[localhost\]:\d+,node1,prod1 ssh-ed25519 /m);

    const run = await cli('ssh', `${NODE_LOGIN}@node1`, 'echo', 'via-the-cli');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'via-the-cli\n');
    // Stock OpenSSH with the written config works the same.
    const stock = await runSsh('ssh', ['-F', join(home, 'ssh', 'config'), '-o', 'BatchMode=yes', `${NODE_LOGIN}@node1.gatehouse`, 'echo stock']);
    assert.equal(stock.stdout, 'stock\n', stock.stderr);

    const played = await cli('play', shellRecording(), '--speed', '1000', '--skip-idle');
    assert.equal(played.code, 0, played.stderr);
    assert.match(played.stdout, /typed-42/);
    const missing = await cli('play', '00000000-0000-4000-8000-000000000000');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /recording_not_found/);
  });
});
