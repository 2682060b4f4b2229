import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createServer } from 'node:http';
import { describe, test } from 'node:test';
import { readAssertion, toIdentity } from '../../../../src/connectors/saml/attributes.js';
import { checkAlgorithms } from '../../../../src/connectors/saml/checks/algorithms.js';
import { checkAudience } from '../../../../src/connectors/saml/checks/audience.js';
import { checkNoDtd } from '../../../../src/connectors/saml/checks/dtd.js';
import { decodeSamlResponse } from '../../../../src/connectors/saml/checks/encoding.js';
import { checkInResponseTo } from '../../../../src/connectors/saml/checks/in-response-to.js';
import { checkResponseSize, MAX_RESPONSE_BYTES } from '../../../../src/connectors/saml/checks/size.js';
import { checkValidity } from '../../../../src/connectors/saml/checks/validity.js';
import { createMetadataSource, parseIdpMetadata } from '../../../../src/connectors/saml/metadata.js';
import { generateSpKeyPair } from '../../../../src/connectors/saml/x509.js';
import { parseXml } from '../../../../src/connectors/saml/xml.js';
import { createTestSamlIdp } from '../../../helpers/peers/saml-idp.js';

const A = 'urn:oasis:names:tc:SAML:2.0:assertion';
const el = (xml: string) => parseXml(xml).documentElement;
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return 'no error';
};

describe('SAML checks', () => {
  test('size: refused by length before decoding, accepted at the limit', () => {
    assert.equal(
      code(() => checkResponseSize('A'.repeat(Math.ceil(MAX_RESPONSE_BYTES / 3) * 4 + 8))),
      'saml_response_too_large',
    );
    assert.equal(
      code(() => checkResponseSize(Buffer.alloc(MAX_RESPONSE_BYTES).toString('base64'))),
      'no error',
    );
  });

  test('encoding: strict base64 and UTF-8', () => {
    assert.equal(
      code(() => decodeSamlResponse('not*base64')),
      'saml_response_malformed',
    );
    assert.equal(
      code(() => decodeSamlResponse(Buffer.from([0xff, 0xfe, 0x3c]).toString('base64'))),
      'saml_response_malformed',
    );
    assert.equal(
      decodeSamlResponse(
        Buffer.from('<a/>')
          .toString('base64')
          .replace(/(.{2})/, '$1\n'),
      ),
      '<a/>',
    );
  });

  test('DTD and entity declarations are refused in any case', () => {
    for (const x of ['<!DOCTYPE a>', '<!doctype a>', '<!ENTITY x "y">', '<! ATTLIST a b CDATA #FIXED "c">']) {
      assert.equal(
        code(() => checkNoDtd(`<a>${x}</a>`)),
        'saml_xml_dtd',
        x,
      );
    }
  });

  test('algorithms: SHA-1 only when allowed, HMAC never, OAEP digest is not a reference digest', () => {
    const sig = (alg: string, digest = 'http://www.w3.org/2001/04/xmlenc#sha256') =>
      el(
        `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:SignatureMethod Algorithm="${alg}"/><ds:Reference><ds:DigestMethod Algorithm="${digest}"/></ds:Reference></ds:SignedInfo></ds:Signature>`,
      );
    const strict = { allowSha1: false, allowRsa15: false };
    assert.equal(
      code(() => checkAlgorithms(sig('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256'), strict)),
      'no error',
    );
    assert.equal(
      code(() => checkAlgorithms(sig('http://www.w3.org/2000/09/xmldsig#rsa-sha1'), strict)),
      'saml_algorithm_refused',
    );
    assert.equal(
      code(() => checkAlgorithms(sig('http://www.w3.org/2000/09/xmldsig#rsa-sha1', 'http://www.w3.org/2000/09/xmldsig#sha1'), { ...strict, allowSha1: true })),
      'no error',
    );
    assert.equal(
      code(() => checkAlgorithms(sig('http://www.w3.org/2000/09/xmldsig#hmac-sha1'), { allowSha1: true, allowRsa15: true })),
      'saml_algorithm_refused',
    );
    const oaep = el(
      `<xenc:EncryptedKey xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"><ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/></xenc:EncryptionMethod></xenc:EncryptedKey>`,
    );
    assert.equal(
      code(() => checkAlgorithms(oaep, strict)),
      'no error',
    );
  });

  test('audience: every restriction must list us', () => {
    const a = (...restrictions: string[][]) =>
      el(
        `<saml:Assertion xmlns:saml="${A}"><saml:Conditions>${restrictions.map((r) => `<saml:AudienceRestriction>${r.map((x) => `<saml:Audience>${x}</saml:Audience>`).join('')}</saml:AudienceRestriction>`).join('')}</saml:Conditions></saml:Assertion>`,
      );
    assert.equal(
      code(() => checkAudience(a(['other', 'us']), 'us')),
      'no error',
    );
    assert.equal(
      code(() => checkAudience(a(['us'], ['other']), 'us')),
      'saml_audience_mismatch',
    );
    assert.equal(
      code(() => checkAudience(a(), 'us')),
      'saml_audience_mismatch',
    );
  });

  test('validity: skew on both ends, confirmation expiry required', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    const a = el(`<saml:Assertion xmlns:saml="${A}"><saml:Conditions NotBefore="2030-01-01T00:00:30Z" NotOnOrAfter="2030-01-01T00:05:00Z"/></saml:Assertion>`);
    const scd = (v?: string) => el(`<saml:SubjectConfirmationData xmlns:saml="${A}"${v ? ` NotOnOrAfter="${v}"` : ''}/>`);
    assert.equal(checkValidity({ assertion: a, confirmations: [scd('2030-01-01T00:04:00Z')], now, skewMs: 60_000 }), Date.parse('2030-01-01T00:04:00Z'));
    assert.equal(
      code(() => checkValidity({ assertion: a, confirmations: [scd('2030-01-01T00:04:00Z')], now, skewMs: 10_000 })),
      'saml_assertion_not_yet_valid',
    );
    assert.equal(
      code(() => checkValidity({ assertion: a, confirmations: [scd()], now, skewMs: 60_000 })),
      'saml_subject_unconfirmed',
    );
    assert.equal(
      code(() => checkValidity({ assertion: a, confirmations: [scd('2029-12-31T23:58:00Z')], now, skewMs: 60_000 })),
      'saml_assertion_expired',
    );
    assert.equal(
      code(() => checkValidity({ assertion: a, confirmations: [scd('tomorrow')], now, skewMs: 60_000 })),
      'saml_response_malformed',
    );
  });

  test('InResponseTo: bound to our request; unsolicited only where allowed and without InResponseTo', () => {
    const response = el(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" InResponseTo="_r1"/>`);
    const bare = el(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`);
    assert.equal(
      code(() => checkInResponseTo({ response, confirmations: [], expectedRequestId: '_r1', allowUnsolicited: false })),
      'no error',
    );
    assert.equal(
      code(() => checkInResponseTo({ response, confirmations: [], expectedRequestId: '_r2', allowUnsolicited: false })),
      'saml_in_response_to_mismatch',
    );
    assert.equal(
      code(() => checkInResponseTo({ response: bare, confirmations: [], expectedRequestId: '_r1', allowUnsolicited: false })),
      'saml_in_response_to_mismatch',
    );
    assert.equal(
      code(() => checkInResponseTo({ response: bare, confirmations: [], allowUnsolicited: false })),
      'saml_unsolicited',
    );
    assert.equal(
      code(() => checkInResponseTo({ response: bare, confirmations: [], allowUnsolicited: true })),
      'no error',
    );
    assert.equal(
      code(() => checkInResponseTo({ response, confirmations: [], allowUnsolicited: true })),
      'saml_in_response_to_mismatch',
    );
  });

  test('attributes: by name or friendly name, arrays, NameID fallback, group paths kept', () => {
    const facts = readAssertion(
      el(
        `<saml:Assertion xmlns:saml="${A}"><saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">bo@example.com</saml:NameID></saml:Subject>` +
          `<saml:AttributeStatement><saml:Attribute Name="urn:oid:1" FriendlyName="groups"><saml:AttributeValue>/ops/sre</saml:AttributeValue><saml:AttributeValue>/dev</saml:AttributeValue></saml:Attribute>` +
          `<saml:Attribute Name="dept"><saml:AttributeValue>ops</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion>`,
      ),
    );
    const id = toIdentity('c', facts, { username: 'uid', email: 'mail', groups: 'groups' });
    assert.equal(id.username, 'bo@example.com');
    assert.equal(id.email, 'bo@example.com');
    assert.deepEqual(id.groups, ['/ops/sre', '/dev']);
    assert.deepEqual(id.claims.dept, ['ops']);
    assert.deepEqual(id.claims.groups, ['/ops/sre', '/dev']);
  });
});

