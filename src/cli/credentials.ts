import { errorCodeOr } from '../core/error-codes.js';
import { GatehouseError } from '../core/errors.js';
import { gatewayAccessToken } from './session.js';
import { resolveServer } from './state.js';

/** Where the CLI talks to, and with which gateway token. */
export interface CliCredentials {
  server: string;
  token: string;
}

/**
 * The gateway and token for API calls from the CLI: --server, GATEHOUSE_SERVER, or the gateway
 * last logged in to; --token or GATEHOUSE_TOKEN for scripts, else the cache from `gatehouse login`
 * (refreshed when it is about to expire).
 */
export async function gatewayCredentials(options: { server?: string; token?: string }): Promise<CliCredentials> {
  const server = resolveServer(options.server);
  if (!server)
    throw new GatehouseError('no_server', 'Say which gateway: --server URL or GATEHOUSE_SERVER (or run `gatehouse login --server URL` once).', { status: 400 });
  const token = options.token ?? process.env.GATEHOUSE_TOKEN ?? (await gatewayAccessToken(server));
  return { server, token };
}

/** A JSON call to the gateway's API; a refusal becomes its code and message (`… (request_self_review)`). */
export async function gatewayApi<T>(creds: CliCredentials, path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${creds.server}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${creds.token}`, 'content-type': 'application/json', ...init.headers },
  });
  const body = (await res.json().catch(() => ({}))) as T & { error?: string; message?: string };
  if (!res.ok)
    throw new GatehouseError(errorCodeOr(body.error, 'server_error'), `${body.message ?? res.statusText} (${body.error ?? res.status})`, {
      status: res.status,
    });
  return body;
}
