import { join } from 'node:path';
import { gatehouseHome, readJsonFile, writeJsonFile } from './home.js';

export interface ClusterInfo {
  name: string;
  audience: string;
  mode: 'oidc' | 'proxy';
  api_server: string;
  ca_data?: string;
}

/** What `gatehouse login` leaves for later commands, one file per gateway. */
export interface ServerState {
  server: string;
  refresh_token?: string;
  access_token?: string;
  /** ms since epoch */
  access_expires_at?: number;
  user?: { username: string; email?: string; roles: string[]; kubernetes_groups: string[] };
  clusters?: Record<string, ClusterInfo>;
  /** Cached cluster tokens, by cluster name. */
  kube?: Record<string, { token: string; expires_at: number }>;
  /** Set when an interactive login failed, so background tools do not open a storm of browser tabs. */
  login_failed_at?: number;
}

const fileName = (server: string) => new URL(server).host.replace(/[^A-Za-z0-9.-]/g, '_');

export const statePath = (server: string) => join(gatehouseHome(), 'servers', `${fileName(server)}.json`);
export const lockPath = (server: string) => join(gatehouseHome(), 'servers', `${fileName(server)}.lock`);
const defaultServerPath = () => join(gatehouseHome(), 'default-server');

export const readState = (server: string): ServerState => readJsonFile<ServerState>(statePath(server)) ?? { server };
export const writeState = (state: ServerState): void => writeJsonFile(statePath(state.server), state);

/** The gateway last logged in to, when a command names none. */
export function defaultServer(): string | undefined {
  return readJsonFile<{ server: string }>(defaultServerPath())?.server;
}
export const setDefaultServer = (server: string): void => writeJsonFile(defaultServerPath(), { server });

export function resolveServer(flag?: string): string | undefined {
  const server = flag ?? process.env.GATEHOUSE_SERVER ?? defaultServer();
  return server?.replace(/\/+$/, '');
}
