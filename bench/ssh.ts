// bench/ssh: stock OpenSSH straight to sshd vs through Gatehouse, in one run, on 127.0.0.1.
//   npx tsx bench/ssh.ts            (BENCH_SSH_MB=200 BENCH_SSH_SESSIONS=200 to change the sizes)
// Measures: bulk exec throughput (no pty: not recorded; with pty: recorded as asciicast), session
// setup time, keystroke echo latency (p50/p99), gateway RSS per idle session with N sessions open.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ssh2, { type Client } from 'ssh2';
import { stringify } from 'yaml';
import WebSocket from 'ws';
import { useClientCertificate } from '../src/proxy/ssh/ssh2-extensions.js';
import { createSshCa } from '../src/ssh-ca/ca.js';
import { generateEd25519, openSshPrivateKey, parsePublicKeyLine, publicKeyOf } from '../src/ssh-ca/keys.js';
import { closedPort, tcpReachable } from '../test/helpers/services.js';
import { fetchUserCert, keygen, mintGatewayToken, prepareSshd, SSH_TEST_POLICY, writeClientConfig } from '../test/helpers/ssh.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const MB = Number(process.env.BENCH_SSH_MB ?? 200);
const SESSIONS = Number(process.env.BENCH_SSH_SESSIONS ?? 200);
const ECHOES = 200;
const deadline = Date.now() + 120_000;

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-ssh-'));
const node = await prepareSshd({ skip: (r: string) => { throw new Error(r); } } as never);
if (!node) throw new Error('sshd is not available');
const [httpPort, sshPort] = [await closedPort(), await closedPort()];
const url = `http://127.0.0.1:${httpPort}`;
writeFileSync(join(dir, 'gatehouse.yaml'), stringify({
  server: { public_url: url, listen: `127.0.0.1:${httpPort}` },
  state: { data_dir: join(dir, 'data') },
  ...SSH_TEST_POLICY,
  ssh: { listen: `127.0.0.1:${sshPort}`, nodes: [{ name: 'node1', addr: `127.0.0.1:${node.port}`, labels: { env: 'dev' }, host_key: node.hostKey }] },
  recordings: { dir: join(dir, 'recordings'), max_bytes_per_session: '4GiB' },
}));
// --inspect + --expose-gc: the bench asks the gateway for its memory after a full GC (heap numbers
// are exact; RSS keeps whatever the heap once grew to).
const gateway = spawn(process.execPath, ['--expose-gc', '--inspect=127.0.0.1:0', '--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', join(dir, 'gatehouse.yaml')], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LOG_LEVEL: 'error' } });
let gatewayErr = '';
gateway.stderr.on('data', (d: Buffer) => (gatewayErr += d.toString()));
async function gatewayMemory(): Promise<{ rss: number; heapUsed: number; external: number }> {
  const ws = /ws:\/\/\S+/.exec(gatewayErr)?.[0];
  if (!ws) throw new Error(`no inspector URL: ${gatewayErr}`);
  const socket = new WebSocket(ws);
  await new Promise((r, j) => socket.once('open', r).once('error', j));
  const reply = new Promise<string>((r) => socket.once('message', (m) => r(String(m))));
  socket.send(JSON.stringify({ id: 1, method: 'Runtime.evaluate', params: { expression: 'gc(); gc(); JSON.stringify(process.memoryUsage())', returnByValue: true } }));
  const value = JSON.parse(JSON.parse(await reply).result.result.value);
  socket.close();
  return value;
}
const cleanup = async () => {
  gateway.kill('SIGTERM');
  await sshd?.stop();
  rmSync(dir, { recursive: true, force: true });
};
let sshd: Awaited<ReturnType<typeof node.start>> | undefined;
try {
  while (!(await tcpReachable('127.0.0.1', sshPort, 200))) await new Promise((r) => setTimeout(r, 100));
  sshd = await node.start(await (await fetch(`${url}/api/v1/ssh/ca?type=user`)).text());

  // Through the gateway: a person's certificate. Direct: a certificate the node accepts as is.
  const key = keygen(dir, 'alice');
  const token = await mintGatewayToken({ url, dataDir: join(dir, 'data') } as never, { connector: 'corp', username: 'alice', groups: ['admins'] });
  const cert = await fetchUserCert(url, token, key);
  writeFileSync(join(dir, 'known_hosts'), `${cert.known_hosts}\n[127.0.0.1]:${node.port} ${node.hostKey}\n`);
  const viaGateway = writeClientConfig(dir, { key, knownHosts: join(dir, 'known_hosts'), proxy: `127.0.0.1:${sshPort}`, nodes: ['node1'] });
  const directDir = mkdtempSync(join(dir, 'direct-'));
  const directKey = keygen(directDir, 'direct');
  const ca = createSshCa({ dataDir: join(dir, 'data') });
  const now = Math.floor(Date.now() / 1000);
  const direct = await ca.signUser({ publicKey: parsePublicKeyLine(readFileSync(`${directKey}.pub`, 'utf8')), keyId: 'bench', principals: ['root'], validAfter: now - 60, validBefore: now + 3600, extensions: { 'permit-pty': '' } });
  writeFileSync(`${directKey}-cert.pub`, `${direct.certType} ${direct.blob.toString('base64')}\n`);
  const directCfg = writeClientConfig(directDir, { key: directKey, knownHosts: join(dir, 'known_hosts'), proxy: 'unused:1', nodes: ['unused'], extra: [`Host node1`, `  HostName 127.0.0.1`, `  Port ${node.port}`] });
  // writeClientConfig's first block is for the jump; for direct, "node1" resolves through the extra Host block.
  writeFileSync(directCfg, readFileSync(directCfg, 'utf8').replace(/^Host unused[\s\S]*?Host \*/m, 'Host *'));
  const targets = { direct: directCfg, gatehouse: viaGateway };

  const run = (cfg: string, args: string[]) =>
    new Promise<{ ms: number; bytes: number; code: number | null }>((resolve) => {
      const started = performance.now();
      const child = spawn('ssh', ['-F', cfg, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
      let bytes = 0;
      child.stdout.on('data', (d: Buffer) => (bytes += d.length));
      child.on('close', (code) => resolve({ ms: performance.now() - started, bytes, code }));
    });
  const best = async (n: number, f: () => Promise<{ ms: number; bytes: number; code: number | null }>) => {
    const results = [];
    for (let i = 0; i < n; i++) results.push(await f());
    if (results.some((r) => r.code !== 0)) throw new Error(`a run failed: ${JSON.stringify(results)}`);
    return results.sort((a, b) => a.ms - b.ms)[0];
  };
  const median = async (n: number, f: () => Promise<{ ms: number; bytes: number; code: number | null }>) => {
    const results = [];
    for (let i = 0; i < n; i++) results.push(await f());
    if (results.some((r) => r.code !== 0)) throw new Error(`a run failed: ${JSON.stringify(results)}`);
    return results.sort((a, b) => a.ms - b.ms)[Math.floor(n / 2)];
  };
  const rows: string[][] = [];
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

  // First, on a fresh gateway: memory with idle sessions (bulk runs would leave buffers behind).
  // Idle sessions: ssh2 clients do what `ssh -J` does (jump channel, inner SSH, shell with a pty).
  const connect = (sock?: NodeJS.ReadWriteStream): Promise<Client> =>
    new Promise((resolve, reject) => {
      const c = new ssh2.Client();
      c.once('ready', () => resolve(c)).once('error', reject);
      const k = generateEd25519();
      c.connect({ ...(sock ? { sock: sock as never } : { host: '127.0.0.1', port: sshPort }), username: 'root', authHandler: [{ type: 'publickey', username: 'root', key: openSshPrivateKey(k) } as never], hostVerifier: () => true, readyTimeout: 60_000 });
      useClientCertificate(c, { certType: sessionCert.certType, blob: sessionCert.blob, privateKey: sessionKey });
    });
  const sessionKey = generateEd25519();
  const sessionCert = await (async () => {
    const res = await fetch(`${url}/api/v1/ssh/certs`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ public_key: `ssh-ed25519 ${publicKeyOf(sessionKey).blob.toString('base64')}` }) });
    const line = ((await res.json()) as { certificate: string }).certificate.split(' ');
    return { certType: line[0], blob: Buffer.from(line[1], 'base64') };
  })();
  const openSession = async () => {
    const outer = await connect();
    const channel = await new Promise<NodeJS.ReadWriteStream>((resolve, reject) => outer.forwardOut('127.0.0.1', 0, 'node1', 22, (err, s) => (err ? reject(err) : resolve(s))));
    const inner = await connect(channel);
    await new Promise<void>((resolve, reject) => inner.shell({ term: 'xterm', rows: 24, cols: 80 }, (err) => (err ? reject(err) : resolve())));
    return [outer, inner];
  };
  await Promise.all(Array.from({ length: 5 }, openSession)).then((cs) => cs.flat().forEach((c) => c.end()));
  await new Promise((r) => setTimeout(r, 2000));
  const before = await gatewayMemory();
  const open: Client[] = [];
  for (let i = 0; i < SESSIONS; i += 20) open.push(...(await Promise.all(Array.from({ length: Math.min(20, SESSIONS - i) }, openSession))).flat());
  await new Promise((r) => setTimeout(r, 1500));
  const after = await gatewayMemory();
  const mib = (n: number) => `${(n / 1048576).toFixed(0)} MiB`;
  const live = (m: typeof after) => m.heapUsed + m.external;
  rows.push([`gateway RSS with ${SESSIONS} idle sessions (recorded shells)`, '—', `${mib(after.rss)} (before: ${mib(before.rss)})`, '']);
  rows.push(['gateway memory per idle session (heap + external after GC)', '—', `${((live(after) - live(before)) / SESSIONS / 1024).toFixed(0)} KiB`, 'Teleport: ~64 MiB']);
  open.forEach((c) => c.end());


  // Session setup: `ssh node true`, median of 7.
  const setup = { direct: await median(7, () => run(targets.direct, ['root@node1', 'true'])), gatehouse: await median(7, () => run(targets.gatehouse, ['root@node1', 'true'])) };
  rows.push(['session setup (`ssh node true`, median of 7)', `${setup.direct.ms.toFixed(0)} ms`, `${setup.gatehouse.ms.toFixed(0)} ms`, ratio(setup.gatehouse.ms, setup.direct.ms)]);

  // Bulk: exec without a pty (not recorded), then with a pty (recorded by the gateway).
  const bulk = `head -c ${MB}M /dev/zero`;
  const text = `yes abcdefghijklmnopqrstuvwxyz0123456789 | head -c ${Math.round(MB / 2)}M`;
  for (const [name, args, size] of [
    [`bulk exec, no pty, ${MB} MB (not recorded)`, ['root@node1', bulk], MB],
    [`bulk exec with pty, ${Math.round(MB / 2)} MB of text (recorded)`, ['-tt', 'root@node1', text], Math.round(MB / 2)],
  ] as const) {
    const d = await best(2, () => run(targets.direct, [...args]));
    const g = await best(2, () => run(targets.gatehouse, [...args]));
    const mbps = (r: { ms: number }) => (size / (r.ms / 1000)).toFixed(0);
    rows.push([name, `${mbps(d)} MB/s`, `${mbps(g)} MB/s`, ratio(Number(mbps(g)), Number(mbps(d)))]);
  }

  // Keystroke echo: one byte in, wait for it back (remote pty in raw mode, cat echoes it).
  const echo = async (cfg: string) => {
    const child = spawn('ssh', ['-F', cfg, '-tt', 'root@node1', 'stty raw -echo; echo READY; cat'], { stdio: ['pipe', 'pipe', 'ignore'] });
    let seen = '';
    let waiting: (() => void) | undefined;
    child.stdout.on('data', (d: Buffer) => {
      seen += d.toString('latin1');
      waiting?.();
    });
    while (!seen.includes('READY')) await new Promise<void>((r) => (waiting = r));
    const samples: number[] = [];
    for (let i = 0; i < ECHOES; i++) {
      const mark = String.fromCharCode(97 + (i % 26));
      seen = '';
      const t0 = performance.now();
      child.stdin.write(mark);
      while (!seen.includes(mark)) await new Promise<void>((r) => (waiting = r));
      samples.push(performance.now() - t0);
    }
    child.kill();
    samples.sort((a, b) => a - b);
    return { p50: samples[Math.floor(ECHOES * 0.5)], p99: samples[Math.floor(ECHOES * 0.99)] };
  };
  const e = { direct: await echo(targets.direct), gatehouse: await echo(targets.gatehouse) };
  rows.push([`keystroke echo p50 (${ECHOES} keys)`, `${e.direct.p50.toFixed(2)} ms`, `${e.gatehouse.p50.toFixed(2)} ms`, `+${(e.gatehouse.p50 - e.direct.p50).toFixed(2)} ms`]);
  rows.push([`keystroke echo p99`, `${e.direct.p99.toFixed(2)} ms`, `${e.gatehouse.p99.toFixed(2)} ms`, `+${(e.gatehouse.p99 - e.direct.p99).toFixed(2)} ms`]);

  console.log(`\n### bench/ssh (${new Date().toISOString().slice(0, 10)}, ${MB} MB bulk, ${SESSIONS} sessions, 127.0.0.1)\n`);
  console.log('| measure | direct to sshd | through Gatehouse | ratio |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  if (Date.now() > deadline) console.log('\n(over the 2 minute budget: lower BENCH_SSH_MB)');
} finally {
  await cleanup();
}
