import { GatehouseError } from '../core/errors.js';
import { errorCodeOr } from '../core/error-codes.js';
import { withLock } from './lock.js';
import { createOAuthClient, openBrowser, type Tokens } from './oauth-client.js';
import { lockPath, readState, setDefaultServer, writeState, type ClusterInfo, type ServerState } from './state.js';

/** Tokens are renewed this long before they expire, so kubectl never holds one that dies mid-request. */
const EARLY_MS = 60_000;
/** After a failed interactive login, background invocations stay quiet this long. */
const FAILED_LOGIN_QUIET_MS = 60_000;
/**
 * A token minted under access requests is refused as soon as one of them ends, which may be long
 * before it expires: it is reused only this long after it was issued, then refreshed.
 */
const REQUEST_TOKEN_REUSE_MS = 30_000;

/** Whether a cached token may be used again now. */
export function reusable(token: string | undefined, expiresAt: number | undefined): boolean {
  if (!token || (expiresAt ?? 0) - Date.now() <= EARLY_MS) return false;
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as { iat?: number; access_requests?: unknown };
    return !Array.isArray(claims.access_requests) || Date.now() - (claims.iat ?? 0) * 1000 < REQUEST_TOKEN_REUSE_MS;
  } catch {
    return false;
  }
}

export const loginRequired = (server: string) =>
  new GatehouseError('login_required', `Not signed in to ${server}: run \`gatehouse login --server ${server}\`.`, { status: 401 });

async function api<T>(server: string, path: string, token: string): Promise<T> {
  const res = await fetch(`${server}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json().catch(() => ({}))) as T & { error?: string; message?: string };
  if (!res.ok) throw new GatehouseError(errorCodeOr(body.error, 'server_error'), body.message ?? `${path} answered ${res.status}`, { status: res.status });
  return body;
}

/** Stores a fresh login: tokens, who we are, and the clusters this gateway knows. */
export async function saveLogin(server: string, tokens: Tokens): Promise<ServerState> {
  const user = await api<NonNullable<ServerState['user']>>(server, '/api/v1/whoami', tokens.access_token);
  const { clusters } = await api<{ clusters: ClusterInfo[] }>(server, '/api/v1/kube/clusters', tokens.access_token);
  const state: ServerState = {
    server,
    refresh_token: tokens.refresh_token,
    access_token: tokens.access_token,
    access_expires_at: Date.now() + tokens.expires_in * 1000,
    user: { username: user.username, email: user.email, roles: user.roles, kubernetes_groups: user.kubernetes_groups },
    clusters: Object.fromEntries(clusters.map((c) => [c.name, c])),
    kube: {},
  };
  writeState(state);
  setDefaultServer(server);
  return state;
}

/** Runs an interactive login (browser or device code) and stores it. */
export async function interactiveLogin(server: string, options: { connector?: string; device?: boolean }): Promise<ServerState> {
  const client = createOAuthClient(server);
  const tokens = options.device ? await client.loginWithDevice() : await client.loginWithBrowser({ connector: options.connector, openBrowser });
  return saveLogin(server, tokens);
}

/** A gateway API token, refreshed under the lock when it is about to expire. */
export async function gatewayAccessToken(server: string): Promise<string> {
  const fresh = (s: ServerState) => (reusable(s.access_token, s.access_expires_at) ? s.access_token : undefined);
  const cached = fresh(readState(server));
  if (cached) return cached;
  return withLock(lockPath(server), async () => {
    const state = readState(server);
    const again = fresh(state);
    if (again) return again;
    if (!state.refresh_token) throw loginRequired(server);
    const tokens = await refreshOrForget(state, undefined);
    writeState({ ...state, refresh_token: tokens.refresh_token, access_token: tokens.access_token, access_expires_at: Date.now() + tokens.expires_in * 1000 });
    return tokens.access_token;
  });
}

/**
 * A token for a cluster: from the cache while fresh; otherwise one refresh under the lock,
 * so parallel kubectl processes cause a single refresh. When a new login is needed it runs
 * only if `interactive`, and never twice within a minute of a failed one.
 */
export async function clusterToken(server: string, cluster: string, options: { interactive: boolean }): Promise<{ token: string; expiresAt: number }> {
  const fresh = (s: ServerState) => {
    const entry = s.kube?.[cluster];
    return entry && reusable(entry.token, entry.expires_at) ? { token: entry.token, expiresAt: entry.expires_at } : undefined;
  };
  const cached = fresh(readState(server));
  if (cached) return cached;
  return withLock(lockPath(server), async () => {
    let state = readState(server);
    const again = fresh(state);
    if (again) return again;
    if (!state.refresh_token) {
      if (!options.interactive) throw loginRequired(server);
      if (state.login_failed_at && Date.now() - state.login_failed_at < FAILED_LOGIN_QUIET_MS) {
        throw new GatehouseError('login_required', `A sign-in just failed; run \`gatehouse login --server ${server}\` yourself.`, { status: 401 });
      }
      try {
        state = await interactiveLogin(server, {});
      } catch (err) {
        writeState({ ...readState(server), login_failed_at: Date.now() });
        throw err;
      }
    }
    const info = state.clusters?.[cluster];
    if (!info)
      throw new GatehouseError(
        'unknown_cluster',
        `${server} knows no cluster "${cluster}" (known: ${Object.keys(state.clusters ?? {}).join(', ') || 'none'}).`,
        { status: 404 },
      );
    const tokens = await refreshOrForget(state, info.audience);
    // The cluster's access token (typ at+jwt, aud = the cluster): ID tokens are only ever for the CLI itself.
    const entry = { token: tokens.access_token, expires_at: Date.now() + tokens.expires_in * 1000 };
    writeState({ ...state, refresh_token: tokens.refresh_token, kube: { ...state.kube, [cluster]: entry } });
    return { token: entry.token, expiresAt: entry.expires_at };
  });
}

/** A refresh the server refuses ends the local login too, so the next command asks for a new one. */
async function refreshOrForget(state: ServerState, resource: string | undefined): Promise<Tokens> {
  try {
    return await createOAuthClient(state.server).refresh(state.refresh_token!, resource);
  } catch (err) {
    if ((err as GatehouseError).code === 'invalid_grant') {
      writeState({ server: state.server, clusters: state.clusters });
      throw new GatehouseError('login_required', `${(err as Error).message} Run \`gatehouse login --server ${state.server}\`.`, { status: 401 });
    }
    throw err;
  }
}
