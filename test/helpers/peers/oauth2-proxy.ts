// oauth2-proxy (the Go peer benches compare Gatehouse with), from the cache scripts/fetch-peers.sh
// fills: `$GATEHOUSE_PEERS_DIR/oauth2-proxy-<version>/oauth2-proxy`, version pinned in that script.
// Started against an OIDC IdP on 127.0.0.1 (plain http is allowed there with
// --insecure-oidc-allow-unverified-email off: the embedded IdP marks emails verified), in front of
// one upstream, with cookie or Redis sessions; a person signs in through the IdP's real forms.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from '../browsers/browser.js';
import { signInThroughIdp } from '../browsers/sign-in.js';
import { eventually, giveUp } from '../eventually.js';
import { startChild } from '../processes.js';
import { closedPort, tcpReachable } from './services.js';

/** The version scripts/fetch-peers.sh pins (read from the script, so a bump there is picked up here). */
export function oauth2ProxyVersion(): string {
  const script = readFileSync(fileURLToPath(new URL('../../../scripts/fetch-peers.sh', import.meta.url)), 'utf8');
  const version = /^OAUTH2_PROXY_VERSION=(\S+)$/m.exec(script)?.[1];
  if (!version) throw new Error('scripts/fetch-peers.sh does not pin OAUTH2_PROXY_VERSION');
  return version;
}

/** The cached binary, or undefined when scripts/fetch-peers.sh has not installed it. */
export function findOauth2Proxy(): string | undefined {
  const cache = process.env.GATEHOUSE_PEERS_DIR ?? join(homedir(), '.cache', 'gatehouse-peers');
  const bin = join(cache, `oauth2-proxy-${oauth2ProxyVersion()}`, 'oauth2-proxy');
  try {
    accessSync(bin, constants.X_OK);
    return bin;
  } catch {
    return undefined;
  }
}

/** The OAuth client oauth2-proxy uses; register it with the IdP (redirect URI included) before starting. */
export interface Oauth2ProxyClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
}

/** A port for oauth2-proxy and the client it will use, so the IdP can register the redirect URI first. */
export async function reserveOauth2Proxy(clientId = 'oauth2-proxy'): Promise<{ port: number; client: Oauth2ProxyClient }> {
  const port = await closedPort();
  return {
    port,
    client: { client_id: clientId, client_secret: randomBytes(18).toString('base64url'), redirect_uris: [`http://127.0.0.1:${port}/oauth2/callback`] },
  };
}

export interface Oauth2ProxyOptions {
  port: number;
  client: Oauth2ProxyClient;
  issuer: string;
  upstream: string;
  /** Cookie sessions (oauth2-proxy's default: the encrypted session travels in the cookie) or Redis (a ticket in the cookie). */
  sessions: { store: 'cookie' } | { store: 'redis'; url: string };
  /** GOMAXPROCS for the process (default: Go's, one per core). */
  gomaxprocs?: number;
  /** Per-request log lines on stdout (default off, like Gatehouse's data path, which logs no line per request). */
  requestLogging?: boolean;
}

export interface Oauth2Proxy {
  url: string;
  pid: number;
  /** The session cookie oauth2-proxy sets (`_oauth2_proxy`, split into `_0`, `_1`… when large). */
  cookieName: string;
  output(): string;
  stop(): Promise<void>;
}

export async function startOauth2Proxy(bin: string, o: Oauth2ProxyOptions): Promise<Oauth2Proxy> {
  const url = `http://127.0.0.1:${o.port}`;
  const args = [
    `--http-address=127.0.0.1:${o.port}`,
    '--provider=oidc',
    `--oidc-issuer-url=${o.issuer}`,
    `--client-id=${o.client.client_id}`,
    `--client-secret=${o.client.client_secret}`,
    `--redirect-url=${o.client.redirect_uris[0]}`,
    `--upstream=${o.upstream}`,
    '--scope=openid email profile groups',
    '--email-domain=*',
    // The embedded IdP requires PKCE (S256), as it should.
    '--code-challenge-method=S256',
    // Generated for this run: 32 bytes of AES key.
    `--cookie-secret=${randomBytes(16).toString('hex')}`,
    '--cookie-secure=false',
    '--skip-provider-button=true',
    '--set-xauthrequest=true',
    `--session-store-type=${o.sessions.store}`,
    ...(o.sessions.store === 'redis' ? [`--redis-connection-url=${o.sessions.url}`] : []),
    `--request-logging=${o.requestLogging ?? false}`,
    '--auth-logging=false',
    '--standard-logging=true',
  ];
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (o.gomaxprocs) env.GOMAXPROCS = String(o.gomaxprocs);
  else delete env.GOMAXPROCS;
  const { child, stop }: { child: ChildProcess; stop: () => Promise<void> } = startChild(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (output += c.slice(0, 64 * 1024 - output.length)));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (output += c.slice(0, 64 * 1024 - output.length)));
  try {
    await eventually(
      () => {
        if (child.exitCode !== null) giveUp(`oauth2-proxy exited (${child.exitCode}): ${output}`);
        return tcpReachable('127.0.0.1', o.port, 200);
      },
      { timeoutMs: 20_000, message: () => `oauth2-proxy did not listen on ${o.port}: ${output}` },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, pid: child.pid!, cookieName: '_oauth2_proxy', output: () => output, stop: () => stop() };
}

/**
 * Signs in through oauth2-proxy as a person would: open `path` on the proxy, follow it to the
 * IdP's login form, submit the credentials (and consent), follow the redirects back. Returns the
 * final page and the `Cookie` header value that carries the session (every `_oauth2_proxy*`
 * cookie but the CSRF one).
 */
export async function signInThroughOauth2Proxy(
  browser: Browser,
  proxy: Oauth2Proxy,
  path: string,
  user: { username: string; password: string },
): Promise<{ status: number; body: string; cookie: string }> {
  const login = await browser.go(`${proxy.url}${path}`);
  const page = await signInThroughIdp(browser, login, user);
  const cookie = Object.entries(browser.cookies('127.0.0.1'))
    .filter(([name]) => name.startsWith(proxy.cookieName) && !name.includes('csrf'))
    .map(([name, value]) => `${name}=${value}`)
    .join('; ');
  return { status: page.status, body: page.body, cookie };
}
