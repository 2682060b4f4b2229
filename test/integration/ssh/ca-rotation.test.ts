import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { GATEWAY_AUDIENCE } from '../../../src/tokens/gateway-token.js';
import { startGateway, type TestGateway } from '../../helpers/gateways/gateway.js';
import { eventually } from '../../helpers/eventually.js';
import { closedPort, REDIS_URL, requireRedis } from '../../helpers/peers/services.js';
import { fetchUserCert, keygen, mintGatewayToken, NODE_LOGIN, prepareSshd, runSsh, writeClientConfig, type Sshd } from '../../helpers/peers/ssh.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));

const POLICY = {
  connectors: [{ type: 'oidc', id: 'corp', issuer: 'http://127.0.0.1:9/', client_id: 'gatehouse', client_secret: 'unused' }], // secret-scan: allow
  roles: [
    { name: 'ops', logins: [NODE_LOGIN], node_labels: { env: ['*'] } },
    { name: 'ca-admin', ssh_ca_admin: true },
  ],
  mappings: [
    { match: { claim: 'groups', value: 'admins' }, roles: ['ops'] },
    { match: { claim: 'groups', value: 'ca-admins' }, roles: ['ca-admin'] },
  ],
};

interface CaStatus {
  kind: string;
  phase: string;
  signing: string;
  published: { fingerprint: string; role: string; line: string }[];
}

const cli = (env: Record<string, string>, ...args: string[]) =>
  runSsh(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), ...args], { env, timeoutMs: 60_000 });

/** `Signing CA: ED25519 SHA256:… (using ssh-ed25519)` from `ssh-keygen -L`: which CA key signed a certificate. */
async function signingCa(certFile: string): Promise<string> {
  const shown = await runSsh('ssh-keygen', ['-L', '-f', certFile]);
  assert.equal(shown.code, 0, shown.stderr);
  const match = /Signing CA: ED25519 (SHA256:\S+)/.exec(shown.stdout);
  assert.ok(match, shown.stdout);
  return match[1];
}