describe('SAML metadata and keys', () => {
  test('the generated SP certificate parses, matches its key and is self-signed', async () => {
    const { key, cert } = await generateSpKeyPair('gatehouse-test');
    const x = new X509Certificate(cert);
    assert.ok(x.checkPrivateKey(createPrivateKey(key)));
    assert.ok(x.verify(x.publicKey));
    assert.match(x.subject, /CN=gatehouse-test/);
  });

  test('IdP metadata: several signing certificates, DTD refused, no SSO endpoint refused', async () => {
    const idp = createTestSamlIdp();
    const other = await generateSpKeyPair('next');
    const parsed = parseIdpMetadata(idp.metadata({ extraCerts: [other.cert] }));
    assert.equal(parsed.signingCerts.length, 2);
    assert.equal(parsed.entityId, idp.entityId);
    assert.equal(parsed.ssoRedirectUrl, idp.ssoUrl);
    assert.equal(
      code(() => parseIdpMetadata(`<!DOCTYPE x>${idp.metadata()}`)),
      'saml_xml_dtd',
    );
    assert.equal(
      code(() => parseIdpMetadata(idp.metadata().replace(/<md:SingleSignOnService[^>]*Redirect[^>]*\/>/, ''))),
      'saml_metadata_invalid',
    );
    assert.equal(
      code(() => parseIdpMetadata(idp.metadata({ omitSigningCert: true }))),
      'saml_metadata_invalid',
    );
  });

  test('metadata URL: fetched, refreshed with a new key, last good copy kept when the IdP fails', async () => {
    const idp = createTestSamlIdp();
    const next = await generateSpKeyPair('next');
    let body = idp.metadata();
    let status = 200;
    const server = createServer((_req, res) => res.writeHead(status).end(body));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/md`;
    const source = createMetadataSource({ url, refreshMs: 0, timeoutMs: 2000 });
    assert.equal((await source.get()).signingCerts.length, 1);
    body = idp.metadata({ extraCerts: [next.cert] });
    assert.equal((await source.get()).signingCerts.length, 2, 'refreshed');
    status = 500;
    await new Promise((r) => setTimeout(r, 5));
    assert.equal((await source.get()).signingCerts.length, 2, 'kept after a failed refresh');
    server.close();
    const down = createMetadataSource({ url, refreshMs: 0, timeoutMs: 500 });
    await assert.rejects(down.get(), (err: { code?: string }) => err.code === 'idp_unavailable');
  });
});
