import { GatehouseError } from '../core/errors.js';

/** Where the CLI talks to, and with which gateway token. */
export interface CliCredentials {
  server: string;
  token: string;
}

/**
 * The gateway token for API calls from the CLI: `--token` or GATEHOUSE_TOKEN for scripts,
 * else the token cache written by `gatehouse login` (see cli/login).
 */
export async function gatewayCredentials(options: { server?: string; token?: string }): Promise<CliCredentials> {
  const server = (options.server ?? process.env.GATEHOUSE_SERVER ?? '').replace(/\/+$/, '');
  const token = options.token ?? process.env.GATEHOUSE_TOKEN;
  if (!server) throw new GatehouseError('no_server', 'Say which gateway: --server URL or GATEHOUSE_SERVER.', { status: 400 });
  if (!token) throw new GatehouseError('login_required', 'Not signed in: run `gatehouse login --server URL`, or set GATEHOUSE_TOKEN.', { status: 401 });
  return { server, token };
}
