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
