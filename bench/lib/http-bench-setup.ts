// Everything bench/http-proxy measures, started once: the upstream, the two no-checks floors,
// Redis, one IdP (the embedded oidc-provider, with real login forms) with a client for Gatehouse
// and one per oauth2-proxy, the Gatehouse gateway in its own process, oauth2-proxy with cookie
// sessions, with Redis sessions and with GOMAXPROCS=1, and one nginx with a location per
// scenario. Each signed-in cookie comes from a real login through the IdP's forms.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedIdp } from '../../src/demo-idp/server.js';
import { ACCEPT_HTML, Browser } from '../../test/helpers/browsers/browser.js';
import { openSignedIn } from '../../test/helpers/browsers/sign-in.js';
import { alice } from '../../test/helpers/gateways/sso.js';
import { findNginx, gatehouseAuthCache, startNginx } from '../../test/helpers/peers/nginx.js';
import { findOauth2Proxy, reserveOauth2Proxy, signInThroughOauth2Proxy, startOauth2Proxy, type Oauth2Proxy } from '../../test/helpers/peers/oauth2-proxy.js';
import { startRedisServer, stopRedisServer } from '../../test/helpers/peers/redis-server.js';
import { closedPort, findBinary } from '../../test/helpers/peers/services.js';
import { cpuTimeMs, processTreeCpuMs, startServer, type BenchServer } from './children.js';
import { dropKeys } from './redis.js';
import { tryRow } from './rows.js';

/** A process whose CPU a row reports per request. */
export interface CpuMeter {
  name: string;
  ms(): number;
}

/** A signed-in gateway, or why there is none (its rows then fail with that message). */
export type Maybe<T> = { ok: true; value: T } | { ok: false; error: string };

export interface GatewayUnderTest {
  server: BenchServer;
  url: string;
  cookie: string;
  cpu: CpuMeter;
}

export interface Oauth2ProxyUnderTest {
  proxy: Oauth2Proxy;
  cookie: string;
  cpu: CpuMeter;
}

export interface Floor {
  url: string;
  cpu: CpuMeter;
  server: BenchServer;
}

export interface HttpBench {
  upstream: { url: string; cpu: CpuMeter };
  /** The no-checks proxies; `server` for their loop probe. */
  floors: { nodeHttp: Floor; undici: Floor };
  gateway: Maybe<GatewayUnderTest>;
  /** More gateways, side by side with the first: with `server.workers`, or another checkout's. */
  variants: { variant: GatewayVariant; gateway: Maybe<GatewayUnderTest> }[];
  oauth2Proxy: { cookie: Maybe<Oauth2ProxyUnderTest>; redis: Maybe<Oauth2ProxyUnderTest>; oneCore: Maybe<Oauth2ProxyUnderTest> };
  redis?: CpuMeter;
  nginx: { url: string; cpu: CpuMeter };
  stop(): Promise<void>;
}

const meter = (name: string, pid: number | undefined, tree = false): CpuMeter => ({
  name,
  ms: () => (pid === undefined ? NaN : ((tree ? processTreeCpuMs(pid) : cpuTimeMs(pid)) ?? NaN)),
});

const unwrap = <T>(r: { ok: true; value: T } | { ok: false; error: string }): Maybe<T> => (r.ok ? r : { ok: false, error: r.error });

/** A gateway next to the default one: `workers` sets `server.workers`; `tree` runs another checkout's (it needs this bench/lib). */
export interface GatewayVariant {
  label: string;
  workers?: number;
  tree?: string;
}

