/**
 * The ACS POST is unauthenticated: it must validate a SAMLResponse (signature, wrapping, issuer,
 * audience, time) before storing anything for the same-site hop, and it is rate-limited per
 * client address, a flood being audited once per window. Every hostile case checks the status,
 * the stable code, the `user.login` failure event, and that no `saml:acs:*` key was written and
 * no session exists.
 *
 * Hostile cases: 11 refused POSTs (below) + 1 flood (40 requests) = 12.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Browser } from '../../helpers/browsers/browser.js';
import { startGateway, type TestGateway } from '../../helpers/gateways/gateway.js';
import { postToAcs, startSamlLogin } from '../../helpers/browsers/saml-flow.js';
import { createTestSamlIdp, newKeyPair, type ResponseOptions, type TestSamlIdp } from '../../helpers/peers/saml-idp.js';
import { requireBinary } from '../../helpers/peers/services.js';

const attributes = [['uid', 'alice']] as const;
const assertionOf = (xml: string) => /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(xml)![0];

/** Records every store key written under the ACS prefix. */
function watchAcsWrites(gw: TestGateway): string[] {
  const written: string[] = [];
  const store = gw.gateway.store;
  const set = store.set.bind(store);
  store.set = async (key, value, ttl) => {
    if (key.startsWith('saml:acs:')) written.push(key);
    return set(key, value, ttl);
  };
  return written;
}

