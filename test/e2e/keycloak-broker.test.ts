// The broker topology against a real Keycloak (the run's): Gatehouse → Keycloak (OIDC connector) →
// an upstream OIDC IdP that stands in for Google (the embedded oidc-provider IdP, started here,
// issuing `hd` and `email_verified`) → back. Keycloak is configured through its admin REST API:
// an identity provider for the upstream (picked with `kc_idp_hint`), an Attribute Importer that
// carries the upstream's `email_verified` onto the brokered user (instead of `trustEmail`, which
// would mark every upstream address verified), a session-note mapper for `hd`, and an OIDC client
// for Gatehouse whose session-note protocol mapper puts `hd` into the ID token. Gatehouse's
// Google-style rules (`hosted_domain`, `require_email_verified`) are enforced on what Keycloak
// relays. The first time a brokered person arrives, Keycloak's first-broker-login flow shows its
// "update account information" (review profile) page, which Chromium fills in; the next login
// goes straight through.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test, type TestContext } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startEmbeddedIdp, type EmbeddedIdp, type EmbeddedIdpUser } from '../../src/demo-idp/server.js';
import { launchChromium } from '../helpers/browsers/chromium.js';
import { startGateway, type TestGateway } from '../helpers/gateways/gateway.js';
import { closedPort } from '../helpers/peers/services.js';
import { requireKeycloak, type Keycloak } from '../helpers/peers/keycloak.js';

const CONNECTOR = 'kcbroker';
const HD = 'example.com';
const suffix = randomBytes(4).toString('hex');
/** Unique per file run: the Keycloak is shared with other files. */
const ALIAS = `upstream-${suffix}`;
const CLIENT_ID = `gatehouse-broker-${suffix}`;
/**
 * Where the upstream's verdict is kept on the brokered person. Keycloak 26.5's own emailVerified
 * flag comes from the IdP's `trustEmail` (on: every upstream address counts as verified; off: none
 * does), never from the upstream's `email_verified` claim, so the ID token's `email_verified` is
 * mapped from this attribute instead.
 */
const VERIFIED_ATTRIBUTE = 'upstream_email_verified';

const upstreamUser = (name: string, extra: Partial<EmbeddedIdpUser> = {}): EmbeddedIdpUser => ({
  username: `${name}-${suffix}`,
  password: randomBytes(12).toString('base64url'),
  email: `${name}-${suffix}@${HD}`,
  groups: [],
  extraClaims: { hd: HD },
  ...extra,
});
const ada = upstreamUser('ada');
const wrongDomain = upstreamUser('mallory', { email: `mallory-${suffix}@other.example`, extraClaims: { hd: 'other.example' } });
const unverified = upstreamUser('una', { emailVerified: false });

async function whoami(context: BrowserContext, gw: TestGateway) {
  const res = await context.request.get(`${gw.url}/api/v1/whoami`);
  return { status: res.status(), body: (await res.json()) as Record<string, unknown> };
}

