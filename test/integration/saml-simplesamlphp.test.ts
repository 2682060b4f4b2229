/**
 * End to end against an independent, real SAML IdP: Debian's SimpleSAMLphp 1.19, started on
 * 127.0.0.1 by the test (test/helpers/peers/simplesamlphp.ts), its login form submitted headlessly.
 * SP-initiated login (signed AuthnRequest) → IdP login form → HTTP-POST to our ACS → same-site
 * hop → session → whoami shows the mapped attributes; then single logout through the IdP.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { Browser, hiddenInputs, type Page } from '../helpers/browsers/browser.js';
import { startGateway, type TestGateway } from '../helpers/gateways/gateway.js';
import { metaRefreshTarget } from '../helpers/browsers/saml-flow.js';
import { REDIS_URL, requireBinary, requireRedis, skipOrFail } from '../helpers/peers/services.js';
import { simpleSamlPhpMissing, startSimpleSamlPhp, type SimpleSamlPhp } from '../helpers/peers/simplesamlphp.js';

const alice = {
  username: 'alice',
  password: 'alice-ssp-pw', // secret-scan: allow
  attributes: { uid: ['alice'], email: ['alice@example.com'], groups: ['/ops/sre', 'devs'], displayName: ['Alice Liddell'] },
};

/** The first POST form on a page, as [absolute action, fields]. */
function postForm(page: Page): [string, Record<string, string>] {
  const tag = /<form\b[^>]*method=["']?post["']?[^>]*>/i.exec(page.body)?.[0];
  assert.ok(tag, `no POST form on ${page.url}:\n${page.body.slice(0, 2000)}`);
  const action = /action=["']([^"']*)["']/i.exec(tag)?.[1] ?? '';
  return [new URL(action.replaceAll('&amp;', '&'), page.url).href, hiddenInputs(page.body)];
}

describe('SAML login against SimpleSAMLphp (real IdP)', () => {
  let ssp: SimpleSamlPhp;
  let gw: TestGateway;
  let skip = false;

  before(async (t) => {
    const missing = simpleSamlPhpMissing();
    if (missing) {
      skipOrFail(t as never, missing);
      return void (skip = true);
    }
    if (!requireBinary(t as never, 'xmllint') || !(await requireRedis(t as never))) return void (skip = true);
    ssp = await startSimpleSamlPhp({ users: [alice] });
    // The Redis store, as replicas run: request binding and the assertion replay cache live there.
    gw = await startGateway({
      state: { redis_url: REDIS_URL, redis_prefix: `gh-saml-ssp-${randomBytes(6).toString('hex')}:` },
      connectors: [
        {
          id: 'ssp',
          type: 'saml',
          name: 'SimpleSAMLphp',
          idp_metadata_url: ssp.metadataUrl,
          sign_authn_requests: true,
          attributes: { username: 'uid', email: 'email', groups: 'groups' },
        },
        {
          // The same IdP, as a second SP that takes encrypted assertions only.
          id: 'sspenc',
          type: 'saml',
          name: 'SimpleSAMLphp (encrypted)',
          idp_metadata_url: ssp.metadataUrl,
          sign_authn_requests: true,
          want_assertions_encrypted: true,
          attributes: { username: 'uid', email: 'email', groups: 'groups' },
        },
      ],
    });
    ssp.registerSp(await (await fetch(`${gw.url}/saml/ssp/metadata`)).text());
    ssp.registerSp(await (await fetch(`${gw.url}/saml/sspenc/metadata`)).text(), { encryptAssertions: true });
  });
  after(async () => {
    if (skip) return;
    await gw?.stop();
    await ssp?.stop();
  });

  /** The whole login; also returns what SimpleSAMLphp posted to our ACS, for replaying it. */
  async function logIn(browser: Browser, connector = 'ssp'): Promise<Page & { posted: { action: string; fields: Record<string, string> } }> {
    const chooser = await browser.go(`${gw.url}/login`);
    assert.match(chooser.body, /SimpleSAMLphp/);
    // /login/ssp → 302 to SimpleSAMLphp's SSO (signed AuthnRequest) → its username/password form.
    const form = await browser.go(`${gw.url}/login/${connector}`);
    assert.equal(form.status, 200, form.body.slice(0, 2000));
    assert.match(form.body, /name="password"/, 'the IdP login form');
    const [action, hidden] = postForm(form);
    const posted = await browser.go(action, { form: { ...hidden, username: alice.username, password: alice.password } });
    // SimpleSAMLphp answers with its auto-submitting HTTP-POST binding form to our ACS.
    const [acsAction, fields] = postForm(posted);
    assert.equal(acsAction, `${gw.url}/saml/${connector}/acs`);
    assert.ok(fields.SAMLResponse && fields.RelayState, 'SAMLResponse and RelayState');
    const acs = await browser.request(acsAction, { form: fields });
    assert.equal(acs.status, 200, acs.body);
    const next = metaRefreshTarget(acs);
    assert.ok(next, 'the ACS answers with a same-site hop');
    return { ...(await browser.request(next)), posted: { action: acsAction, fields } };
  }

  test('SP-initiated login → IdP form → ACS → session → whoami shows mapped attributes', async (t) => {
    if (skip) return t.skip('SimpleSAMLphp unavailable');
    const browser = new Browser();
    const done = await logIn(browser);
    assert.equal(done.status, 302, done.body);
    assert.equal(done.location, `${gw.url}/`);
    const me = JSON.parse((await browser.request(`${gw.url}/api/v1/whoami`)).body);
    assert.equal(me.username, 'alice');
    assert.equal(me.email, 'alice@example.com');
    assert.deepEqual(me.groups, ['/ops/sre', 'devs']);
    assert.equal(me.connector, 'ssp');
    assert.equal(me.subject, 'alice@example.com', 'NameID (emailAddress) is the subject');
    const event = await gw.waitForEvent((e) => e.type === 'user.login' && e.outcome === 'success' && e.connector === 'ssp');
    assert.equal(event.user, 'alice');
    assert.deepEqual(event.details?.groups, ['/ops/sre', 'devs']);

    // The same response posted again (a captured one, replayed) is refused at the ACS's second step,
    // and audited: the login it answered was taken from the store once already.
    const attacker = new Browser();
    const stored = await attacker.request(done.posted.action, { form: done.posted.fields });
    const replay = await attacker.request(metaRefreshTarget(stored)!, { headers: { accept: 'application/json' } });
    assert.equal(replay.status, 400, replay.body);
    assert.equal(JSON.parse(replay.body).error, 'state_mismatch');
    const refused = await gw.waitForEvent((e) => e.type === 'user.login' && e.outcome === 'failure' && e.reason === 'state_mismatch');
    assert.equal(refused.connector, 'ssp');
  });

  test('encrypted assertions: SimpleSAMLphp encrypts to our SP certificate, and the SP that requires them signs in', async (t) => {
    if (skip) return t.skip('SimpleSAMLphp unavailable');
    const browser = new Browser();
    const done = await logIn(browser, 'sspenc');
    const response = Buffer.from(done.posted.fields.SAMLResponse, 'base64').toString('utf8');
    assert.match(response, /<saml:EncryptedAssertion/, 'the IdP sent the assertion encrypted');
    assert.doesNotMatch(response, /alice@example\.com/, 'no attribute is readable in transit');
    assert.match(response, /xmlenc#rsa-oaep-mgf1p/, 'RSA-OAEP key transport');
    assert.equal(done.status, 302, done.body);
    const me = JSON.parse((await browser.request(`${gw.url}/api/v1/whoami`)).body);
    assert.deepEqual([me.username, me.email, me.connector], ['alice', 'alice@example.com', 'sspenc']);
    assert.deepEqual(me.groups, ['/ops/sre', 'devs']);
    const event = await gw.waitForEvent((e) => e.type === 'user.login' && e.outcome === 'success' && e.connector === 'sspenc');
    assert.equal(event.user, 'alice');
  });

  test('logout ends the session and goes through the IdP single logout and back', async (t) => {
    if (skip) return t.skip('SimpleSAMLphp unavailable');
    const browser = new Browser();
    await logIn(browser);
    assert.equal((await browser.request(`${gw.url}/api/v1/whoami`)).status, 200);
    const out = await browser.request(`${gw.url}/logout`, { form: hiddenInputs((await browser.request(`${gw.url}/logout`)).body) });
    assert.equal(out.status, 302);
    const slo = new URL(out.location!);
    assert.equal(slo.origin, ssp.url, 'sent to the IdP SingleLogoutService');
    const request = inflateRawSync(Buffer.from(slo.searchParams.get('SAMLRequest')!, 'base64')).toString('utf8');
    assert.match(request, /alice@example.com/);
    assert.equal((await browser.request(`${gw.url}/api/v1/whoami`)).status, 401, 'gateway session ended');
    // The IdP ends its session and answers with a LogoutResponse to our SLO endpoint, which goes to /login.
    const back = await browser.go(out.location!, {}, `${gw.url}/login`);
    assert.equal(back.status, 302, back.body.slice(0, 1500));
    assert.ok(back.location?.startsWith(`${gw.url}/login`), back.location);
    const event = await gw.waitForEvent((e) => e.type === 'user.logout' && e.connector === 'ssp');
    assert.equal(event.details?.upstream_logout, true);
    // The IdP session is gone too: the next login shows the password form again.
    const again = await browser.go(`${gw.url}/login/ssp`);
    assert.match(again.body, /name="password"/);
  });
});