describe('SAML ACS: validate before storing', () => {
  let gw: TestGateway;
  let idp: TestSamlIdp;
  let dir: string;
  let spMetadata: string;
  let written: string[];
  let skip = false;

  before(async (t) => {
    if (!requireBinary(t as never, 'xmllint')) return void (skip = true);
    dir = mkdtempSync(join(tmpdir(), 'gh-saml-acs-'));
    idp = createTestSamlIdp();
    writeFileSync(join(dir, 'idp.xml'), idp.metadata());
    gw = await startGateway({ connectors: [{ id: 'corp', type: 'saml', idp_metadata_file: join(dir, 'idp.xml'), attributes: { username: 'uid' } }] });
    spMetadata = await (await fetch(`${gw.url}/saml/corp/metadata`)).text();
    written = watchAcsWrites(gw);
  });
  after(async () => {
    if (skip) return;
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const cases: [string, Partial<ResponseOptions> & { raw?: string; noResponse?: boolean }, number, string][] = [
    ['no SAMLResponse field', { noResponse: true }, 400, 'saml_response_malformed'],
    ['malformed base64', { raw: 'PHNhbWxwOlJlc3BvbnNl!!!not-base64' }, 400, 'saml_response_malformed'],
    ['not XML', { raw: Buffer.from('hello, I am not XML').toString('base64') }, 400, 'saml_response_malformed'],
    ['DTD with an external entity', { mutate: (x) => `<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>${x}` }, 400, 'saml_xml_dtd'],
    ['unsigned response', { sign: 'none' }, 401, 'saml_signature_missing'],
    ['signed by a key not in the metadata', { signingKey: newKeyPair() }, 401, 'saml_signature_invalid'],
    ['altered after signing', { mutate: (x) => x.replace('>alice<', '>root<') }, 401, 'saml_signature_invalid'],
    [
      'XSW: unsigned evil assertion next to the signed one',
      {
        mutate: (x) =>
          x.replace(
            assertionOf(x),
            assertionOf(x)
              .replace(/<ds:Signature[\s\S]*<\/ds:Signature>/, '')
              .replace(/ID="[^"]+"/, 'ID="_evil"') + assertionOf(x),
          ),
      },
      401,
      'saml_signature_wrapping',
    ],
    ['wrong issuer', { issuer: 'https://evil-idp.example.com/metadata' }, 401, 'saml_issuer_mismatch'],
    ['wrong audience', { audience: 'https://other-sp.example.com/metadata' }, 401, 'saml_audience_mismatch'],
    ['expired', { notBefore: -600_000, notOnOrAfter: -120_000 }, 401, 'saml_assertion_expired'],
  ];

  for (const [name, options, status, code] of cases) {
    test(`refused at the POST, nothing stored: ${name} → ${status} ${code}`, async (t) => {
      if (skip) return t.skip('xmllint missing');
      const before = written.length;
      const browser = new Browser();
      const started = await startSamlLogin(browser, gw.url, 'corp');
      const encoded = options.raw ?? (await idp.response({ spMetadata, inResponseTo: started.requestId, attributes, ...options })).encoded;
      const form: Record<string, string> = { RelayState: started.relayState };
      if (!options.noResponse) form.SAMLResponse = encoded;
      const acs = await browser.request(`${gw.url}/saml/corp/acs`, { form });
      assert.equal(acs.status, status, acs.body.slice(0, 300));
      const body = JSON.parse(acs.body) as { error: string; request_id: string };
      assert.equal(body.error, code);
      assert.doesNotMatch(acs.body, /acs\/complete/, 'no same-site hop offered');
      assert.equal(written.length, before, 'nothing stored for the hop');
      assert.equal(browser.cookie('gatehouse_session'), undefined);
      assert.equal((await browser.request(`${gw.url}/api/v1/whoami`)).status, 401);
      const event = await gw.waitForEvent((e) => e.type === 'user.login' && e.request_id === body.request_id);
      assert.equal(event.outcome, 'failure');
      assert.equal(event.code, 'GH1001W');
      assert.equal(event.reason, code);
      assert.equal(event.connector, 'corp');
    });
  }

  test('control: a valid response is stored once and the login completes', async (t) => {
    if (skip) return t.skip('xmllint missing');
    const before = written.length;
    const browser = new Browser();
    const started = await startSamlLogin(browser, gw.url, 'corp');
    const { encoded } = await idp.response({ spMetadata, inResponseTo: started.requestId, attributes });
    const { complete } = await postToAcs(browser, `${gw.url}/saml/corp/acs`, { SAMLResponse: encoded, RelayState: started.relayState });
    assert.equal(written.length, before + 1);
    assert.equal(complete?.status, 302, complete?.body);
    assert.equal((await browser.request(`${gw.url}/api/v1/whoami`)).status, 200);
  });
});

describe('SAML ACS: flood from one address', () => {
  let gw: TestGateway;
  let dir: string;
  let written: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gh-saml-acs-flood-'));
    writeFileSync(join(dir, 'idp.xml'), createTestSamlIdp().metadata());
    gw = await startGateway({
      server: { rate_limit: { login_per_minute: 5 } },
      connectors: [{ id: 'corp', type: 'saml', idp_metadata_file: join(dir, 'idp.xml'), attributes: { username: 'uid' } }],
    });
    written = watchAcsWrites(gw);
  });
  after(async () => {
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('40 POSTs: 429 rate_limited past the budget, audited once per window, nothing stored', async () => {
    const statuses: number[] = [];
    const codes = new Set<string>();
    const big = 'A'.repeat(200 * 1024);
    for (let i = 0; i < 40; i++) {
      const res = await fetch(`${gw.url}/saml/corp/acs`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: `SAMLResponse=${big}`,
      });
      statuses.push(res.status);
      const body = (await res.json()) as { error: string };
      if (res.status === 429) {
        codes.add(body.error);
        assert.ok(Number(res.headers.get('retry-after')) >= 1);
      }
    }
    const limited = statuses.filter((s) => s === 429).length;
    // Fixed one-minute windows: a run that crosses a minute boundary gets a second budget.
    assert.ok(limited >= 30 && limited <= 35, `429s: ${limited} (${statuses.join(',')})`);
    assert.deepEqual([...codes], ['rate_limited']);
    assert.equal(written.length, 0, 'nothing stored');
    await new Promise((r) => setTimeout(r, 300));
    const events = gw.auditEvents().filter((e) => e.type === 'user.login' && e.reason === 'rate_limited');
    // Once per window: one event, or two when the run crossed a minute boundary.
    assert.ok(events.length >= 1 && events.length <= 2, `rate_limited events: ${events.length}`);
    assert.equal(events[0].outcome, 'failure');
    assert.equal(events[0].code, 'GH1001W');
    assert.equal(events[0].connector, 'corp');
  });
});