describe('Keycloak as a broker for an upstream OIDC IdP (hd, email_verified, first broker login)', () => {
  let kc: Keycloak | undefined;
  let chromium: Browser | undefined;
  let setup: Promise<{ gw: TestGateway; upstream: EmbeddedIdp & { url: string } }> | undefined;
  let gw: TestGateway;
  let upstream: EmbeddedIdp & { url: string };
  let clientUuid: string | undefined;
  let idpCreated = false;

  after(async () => {
    const s = await setup?.catch(() => undefined);
    await s?.gw.stop();
    await s?.upstream.close();
    if (clientUuid) await kc?.admin.deleteClient(clientUuid).catch(() => undefined);
    if (idpCreated) await kc?.admin.deleteIdentityProvider(ALIAS).catch(() => undefined);
    for (const user of [ada, wrongDomain, unverified])
      for (const found of (await kc?.admin.findUsers(user.username).catch(() => [])) ?? []) await kc?.admin.deleteUser(found.id).catch(() => undefined);
  });

  const start = async (k: Keycloak) => {
    const brokerSecret = randomBytes(18).toString('base64url');
    const up = await startEmbeddedIdp({
      users: [ada, wrongDomain, unverified],
      clients: [{ client_id: 'keycloak', client_secret: brokerSecret, redirect_uris: [`${k.issuer}/broker/${ALIAS}/endpoint`] }],
    });
    await k.admin.ensureUserProfileAttribute(VERIFIED_ATTRIBUTE);
    await k.admin.createIdentityProvider(
      {
        alias: ALIAS,
        displayName: 'Upstream (Google stand-in)',
        providerId: 'oidc',
        enabled: true,
        trustEmail: false,
        firstBrokerLoginFlowAlias: 'first broker login',
        config: {
          issuer: up.issuer,
          authorizationUrl: `${up.issuer}/auth`,
          tokenUrl: `${up.issuer}/token`,
          jwksUrl: `${up.issuer}/jwks`,
          useJwksUrl: 'true',
          validateSignature: 'true',
          clientId: 'keycloak',
          clientSecret: brokerSecret,
          clientAuthMethod: 'client_secret_basic',
          defaultScope: 'openid email profile',
          pkceEnabled: 'true',
          pkceMethod: 'S256',
          syncMode: 'FORCE',
          disableUserInfo: 'true',
        },
      },
      [
        {
          name: 'email_verified',
          identityProviderMapper: 'oidc-user-attribute-idp-mapper',
          config: { claim: 'email_verified', 'user.attribute': VERIFIED_ATTRIBUTE, syncMode: 'FORCE' },
        },
        {
          name: 'hd',
          identityProviderMapper: 'oidc-user-session-note-idp-mapper',
          config: { claims: JSON.stringify([{ key: 'hd', value: '.*' }]), 'are.claim.values.regex': 'true', syncMode: 'FORCE' },
        },
      ],
    );
    idpCreated = true;

    const port = await closedPort();
    const gatewayUrl = `http://127.0.0.1:${port}`;
    const secret = randomBytes(18).toString('base64url');
    clientUuid = await k.admin.createClient({
      clientId: CLIENT_ID,
      protocol: 'openid-connect',
      enabled: true,
      publicClient: false,
      secret,
      standardFlowEnabled: true,
      directAccessGrantsEnabled: false,
      redirectUris: [`${gatewayUrl}/callback/${CONNECTOR}`],
      attributes: { 'pkce.code.challenge.method': 'S256', 'post.logout.redirect.uris': `${gatewayUrl}/login` },
      // Not the `email` scope: its email_verified is Keycloak's flag; these two mappers replace it.
      defaultClientScopes: ['basic', 'profile', 'roles', 'web-origins', 'acr'],
      protocolMappers: [
        {
          name: 'email',
          protocol: 'openid-connect',
          protocolMapper: 'oidc-usermodel-property-mapper',
          config: { 'user.attribute': 'email', 'claim.name': 'email', 'jsonType.label': 'String', 'id.token.claim': 'true', 'userinfo.token.claim': 'true' },
        },
        {
          name: 'email_verified (upstream)',
          protocol: 'openid-connect',
          protocolMapper: 'oidc-usermodel-attribute-mapper',
          config: {
            'user.attribute': VERIFIED_ATTRIBUTE,
            'claim.name': 'email_verified',
            'jsonType.label': 'boolean',
            'id.token.claim': 'true',
            'userinfo.token.claim': 'true',
          },
        },
        {
          name: 'hd',
          protocol: 'openid-connect',
          protocolMapper: 'oidc-usersessionmodel-note-mapper',
          config: { 'user.session.note': 'hd', 'claim.name': 'hd', 'jsonType.label': 'String', 'id.token.claim': 'true', 'userinfo.token.claim': 'true' },
        },
      ],
    });
    const g = await startGateway(
      {
        connectors: [
          {
            type: 'oidc',
            id: CONNECTOR,
            name: 'Keycloak (brokered)',
            provider: 'keycloak',
            issuer: k.issuer,
            client_id: CLIENT_ID,
            client_secret: secret,
            scopes: ['openid', 'profile'],
            hosted_domain: HD,
            require_email_verified: true,
            // Straight to the upstream IdP, past Keycloak's own login page.
            auth_params: { kc_idp_hint: ALIAS },
          },
        ],
        roles: [{ name: 'staff' }],
        mappings: [{ match: { connector: CONNECTOR, email: `*@${HD}` }, roles: ['staff'] }],
      },
      { port },
    );
    return { gw: g, upstream: up };
  };

  const ready = async (t: TestContext) => {
    kc = await requireKeycloak(t);
    chromium = kc && (await launchChromium(t));
    if (!kc || !chromium) return false;
    setup ??= start(kc);
    ({ gw, upstream } = await setup);
    return true;
  };

  /**
   * Chromium: gateway → Keycloak (kc_idp_hint) → the upstream's login and consent → Keycloak's
   * first-broker-login (its review-profile page when shown) → our callback; returns whether the
   * review page was shown and the callback's answer.
   */
  async function signIn(context: BrowserContext, user: EmbeddedIdpUser) {
    const page: Page = await context.newPage();
    await page.goto(`${gw.url}/login`);
    await page.click(`#connector-${CONNECTOR}`);
    await page.waitForURL(`${upstream.issuer}/interaction/**`);
    await page.fill('#username', user.username);
    await page.fill('#password', user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const callback = page.waitForResponse((r) => r.url().startsWith(`${gw.url}/callback/${CONNECTOR}`));
    await page.getByRole('button', { name: 'Allow' }).click();
    // Back at Keycloak: either straight on to us, or its first-broker-login review-profile form.
    const next = await Promise.race([
      callback.then(() => 'callback' as const),
      page.waitForSelector('#kc-idp-review-profile-form, #kc-update-profile-form, form#kc-register-form', { timeout: 30_000 }).then(() => 'review' as const),
    ]);
    let reviewed = false;
    if (next === 'review') {
      reviewed = true;
      // The upstream sends `name` but no given/family name, which Keycloak's user profile requires.
      if (await page.locator('#firstName').isVisible()) await page.fill('#firstName', user.username);
      if (await page.locator('#lastName').isVisible()) await page.fill('#lastName', 'Upstream');
      await page.locator('input[type=submit], button[type=submit]').first().click();
    }
    return { page, reviewed, callback: await callback };
  }

  test('hd and verified email relayed by Keycloak: signed in; the first broker login reviews the profile once', async (t) => {
    if (!(await ready(t))) return;
    const context = await chromium!.newContext();
    t.after(() => context.close());
    const first = await signIn(context, ada);
    assert.equal(first.callback.status(), 302, await first.callback.text().catch(() => ''));
    await first.page.waitForURL(`${gw.url}/`);
    assert.ok(first.reviewed, "Keycloak's first-broker-login review-profile page was shown and filled in");

    const me = await whoami(context, gw);
    assert.equal(me.status, 200);
    assert.equal(me.body.email, ada.email);
    assert.deepEqual(me.body.roles, ['staff']);
    const login = await gw.waitForEvent((e) => e.type === 'user.login' && e.outcome === 'success' && e.connector === CONNECTOR);
    assert.equal(login.user, ada.username, "Keycloak's preferred_username is the upstream username");

    const [brokered] = await kc!.admin.findUsers(ada.username);
    assert.ok(brokered, 'Keycloak created the brokered person');
    assert.equal(brokered.emailVerified, false, "Keycloak's own flag: trustEmail is off");
    const links = await kc!.admin.call<{ identityProvider: string }[]>('GET', `/users/${brokered.id}/federated-identity`);
    assert.deepEqual(
      links.map((l) => l.identityProvider),
      [ALIAS],
    );

    // The second time the person is known: no review page.
    const again = await chromium!.newContext();
    t.after(() => again.close());
    const second = await signIn(again, ada);
    assert.equal(second.reviewed, false);
    assert.equal(second.callback.status(), 302);
    assert.equal((await whoami(again, gw)).status, 200);
  });

  test('another hosted domain, relayed by Keycloak: refused with hosted_domain_mismatch', async (t) => {
    if (!(await ready(t))) return;
    const context = await chromium!.newContext();
    t.after(() => context.close());
    const { callback } = await signIn(context, wrongDomain);
    assert.equal(callback.status(), 403);
    assert.match(await callback.text(), /hosted_domain_mismatch/);
    assert.equal((await whoami(context, gw)).status, 401, 'no session');
    const event = await gw.waitForEvent((e) => e.type === 'user.login' && e.outcome === 'failure' && e.reason === 'hosted_domain_mismatch');
    assert.equal(event.connector, CONNECTOR);
  });

  test('an unverified upstream email, relayed by Keycloak: refused with email_not_verified', async (t) => {
    if (!(await ready(t))) return;
    const context = await chromium!.newContext();
    t.after(() => context.close());
    const { callback } = await signIn(context, unverified);
    assert.equal(callback.status(), 403);
    assert.match(await callback.text(), /email_not_verified/);
    assert.equal((await whoami(context, gw)).status, 401, 'no session');
    const event = await gw.waitForEvent((e) => e.type === 'user.login' && e.outcome === 'failure' && e.reason === 'email_not_verified');
    assert.equal(event.connector, CONNECTOR);
  });
});
