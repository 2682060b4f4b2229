/**
 * samlify in the IdP role, for the SAML attack corpus: it builds a Response from our own
 * template (every field overridable), then signs and encrypts it with samlify's primitives
 * (SamlLib.constructSAMLSignature, SamlLib.encryptAssertion) exactly as an IdP would.
 * Keys and certificates are generated when the test runs.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { createSign } from 'node:crypto';
import samlify from 'samlify';

const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
export const RSA_SHA1 = 'http://www.w3.org/2000/09/xmldsig#rsa-sha1';
export const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
export const RSA_1_5 = 'http://www.w3.org/2001/04/xmlenc#rsa-1_5';
export const EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';

export interface KeyPair {
  key: string;
  cert: string;
}

/** An RSA-2048 key and self-signed certificate for the test IdP, made by `openssl` (synchronously, so test tables can hold them). */
export function newKeyPair(): KeyPair {
  const dir = mkdtempSync(join(tmpdir(), 'gh-idp-key-'));
  try {
    const args = ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2', '-subj', '/CN=test-idp'];
    execFileSync('openssl', [...args, '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const bare = (pem: string) => samlify.Utility.normalizeCerString(pem);
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const iso = (ms: number) => new Date(ms).toISOString();

export interface ResponseOptions {
  /** Our SP: its metadata XML gives ACS URL, entity id and encryption certificate. */
  spMetadata: string;
  inResponseTo?: string;
  nameId?: string;
  /** Raw XML inside <NameID> (comment injection). */
  nameIdXml?: string;
  nameIdFormat?: string;
  sessionIndex?: string;
  /** Name → values; `{ name, friendlyName, values }` for friendly names. */
  attributes?: readonly (
    readonly [string, string | readonly string[]] | { readonly name: string; readonly friendlyName: string; readonly values: readonly string[] }
  )[];
  issuer?: string;
  audience?: string;
  destination?: string | null;
  recipient?: string;
  /** Offsets in ms from now. */
  notBefore?: number;
  notOnOrAfter?: number;
  confirmationNotOnOrAfter?: number;
  status?: string;
  /** What gets signed. Default: the assertion. */
  sign?: 'assertion' | 'response' | 'both' | 'none';
  signatureAlgorithm?: string;
  /** Sign with another key than the one in the IdP's metadata. */
  signingKey?: KeyPair;
  encrypt?: boolean;
  keyEncryptionAlgorithm?: string;
  /** Last-minute surgery on the final XML (XSW variants, DTD payloads). */
  mutate?(xml: string): string;
  /** Padding attribute values to make the response large. */
  padding?: number;
}

export interface TestSamlIdp {
  entityId: string;
  ssoUrl: string;
  sloUrl: string;
  keys: KeyPair;
  /** IdP metadata; `extraCerts` are published too (rollover). */
  metadata(options?: { extraCerts?: string[]; omitSigningCert?: boolean }): string;
  /** A base64 SAMLResponse, built and signed (and encrypted) as asked. */
  response(options: ResponseOptions): Promise<{ encoded: string; xml: string; assertionId: string }>;
  /** An HTTP-Redirect LogoutRequest query string, signed with the IdP key. */
  logoutRequest(options: { spSloUrl: string; nameId: string; sessionIndex?: string; sign?: boolean; signingKey?: KeyPair }): string;
}

export function createTestSamlIdp(options: { entityId?: string; baseUrl?: string; keys?: KeyPair } = {}): TestSamlIdp {
  const base = options.baseUrl ?? 'https://idp.test.invalid';
  const entityId = options.entityId ?? `${base}/metadata`;
  const keys = options.keys ?? newKeyPair();
  const ssoUrl = `${base}/sso`;
  const sloUrl = `${base}/slo`;

  const metadata = (m: { extraCerts?: string[]; omitSigningCert?: boolean } = {}) => {
    const certs = [...(m.omitSigningCert ? [] : [keys.cert]), ...(m.extraCerts ?? [])];
    const keyDescriptors = certs
      .map(
        (c) =>
          `<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>${bare(c)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`,
      )
      .join('');
    return `<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${esc(entityId)}">
<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">${keyDescriptors}
<md:SingleLogoutService Binding="${REDIRECT}" Location="${esc(sloUrl)}"/>
<md:NameIDFormat>${EMAIL_FORMAT}</md:NameIDFormat>
<md:SingleSignOnService Binding="${REDIRECT}" Location="${esc(ssoUrl)}"/>
<md:SingleSignOnService Binding="${POST}" Location="${esc(ssoUrl)}"/>
</md:IDPSSODescriptor>
</md:EntityDescriptor>`;
  };

  const idpEntity = (o: ResponseOptions, signer: KeyPair) =>
    samlify.IdentityProvider({
      entityID: entityId,
      signingCert: signer.cert,
      privateKey: signer.key,
      isAssertionEncrypted: true,
      keyEncryptionAlgorithm: o.keyEncryptionAlgorithm ?? 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
      dataEncryptionAlgorithm: 'http://www.w3.org/2001/04/xmlenc#aes256-cbc',
      singleSignOnService: [{ Binding: REDIRECT, Location: ssoUrl }],
      singleLogoutService: [{ Binding: REDIRECT, Location: sloUrl }],
    } as Parameters<typeof samlify.IdentityProvider>[0]);

  return {
    entityId,
    ssoUrl,
    sloUrl,
    keys,
    metadata,

    async response(o) {
      const sp = samlify.ServiceProvider({ metadata: o.spMetadata });
      const acs = sp.entityMeta.getAssertionConsumerService('post') as string;
      const spEntityId = sp.entityMeta.getEntityID();
      const now = Date.now();
      const id = `_${randomUUID()}`;
      const assertionId = `_${randomUUID()}`;
      const issuer = o.issuer ?? entityId;
      const inResponseTo = o.inResponseTo !== undefined ? ` InResponseTo="${esc(o.inResponseTo)}"` : '';
      const destination = o.destination === null ? '' : ` Destination="${esc(o.destination ?? acs)}"`;
      const attributes = (o.attributes ?? [])
        .map((a) => {
          const { name, friendlyName, values } = 'name' in a ? a : { name: a[0], friendlyName: undefined, values: typeof a[1] === 'string' ? [a[1]] : a[1] };
          return `<saml:Attribute Name="${esc(name)}"${friendlyName ? ` FriendlyName="${esc(friendlyName)}"` : ''} NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">${values
            .map((v) => `<saml:AttributeValue xsi:type="xs:string">${esc(v)}</saml:AttributeValue>`)
            .join('')}</saml:Attribute>`;
        })
        .join('');
      const padding = o.padding ? `<saml:Attribute Name="padding"><saml:AttributeValue>${'x'.repeat(o.padding)}</saml:AttributeValue></saml:Attribute>` : '';
      const nameIdInner = o.nameIdXml ?? esc(o.nameId ?? 'alice@example.com');
      let xml =
        `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${id}" Version="2.0" IssueInstant="${iso(now)}"${destination}${inResponseTo}>` +
        `<saml:Issuer>${esc(issuer)}</saml:Issuer>` +
        `<samlp:Status><samlp:StatusCode Value="${esc(o.status ?? 'urn:oasis:names:tc:SAML:2.0:status:Success')}"/></samlp:Status>` +
        `<saml:Assertion xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="${assertionId}" Version="2.0" IssueInstant="${iso(now)}">` +
        `<saml:Issuer>${esc(issuer)}</saml:Issuer>` +
        `<saml:Subject><saml:NameID Format="${esc(o.nameIdFormat ?? EMAIL_FORMAT)}">${nameIdInner}</saml:NameID>` +
        `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="${iso(now + (o.confirmationNotOnOrAfter ?? o.notOnOrAfter ?? 300_000))}" Recipient="${esc(o.recipient ?? acs)}"${inResponseTo}/></saml:SubjectConfirmation></saml:Subject>` +
        `<saml:Conditions NotBefore="${iso(now + (o.notBefore ?? -30_000))}" NotOnOrAfter="${iso(now + (o.notOnOrAfter ?? 300_000))}"><saml:AudienceRestriction><saml:Audience>${esc(o.audience ?? spEntityId)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
        `<saml:AuthnStatement AuthnInstant="${iso(now)}" SessionIndex="${esc(o.sessionIndex ?? `_s${randomUUID()}`)}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
        (attributes || padding ? `<saml:AttributeStatement>${attributes}${padding}</saml:AttributeStatement>` : '') +
        `</saml:Assertion></samlp:Response>`;

      const signer = o.signingKey ?? keys;
      const sign = o.sign ?? 'assertion';
      const config = {
        privateKey: signer.key,
        signingCert: bare(signer.cert),
        signatureAlgorithm: o.signatureAlgorithm ?? RSA_SHA256,
        isBase64Output: false,
      };
      if (sign === 'assertion' || sign === 'both') {
        xml = samlify.SamlLib.constructSAMLSignature({
          ...config,
          rawSamlMessage: xml,
          referenceTagXPath: "/*[local-name(.)='Response']/*[local-name(.)='Assertion']",
          signatureConfig: {
            prefix: 'ds',
            location: { reference: "/*[local-name(.)='Response']/*[local-name(.)='Assertion']/*[local-name(.)='Issuer']", action: 'after' },
          },
        });
      }
      if (o.encrypt) {
        xml = Buffer.from(await samlify.SamlLib.encryptAssertion(idpEntity(o, signer), sp, xml), 'base64').toString('utf8');
      }
      if (sign === 'response' || sign === 'both') {
        xml = samlify.SamlLib.constructSAMLSignature({
          ...config,
          rawSamlMessage: xml,
          isMessageSigned: true,
          signatureConfig: { prefix: 'ds', location: { reference: "/*[local-name(.)='Response']/*[local-name(.)='Issuer']", action: 'after' } },
        });
      }
      if (o.mutate) xml = o.mutate(xml);
      return { encoded: Buffer.from(xml, 'utf8').toString('base64'), xml, assertionId };
    },

    logoutRequest(o) {
      const now = Date.now();
      const xml =
        `<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_${randomUUID()}" Version="2.0" IssueInstant="${iso(now)}" Destination="${esc(o.spSloUrl)}" NotOnOrAfter="${iso(now + 300_000)}">` +
        `<saml:Issuer>${esc(entityId)}</saml:Issuer><saml:NameID Format="${EMAIL_FORMAT}">${esc(o.nameId)}</saml:NameID>` +
        (o.sessionIndex ? `<samlp:SessionIndex>${esc(o.sessionIndex)}</samlp:SessionIndex>` : '') +
        `</samlp:LogoutRequest>`;
      let query = `SAMLRequest=${encodeURIComponent(deflateRawSync(Buffer.from(xml)).toString('base64'))}&RelayState=${encodeURIComponent('rs-1')}`;
      if (o.sign !== false) {
        query += `&SigAlg=${encodeURIComponent(RSA_SHA256)}`;
        const signature = createSign('sha256')
          .update(query)
          .sign((o.signingKey ?? keys).key)
          .toString('base64');
        query += `&Signature=${encodeURIComponent(signature)}`;
      }
      return query;
    },
  };
}
