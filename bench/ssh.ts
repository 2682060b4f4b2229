// bench/ssh: stock OpenSSH straight to sshd vs through Gatehouse, in one run, on 127.0.0.1.
//   npx tsx bench/ssh.ts    (BENCH_SSH_MB=200 BENCH_SSH_SESSIONS=200 BENCH_SSH_BATCH=20 to change the sizes)
// Measures: bulk exec throughput (no pty: not recorded; with pty: recorded as asciicast), session
// setup time, keystroke echo latency (p50/p99), gateway RSS per idle session with N sessions open.
// Idle sessions are opened in batches of BENCH_SSH_BATCH: each batch finishes its handshakes
// (settled, failed or not) before the next starts. A session that fails is counted and the first
// error is shown; a row that fails shows "FAILED: <message>" and the bench goes on.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ssh2, { type Client, type ClientChannel } from 'ssh2';
import { stringify } from 'yaml';
import WebSocket from 'ws';
import { useClientCertificate } from '../src/proxy/ssh/ssh2-extensions.js';
import { createSshCa } from '../src/ssh-ca/ca.js';
import { generateEd25519, openSshPrivateKey, parsePublicKeyLine, publicKeyOf } from '../src/ssh-ca/keys.js';
import { closedPort, tcpReachable } from '../test/helpers/peers/services.js';
import { fetchUserCert, keygen, mintGatewayToken, NODE_LOGIN, prepareSshd, SSH_TEST_POLICY, type Sshd, writeClientConfig } from '../test/helpers/peers/ssh.js';
import { errorMessage, failedCells, failedRows, reportStrayErrors, row, tryRow } from './lib/rows.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const count = (name: string, fallback: number) => {
  const value = Math.floor(Number(process.env[name] ?? fallback));
  return Number.isFinite(value) && value > 0 ? value : fallback;
};
const MB = count('BENCH_SSH_MB', 200);
const SESSIONS = count('BENCH_SSH_SESSIONS', 200);
const BATCH = count('BENCH_SSH_BATCH', 20);
const ECHOES = 200;
/**
 * ssh2's handshake timeout per connection, and the limit for one whole idle session (two
 * handshakes, a shell, and the shell's startup files: the remote user's rc files may be slow).
 */
const READY_TIMEOUT_MS = 30_000;
const SESSION_TIMEOUT_MS = 120_000;
/** Any one `ssh` run (bulk, setup) or echo series is killed after this. */
const RUN_TIMEOUT_MS = 120_000;
const WATCHDOG_MS = 15 * 60_000;
const started = Date.now();

// ssh2 clients and ws live in this process: whatever escapes a row is printed, not fatal.
reportStrayErrors('bench/ssh');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mib = (n: number) => `${(n / 1048576).toFixed(0)} MiB`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
/** Rejects with `what` timed out after `ms`; the timer does not keep the process alive. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms / 1000} s`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const rows: string[][] = [];
function printTable(note?: string) {
  console.log(`\n### bench/ssh (${new Date().toISOString().slice(0, 10)}, ${MB} MB bulk, ${SESSIONS} sessions in batches of ${BATCH}, 127.0.0.1)\n`);
  console.log('| measure | direct to sshd | through Gatehouse | ratio |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log(`\n(${((Date.now() - started) / 1000).toFixed(0)} s${note ? `; ${note}` : ''})`);
}

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-ssh-'));
let gateway: ReturnType<typeof spawn> | undefined;
let sshd: Sshd | undefined;
/** Every ssh2 client this process opened, so all of them are closed whatever happened. */
const clients = new Set<Client>();
let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  for (const c of clients) c.end();
  gateway?.kill('SIGTERM');
  await sshd?.stop().catch((err: unknown) => process.stderr.write(`bench/ssh: stopping sshd: ${errorMessage(err)}\n`));
  rmSync(dir, { recursive: true, force: true });
}
const watchdog = setTimeout(() => {
  printTable(`watchdog: stopped after ${WATCHDOG_MS / 60_000} minutes`);
  void cleanup().finally(() => process.exit(2));
}, WATCHDOG_MS);
watchdog.unref();

