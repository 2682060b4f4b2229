// SAML through a real Keycloak (the run's): Keycloak is the SAML IdP of a Gatehouse SAML connector.
// The Keycloak client is imported from our SP metadata (/saml/<id>/metadata) the way the admin
// console's "import client" does it, so Keycloak verifies our signed AuthnRequests and
// LogoutRequests with our certificate, and encrypts assertions to it; it signs the response and the
// assertion. Chromium signs in on Keycloak's own login form; email, username and both forms of the
// group mapper (full path off and on) map to Gatehouse roles. Single logout both ways:
// Gatehouse /logout → Keycloak SLO → back, and a logout at Keycloak (its OIDC logout page) sends a
// LogoutRequest through the browser to our SLO endpoint, which ends the Gatehouse session.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test, type TestContext } from 'node:test';
import type { Browser, BrowserContext, Request } from 'playwright-core';
import { launchChromium } from '../helpers/browsers/chromium.js';
import { startGateway, type TestGateway } from '../helpers/gateways/gateway.js';
import { requireKeycloak, samlDescriptorUrl, type Keycloak, type KeycloakMapper, type KeycloakUser } from '../helpers/peers/keycloak.js';
import { requireBinary } from '../helpers/peers/services.js';

/** Encrypted and signed (Keycloak's defaults for an imported client with both certificates). */
const ENCRYPTED = 'kcsaml';
/** The same realm, with a Keycloak client that does not encrypt: this connector requires encryption. */
const PLAIN = 'kcplain';

const samlConnector = (kc: Keycloak, id: string) => ({
  type: 'saml',
  id,
  name: `Keycloak SAML (${id})`,
  idp_metadata_url: samlDescriptorUrl(kc),
  want_assertions_encrypted: true,
  want_response_signed: true,
  attributes: { username: 'username', email: 'email', groups: 'groups' },
});

const policy = {
  roles: [
    { name: 'platform-admin', kubernetes_groups: ['platform-admins'] },
    { name: 'developer', kubernetes_groups: ['developers'] },
  ],
  mappings: [
    // Full group path from the group_paths mapper; the short name of another from the groups mapper.
    { match: { connector: ENCRYPTED, claim: 'group_paths', value: '/platform/admins' }, roles: ['platform-admin'] },
    { match: { connector: ENCRYPTED, claim: 'groups', value: 'devs' }, roles: ['developer'] },
  ],
};

const attributeMapper = (name: string, property: string): KeycloakMapper => ({
  name,
  protocol: 'saml',
  protocolMapper: 'saml-user-property-mapper',
  config: { 'user.attribute': property, 'attribute.name': name, 'attribute.nameformat': 'Basic' },
});
const groupMapper = (name: string, fullPath: boolean): KeycloakMapper => ({
  name,
  protocol: 'saml',
  protocolMapper: 'saml-group-membership-mapper',
  config: { 'attribute.name': name, 'full.path': String(fullPath), single: 'false', 'attribute.nameformat': 'Basic' },
});

/** Chromium: gateway login page → Keycloak's login form → the POST Keycloak's page sends to our ACS. */
async function signIn(context: BrowserContext, gw: TestGateway, kc: Keycloak, connector: string, user: { username: string; password: string }) {
  const page = await context.newPage();
  await page.goto(`${gw.url}/login`);
  await page.click(`#connector-${connector}`);
  await page.waitForURL(`${kc.issuer}/protocol/saml**`);
  await page.fill('#username', user.username);
  await page.fill('#password', user.password);
  const acs = page.waitForRequest((r: Request) => r.url() === `${gw.url}/saml/${connector}/acs` && r.method() === 'POST');
  const answer = page.waitForResponse((r) => r.url() === `${gw.url}/saml/${connector}/acs`);
  await page.click('#kc-login');
  const posted = new URLSearchParams((await acs).postData() ?? '');
  return { page, acs: await answer, samlResponse: Buffer.from(posted.get('SAMLResponse') ?? '', 'base64').toString('utf8') };
}