const rotation = async (base: string, kind: string): Promise<CaStatus> => {
  const body = (await (await fetch(`${base}/api/v1/ssh/ca/rotation`)).json()) as { cas: CaStatus[] };
  return body.cas.find((c) => c.kind === kind)!;
};
const rotate = async (base: string, bearer: string, body: unknown) => {
  const res = await fetch(`${base}/api/v1/ssh/ca/rotate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const keyOf = (line: string) => line.trim().split(/\s+/).at(-2)!;

describe('SSH CA rotation with real sshd nodes and OpenSSH clients: init, switch, finish', () => {
  let gw: TestGateway;
  let fresh: Sshd | undefined;
  let stale: Sshd | undefined;
  let dir: string;
  let proxy: string;
  let admin: Record<string, string>;
  let skip = false;
  const token = (username: string, groups: string[]) => mintGatewayToken(gw, { connector: 'corp', username, groups });
  const userCaText = async () => (await fetch(`${gw.url}/api/v1/ssh/ca?type=user`)).text();
  /** A node that follows the published list: its TrustedUserCAKeys file is rewritten (sshd reads it at every login). */
  const refresh = async (node: Sshd) => writeFileSync(join(node.dir, 'user_ca.pub'), await userCaText());

  /** A key, a certificate, a known_hosts and an ssh config for `username`. */
  const person = async (username: string) => {
    const home = mkdtempSync(join(dir, `${username}-`));
    const key = keygen(home, 'id');
    const cert = await fetchUserCert(gw.url, await token(username, ['admins']), key);
    writeFileSync(join(home, 'known_hosts'), `${cert.known_hosts}\n`);
    return { key, config: writeClientConfig(home, { key, knownHosts: join(home, 'known_hosts'), proxy, nodes: ['fresh', 'stale'] }) };
  };
  const reach = (config: string, node: string) => runSsh('ssh', ['-F', config, `${NODE_LOGIN}@${node}`, 'echo reached']);

  before(async (t) => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-ca-rotation-'));
    const [a, b] = [await prepareSshd(t as never), await prepareSshd(t as never)];
    if (!a || !b) return void (skip = true);
    gw = await startGateway({
      ...POLICY,
      ssh: {
        listen: `127.0.0.1:${await closedPort()}`,
        nodes: [
          { name: 'fresh', addr: `127.0.0.1:${a.port}`, labels: { env: 'dev' }, host_key: a.hostKey },
          { name: 'stale', addr: `127.0.0.1:${b.port}`, labels: { env: 'dev' }, host_key: b.hostKey },
        ],
      },
    });
    proxy = `127.0.0.1:${gw.gateway.ssh!.address().port}`;
    fresh = await a.start(await userCaText());
    stale = await b.start(await userCaText());
    admin = { GATEHOUSE_HOME: join(dir, 'admin'), GATEHOUSE_SERVER: gw.url, GATEHOUSE_TOKEN: await token('root-of-trust', ['ca-admins']) };
  });
  after(async () => {
    await gw?.stop();
    await fresh?.stop();
    await stale?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('user CA: a node that refreshes its TrustedUserCAKeys keeps accepting; one that never does is refused after switch', async () => {
    if (skip) return;
    const alice = await person('alice');
    for (const node of ['fresh', 'stale']) assert.equal((await reach(alice.config, node)).stdout, 'reached\n', node);
    const before = await rotation(gw.url, 'user');

    // init: the new key is published beside the old one; the old one still signs.
    const init = await cli(admin, 'ssh', 'ca', 'rotate', '--kind', 'user', '--phase', 'init');
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stdout, /^user CA: phase init since \S+; signing SHA256:/);
    assert.match(init.stdout, /Next: put every user CA line .* then: gatehouse ssh ca rotate --kind user --phase switch/);
    const audited = await gw.waitForEvent((e) => e.type === 'ssh.ca.rotate' && e.details?.phase === 'init' && e.details?.kind === 'user');
    assert.equal(audited.code, 'GH3110I');
    assert.equal(audited.user, 'root-of-trust');
    assert.deepEqual([audited.details?.from, audited.details?.to], ['standby', 'init']);
    const inInit = await rotation(gw.url, 'user');
    assert.equal(inInit.signing, before.signing);
    const next = inInit.published.find((p) => p.role === 'next')!;
    const published = (await userCaText()).trim().split('\n');
    assert.equal(published.length, 2);
    assert.match(published[1], /gatehouse-user-ca-next$/);
    const printed = await cli(admin, 'ssh', 'ca');
    for (const line of published) assert.ok(printed.stdout.includes(line), 'gatehouse ssh ca prints both user CA lines');

    await refresh(fresh!);
    for (const node of ['fresh', 'stale']) assert.equal((await reach(alice.config, node)).stdout, 'reached\n', `${node} in init`);

    // switch: the new key signs; the gateway still accepts certificates from the old one.
    const switched = await cli(admin, 'ssh', 'ca', 'rotate', '--kind', 'user', '--phase', 'switch');
    assert.equal(switched.code, 0, switched.stderr);
    assert.match(switched.stdout, /finish allowed from \S+/);
    const inSwitch = await rotation(gw.url, 'user');
    assert.equal(inSwitch.signing, next.fingerprint);
    assert.equal((await reach(alice.config, 'fresh')).stdout, 'reached\n', 'old certificate, refreshed node');
    const refused = await reach(alice.config, 'stale');
    assert.equal(refused.code, 255);
    assert.match(refused.stderr, /gatehouse: Cannot reach node stale: the node refused login/);
    const upstream = await gw.waitForEvent((e) => e.type === 'ssh.auth' && e.outcome === 'failure' && e.details?.node === 'stale');
    assert.equal(upstream.reason, 'node_unreachable');
    assert.equal(upstream.details?.stage, 'upstream');
    assert.match(stale!.log(), /Failed publickey/, 'the node itself refused the certificate');

    const bob = await person('bob');
    assert.equal(await signingCa(`${bob.key}-cert.pub`), next.fingerprint, 'certificates are signed by the new CA after switch');
    assert.equal(await signingCa(`${alice.key}-cert.pub`), before.signing);
    assert.equal((await reach(bob.config, 'fresh')).stdout, 'reached\n');

    // finish: refused inside the overlap unless forced; then only the new key is published.
    const early = await cli(admin, 'ssh', 'ca', 'rotate', '--kind', 'user', '--phase', 'finish');
    assert.notEqual(early.code, 0);
    assert.match(early.stderr, /ssh_ca_overlap/);
    const overlap = await gw.waitForEvent((e) => e.type === 'ssh.ca.rotate' && e.outcome === 'failure' && e.reason === 'ssh_ca_overlap');
    assert.equal(overlap.code, 'GH3111W');
    const finished = await cli(admin, 'ssh', 'ca', 'rotate', '--kind', 'user', '--phase', 'finish', '--force');
    assert.equal(finished.code, 0, finished.stderr);
    assert.match(finished.stdout, /^user CA: phase standby; signing /);
    const forced = await gw.waitForEvent((e) => e.type === 'ssh.ca.rotate' && e.details?.phase === 'finish' && e.outcome === 'success');
    assert.equal(forced.details?.forced, true);
    const after = (await userCaText()).trim().split('\n');
    assert.equal(after.length, 1);
    assert.equal(keyOf(after[0]), keyOf(next.line));
    assert.ok(!(await userCaText()).includes(keyOf(before.published[0].line)), 'the old user CA is no longer published');

    await refresh(fresh!);
    assert.equal((await reach(bob.config, 'fresh')).stdout, 'reached\n');
    const old = await reach(alice.config, 'fresh');
    assert.equal(old.code, 255);
    assert.match(old.stderr, /gatehouse: The certificate is signed by a CA this gateway does not trust/);
    await gw.waitForEvent((e) => e.type === 'ssh.auth' && e.outcome === 'failure' && e.reason === 'cert_untrusted');
  });

  test('host CA: known_hosts carries both @cert-authority lines in the overlap; the gateway presents certificates of the new CA at switch', async () => {
    if (skip) return;
    const home = join(dir, 'carol-home');
    const carol = { GATEHOUSE_HOME: home, GATEHOUSE_SERVER: gw.url, GATEHOUSE_TOKEN: await token('carol', ['admins']) };
    assert.equal((await cli(carol, 'ssh', 'cert')).code, 0);
    const config = join(home, 'ssh', 'config');
    const knownHosts = join(home, 'ssh', 'known_hosts');
    assert.equal(readFileSync(knownHosts, 'utf8').trim().split('\n').length, 1);
    // A client that never refreshes: the same config with a copy of today's known_hosts.
    const staleDir = join(dir, 'carol-stale');
    mkdirSync(staleDir);
    copyFileSync(knownHosts, join(staleDir, 'known_hosts'));
    const staleConfig = join(staleDir, 'config');
    writeFileSync(staleConfig, readFileSync(config, 'utf8').replaceAll(knownHosts, join(staleDir, 'known_hosts')));
    const reachAlias = (cfg: string) => runSsh('ssh', ['-F', cfg, '-o', 'BatchMode=yes', `${NODE_LOGIN}@fresh.gatehouse`, 'echo reached']);
    assert.equal((await reachAlias(config)).stdout, 'reached\n');
    const before = await rotation(gw.url, 'host');

    assert.equal((await cli(admin, 'ssh', 'ca', 'rotate', '--kind', 'host', '--phase', 'init')).code, 0);
    const printed = (await cli(admin, 'ssh', 'ca')).stdout;
    assert.equal(printed.match(/^@cert-authority /gm)?.length, 2, printed);
    assert.equal((await cli(carol, 'ssh', 'cert')).code, 0);
    const both = readFileSync(knownHosts, 'utf8').trim().split('\n');
    assert.equal(both.length, 2);
    assert.match(both[0], /^@cert-authority \S+ ssh-ed25519 \S+ gatehouse-host-ca$/);
    assert.match(both[1], /^@cert-authority \S+ ssh-ed25519 \S+ gatehouse-host-ca-next$/);
    for (const cfg of [config, staleConfig]) assert.equal((await reachAlias(cfg)).stdout, 'reached\n', 'the old key still signs in init');

    assert.equal((await cli(admin, 'ssh', 'ca', 'rotate', '--kind', 'host', '--phase', 'switch')).code, 0);
    const inSwitch = await rotation(gw.url, 'host');
    assert.notEqual(inSwitch.signing, before.signing);
    // The host certificate the listener presents, as ssh-keyscan fetches it.
    const scanned = await runSsh('ssh-keyscan', ['-c', '-p', proxy.split(':')[1], '127.0.0.1']);
    const certLine = scanned.stdout.split('\n').find((l) => l.includes('-cert-v01@openssh.com'));
    assert.ok(certLine, scanned.stdout + scanned.stderr);
    const certFile = join(dir, 'gateway-host-cert.pub');
    // `ssh-keyscan -c` prints the certificate alone (no host name in front).
    writeFileSync(certFile, `${certLine.slice(certLine.indexOf('ssh-ed25519-cert-v01@openssh.com'))}\n`);
    assert.equal(await signingCa(certFile), inSwitch.signing, 'the gateway re-signed its host certificate with the new CA');
    assert.equal((await reachAlias(config)).stdout, 'reached\n');
    const refused = await reachAlias(staleConfig);
    assert.equal(refused.code, 255);
    assert.match(refused.stderr, /Host key verification failed/);

    assert.equal((await cli(admin, 'ssh', 'ca', 'rotate', '--kind', 'host', '--phase', 'finish', '--force')).code, 0);
    assert.equal((await cli(carol, 'ssh', 'cert')).code, 0);
    const only = readFileSync(knownHosts, 'utf8').trim().split('\n');
    assert.equal(only.length, 1);
    assert.equal(keyOf(only[0]), keyOf(inSwitch.published[0].line));
    assert.ok(!readFileSync(knownHosts, 'utf8').includes(keyOf(before.published[0].line)), 'the old host CA is gone');
    assert.equal((await reachAlias(config)).stdout, 'reached\n');
  });
});

describe('SSH CA rotation refusals: permission, phase order, bad input (status, code, audit)', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway(POLICY);
  });
  after(() => gw?.stop());

  test('without ssh_ca_admin: 403 ssh_ca_forbidden and access.denied; from the CLI too', async () => {
    const ops = await mintGatewayToken(gw, { connector: 'corp', username: 'dave', groups: ['admins'] });
    const res = await rotate(gw.url, ops, { kind: 'user', phase: 'init' });
    assert.equal(res.status, 403);
    assert.equal(res.body.error, 'ssh_ca_forbidden');
    const denied = await gw.waitForEvent((e) => e.type === 'access.denied' && e.user === 'dave');
    assert.equal(denied.code, 'GH3021W');
    assert.equal(denied.reason, 'ssh_ca_forbidden');
    assert.deepEqual(denied.details, { resource: 'ssh-ca', kind: 'user', phase: 'init' });
    const viaCli = await cli(
      { GATEHOUSE_SERVER: gw.url, GATEHOUSE_TOKEN: ops, GATEHOUSE_HOME: gw.dataDir },
      'ssh',
      'ca',
      'rotate',
      '--kind',
      'host',
      '--phase',
      'init',
    );
    assert.notEqual(viaCli.code, 0);
    assert.match(viaCli.stderr, /ssh_ca_forbidden/);
    assert.equal((await fetch(`${gw.url}/api/v1/ssh/ca/rotate`, { method: 'POST' })).status, 401);
    assert.equal((await rotation(gw.url, 'user')).phase, 'standby', 'nothing changed');
  });

  test('phases out of order: 409 ssh_ca_phase, audited with the current phase; bad input: 400 invalid_request', async () => {
    const adminToken = await mintGatewayToken(gw, { connector: 'corp', username: 'erin', groups: ['ca-admins'] });
    for (const phase of ['switch', 'finish', 'rollback']) {
      const res = await rotate(gw.url, adminToken, { kind: 'host', phase });
      assert.equal(res.status, 409, phase);
      assert.equal(res.body.error, 'ssh_ca_phase');
    }
    const failures = gw.auditEvents().filter((e) => e.type === 'ssh.ca.rotate' && e.outcome === 'failure');
    assert.deepEqual(
      failures.map((e) => [e.reason, e.details?.phase, e.details?.current, e.code]),
      ['switch', 'finish', 'rollback'].map((p) => ['ssh_ca_phase', p, 'standby', 'GH3111W']),
    );
    assert.equal((await rotate(gw.url, adminToken, { kind: 'host', phase: 'init' })).status, 200);
    const again = await rotate(gw.url, adminToken, { kind: 'host', phase: 'init' });
    assert.equal(again.status, 409);
    assert.match(String(again.body.message), /phase "init"/);
    assert.equal((await rotate(gw.url, adminToken, { kind: 'host', phase: 'rollback' })).body.phase, 'standby');

    for (const body of [{ kind: 'root', phase: 'init' }, { kind: 'user', phase: 'rotate' }, { kind: 'user', phase: 'init', force: 'yes' }, {}]) {
      const res = await rotate(gw.url, adminToken, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.error, 'invalid_request');
    }
    assert.equal(gw.auditEvents().filter((e) => e.type === 'ssh.ca.rotate' && e.reason === 'invalid_request').length, 4);
    const usage = await cli({ GATEHOUSE_SERVER: gw.url, GATEHOUSE_TOKEN: adminToken, GATEHOUSE_HOME: gw.dataDir }, 'ssh', 'ca', 'rotate', '--kind', 'user');
    assert.equal(usage.code, 64);
    assert.match(usage.stderr, /--phase init\|switch\|finish\|rollback/);
  });
});

test('two replicas on one Redis agree on the phase: a phase run on one applies on the other', async (t) => {
  if (!(await requireRedis(t))) return;
  const state = { redis_url: REDIS_URL, redis_prefix: `gh-ssh-ca-rotation-${randomBytes(6).toString('hex')}:` };
  const a = await startGateway({ ...POLICY, state });
  t.after(() => a.stop());
  const b = await startGateway({ ...POLICY, state });
  t.after(() => b.stop());
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-ca-replicas-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Signing keys live in Redis here: tokens come from a gateway's own issuer (either verifies them).
  const mint = (gw: TestGateway, username: string, groups: string[]) =>
    gw.gateway.issuer.mint({ subject: `corp:${username}`, audience: GATEWAY_AUDIENCE, claims: { preferred_username: username, groups, connector: 'corp' } });
  assert.deepEqual(await rotation(a.url, 'user'), await rotation(b.url, 'user'), 'one CA');

  const init = await rotate(a.url, await mint(a, 'erin', ['ca-admins']), { kind: 'user', phase: 'init' });
  assert.equal(init.status, 200, JSON.stringify(init.body));
  const seen = await eventually(async () => ((await rotation(b.url, 'user')).phase === 'init' ? rotation(b.url, 'user') : undefined), {
    timeoutMs: 30_000,
    message: 'replica b never saw init',
  });
  assert.deepEqual(seen, await rotation(a.url, 'user'));
  assert.equal((await (await fetch(`${b.url}/api/v1/ssh/ca?type=user`)).text()).trim().split('\n').length, 2);

  // b runs switch from the stored state; a signs with the new key from then on.
  const switched = await rotate(b.url, await mint(b, 'erin', ['ca-admins']), { kind: 'user', phase: 'switch' });
  assert.equal(switched.status, 200, JSON.stringify(switched.body));
  const key = keygen(dir, 'id');
  const person = await mint(a, 'alice', ['admins']);
  await eventually(
    async () => {
      await fetchUserCert(a.url, person, key);
      return (await signingCa(`${key}-cert.pub`)) === switched.body.signing;
    },
    { timeoutMs: 30_000, message: 'replica a never signed with the new key' },
  );
  assert.equal((await rotate(a.url, await mint(a, 'erin', ['ca-admins']), { kind: 'user', phase: 'switch' })).body.error, 'ssh_ca_phase');
});
