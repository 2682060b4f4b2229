import { parseDuration } from '../../core/duration.js';
import { GatehouseError, isGatehouseError } from '../../core/errors.js';
import { withLock } from '../lock.js';
import { createOAuthClient } from '../oauth-client.js';
import { gatewayAccessToken, interactiveLogin, saveLogin } from '../session.js';
import { lockPath, readState, resolveServer, writeState, type ServerState } from '../state.js';
import { UsageError } from '../errors.js';
import type { RequestView } from './request.js';

const serverOrFail = (flag?: string) => {
  const server = resolveServer(flag);
  if (!server) throw new UsageError('which gateway? pass --server URL');
  return server;
};

interface LoginOptions {
  server?: string;
  connector?: string;
  device?: boolean;
  /** An access request to assume once approved. */
  request?: string;
  /** How long to wait for its approval (default 10m). */
  wait?: string;
}

/** `gatehouse login [--server URL] [--connector ID] [--device] [--request ID [--wait 10m]]` */
export async function login(options: LoginOptions): Promise<void> {
  const server = serverOrFail(options.server);
  if (options.request) return assumeRequest(server, options.request, options);
  const state = await interactiveLogin(server, options);
  process.stdout.write(`Signed in to ${server} as ${state.user?.username} (roles: ${state.user?.roles.join(', ') || 'none'}).\n`);
  await fetchSshCertificate(server, state.access_token!);
}

/** Leaves an SSH certificate, known_hosts and ssh config under ~/.gatehouse/ssh when the roles grant logins. */
async function fetchSshCertificate(server: string, token: string): Promise<void> {
  try {
    const { writeSshCredentials } = await import('./ssh.js');
    const ssh = await writeSshCredentials({ server, token });
    process.stdout.write(`SSH certificate for ${ssh.principals.join(', ')} valid until ${ssh.validBefore}; use: ssh -F ${ssh.config} <login>@<node>\n`);
  } catch (err) {
    // No SSH logins is a normal state for many people; the login itself succeeded either way.
    if (!isGatehouseError(err) || err.status >= 500) throw err;
    if (err.code !== 'no_ssh_logins') process.stderr.write(`gatehouse: no SSH certificate: ${err.message}\n`);
  }
}

/** How often `login --request` asks whether the request has been decided. */
const POLL_MS = 2000;
/** After approval, how long a replica may take to apply the grant before we say so. */
const GRANT_SETTLE_MS = 20_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A fresh login from the saved refresh token, under the lock (tokens, roles, clusters; cached
 * cluster tokens dropped). Undefined when there is none or the gateway refuses it.
 */
async function refreshedLogin(server: string): Promise<ServerState | undefined> {
  return withLock(lockPath(server), async () => {
    const { refresh_token: refreshToken } = readState(server);
    if (!refreshToken) return undefined;
    try {
      return await saveLogin(server, await createOAuthClient(server).refresh(refreshToken));
    } catch (err) {
      if ((err as GatehouseError).code === 'invalid_grant') return undefined;
      throw err;
    }
  });
}

function waitMs(value: string | undefined): number {
  if (value === undefined) return 600_000;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  try {
    return parseDuration(value);
  } catch (err) {
    throw new UsageError(`--wait: ${(err as Error).message}`);
  }
}

/**
 * `gatehouse login --request ID`: signs in (the saved login when it still refreshes, else as
 * usual), waits for the request's approval, then takes a new login so the gateway token, the
 * cluster tokens and the SSH certificate carry the request's roles from the next command on.
 */
async function assumeRequest(server: string, id: string, options: LoginOptions): Promise<void> {
  const deadline = Date.now() + waitMs(options.wait);
  const relogin = async () => (await refreshedLogin(server)) ?? (await interactiveLogin(server, options));
  let state = await relogin();
  const { requestPath, describeApprovers, formatDuration, formatInstant } = await import('./request.js');
  const { gatewayApi } = await import('../credentials.js');
  const fetchRequest = async () => gatewayApi<RequestView>({ server, token: await gatewayAccessToken(server) }, requestPath(id));
  let request = await fetchRequest();
  if (request.requester.username !== state.user?.username)
    throw new GatehouseError('request_not_found', `Request ${id} is ${request.requester.username}'s: only the requester assumes it.`);
  let shownApprovals = -1;
  while (request.state === 'pending') {
    if (request.approvals !== shownApprovals) {
      process.stderr.write(`Request ${id} is waiting for approval: ${describeApprovers(request)}. Review page: ${server}/requests/${id}\n`);
      shownApprovals = request.approvals;
    }
    if (Date.now() + POLL_MS > deadline)
      throw new GatehouseError('request_wait_timeout', `Request ${id} is still pending after ${formatDuration(waitMs(options.wait))}; run this again later.`);
    await sleep(POLL_MS);
    request = await fetchRequest();
  }
  if (request.state !== 'active' || Date.parse(request.expires_at ?? '') <= Date.now())
    throw new GatehouseError(
      'request_not_active',
      `Request ${id} is ${request.state}${request.ended_by ? ` (by ${request.ended_by})` : ''}: nothing to assume.`,
    );

  // A replica applies an approval within seconds: refresh until the new login carries the roles.
  const settle = Date.now() + GRANT_SETTLE_MS;
  const missingRoles = (s: ServerState) => request.roles.filter((r) => !s.user?.roles.includes(r));
  state = await relogin();
  while (missingRoles(state).length && Date.now() < settle) {
    await sleep(POLL_MS);
    state = await relogin();
  }
  const missing = missingRoles(state);
  if (missing.length) process.stderr.write(`gatehouse: the gateway does not grant ${missing.join(', ')} yet; run this again in a few seconds.\n`);
  const { localSshCertificate } = await import('./ssh.js');
  if (localSshCertificate()) await fetchSshCertificate(server, state.access_token!);
  const left = formatDuration(Date.parse(request.expires_at!) - Date.now());
  process.stdout.write(
    `Access request ${id} is active: ${request.roles.join(', ')} until ${formatInstant(request.expires_at)} (${left} left).\n` +
      `Your roles now: ${state.user?.roles.join(', ') || 'none'}. Cached cluster tokens were dropped, so the next kubectl has these roles too.\n`,
  );
}

