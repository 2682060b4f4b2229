import { GatehouseError, isGatehouseError } from '../../core/errors.js';
import { createOAuthClient } from '../oauth-client.js';
import { gatewayAccessToken, interactiveLogin } from '../session.js';
import { readState, resolveServer, writeState } from '../state.js';
import { UsageError } from '../errors.js';

const serverOrFail = (flag?: string) => {
  const server = resolveServer(flag);
  if (!server) throw new UsageError('which gateway? pass --server URL');
  return server;
};

/** `gatehouse login [--server URL] [--connector ID] [--device]` */
export async function login(options: { server?: string; connector?: string; device?: boolean }): Promise<void> {
  const server = serverOrFail(options.server);
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
