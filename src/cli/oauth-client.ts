import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { GatehouseError } from '../core/errors.js';
import { closeGracefully, listen } from '../core/http-server.js';
import { errorCodeOr } from '../core/error-codes.js';
import { browserCommands } from './browser-commands.js';

export const CLI_CLIENT_ID = 'gatehouse-cli';

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  device_authorization_endpoint: string;
  revocation_endpoint: string;
}

export interface Tokens {
  access_token: string;
  id_token: string;
  refresh_token: string;
  expires_in: number;
}

/** Talks OAuth to one gateway, as the public client `gatehouse-cli`. */
export function createOAuthClient(server: string, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)) {
  let discovery: Promise<Discovery> | undefined;
  const discover = () =>
    (discovery ??= fetchJson<Discovery>(`${server}/.well-known/openid-configuration`).then((d) => {
      if (d.issuer !== server) throw new GatehouseError('issuer_mismatch', `${server} says its issuer is ${d.issuer}; use that URL.`);
      return d;
    }));

  const tokenRequest = async (form: Record<string, string>): Promise<Tokens> => {
    const { token_endpoint } = await discover();
    const res = await fetch(token_endpoint, { method: 'POST', body: new URLSearchParams({ client_id: CLI_CLIENT_ID, ...form }) });
    const body = (await res.json()) as Tokens & { error?: string; error_description?: string };
    if (!res.ok)
      throw new GatehouseError(errorCodeOr(body.error, 'token_error'), body.error_description ?? `token endpoint answered ${res.status}`, {
        status: res.status,
      });
    return body;
  };

  return {
    /** RFC 8252 loopback flow: a one-shot listener on 127.0.0.1, the browser does the rest. */
    async loginWithBrowser(options: { connector?: string; openBrowser: (url: string) => Promise<boolean> }): Promise<Tokens> {
      const { authorization_endpoint } = await discover();
      const verifier = randomBytes(32).toString('base64url');
      const state = randomBytes(16).toString('base64url');
      const listener = createServer();
      const { port } = await listen(listener, 0, '127.0.0.1');
      const redirectUri = `http://127.0.0.1:${port}/callback`;
      const url = new URL(authorization_endpoint);
      url.search = new URLSearchParams({
        client_id: CLI_CLIENT_ID,
        response_type: 'code',
        redirect_uri: redirectUri,
        scope: 'openid email profile groups offline_access',
        state,
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
        ...(options.connector ? { connector: options.connector } : {}),
      }).toString();
      const code = new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new GatehouseError('login_timeout', 'No answer from the browser within 5 minutes.')), 300_000);
        listener.on('request', (req, res) => {
          const got = new URL(req.url ?? '/', redirectUri);
          if (got.pathname !== '/callback') return void res.writeHead(404).end();
          const fail = (message: string) => {
            res.writeHead(400, { 'content-type': 'text/plain' }).end(`Gatehouse login failed: ${message}\n`);
            clearTimeout(timer);
            reject(new GatehouseError('login_failed', message));
          };
          if (got.searchParams.get('state') !== state) return fail('state mismatch');
          if (got.searchParams.get('iss') !== server) return fail('the answer came from another issuer');
          const error = got.searchParams.get('error');
          if (error) return fail(`${error}: ${got.searchParams.get('error_description') ?? ''}`);
          res.writeHead(302, { location: `${server}/cli/done` }).end();
          clearTimeout(timer);
          resolve(got.searchParams.get('code') ?? '');
        });
      });
      try {
        if (!(await options.openBrowser(url.href))) log(`Open this URL to sign in:\n\n  ${url.href}\n`);
        else log('Your browser has been opened to sign in. Waiting…');
        return await tokenRequest({ grant_type: 'authorization_code', code: await code, code_verifier: verifier, redirect_uri: redirectUri });
      } finally {
        void closeGracefully(listener, 0);
      }
    },

    /** RFC 8628 device flow: print the code, poll until approved. */
    async loginWithDevice(): Promise<Tokens> {
      const { device_authorization_endpoint } = await discover();
      const start = await fetchJson<{
        device_code: string;
        user_code: string;
        verification_uri: string;
        verification_uri_complete: string;
        interval: number;
        expires_in: number;
      }>(device_authorization_endpoint, {
        method: 'POST',
        body: new URLSearchParams({ client_id: CLI_CLIENT_ID, scope: 'openid email profile groups offline_access' }),
      });
      log(`To sign in, open ${start.verification_uri} and enter the code:\n\n    ${start.user_code}\n\nor open ${start.verification_uri_complete}`);
      let interval = start.interval * 1000;
      const deadline = Date.now() + start.expires_in * 1000;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, interval));
        try {
          return await tokenRequest({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: start.device_code });
        } catch (err) {
          const code = (err as GatehouseError).code;
          if (code === 'authorization_pending') continue;
          if (code === 'slow_down') interval += 5000;
          else throw err;
        }
      }
      throw new GatehouseError('expired_token', 'The device code expired before it was approved.');
    },

    refresh: (refreshToken: string, resource?: string) =>
      tokenRequest({ grant_type: 'refresh_token', refresh_token: refreshToken, ...(resource ? { resource } : {}) }),

    async revoke(token: string): Promise<void> {
      const { revocation_endpoint } = await discover();
      await fetch(revocation_endpoint, { method: 'POST', body: new URLSearchParams({ client_id: CLI_CLIENT_ID, token }) });
    },
  };
}

async function fetchJson<T>(url: string, init?: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    throw new GatehouseError('server_unreachable', `Cannot reach ${new URL(url).origin}: ${(err as Error).message}`, { cause: err });
  }
  if (!res.ok) throw new GatehouseError('server_error', `${url} answered ${res.status}`, { status: res.status });
  return (await res.json()) as T;
}

/**
 * Opens a URL in the person's browser: the first of browserCommands (GATEHOUSE_BROWSER, $BROWSER,
 * the platform's opener) that starts. False when none does, and the caller prints the URL.
 */
export async function openBrowser(url: string): Promise<boolean> {
  const procVersion = process.platform === 'linux' ? readProcVersion() : undefined;
  for (const { command, args } of browserCommands(url, { platform: process.platform, env: process.env, procVersion })) {
    const started = await new Promise<boolean>((resolve) => {
      const child = spawn(command, args, { stdio: 'ignore', detached: true });
      child.once('error', () => resolve(false));
      child.once('spawn', () => {
        child.unref();
        resolve(true);
      });
    });
    if (started) return true;
  }
  return false;
}

function readProcVersion(): string | undefined {
  try {
    return readFileSync('/proc/version', 'utf8');
  } catch {
    return undefined;
  }
}