async function revokeSshCertificate(server: string): Promise<void> {
  const { revokeSshCertificates, localSshCertificate } = await import('./ssh.js');
  if (!localSshCertificate()) return;
  try {
    const { gatewayCredentials } = await import('../credentials.js');
    await revokeSshCertificates(await gatewayCredentials({ server }));
  } catch (err) {
    // The certificate still expires on its own; signing out must not fail because of it.
    process.stderr.write(`gatehouse: could not revoke the SSH certificate: ${(err as Error).message}\n`);
  }
}

/** A database the gateway lets this person reach (GET /api/v1/db/databases). */
interface ReachableDatabase {
  name: string;
  protocol: string;
  users: string[];
  names: string[];
}

/**
 * The databases open to the person, asked of the gateway; [] when it has no database listener
 * (the path is not found), undefined (said on stderr) when it cannot be asked: status still shows
 * what is known locally.
 */
async function reachableDatabases(server: string): Promise<ReachableDatabase[] | undefined> {
  try {
    const res = await fetch(`${server}/api/v1/db/databases`, { headers: { authorization: `Bearer ${await gatewayAccessToken(server)}` } });
    if (res.status === 404) return [];
    const body = (await res.json().catch(() => ({}))) as { databases?: ReachableDatabase[]; message?: string; error?: string };
    if (!res.ok || !Array.isArray(body.databases))
      throw new Error(`${body.message ?? `the gateway answered ${res.status}`}${body.error ? ` (${body.error})` : ''}`);
    return body.databases;
  } catch (err) {
    process.stderr.write(`gatehouse: could not list your databases: ${(err as Error).message}\n`);
    return undefined;
  }
}

/** `gatehouse status`: who, roles, Kubernetes groups, when the login expires, and the databases the roles open. */
export async function status(options: { server?: string; json?: boolean }): Promise<void> {
  const server = serverOrFail(options.server);
  const state = readState(server);
  if (!state.refresh_token || !state.user) throw new GatehouseError('login_required', `Not signed in to ${server}.`, { status: 401 });
  const databases = await reachableDatabases(server);
  if (options.json) {
    const { refresh_token: _r, access_token: _a, kube, ...visible } = state;
    const tokens = Object.fromEntries(Object.entries(kube ?? {}).map(([k, v]) => [k, { expires_at: v.expires_at }]));
    const dbs = databases?.map(({ name, protocol, users, names }) => ({ name, protocol, users, names })) ?? null;
    process.stdout.write(`${JSON.stringify({ ...visible, kube: tokens, databases: dbs }, null, 2)}\n`);
    return;
  }
  const lines = [
    `server:            ${server}`,
    `user:              ${state.user.username}${state.user.email ? ` <${state.user.email}>` : ''}`,
    `roles:             ${state.user.roles.join(', ') || 'none'}`,
    `kubernetes groups: ${state.user.kubernetes_groups.join(', ') || 'none'}`,
    `clusters:          ${Object.keys(state.clusters ?? {}).join(', ') || 'none'}`,
  ];
  for (const [name, entry] of Object.entries(state.kube ?? {})) lines.push(`  ${name} token expires ${new Date(entry.expires_at).toISOString()}`);
  lines.push(`databases:         ${databases ? databases.map((d) => d.name).join(', ') || 'none' : 'unknown'}`);
  for (const d of databases ?? []) lines.push(`  ${d.name} (${d.protocol}): db users ${d.users.join(', ')}; db names ${d.names.join(', ') || 'none'}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * `gatehouse logout`: revokes this machine's SSH certificate and the refresh token at the gateway,
 * then forgets everything local.
 */
export async function logout(options: { server?: string }): Promise<void> {
  const server = serverOrFail(options.server);
  const state = readState(server);
  if (state.refresh_token) {
    await revokeSshCertificate(server);
    await createOAuthClient(server).revoke(state.refresh_token);
  }
  writeState({ server });
  process.stdout.write(`Signed out of ${server}.\n`);
}