async function whoami(context: BrowserContext, gw: TestGateway) {
  const res = await context.request.get(`${gw.url}/api/v1/whoami`);
  return { status: res.status(), body: (await res.json()) as Record<string, unknown> };
}

describe('SAML through Keycloak', () => {
  let kc: Keycloak | undefined;
  let chromium: Browser | undefined;
  let setup: Promise<TestGateway> | undefined;
  let gw: TestGateway;
  const clients: string[] = [];
  const people: KeycloakUser[] = [];

  after(async () => {
    await (await setup?.catch(() => undefined))?.stop();
    for (const id of clients) await kc?.admin.deleteClient(id).catch(() => undefined);
    for (const user of people) await kc?.admin.deleteUser(user.id).catch(() => undefined);
  });

  /** One gateway for the file, and a Keycloak client per connector imported from its SP metadata. */
  const start = async (k: Keycloak) => {
    const g = await startGateway({ connectors: [samlConnector(k, ENCRYPTED), samlConnector(k, PLAIN)], ...policy });
    for (const id of [ENCRYPTED, PLAIN]) {
      const client = await k.admin.clientFromSpMetadata(await (await fetch(`${g.url}/saml/${id}/metadata`)).text());
      assert.equal(client.attributes['saml.encrypt'], 'true', 'Keycloak read our encryption certificate from the metadata');
      assert.equal(client.attributes['saml.client.signature'], 'true', 'and our signing certificate');
      if (id === PLAIN) client.attributes['saml.encrypt'] = 'false';
      clients.push(
        await k.admin.createClient({
          ...client,
          name: `Gatehouse test ${id} ${g.url}`,
          enabled: true,
          frontchannelLogout: true,
          protocolMappers: [
            attributeMapper('email', 'email'),
            attributeMapper('username', 'username'),
            groupMapper('groups', false),
            groupMapper('group_paths', true),
          ],
        }),
      );
    }
    return g;
  };

  const ready = async (t: TestContext) => {
    kc = await requireKeycloak(t);
    chromium = kc && (await launchChromium(t));
    if (!kc || !chromium || !requireBinary(t, 'xmllint')) return false;
    setup ??= start(kc);
    gw = await setup;
    return true;
  };

  const person = async (name: string) => {
    const user = await kc!.admin.createUser({ username: `${name}-${randomBytes(4).toString('hex')}`, groups: ['/platform/admins', '/devs'] });
    people.push(user);
    return user;
  };

  test("signed and encrypted: Chromium on Keycloak's login form, attributes and both group forms mapped to roles", async (t) => {
    if (!(await ready(t))) return;
    const user = await person('sam');
    const context = await chromium!.newContext();
    t.after(() => context.close());
    const { page, acs, samlResponse } = await signIn(context, gw, kc!, ENCRYPTED, user);
    if (acs.status() !== 200) assert.fail(`the ACS answered ${acs.status()}: ${await acs.text()}`);
    await page.waitForURL(`${gw.url}/`);

    assert.match(samlResponse, /<saml:EncryptedAssertion/, 'Keycloak encrypted the assertion to our certificate');
    assert.doesNotMatch(samlResponse, new RegExp(user.username), 'no attribute is readable in transit');
    assert.match(samlResponse, /^<samlp:Response[^>]*>(?:(?!<\/samlp:Response>).)*<dsig:Signature|<ds:Signature/s, 'the response is signed');

    const me = await whoami(context, gw);
    assert.equal(me.status, 200);
    assert.equal(me.body.username, user.username, 'the username attribute');
    assert.equal(me.body.email, `${user.username}@example.com`, 'the email attribute');
    assert.equal(me.body.connector, ENCRYPTED);
    assert.deepEqual([...(me.body.groups as string[])].sort(), ['admins', 'devs'], 'short group names (full path off)');
    assert.deepEqual([...(me.body.roles as string[])].sort(), ['developer', 'platform-admin'], '/platform/admins by full path, devs by name');

    const login = await gw.waitForEvent((e) => e.type === 'user.login' && e.outcome === 'success' && e.user === user.username);
    assert.equal(login.connector, ENCRYPTED);
  });

  test('a Keycloak client that does not encrypt is refused by a connector that requires it: saml_encryption_required', async (t) => {
    if (!(await ready(t))) return;
    const user = await person('plain');
    const context = await chromium!.newContext();
    t.after(() => context.close());
    const { acs: refused, samlResponse } = await signIn(context, gw, kc!, PLAIN, user);
    assert.doesNotMatch(samlResponse, /EncryptedAssertion/);
    assert.equal(refused.status(), 401);
    assert.match(await refused.text(), /saml_encryption_required/);
    assert.equal((await whoami(context, gw)).status, 401, 'no session');
    const event = await gw.waitForEvent((e) => e.type === 'user.login' && e.outcome === 'failure' && e.connector === PLAIN);
    assert.equal(event.reason, 'saml_encryption_required');
  });

  test('SP-initiated single logout: Gatehouse /logout → Keycloak SLO → back to /login, both sessions gone', async (t) => {
    if (!(await ready(t))) return;
    const user = await person('sp-out');
    const context = await chromium!.newContext();
    t.after(() => context.close());
    const { page } = await signIn(context, gw, kc!, ENCRYPTED, user);
    await page.waitForURL(`${gw.url}/`);
    assert.equal((await kc!.admin.userSessions(user.id)).length, 1, 'a Keycloak session');

    await page.goto(`${gw.url}/logout`);
    const toKeycloak = page.waitForRequest((r) => r.url().startsWith(`${kc!.issuer}/protocol/saml?SAMLRequest=`));
    const back = page.waitForRequest((r) => r.url().startsWith(`${gw.url}/saml/${ENCRYPTED}/slo?SAMLResponse=`));
    await page.click('#logout-form button');
    assert.match((await toKeycloak).url(), /&Signature=/, 'a signed LogoutRequest');
    await back;
    await page.waitForURL(`${gw.url}/login**`);

    assert.equal((await whoami(context, gw)).status, 401, 'the Gatehouse session ended');
    assert.deepEqual(await kc!.admin.userSessions(user.id), [], 'the Keycloak session ended');
    const event = await gw.waitForEvent((e) => e.type === 'user.logout' && e.user === user.username);
    assert.equal(event.details?.upstream_logout, true);
  });

  test('IdP-initiated single logout: a logout at Keycloak sends a LogoutRequest to our SLO and the Gatehouse session ends', async (t) => {
    if (!(await ready(t))) return;
    const user = await person('idp-out');
    const context = await chromium!.newContext();
    t.after(() => context.close());
    const { page } = await signIn(context, gw, kc!, ENCRYPTED, user);
    await page.waitForURL(`${gw.url}/`);
    assert.equal((await whoami(context, gw)).status, 200);

    // Keycloak's own logout page (as from the account console or another client), in the same browser.
    await page.goto(`${kc!.issuer}/protocol/openid-connect/logout`);
    const ours = page.waitForRequest((r) => r.url().startsWith(`${gw.url}/saml/${ENCRYPTED}/slo?SAMLRequest=`));
    await page.click('#kc-logout');
    assert.match((await ours).url(), /&Signature=/, "Keycloak's LogoutRequest is signed");
    await page.waitForURL(`${kc!.issuer}/**`);

    assert.equal((await whoami(context, gw)).status, 401, 'the Gatehouse session ended');
    const event = await gw.waitForEvent((e) => e.type === 'user.logout' && e.user === user.username);
    assert.equal(event.outcome, 'success');
    assert.equal(event.details?.initiated_by, 'idp');
    assert.deepEqual(await kc!.admin.userSessions(user.id), []);
  });
});