export async function startHttpBench(o: { variants: GatewayVariant[] }): Promise<HttpBench> {
  const nginxBin = findNginx();
  if (!nginxBin) throw new Error('nginx is not installed (apt-get install nginx)');
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((err: unknown) => console.error('bench: stop failed:', err));
  };
  try {
    const upstream = await startServer(new URL('./http-upstream.ts', import.meta.url));
    stops.push(() => upstream.stop());
    const upstreamPort = new URL(upstream.ready.url).port;
    const floor = async (kind: string) => {
      const s = await startServer(new URL('./bare-proxy.ts', import.meta.url), { BENCH_PROXY: kind, BENCH_UPSTREAM: upstreamPort });
      stops.push(() => s.stop());
      return { url: s.ready.url, cpu: meter(kind === 'undici' ? 'undici proxy' : 'node proxy', s.child.pid), server: s };
    };
    const floors = { nodeHttp: await floor('node-http'), undici: await floor('undici') };

    // Redis: our own (so its CPU is measured) when redis-server is installed, else the test one.
    const redisBin = findBinary(['redis-server', '/usr/bin/redis-server'], ['--version']);
    let redisUrl: string | undefined;
    let redis: CpuMeter | undefined;
    const prefix = `gatehouse-bench:${randomBytes(6).toString('hex')}:`;
    if (redisBin) {
      const port = await closedPort();
      const child = await startRedisServer(redisBin, port);
      stops.push(() => stopRedisServer(child));
      redisUrl = `redis://127.0.0.1:${port}`;
      redis = meter('redis', child.pid);
    } else if (process.env.GATEHOUSE_TEST_REDIS_URL) {
      redisUrl = process.env.GATEHOUSE_TEST_REDIS_URL;
      stops.push(() => dropKeys(prefix, redisUrl));
    }

    // One IdP for everyone; each client's redirect URI is known before it starts.
    const gatewayPort = await closedPort();
    const opBin = findOauth2Proxy();
    const reservations = {
      cookie: await reserveOauth2Proxy('op-cookie'),
      redis: await reserveOauth2Proxy('op-redis'),
      oneCore: await reserveOauth2Proxy('op-1core'),
    };
    const gatewayClient = (port: number, id: string) => ({
      client_id: id,
      client_secret: randomBytes(18).toString('base64url'),
      redirect_uris: [`http://127.0.0.1:${port}/callback/corp`],
    });
    const clients = { gateway: gatewayClient(gatewayPort, 'gatehouse') };
    const variantPorts = await Promise.all(o.variants.map(() => closedPort()));
    const variantClients = variantPorts.map((port, i) => gatewayClient(port, `gatehouse-variant-${i}`));
    const idp = await startEmbeddedIdp({
      users: [alice],
      clients: [clients.gateway, ...variantClients, reservations.cookie.client, reservations.redis.client, reservations.oneCore.client],
      idTokenTtlSeconds: 3600,
    });
    stops.push(() => idp.close());

    const startGatehouse = async (port: number, client: typeof clients.gateway, variant?: GatewayVariant): Promise<GatewayUnderTest> => {
      const workers = variant?.workers;
      const url = `http://127.0.0.1:${port}`;
      const dataDir = mkdtempSync(join(tmpdir(), 'gh-bench-http-'));
      stops.push(async () => rmSync(dataDir, { recursive: true, force: true }));
      // Several workers need the shared store and an audit log with several writers (PostgreSQL).
      const pgUrl = process.env.GATEHOUSE_TEST_PG_URL;
      if (workers && workers > 1 && (!redisUrl || !pgUrl))
        throw new Error('server.workers > 1 needs Redis and PostgreSQL: run `node scripts/test-services.mjs` and export what it prints');
      const config = {
        server: { public_url: url, listen: `127.0.0.1:${port}`, rate_limit: { login_per_minute: 1000 }, ...(workers ? { workers } : {}) },
        state: redisUrl ? { redis_url: redisUrl, redis_prefix: prefix } : {},
        ...(workers && workers > 1 ? { audit: { backend: 'postgres', postgres_url: pgUrl, postgres_schema: `bench_${randomBytes(4).toString('hex')}` } } : {}),
        connectors: [
          {
            type: 'oidc',
            id: 'corp',
            name: 'Corp SSO',
            issuer: idp.issuer,
            ...client,
            redirect_uris: undefined,
            scopes: ['openid', 'email', 'profile', 'groups'],
          },
        ],
        roles: [{ name: 'dev' }],
        mappings: [{ match: { claim: 'groups', value: 'devs' }, roles: ['dev'] }],
        apps: [
          { name: 'bench', upstream: upstream.ready.url, path: '/apps/bench/', trust_gateway_origin: true, roles: ['dev'] },
          { name: 'audited', upstream: upstream.ready.url, path: '/apps/audited/', trust_gateway_origin: true, roles: ['dev'], audit_requests: true },
        ],
      };
      const script = variant?.tree ? new URL(`file://${variant.tree}/bench/lib/apps-gateway-server.ts`) : new URL('./apps-gateway-server.ts', import.meta.url);
      const server = await startServer(script, { BENCH_GATEWAY_CONFIG: JSON.stringify(config), BENCH_DATA_DIR: dataDir });
      stops.push(() => server.stop());
      const browser = new Browser({ accept: ACCEPT_HTML });
      const page = await openSignedIn(browser, `${url}/apps/bench/small`, alice);
      if (page.status !== 200) throw new Error(`sign-in through Gatehouse failed: ${page.status}`);
      return { server, url, cookie: `gatehouse_session=${browser.cookies('127.0.0.1').gatehouse_session}`, cpu: meter('gatehouse', server.child.pid, true) };
    };
    const gateway = unwrap(await tryRow('gatehouse', () => startGatehouse(gatewayPort, clients.gateway)));
    const variants: HttpBench['variants'] = [];
    for (const [i, variant] of o.variants.entries()) {
      variants.push({
        variant,
        gateway: unwrap(await tryRow(`gatehouse, ${variant.label}`, () => startGatehouse(variantPorts[i], variantClients[i], variant))),
      });
    }

    const startOp = async (r: typeof reservations.cookie, sessions: 'cookie' | 'redis', gomaxprocs?: number): Promise<Oauth2ProxyUnderTest> => {
      if (!opBin) throw new Error('oauth2-proxy is not installed (scripts/fetch-peers.sh)');
      if (sessions === 'redis' && !redisUrl) throw new Error('no Redis: install redis-server or set GATEHOUSE_TEST_REDIS_URL');
      const proxy = await startOauth2Proxy(opBin, {
        ...r,
        issuer: idp.issuer,
        upstream: upstream.ready.url,
        sessions: sessions === 'redis' ? { store: 'redis', url: redisUrl! } : { store: 'cookie' },
        gomaxprocs,
      });
      stops.push(() => proxy.stop());
      const signedIn = await signInThroughOauth2Proxy(new Browser({ accept: ACCEPT_HTML }), proxy, '/small', alice);
      if (signedIn.status !== 200 || !signedIn.cookie)
        throw new Error(`sign-in through oauth2-proxy failed: ${signedIn.status} ${signedIn.body.slice(0, 200)}`);
      return { proxy, cookie: signedIn.cookie, cpu: meter('oauth2-proxy', proxy.pid) };
    };
    const oauth2Proxy = {
      cookie: unwrap(await tryRow('oauth2-proxy, cookie sessions', () => startOp(reservations.cookie, 'cookie'))),
      redis: unwrap(await tryRow('oauth2-proxy, Redis sessions', () => startOp(reservations.redis, 'redis'))),
      oneCore: unwrap(await tryRow('oauth2-proxy, GOMAXPROCS=1', () => startOp(reservations.oneCore, 'cookie', 1))),
    };

    const nginx = await startNginx(nginxBin, nginxConfig(upstreamPort, gateway, variants, oauth2Proxy));
    stops.push(() => nginx.stop());
    return {
      upstream: { url: upstream.ready.url, cpu: meter('upstream', upstream.child.pid) },
      floors,
      gateway,
      variants,
      oauth2Proxy,
      redis,
      nginx: { url: `http://127.0.0.1:${nginx.port}`, cpu: meter('nginx', nginx.pid, true) },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** nginx: plain proxy_pass, and auth_request against each forward-auth peer (a missing peer's locations point at a closed port). */
function nginxConfig(upstreamPort: string, gateway: Maybe<GatewayUnderTest>, variants: HttpBench['variants'], op: HttpBench['oauth2Proxy']): string {
  const port = (m: Maybe<{ url: string } | { proxy: Oauth2Proxy }> | undefined) =>
    m?.ok ? new URL('url' in m.value ? m.value.url : m.value.proxy.url).port : '9';
  const cache = gatehouseAuthCache();
  const guarded = (path: string, verify: string) => `
    location ${path} {
      auth_request ${verify};
      auth_request_set $auth_user $upstream_http_x_auth_request_user;
      auth_request_set $auth_assertion $upstream_http_gatehouse_jwt_assertion;
      proxy_set_header X-Forwarded-User $auth_user;
      proxy_set_header Gatehouse-Jwt-Assertion $auth_assertion;
      proxy_set_header Connection "";
      proxy_pass http://app;
    }`;
  const verify = (path: string, target: string, extra = '') => `
    location = ${path} {
      internal;
      proxy_pass ${target};
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Connection "";${extra}
    }`;
  return `
  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  upstream gatehouse { server 127.0.0.1:${port(gateway)}; keepalive 64; }
${variants
  .map(
    (v, i) => `  upstream gatehouse_v${i} { server 127.0.0.1:${port(v.gateway)}; keepalive 64; }
`,
  )
  .join('')}  upstream op_cookie { server 127.0.0.1:${port(op.cookie)}; keepalive 64; }
  upstream op_redis { server 127.0.0.1:${port(op.redis)}; keepalive 64; }
  upstream op_1core { server 127.0.0.1:${port(op.oneCore)}; keepalive 64; }
  ${cache.http}
  server {
    listen 127.0.0.1:{{PORT}};
    proxy_http_version 1.1;
    location /direct/ {
      proxy_set_header Connection "";
      proxy_pass http://app;
    }
    ${guarded('/verified/', '/.gatehouse-verify')}
    ${guarded('/verified-cached/', '/.gatehouse-verify-cached')}
    ${variants.map((_, i) => guarded(`/verified-v${i}/`, `/.gatehouse-verify-v${i}`)).join('')}
    ${guarded('/op-cookie/', '/.op-cookie-auth')}
    ${guarded('/op-redis/', '/.op-redis-auth')}
    ${guarded('/op-1core/', '/.op-1core-auth')}
    ${verify('/.gatehouse-verify', 'http://gatehouse/auth/verify?app=bench')}
    ${verify('/.gatehouse-verify-cached', 'http://gatehouse/auth/verify?app=bench', `\n      include ${cache.locationFile};`)}
    ${variants.map((_, i) => verify(`/.gatehouse-verify-v${i}`, `http://gatehouse_v${i}/auth/verify?app=bench`)).join('')}
    ${verify('/.op-cookie-auth', 'http://op_cookie/oauth2/auth')}
    ${verify('/.op-redis-auth', 'http://op_redis/oauth2/auth')}
    ${verify('/.op-1core-auth', 'http://op_1core/oauth2/auth')}
  }`;
}
