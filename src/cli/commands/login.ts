import { GatehouseError, isGatehouseError } from '../../core/errors.js';
import { createOAuthClient } from '../oauth-client.js';
import { interactiveLogin } from '../session.js';
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

/** `gatehouse status`: who, roles, Kubernetes groups, and when the login expires. */
export function status(options: { server?: string; json?: boolean }): void {
  const server = serverOrFail(options.server);
  const state = readState(server);
  if (!state.refresh_token || !state.user) throw new GatehouseError('login_required', `Not signed in to ${server}.`, { status: 401 });
  if (options.json) {
    const { refresh_token: _r, access_token: _a, kube, ...visible } = state;
    process.stdout.write(
      `${JSON.stringify({ ...visible, kube: Object.fromEntries(Object.entries(kube ?? {}).map(([k, v]) => [k, { expires_at: v.expires_at }])) }, null, 2)}\n`,
    );
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
