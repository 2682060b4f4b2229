/**
 * HTTP app proxy benchmark: one run, same upstream (a small node:http server in its own process,
 * answering a 12-byte and a 64 KB body), wrk -t1 -c50 for a few seconds per scenario:
 *   direct             wrk → upstream
 *   nginx proxy_pass   wrk → nginx (keepalive upstream) → upstream
 *   gatehouse proxy    wrk → Gatehouse path app with a signed-in session → upstream
 *   nginx + verify     wrk → nginx auth_request → Gatehouse /auth/verify, then nginx → upstream
 *   minimal node proxy wrk → 10 lines of node:http (keep-alive agent, pipe) → upstream: the floor
 *                      for any proxy built on node:http, to tell Gatehouse's own cost from Node's
 * Prints requests/s, p50 and p99 for each, with ratios to direct and to nginx and the CPU time
 * per request of each proxy process, and checks the targets: Gatehouse ≥ 60% of nginx's proxied
 * throughput, ≤ 2 ms p99 over direct. Then the latency the hop itself adds, on one connection.
 *
 * Run: npx tsx bench/http-proxy.ts   (needs wrk and nginx from Debian; BENCH_SECONDS=4 by default)
 * A scenario that fails shows "FAILED: <message>" in its row (ratios against it read n/a) and the
 * bench goes on with the next one.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { alice, startAppsGateway } from '../test/helpers/gateways/apps.js';
import { findNginx, startNginx } from '../test/helpers/peers/nginx.js';
import { closedPort, tcpReachable } from '../test/helpers/peers/services.js';
import { cpuTimeMs, processTreeCpuMs } from './lib/children.js';
import { failedRows, reportStrayErrors, tryRow } from './lib/rows.js';
import { ACCEPT_HTML, Browser } from '../test/helpers/browsers/browser.js';
import { openSignedIn } from '../test/helpers/browsers/sign-in.js';

// The gateway under test runs in this process: whatever escapes a row is printed, not fatal.
reportStrayErrors('bench/http-proxy');

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const CONNECTIONS = 50;

const UPSTREAM = `
const http = require('node:http');
const small = Buffer.from('hello world\\n');
const big = Buffer.alloc(64 * 1024, 120);
const server = http.createServer((req, res) => {
  const body = req.url.endsWith('/big') ? big : small;
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 65000;
server.listen(Number(process.env.PORT), '127.0.0.1');
`;

/** The least any Node proxy does (keep-alive agent, pipe both ways, no checks): where node:http itself stands. */
const MINIMAL_NODE_PROXY = `
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
http.createServer((req, res) => {
  const up = http.request({ agent, host: '127.0.0.1', port: Number(process.env.UPSTREAM), method: req.method, path: req.url, headers: req.headers }, (ur) => {
    res.writeHead(ur.statusCode, ur.headers);
    ur.pipe(res);
  });
  up.on('error', () => res.destroy());
  req.pipe(up);
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

interface Row {
  scenario: string;
  body: string;
  /** Undefined when the scenario failed (then `error` says why). */
  r?: Result;
  error?: string;
  /** CPU µs per request of each process between wrk and the upstream (nginx, then Gatehouse). */
  proxyUs: number[];
  upstreamUs: number;
}

interface Result {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

/** wrk's latency values: "812.00us", "1.23ms", "1.01s". */
function ms(value: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(value.trim());
  if (!m) throw new Error(`cannot parse latency "${value}"`);
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2] as 'us' | 'ms' | 's' | 'm'];
}

/** Runs wrk as a child without blocking this process's event loop (Gatehouse runs in it). */
async function wrk(url: string, headers: Record<string, string> = {}, connections = CONNECTIONS): Promise<Result> {
  const args = ['-t1', `-c${connections}`, `-d${SECONDS}s`, '--latency', ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url];
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (text += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`wrk failed: ${stderr}`);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const p50 = ms(/\s50%\s+(\S+)/.exec(text)![1]);
  const p99 = ms(/\s99%\s+(\S+)/.exec(text)![1]);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const errors = non2xx + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { requests, rps, p50, p99, errors };
}

async function main() {
  if (spawnSync('wrk', ['--version']).error) throw new Error('wrk is not installed (apt-get install wrk)');
  const nginxBin = findNginx();
  if (!nginxBin) throw new Error('nginx is not installed (apt-get install nginx)');

  const upstreamPort = await closedPort();
  const upstream = spawn(process.execPath, ['-e', UPSTREAM], { env: { ...process.env, PORT: String(upstreamPort) }, stdio: 'inherit' });
  while (!(await tcpReachable('127.0.0.1', upstreamPort, 200))) await new Promise((r) => setTimeout(r, 50));
  const direct = `http://127.0.0.1:${upstreamPort}`;
  const minimalPort = await closedPort();
  const minimal = spawn(process.execPath, ['-e', MINIMAL_NODE_PROXY], {
    env: { ...process.env, PORT: String(minimalPort), UPSTREAM: String(upstreamPort) },
    stdio: 'inherit',
  });
  while (!(await tcpReachable('127.0.0.1', minimalPort, 200))) await new Promise((r) => setTimeout(r, 50));

  const setup = await startAppsGateway([{ name: 'bench', upstream: direct, path: '/apps/bench/', trust_gateway_origin: true, roles: ['dev'] }]);
  const gw = setup.gw.url;
  // Without a session the Gatehouse rows fail (with this error); the others still run.
  const signIn = await tryRow('sign-in', async () => {
    const browser = new Browser({ accept: ACCEPT_HTML });
    const page = await openSignedIn(browser, `${gw}/apps/bench/small`, alice);
    if (page.status !== 200) throw new Error(`sign-in failed: ${page.status}`);
    return `gatehouse_session=${browser.cookies('127.0.0.1').gatehouse_session}`;
  });
  const cookie = signIn.ok ? signIn.value : '';
  const needsSession = (scenario: string) => scenario.includes('gatehouse');

  const nginx = await startNginx(
    nginxBin,
    `
  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  upstream gatehouse { server 127.0.0.1:${new URL(gw).port}; keepalive 64; }
  server {
    listen 127.0.0.1:{{PORT}};
    proxy_http_version 1.1;
    location /direct/ {
      proxy_set_header Connection "";
      proxy_pass http://app;
    }
    location /verified/ {
      auth_request /.gatehouse-verify;
      auth_request_set $gatehouse_user $upstream_http_x_auth_request_user;
      auth_request_set $gatehouse_assertion $upstream_http_gatehouse_jwt_assertion;
      proxy_set_header X-Forwarded-User $gatehouse_user;
      proxy_set_header Gatehouse-Jwt-Assertion $gatehouse_assertion;
      proxy_set_header Connection "";
      proxy_pass http://app;
    }
    location = /.gatehouse-verify {
      internal;
      proxy_pass http://gatehouse/auth/verify?app=bench;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Connection "";
    }
  }`,
  );
  const ng = `http://127.0.0.1:${nginx.port}`;

  // CPU per request of whatever sits between wrk and the upstream: the comparison that noise on a
  // shared machine moves least. Gatehouse runs in this process, which only waits for wrk meanwhile.
  const gatehouseCpu = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  };
  const nginxCpu = () => processTreeCpuMs(nginx.pid) ?? NaN;
  const minimalCpu = () => cpuTimeMs(minimal.pid) ?? NaN;
  const upstreamCpu = () => cpuTimeMs(upstream.pid) ?? NaN;

  const rows: Row[] = [];
  const unloaded: { scenario: string; r?: Result; error?: string }[] = [];
  try {
    for (const [body, path] of [
      ['12 B', 'small'],
      ['64 KB', 'big'],
    ] as const) {
      const measure = async (scenario: string, url: string, proxyCpu: (() => number)[], headers?: Record<string, string>) => {
        const result = await tryRow(`${scenario}, ${body}`, async () => {
          if (needsSession(scenario) && !signIn.ok) throw new Error(`no session: ${signIn.error}`);
          const before = proxyCpu.map((f) => f());
          const upBefore = upstreamCpu();
          const r = await wrk(url, headers);
          const perRequest = (ms: number) => (ms * 1000) / r.requests;
          const proxyUs = proxyCpu.map((f, i) => perRequest(f() - before[i]));
          return { r, proxyUs, upstreamUs: perRequest(upstreamCpu() - upBefore) };
        });
        rows.push(result.ok ? { scenario, body, ...result.value } : { scenario, body, error: result.cell, proxyUs: [], upstreamUs: NaN });
      };
      await measure('direct', `${direct}/${path}`, []);
      await measure('nginx proxy_pass', `${ng}/direct/${path}`, [nginxCpu]);
      await measure('minimal node:http proxy', `http://127.0.0.1:${minimalPort}/${path}`, [minimalCpu]);
      await measure('gatehouse proxy', `${gw}/apps/bench/${path}`, [gatehouseCpu], { cookie });
      await measure('nginx auth_request + gatehouse /auth/verify', `${ng}/verified/${path}`, [nginxCpu, gatehouseCpu], { cookie });
    }
    // The hop's own latency, without queueing: one connection, one request at a time.
    for (const [scenario, url, headers] of [
      ['direct', `${direct}/small`, {}],
      ['nginx proxy_pass', `${ng}/direct/small`, {}],
      ['gatehouse proxy', `${gw}/apps/bench/small`, { cookie }],
    ] as const) {
      const result = await tryRow(`${scenario}, one connection`, () => {
        if (needsSession(scenario) && !signIn.ok) throw new Error(`no session: ${signIn.error}`);
        return wrk(url, headers, 1);
      });
      unloaded.push(result.ok ? { scenario, r: result.value } : { scenario, error: result.cell });
    }
  } finally {
    await nginx.stop();
    await setup.stop();
    upstream.kill();
    minimal.kill();
  }

  const lines = [
    `wrk -t1 -c${CONNECTIONS} -d${SECONDS}s per scenario, 127.0.0.1, Node ${process.version}, ${cpus().length} cores`,
    '',
    '| scenario | body | req/s | p50 ms | p99 ms | vs direct | vs nginx | proxy CPU µs/req | upstream CPU µs/req | errors |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  /** The result of one scenario and body, undefined when it failed. */
  const get = (body: string, scenario: string) => rows.find((x) => x.body === body && x.scenario === scenario)?.r;
  /** a / b to `digits`, or n/a when either side is missing (a failed row). */
  const over = (a: number | undefined, b: number | undefined, digits = 2) =>
    a === undefined || b === undefined || !Number.isFinite(a / b) ? 'n/a' : (a / b).toFixed(digits);
  for (const { scenario, body, r, error, proxyUs, upstreamUs } of rows) {
    if (!r) {
      lines.push(`| ${scenario} | ${body} | ${error} | | | | | | | |`);
      continue;
    }
    const d = get(body, 'direct');
    const n = get(body, 'nginx proxy_pass');
    lines.push(
      `| ${scenario} | ${body} | ${Math.round(r.rps)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${over(r.rps, d?.rps)} | ${over(r.rps, n?.rps)} | ${proxyUs.map((us) => us.toFixed(1)).join(' + ') || '–'} | ${upstreamUs.toFixed(1)} | ${r.errors} |`,
    );
  }
  lines.push('', 'Targets (issue 7): Gatehouse proxy ≥ 0.60 × nginx proxy_pass req/s; p99 ≤ direct p99 + 2 ms.');
  for (const body of ['12 B', '64 KB']) {
    const g = get(body, 'gatehouse proxy');
    const n = get(body, 'nginx proxy_pass');
    const d = get(body, 'direct');
    const m = get(body, 'minimal node:http proxy');
    if (!g || !n || !d || !m) {
      lines.push(`- ${body}: n/a (a row it needs failed)`);
      continue;
    }
    const ratio = g.rps / n.rps;
    const added = g.p99 - d.p99;
    const cpu = (s: string) => rows.find((x) => x.body === body && x.scenario === s)!.proxyUs[0];
    lines.push(
      `- ${body}: ${ratio.toFixed(2)} × nginx (${ratio >= 0.6 ? 'met' : 'NOT met'}), p99 +${added.toFixed(2)} ms over direct (${added <= 2 ? 'met' : 'NOT met'}); ` +
        `${over(g.rps, m.rps)} × the minimal node:http proxy; CPU per request ${over(cpu('gatehouse proxy'), cpu('nginx proxy_pass'), 1)} × nginx's`,
    );
  }
  const d1 = unloaded.find((x) => x.scenario === 'direct')?.r;
  const added = (a: number, b: number | undefined) => (b === undefined ? 'n/a' : (a - b).toFixed(3));
  lines.push(
    '',
    `One connection (no queueing), 12 B, ${SECONDS} s each:`,
    '',
    '| scenario | req/s | p50 ms | p99 ms | p50 added | p99 added |',
    '|---|---:|---:|---:|---:|---:|',
  );
  for (const { scenario, r, error } of unloaded) {
    if (!r) lines.push(`| ${scenario} | ${error} | | | | |`);
    else lines.push(`| ${scenario} | ${Math.round(r.rps)} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${added(r.p50, d1?.p50)} | ${added(r.p99, d1?.p99)} |`);
  }
  console.log(lines.join('\n'));
  if (failedRows > 0) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
