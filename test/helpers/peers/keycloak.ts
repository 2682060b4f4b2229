// The run's Keycloak (scripts/test-keycloak.mjs starts it once per run, with the compose stack's
// realm config/keycloak/gatehouse-realm.json), and its admin REST API for driving it from tests:
// users, group membership, disabling, ending sessions. Shared by every file: change only users the
// test created itself (createUser), never alice or bob.
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { skipOrFail } from './services.js';

export const KEYCLOAK_REALM = 'gatehouse';
/** The realm's OIDC client for Gatehouse (config/gatehouse.compose.yaml's connector `keycloak`). */
export const KEYCLOAK_CLIENT_ID = 'gatehouse';

export interface KeycloakUser {
  id: string;
  username: string;
  password: string;
}

export interface Keycloak {
  url: string;
  /** `<url>/realms/gatehouse`, the issuer of the realm's tokens. */
  issuer: string;
  clientSecret: string;
  /** The realm's demo people, as imported (alice: /platform/admins, /devs and gatehouse-auditor; bob: /devs). */
  alice: { username: string; password: string };
  bob: { username: string; password: string };
  admin: KeycloakAdmin;
}

const env = (name: string) => process.env[`GATEHOUSE_TEST_KEYCLOAK_${name}`];

/** The runner's Keycloak, when its realm answers; otherwise skips (fails on CI). */
export async function requireKeycloak(t: TestContext): Promise<Keycloak | undefined> {
  const url = env('URL');
  if (!url) {
    skipOrFail(t, 'Keycloak was not started: GATEHOUSE_TEST_KEYCLOAK_URL is not set (run through npm test, which starts it for keycloak tests)');
    return undefined;
  }
  const issuer = `${url}/realms/${KEYCLOAK_REALM}`;
  const answers = await fetch(`${issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(5000) })
    .then((res) => res.ok)
    .catch(() => false);
  if (!answers) {
    skipOrFail(t, `Keycloak's realm ${KEYCLOAK_REALM} does not answer at ${url}`);
    return undefined;
  }
  return {
    url,
    issuer,
    clientSecret: env('CLIENT_SECRET') ?? '',
    alice: { username: 'alice', password: env('ALICE_PASSWORD') ?? '' },
    bob: { username: 'bob', password: env('BOB_PASSWORD') ?? '' },
    admin: new KeycloakAdmin(url, env('ADMIN_USER') ?? 'admin', env('ADMIN_PASSWORD') ?? ''),
  };
}

/** Keycloak's admin REST API for the gatehouse realm, as the bootstrap admin (admin-cli in master). */
export class KeycloakAdmin {
  private token?: { value: string; until: number };

  constructor(
    readonly url: string,
    private readonly username: string,
    private readonly password: string,
  ) {}

  private async accessToken(): Promise<string> {
    if (this.token && Date.now() < this.token.until) return this.token.value;
    const res = await fetch(`${this.url}/realms/master/protocol/openid-connect/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'password', client_id: 'admin-cli', username: this.username, password: this.password }),
    });
    if (!res.ok) throw new Error(`Keycloak admin token: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { access_token: string; expires_in: number };
    // Renewed well before Keycloak's (master realm: 60 s) expiry.
    this.token = { value: body.access_token, until: Date.now() + (body.expires_in * 1000) / 2 };
    return body.access_token;
  }

  /** One admin API call under /admin/realms/gatehouse; returns the parsed body (or the Location header of a 201). */
  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}/admin/realms/${KEYCLOAK_REALM}${path}`, {
      method,
      headers: { authorization: `Bearer ${await this.accessToken()}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`Keycloak admin ${method} ${path}: ${res.status} ${await res.text()}`);
    if (res.status === 201) return res.headers.get('location') as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * A new person with a generated password, in these groups (full paths). Keycloak's user profile
   * wants email, first and last name, or the first login stops at "update your account".
   */
  async createUser(options: { username: string; email?: string; emailVerified?: boolean; groups?: string[] }): Promise<KeycloakUser> {
    const password = randomBytes(18).toString('base64url');
    const location = await this.call<string>('POST', '/users', {
      username: options.username,
      email: options.email ?? `${options.username}@example.com`,
      emailVerified: options.emailVerified ?? true,
      firstName: options.username,
      lastName: 'Test',
      enabled: true,
      groups: options.groups ?? [],
      credentials: [{ type: 'password', value: password, temporary: false }],
    });
    return { id: location.slice(location.lastIndexOf('/') + 1), username: options.username, password };
  }

  private async groupId(path: string): Promise<string> {
    return (await this.call<{ id: string }>('GET', `/group-by-path/${path.split('/').filter(Boolean).map(encodeURIComponent).join('/')}`)).id;
  }

  async addToGroup(userId: string, groupPath: string): Promise<void> {
    await this.call('PUT', `/users/${userId}/groups/${await this.groupId(groupPath)}`);
  }

  async removeFromGroup(userId: string, groupPath: string): Promise<void> {
    await this.call('DELETE', `/users/${userId}/groups/${await this.groupId(groupPath)}`);
  }

  /** Disables (or enables) the person; the whole representation goes back, as the user profile validates all of it. */
  async setEnabled(userId: string, enabled: boolean): Promise<void> {
    const user = await this.call<Record<string, unknown>>('GET', `/users/${userId}`);
    await this.call('PUT', `/users/${userId}`, { ...user, enabled });
  }

  /** Ends every Keycloak session of the person (their refresh tokens stop working). */
  async logoutUser(userId: string): Promise<void> {
    await this.call('POST', `/users/${userId}/logout`);
  }

  async userSessions(userId: string): Promise<{ id: string }[]> {
    return this.call('GET', `/users/${userId}/sessions`);
  }

  async deleteUser(userId: string): Promise<void> {
    await this.call('DELETE', `/users/${userId}`);
  }
}