async function main() {
  const node = await prepareSshd({
    skip: (r: string) => {
      throw new Error(r);
    },
  } as never);
  if (!node) throw new Error('sshd is not available');
  const [httpPort, sshPort] = [await closedPort(), await closedPort()];
  const url = `http://127.0.0.1:${httpPort}`;
  writeFileSync(
    join(dir, 'gatehouse.yaml'),
    stringify({
      server: { public_url: url, listen: `127.0.0.1:${httpPort}` },
      state: { data_dir: join(dir, 'data') },
      ...SSH_TEST_POLICY,
      ssh: { listen: `127.0.0.1:${sshPort}`, nodes: [{ name: 'node1', addr: `127.0.0.1:${node.port}`, labels: { env: 'dev' }, host_key: node.hostKey }] },
      recordings: { dir: join(dir, 'recordings'), max_bytes_per_session: '4GiB' },
    }),
  );
  // --inspect + --expose-gc: the bench asks the gateway for its memory after a full GC (heap numbers
  // are exact; RSS keeps whatever the heap once grew to).
  const gw = spawn(
    process.execPath,
    ['--expose-gc', '--inspect=127.0.0.1:0', '--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', join(dir, 'gatehouse.yaml')],
    { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LOG_LEVEL: 'error' } },
  );
  gateway = gw;
  let gatewayErr = '';
  let gatewayGone: string | undefined;
  gw.stderr!.on('data', (d: Buffer) => (gatewayErr += d.toString()));
  gw.on('error', (err) => (gatewayGone = `could not start the gateway: ${err.message}`));
  gw.on('exit', (code, signal) => (gatewayGone = `the gateway exited (${signal ?? code}): ${gatewayErr.slice(-500)}`));
  async function gatewayMemory(): Promise<{ rss: number; heapUsed: number; external: number }> {
    if (gatewayGone) throw new Error(gatewayGone);
    const ws = /ws:\/\/\S+/.exec(gatewayErr)?.[0];
    if (!ws) throw new Error(`no inspector URL: ${gatewayErr}`);
    const socket = new WebSocket(ws);
    socket.on('error', () => {}); // reported through the promises below
    try {
      await withTimeout(new Promise((r, j) => socket.once('open', r).once('error', j)), 10_000, 'inspector connect');
      const reply = new Promise<string>((r) => socket.once('message', (m) => r(String(m))));
      socket.send(
        JSON.stringify({ id: 1, method: 'Runtime.evaluate', params: { expression: 'gc(); gc(); JSON.stringify(process.memoryUsage())', returnByValue: true } }),
      );
      return JSON.parse(JSON.parse(await withTimeout(reply, 30_000, 'inspector reply')).result.result.value);
    } finally {
      socket.close();
    }
  }

  const gatewayDeadline = Date.now() + 60_000;
  while (!(await tcpReachable('127.0.0.1', sshPort, 200))) {
    if (gatewayGone) throw new Error(gatewayGone);
    if (Date.now() > gatewayDeadline) throw new Error(`the gateway's SSH listener did not come up within 60 s: ${gatewayErr.slice(-500)}`);
    await sleep(100);
  }
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
  const direct = await ca.signUser({
    publicKey: parsePublicKeyLine(readFileSync(`${directKey}.pub`, 'utf8')),
    keyId: 'bench',
    principals: [NODE_LOGIN],
    validAfter: now - 60,
    validBefore: now + 3600,
    extensions: { 'permit-pty': '' },
  });
  writeFileSync(`${directKey}-cert.pub`, `${direct.certType} ${direct.blob.toString('base64')}\n`);
  const directCfg = writeClientConfig(directDir, {
    key: directKey,
    knownHosts: join(dir, 'known_hosts'),
    proxy: 'unused:1',
    nodes: ['unused'],
    extra: [`Host node1`, `  HostName 127.0.0.1`, `  Port ${node.port}`],
  });
  // writeClientConfig's first block is for the jump; for direct, "node1" resolves through the extra Host block.
  writeFileSync(directCfg, readFileSync(directCfg, 'utf8').replace(/^Host unused[\s\S]*?Host \*/m, 'Host *'));
  const targets = { direct: directCfg, gatehouse: viaGateway };

  type Run = { ms: number; bytes: number; code: number | null; stderr: string };
  const run = (cfg: string, args: string[]) =>
    new Promise<Run>((resolve) => {
      const t0 = performance.now();
      const child = spawn('ssh', ['-F', cfg, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let bytes = 0;
      let stderr = '';
      const timer = setTimeout(() => {
        stderr += `(killed after ${RUN_TIMEOUT_MS / 1000} s)`;
        child.kill('SIGKILL');
      }, RUN_TIMEOUT_MS);
      child.stdout.on('data', (d: Buffer) => (bytes += d.length));
      child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-500)));
      child.on('error', (err) => (stderr += err.message));
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ ms: performance.now() - t0, bytes, code, stderr });
      });
    });
  const runs = async (n: number, f: () => Promise<Run>) => {
    const results: Run[] = [];
    for (let i = 0; i < n; i++) {
      const r = await f();
      if (r.code !== 0) throw new Error(`ssh exited ${r.code} (run ${i + 1} of ${n}): ${r.stderr.trim()}`);
      results.push(r);
    }
    return results.sort((a, b) => a.ms - b.ms);
  };
  const best = async (n: number, f: () => Promise<Run>) => (await runs(n, f))[0];
  const median = async (n: number, f: () => Promise<Run>) => (await runs(n, f))[Math.floor(n / 2)];

  // First, on a fresh gateway: memory with idle sessions (bulk runs would leave buffers behind).
  // Idle sessions: ssh2 clients do what `ssh -J` does (jump channel, inner SSH, shell with a pty).
  const sessionKey = generateEd25519();
  const sessionCert = await (async () => {
    const res = await fetch(`${url}/api/v1/ssh/certs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ public_key: `ssh-ed25519 ${publicKeyOf(sessionKey).blob.toString('base64')}` }),
    });
    if (res.status !== 201) throw new Error(`session certificate: ${res.status} ${await res.text()}`);
    const line = ((await res.json()) as { certificate: string }).certificate.split(' ');
    return { certType: line[0], blob: Buffer.from(line[1], 'base64') };
  })();
  const connect = (sock?: NodeJS.ReadWriteStream): Promise<Client> =>
    new Promise((resolve, reject) => {
      const c = new ssh2.Client();
      clients.add(c);
      let ready = false;
      // Listening for the whole life of the client: an error after `ready` (a session dropped
      // while idle) must not become an uncaught 'error' event.
      c.on('error', (err) => {
        if (!ready) reject(err);
      });
      c.once('close', () => {
        clients.delete(c);
        if (!ready) reject(new Error('connection closed before the handshake finished'));
      });
      c.once('ready', () => {
        ready = true;
        resolve(c);
      });
      const k = generateEd25519();
      c.connect({
        ...(sock ? { sock: sock as never } : { host: '127.0.0.1', port: sshPort }),
        username: NODE_LOGIN,
        authHandler: [{ type: 'publickey', username: NODE_LOGIN, key: openSshPrivateKey(k) } as never],
        hostVerifier: () => true,
        readyTimeout: READY_TIMEOUT_MS,
      });
      useClientCertificate(c, { certType: sessionCert.certType, blob: sessionCert.blob, privateKey: sessionKey });
    });
  const openSession = async (): Promise<Client[]> => {
    const opened: Client[] = [];
    try {
      const outer = await connect();
      opened.push(outer);
      const channel = await new Promise<NodeJS.ReadWriteStream>((resolve, reject) =>
        outer.forwardOut('127.0.0.1', 0, 'node1', 22, (err, s) => (err ? reject(err) : resolve(s))),
      );
      const inner = await connect(channel);
      opened.push(inner);
      const shell = await new Promise<ClientChannel>((resolve, reject) =>
        inner.shell({ term: 'xterm', rows: 24, cols: 80 }, (err, s) => (err ? reject(err) : resolve(s))),
      );
      // Idle means the shell has finished starting and answers a command. Closing shells that are
      // still in their startup files can kill those halfway (a `pyenv init` in root's .bashrc left a
      // stale lock behind that made every later shell wait 60 s); it would also measure less.
      await new Promise<void>((resolve, reject) => {
        let out = '';
        const onData = (d: Buffer) => {
          out = (out + d.toString('latin1')).slice(-200);
          if (!out.includes('gh-bench-42-ready')) return;
          shell.off('data', onData);
          resolve();
        };
        shell.on('data', onData);
        shell.on('error', reject);
        shell.once('close', () => reject(new Error('the shell closed before it answered')));
        shell.write('echo gh-bench-$((6*7))-ready\n'); // the pty echoes the command; only the shell's answer has 42
      });
      return opened;
    } catch (err) {
      for (const c of opened) c.end();
      throw err;
    }
  };
  /** Opens `n` idle sessions, `BATCH` at a time; failures are counted, never thrown. */
  const openSessions = async (n: number) => {
    const open: Client[][] = [];
    let failed = 0;
    let firstError: string | undefined;
    for (let i = 0; i < n; i += BATCH) {
      const batch = await Promise.allSettled(
        Array.from({ length: Math.min(BATCH, n - i) }, () => withTimeout(openSession(), SESSION_TIMEOUT_MS, 'idle session setup')),
      );
      for (const r of batch) {
        if (r.status === 'fulfilled') open.push(r.value);
        else {
          failed++;
          firstError ??= errorMessage(r.reason);
        }
      }
      if (n > BATCH) process.stderr.write(`bench/ssh: idle sessions: ${open.length} open, ${failed} failed of ${Math.min(n, i + BATCH)} tried\n`);
    }
    return { open, failed, firstError, close: () => open.flat().forEach((c) => c.end()) };
  };

  const sessionsLabel = `idle sessions opened (batches of ${BATCH})`;
  const idle = await tryRow(sessionsLabel, async () => {
    (await openSessions(Math.min(5, SESSIONS))).close(); // warm-up
    await sleep(2000);
    const before = await gatewayMemory();
    const sessions = await openSessions(SESSIONS);
    try {
      await sleep(1500);
      return { before, after: await gatewayMemory(), sessions };
    } finally {
      sessions.close();
    }
  });
  if (idle.ok) {
    const { before, after, sessions } = idle.value;
    const opened = sessions.open.length;
    const live = (m: typeof after) => m.heapUsed + m.external;
    rows.push([
      sessionsLabel,
      '—',
      `${opened} of ${SESSIONS} open; ${sessions.failed} failed${sessions.firstError ? ` (first error: ${sessions.firstError})` : ''}`,
      '',
    ]);
    rows.push([`gateway RSS with ${opened} idle sessions (recorded shells)`, '—', `${mib(after.rss)} (before: ${mib(before.rss)})`, '']);
    rows.push([
      'gateway memory per idle session (heap + external after GC)',
      '—',
      opened ? `${((live(after) - live(before)) / opened / 1024).toFixed(0)} KiB` : 'n/a (no session opened)',
      'Teleport: ~64 MiB',
    ]);
    if (sessions.failed > 0) process.exitCode = 1;
  } else {
    rows.push(failedCells(sessionsLabel, idle.cell, 4));
  }
  await sleep(500); // let the closed sessions go before the next measurement

  // Session setup: `ssh node true`, median of 7.
  rows.push(
    await row('session setup (`ssh node true`, median of 7)', 4, async () => {
      const d = await median(7, () => run(targets.direct, [`${NODE_LOGIN}@node1`, 'true']));
      const g = await median(7, () => run(targets.gatehouse, [`${NODE_LOGIN}@node1`, 'true']));
      return [`${d.ms.toFixed(0)} ms`, `${g.ms.toFixed(0)} ms`, ratio(g.ms, d.ms)];
    }),
  );

  // Bulk: exec without a pty (not recorded), then with a pty (recorded by the gateway).
  const bulk = `head -c ${MB}M /dev/zero`;
  const text = `yes abcdefghijklmnopqrstuvwxyz0123456789 | head -c ${Math.round(MB / 2)}M`;
  for (const [name, args, size] of [
    [`bulk exec, no pty, ${MB} MB (not recorded)`, [`${NODE_LOGIN}@node1`, bulk], MB],
    [`bulk exec with pty, ${Math.round(MB / 2)} MB of text (recorded)`, ['-tt', `${NODE_LOGIN}@node1`, text], Math.round(MB / 2)],
  ] as const) {
    rows.push(
      await row(name, 4, async () => {
        const d = await best(2, () => run(targets.direct, [...args]));
        const g = await best(2, () => run(targets.gatehouse, [...args]));
        const mbps = (r: { ms: number }) => size / (r.ms / 1000);
        return [`${mbps(d).toFixed(0)} MB/s`, `${mbps(g).toFixed(0)} MB/s`, ratio(mbps(g), mbps(d))];
      }),
    );
  }

  // Keystroke echo: one byte in, wait for it back (remote pty in raw mode, cat echoes it).
  const echo = async (cfg: string) => {
    const child = spawn('ssh', ['-F', cfg, '-tt', `${NODE_LOGIN}@node1`, 'stty raw -echo; echo READY; cat'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let seen = '';
    let stderr = '';
    let exited: string | undefined;
    let waiting: (() => void) | undefined;
    child.stdout.on('data', (d: Buffer) => {
      seen += d.toString('latin1');
      waiting?.();
    });
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-500)));
    child.stdin.on('error', () => {}); // the exit below says what happened
    const gone = (why: string) => {
      exited ??= why;
      waiting?.();
    };
    child.on('error', (err) => gone(err.message));
    child.on('close', (code) => gone(`ssh exited ${code}: ${stderr.trim()}`));
    const timer = setTimeout(() => {
      gone(`timed out after ${RUN_TIMEOUT_MS / 1000} s`);
      child.kill('SIGKILL');
    }, RUN_TIMEOUT_MS);
    const waitFor = async (mark: string) => {
      while (!seen.includes(mark)) {
        if (exited) throw new Error(exited);
        await new Promise<void>((r) => (waiting = r));
      }
    };
    try {
      await waitFor('READY');
      const samples: number[] = [];
      for (let i = 0; i < ECHOES; i++) {
        const mark = String.fromCharCode(97 + (i % 26));
        seen = '';
        const t0 = performance.now();
        child.stdin.write(mark);
        await waitFor(mark);
        samples.push(performance.now() - t0);
      }
      samples.sort((a, b) => a - b);
      return { p50: samples[Math.floor(ECHOES * 0.5)], p99: samples[Math.floor(ECHOES * 0.99)] };
    } finally {
      clearTimeout(timer);
      child.kill();
    }
  };
  const e = {
    direct: await tryRow('keystroke echo, direct', () => echo(targets.direct)),
    gatehouse: await tryRow('keystroke echo, through Gatehouse', () => echo(targets.gatehouse)),
  };
  for (const [label, p] of [
    [`keystroke echo p50 (${ECHOES} keys)`, 'p50'],
    ['keystroke echo p99', 'p99'],
  ] as const) {
    const cell = (r: typeof e.direct) => (r.ok ? `${r.value[p].toFixed(2)} ms` : r.cell);
    const added = e.direct.ok && e.gatehouse.ok ? `+${(e.gatehouse.value[p] - e.direct.value[p]).toFixed(2)} ms` : '';
    rows.push([label, cell(e.direct), cell(e.gatehouse), added]);
  }
}

main()
  .catch((err: unknown) => {
    process.exitCode = 1;
    process.stderr.write(`bench/ssh: setup failed, no measurements: ${err instanceof Error && err.stack ? err.stack : String(err)}\n`);
    rows.push(failedCells('setup (sshd, gateway, certificates)', `FAILED: ${errorMessage(err)}`, 4));
  })
  .then(async () => {
    printTable();
    if (failedRows > 0) process.exitCode = 1;
    await cleanup();
    clearTimeout(watchdog);
  });
