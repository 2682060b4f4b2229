// The demo IdP's public types: its users, clients, password-guess limit, options and the IdP itself.
import type { Router } from 'express';

import type { AuditSink } from '../audit/sink.js';
import type { Store } from '../store/store.js';

export interface EmbeddedIdpUser {
  username: string;
  password: string;
  email: string;
  name?: string;
  groups: string[];
  emailVerified?: boolean;
  /** Extra claims; their names are released under the `profile` scope. */
  extraClaims?: Record<string, unknown>;
}

export interface EmbeddedIdpClient {
  client_id: string;
  client_secret?: string;
  redirect_uris: string[];
  post_logout_redirect_uris?: string[];
}

/**
 * Brute-force limit on the login form: after `perUsername` failed passwords for one username, or
 * `perAddress` from one client address, within `windowSeconds`, further attempts are refused
 * (429, the form again with an error) without checking the password. Counted in the gateway's
 * store like its login rate limit; failures and the first refusal of a window are audited.
 */
export interface EmbeddedIdpLoginLimit {
  store: Store;
  audit?: AuditSink;
  /** The gateway connector that uses this IdP (for the audit events). */
  connector?: string;
  perUsername?: number;
  perAddress?: number;
  windowSeconds?: number;
}

export interface EmbeddedIdpOptions {
  issuer: string;
  users: EmbeddedIdpUser[];
  clients: EmbeddedIdpClient[];
  title?: string;
  idTokenTtlSeconds?: number;
  loginLimit?: EmbeddedIdpLoginLimit;
}

export interface EmbeddedIdp {
  issuer: string;
  router: Router;
  close(): Promise<void>;
}
