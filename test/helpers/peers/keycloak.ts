// The run's Keycloak (scripts/test-keycloak.mjs starts it once per run, with the compose stack's
// realm config/keycloak/gatehouse-realm.json), and its admin REST API for driving it from tests:
// users, group membership, disabling, ending sessions, clients (OIDC and SAML, from SP metadata) and
// identity providers for brokering. Shared by every file: change only users, clients and IdPs the
// test created itself (with unique names), never alice, bob or the realm file's clients.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import { skipOrFail } from './services.js';

export const KEYCLOAK_REALM = 'gatehouse';
/** The realm's OIDC client for Gatehouse (config/gatehouse.compose.yaml's connector `keycloak`). */
export const KEYCLOAK_CLIENT_ID = 'gatehouse';

/** The realm's SAML IdP metadata (entity id `<issuer>`, signing key, SSO and SLO endpoints). */
export const samlDescriptorUrl = (kc: Keycloak) => `${kc.issuer}/protocol/saml/descriptor`;

/** A protocol mapper or identity-provider mapper, as the admin API takes it. */
export interface KeycloakMapper {
  name: string;
  protocol?: 'saml' | 'openid-connect';
  protocolMapper?: string;
  identityProviderMapper?: string;
  config: Record<string, string>;
}

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

/** How long a test waits for the run's Keycloak to finish booting (it starts with the run, in the background). */
const BOOT_WAIT_MS = 150_000;

/** Waits while the runner's state file says `starting`; returns why Keycloak is unusable, or undefined. */
async function booted(): Promise<string | undefined> {
  const file = env('STATE');
  if (!file) return undefined; // given by GATEHOUSE_TEST_KEYCLOAK_URL: already up
  const deadline = Date.now() + BOOT_WAIT_MS;
  for (;;) {
    const [state, ...why] = readFileSync(file, 'utf8').split('\n');
    if (state === 'ready') return undefined;
    if (state === 'failed') return `Keycloak did not start: ${why.join('\n').trim()}`;
    if (Date.now() > deadline) return `Keycloak was still starting after ${BOOT_WAIT_MS / 1000} s`;
    await setTimeout(250);
  }
}

/** The runner's Keycloak, once booted and its realm answers; otherwise skips (fails on CI). */
export async function requireKeycloak(t: TestContext): Promise<Keycloak | undefined> {
  const url = env('URL');
  if (!url) {
    skipOrFail(t, 'Keycloak was not started: GATEHOUSE_TEST_KEYCLOAK_URL is not set (run through npm test, which starts it for keycloak tests)');
    return undefined;
  }
  const unusable = await booted();
  if (unusable) {
    skipOrFail(t, unusable);
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

  /**
   * A client representation from SP metadata, as the admin console's "import client" makes it
   * (client-description-converter): entity id, ACS, SLO, and the signing and encryption
   * certificates of the metadata (`saml.encrypt` is on when it has an encryption key).
   */
  async clientFromSpMetadata(xml: string): Promise<Record<string, unknown> & { attributes: Record<string, string> }> {
    const res = await fetch(`${this.url}/admin/realms/${KEYCLOAK_REALM}/client-description-converter`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await this.accessToken()}`, 'content-type': 'application/xml' },
      body: xml,
    });
    if (!res.ok) throw new Error(`Keycloak client-description-converter: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown> & { attributes: Record<string, string> };
  }

  /** Creates a client (OIDC or SAML) with its protocol mappers; returns its internal id. */
  async createClient(representation: Record<string, unknown>): Promise<string> {
    const location = await this.call<string>('POST', '/clients', representation);
    return location.slice(location.lastIndexOf('/') + 1);
  }

  async deleteClient(id: string): Promise<void> {
    await this.call('DELETE', `/clients/${id}`);
  }

  /** An identity provider (a brokered upstream IdP) with its mappers. */
  async createIdentityProvider(representation: Record<string, unknown> & { alias: string }, mappers: KeycloakMapper[] = []): Promise<void> {
    await this.call('POST', '/identity-provider/instances', representation);
    for (const mapper of mappers)
      await this.call('POST', `/identity-provider/instances/${encodeURIComponent(representation.alias)}/mappers`, {
        ...mapper,
        identityProviderAlias: representation.alias,
      });
  }

  async deleteIdentityProvider(alias: string): Promise<void> {
    await this.call('DELETE', `/identity-provider/instances/${encodeURIComponent(alias)}`);
  }

  /** The people by exact username (a brokered person gets the name the first-broker-login flow chose). */
  async findUsers(username: string): Promise<{ id: string; username: string; email?: string; emailVerified?: boolean }[]> {
    return this.call('GET', `/users?exact=true&username=${encodeURIComponent(username)}`);
  }

  /**
   * Declares a user attribute in the realm's user profile (Keycloak 24+ drops undeclared ones),
   * seen and edited by admins only, never required; idempotent, and left in place (harmless to
   * other files, which may rely on it at the same time).
   */
  async ensureUserProfileAttribute(name: string): Promise<void> {
    const profile = await this.call<{ attributes: { name: string }[] } & Record<string, unknown>>('GET', '/users/profile');
    if (profile.attributes.some((a) => a.name === name)) return;
    profile.attributes.push({ name, displayName: name, permissions: { view: ['admin'], edit: ['admin'] }, multivalued: false } as { name: string });
    await this.call('PUT', '/users/profile', profile);
  }
}
