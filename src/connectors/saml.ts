import { createVerify } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { XMLSerializer } from '@xmldom/xmldom';
import samlify from 'samlify';
import type { SamlConnectorConfig } from '../config/schema.js';
import type { Logger } from '../core/logger.js';
import type { Store } from '../store/store.js';
import type { Connector, LoginResult } from './connector.js';
import { toIdentity } from './saml/attributes.js';
import { SHA1_SIGNATURE, SIGNATURE_ALGORITHMS } from './saml/checks/algorithms.js';
import { checkNoDtd } from './saml/checks/dtd.js';
import type { SchemaValidator } from './saml/checks/schema.js';
import { MAX_RESPONSE_BYTES } from './saml/checks/size.js';
import { decryptAssertion } from './saml/decrypt.js';
import { fromSamlify, samlError } from './saml/errors.js';
import { createMetadataSource, type IdpMetadata } from './saml/metadata.js';
import type { SpKeyPair } from './saml/sp-keys.js';
import { validateLoginResponse, type ResponsePolicy, type ValidationDeps } from './saml/validate.js';
import { NS, attr, child, children, parseXml, textOf } from './saml/xml.js';

const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
/** Unspecified first: the IdP picks what it is configured to send for us. */
const NAME_ID_FORMATS = [
  'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
  'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
];

/** What an IdP's LogoutRequest asks us to end. */
export interface IdpLogoutRequest {
  nameId: string;
  sessionIndexes: string[];
  /** The LogoutResponse to send the browser back to the IdP with. */
  responseUrl(): string;
}

/** A SAML connector: the Connector login flow plus metadata and single logout. */
export interface SamlConnector extends Connector {
  readonly type: 'saml';
  readonly allowIdpInitiated: boolean;
  readonly entityId: string;
  readonly acsUrl: string;
  readonly sloUrl: string;
  /**
   * The ACS POST's validation before the response is kept for the same-site hop: structure,
   * schema, algorithms, status, signatures, issuer, destination, time and audience; not
   * InResponseTo or replay, which finishLogin checks with the login state.
   */
  precheckResponse(encoded: string): Promise<void>;
  /** Our SP metadata (entityID, ACS, SLO, NameID formats, signing and encryption certificate). */
  spMetadata(): string;
  /** Verifies an IdP-initiated LogoutRequest (HTTP-Redirect, signature required). */
  handleLogoutRequest(rawQuery: string): Promise<IdpLogoutRequest>;
  /** Checks the IdP's LogoutResponse after an SP-initiated logout; returns its status. */
  handleLogoutResponse(rawQuery: string): Promise<{ success: boolean }>;
}

export const isSamlConnector = (c: Connector | undefined): c is SamlConnector => c?.type === 'saml';

export const samlUrls = (publicUrl: string, id: string) => ({
  metadata: `${publicUrl}/saml/${id}/metadata`,
  acs: `${publicUrl}/saml/${id}/acs`,
  slo: `${publicUrl}/saml/${id}/slo`,
});

/**
 * SAML 2.0 SP on samlify: HTTP-Redirect AuthnRequests (optionally signed), HTTP-POST responses
 * validated by our checks (./saml/validate.ts) and then by samlify, single logout both ways.
 */
export function createSamlConnector(
  config: SamlConnectorConfig,
  options: { publicUrl: string; keys: SpKeyPair; schema: SchemaValidator; store: Store; logger?: Logger },
): SamlConnector {
  const urls = samlUrls(options.publicUrl, config.id);
  const entityId = config.sp_entity_id ?? urls.metadata;
  const metadata = createMetadataSource({
    url: config.idp_metadata_url,
    file: config.idp_metadata_file,
    refreshMs: config.metadata_refresh,
    logger: options.logger,
  });
  const policy: ResponsePolicy = {
    connector: config.id,
    spEntityId: entityId,
    acsUrl: urls.acs,
    wantAssertionsSigned: config.want_assertions_signed,
    wantResponseSigned: config.want_response_signed,
    wantAssertionsEncrypted: config.want_assertions_encrypted,
    allowIdpInitiated: config.allow_idp_initiated,
    allowSha1: config.allow_sha1,
    allowRsa15: config.allow_rsa1_5,
    skewMs: config.clock_skew,
  };

  const spSettings = (authnRequestsSigned: boolean) => ({
    entityID: entityId,
    authnRequestsSigned,
    wantAssertionsSigned: config.want_assertions_signed,
    wantMessageSigned: config.want_response_signed,
    signingCert: options.keys.cert,
    encryptCert: options.keys.cert,
    privateKey: options.keys.key,
    encPrivateKey: options.keys.key,
    requestSignatureAlgorithm: RSA_SHA256,
    assertionConsumerService: [{ Binding: POST, Location: urls.acs }],
    singleLogoutService: [{ Binding: REDIRECT, Location: urls.slo }],
    // The first format goes into the AuthnRequest's NameIDPolicy; all are listed in our metadata.
    nameIDFormat: config.name_id_format ? [config.name_id_format] : NAME_ID_FORMATS,
    allowCreate: true,
    clockDrifts: [-config.clock_skew, config.clock_skew] as [number, number],
  });
  const sp = samlify.ServiceProvider(spSettings(config.sign_authn_requests));
  // An IdP whose metadata asks for signed AuthnRequests gets them even when the config does not say so.
  const signingSp = config.sign_authn_requests ? sp : samlify.ServiceProvider(spSettings(true));
  const spMetadataXml = sp.getMetadata();
  // The second opinion on a decrypted response: its response signature was checked (by us) over
  // the encrypted form, so samlify judges the decrypted assertion and its own signature.
  const decryptedSp = samlify.ServiceProvider({ ...spSettings(config.sign_authn_requests), wantMessageSigned: false });

  // samlify IdP entities, one per (metadata, signing certificate): samlify tries only
  // the first metadata certificate when a signature has no KeyInfo, so we hand it the one that
  // our own check found, which keeps key rollover working in both layers.
  const entities = new WeakMap<IdpMetadata, Map<string, ReturnType<typeof samlify.IdentityProvider>>>();
  const idpEntity = (idp: IdpMetadata, certIndex = -1) => {
    let byKey = entities.get(idp);
    if (!byKey) entities.set(idp, (byKey = new Map()));
    const key = String(certIndex);
    let entity = byKey.get(key);
    if (!entity) {
      entity = samlify.IdentityProvider({
        entityID: idp.entityId,
        signingCert: certIndex >= 0 ? idp.signingCerts[certIndex] : idp.signingCerts,
        // samlify refuses to send a signed request to an IdP that does not ask for one; it verifies what it gets.
        wantAuthnRequestsSigned: idp.wantAuthnRequestsSigned || config.sign_authn_requests,
        wantLogoutRequestSigned: true,
        wantLogoutResponseSigned: true,
        // samlify never decrypts: it judges what we decrypted (see secondOpinion).
        isAssertionEncrypted: false,
        singleSignOnService: [{ Binding: REDIRECT, Location: idp.ssoRedirectUrl }],
        singleLogoutService: idp.sloRedirectUrl ? [{ Binding: REDIRECT, Location: idp.sloRedirectUrl }] : [],
      });
      byKey.set(key, entity);
    }
    return entity;
  };

  /** Verifies an HTTP-Redirect binding signature over the raw (still URL-encoded) query parameters. */
  const verifyRedirect = (idp: IdpMetadata, rawQuery: string, param: 'SAMLRequest' | 'SAMLResponse'): { xml: string; relayState?: string } => {
    const raw = new Map<string, string>();
    for (const pair of rawQuery.split('&')) {
      const eq = pair.indexOf('=');
      if (eq > 0 && !raw.has(pair.slice(0, eq))) raw.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const decode = (v: string | undefined) => (v === undefined ? undefined : decodeURIComponent(v.replace(/\+/g, ' ')));
    const message = raw.get(param);
    if (!message) throw samlError('saml_logout_invalid', `The logout message carries no ${param}.`);
    if (message.length > MAX_RESPONSE_BYTES) throw samlError('saml_response_too_large', 'The SAML logout message is too large.');
    const sigAlg = decode(raw.get('SigAlg'));
    const signature = decode(raw.get('Signature'));
    if (!sigAlg || !signature) throw samlError('saml_signature_missing', 'The SAML logout message is not signed.');
    if (!SIGNATURE_ALGORITHMS.includes(sigAlg) && !(config.allow_sha1 && sigAlg === SHA1_SIGNATURE)) {
      throw samlError('saml_algorithm_refused', 'The SAML logout message uses a refused signature algorithm.', {
        details: { algorithm: sigAlg.slice(0, 120) },
      });
    }
    const hash = sigAlg.slice(sigAlg.lastIndexOf('-') + 1);
    const octets = [`${param}=${message}`, raw.has('RelayState') ? `RelayState=${raw.get('RelayState')}` : undefined, `SigAlg=${raw.get('SigAlg')}`]
      .filter(Boolean)
      .join('&');
    const sigBytes = Buffer.from(signature, 'base64');
    const ok = idp.signingCerts.some((cert) => createVerify(hash).update(octets).verify(cert, sigBytes));
    if (!ok) throw samlError('saml_signature_invalid', 'The SAML logout message signature does not verify with any IdP key.');
    let xml: string;
    try {
      xml = inflateRawSync(Buffer.from(decode(message)!, 'base64'), { maxOutputLength: MAX_RESPONSE_BYTES }).toString('utf8');
    } catch (err) {
      throw samlError('saml_logout_invalid', 'The SAML logout message is not valid DEFLATE/base64.', { cause: err });
    }
    checkNoDtd(xml);
    return { xml, relayState: decode(raw.get('RelayState')) };
  };

  const parseLogoutMessage = async (xml: string, localName: string, idp: IdpMetadata): Promise<Element> => {
    await options.schema.validate(xml);
    let root: Element;
    try {
      root = parseXml(xml).documentElement;
    } catch (err) {
      throw samlError('saml_logout_invalid', 'The SAML logout message is not well-formed XML.', { cause: err });
    }
    if (root.namespaceURI !== NS.protocol || root.localName !== localName) throw samlError('saml_logout_invalid', `Expected a ${localName}.`);
    if (textOf(child(root, NS.assertion, 'Issuer')) !== idp.entityId) throw samlError('saml_issuer_mismatch', 'The logout message comes from another issuer.');
    const destination = attr(root, 'Destination');
    if (destination !== undefined && destination !== urls.slo)
      throw samlError('saml_destination_mismatch', 'The logout message is meant for another endpoint.');
    return root;
  };

  const validationDeps = (idp: IdpMetadata) => ({
    schema: options.schema,
    store: options.store,
    // Our own XML-Enc 1.0/1.1 decryption: samlify's cannot open Keycloak's default (xmlenc11#rsa-oaep).
    decrypt: async (responseXml: string) => decryptAssertion(responseXml, options.keys.key),
    async secondOpinion(body: string, { certIndex, decrypted }: Parameters<ValidationDeps['secondOpinion']>[1]) {
      // An encrypted assertion without a signature of its own (only the response signed) leaves
      // samlify nothing it can verify after decryption: our checks stand alone there.
      if (decrypted && !decrypted.assertionSigned) return;
      const [entity, message] = decrypted ? [decryptedSp, withPlainAssertion(decrypted)] : [sp, body];
      try {
        await entity.parseLoginResponse(idpEntity(idp, certIndex), 'post', { body: { SAMLResponse: message } });
      } catch (err) {
        throw fromSamlify(err);
      }
    },
  });

  return {
    id: config.id,
    name: config.name ?? config.id,
    type: 'saml',
    allowIdpInitiated: config.allow_idp_initiated,
    entityId,
    acsUrl: urls.acs,
    sloUrl: urls.slo,

    spMetadata: () => spMetadataXml,

    async startLogin({ state }) {
      const idp = await metadata.get();
      const requester = idp.wantAuthnRequestsSigned ? signingSp : sp;
      const request = requester.createLoginRequest(idpEntity(idp), 'redirect', { relayState: state, forceAuthn: config.force_authn || undefined });
      return { url: request.context, pending: { requestId: request.id } };
    },

    async precheckResponse(encoded) {
      const idp = await metadata.get();
      await validateLoginResponse(encoded, { idp, policy, now: Date.now(), precheck: true }, validationDeps(idp));
    },

    async finishLogin({ pending, form }): Promise<LoginResult> {
      const encoded = form?.SAMLResponse;
      if (!encoded) throw samlError('saml_response_malformed', 'The request carries no SAMLResponse.');
      const idp = await metadata.get();
      const result = await validateLoginResponse(encoded, { idp, policy, expectedRequestId: pending.requestId, now: Date.now() }, validationDeps(idp));
      const identity = toIdentity(config.id, result, config.attributes);
      const upstreamLogout: Record<string, string> = { nameId: result.nameId };
      if (result.nameIdFormat) upstreamLogout.nameIdFormat = result.nameIdFormat;
      if (result.sessionIndex) upstreamLogout.sessionIndex = result.sessionIndex;
      return { identity, upstreamLogout };
    },

    async logoutUrl({ upstreamLogout }) {
      if (!config.single_logout || !upstreamLogout?.nameId) return undefined;
      const idp = await metadata.get().catch(() => undefined);
      if (!idp?.sloRedirectUrl) return undefined;
      const request = sp.createLogoutRequest(idpEntity(idp), 'redirect', {
        logoutNameID: upstreamLogout.nameId,
        sessionIndex: upstreamLogout.sessionIndex,
      });
      return request.context;
    },

    async handleLogoutRequest(rawQuery) {
      const idp = await metadata.get();
      const { xml, relayState } = verifyRedirect(idp, rawQuery, 'SAMLRequest');
      const root = await parseLogoutMessage(xml, 'LogoutRequest', idp);
      const notOnOrAfter = attr(root, 'NotOnOrAfter');
      if (notOnOrAfter && Date.now() - config.clock_skew >= Date.parse(notOnOrAfter))
        throw samlError('saml_assertion_expired', 'The logout request has expired.');
      const nameId = textOf(child(root, NS.assertion, 'NameID'));
      const requestId = attr(root, 'ID');
      if (!nameId || !requestId) throw samlError('saml_logout_invalid', 'The logout request names no subject.');
      const sessionIndexes = children(root, NS.protocol, 'SessionIndex').map((s) => textOf(s) ?? '');
      return {
        nameId,
        sessionIndexes,
        responseUrl: () => sp.createLogoutResponse(idpEntity(idp), { extract: { request: { id: requestId } } }, 'redirect', relayState ?? '').context,
      };
    },

    async handleLogoutResponse(rawQuery) {
      const idp = await metadata.get();
      const { xml } = verifyRedirect(idp, rawQuery, 'SAMLResponse');
      const root = await parseLogoutMessage(xml, 'LogoutResponse', idp);
      const status = child(root, NS.protocol, 'Status');
      const code = attr(status && child(status, NS.protocol, 'StatusCode'), 'Value');
      return { success: code === 'urn:oasis:names:tc:SAML:2.0:status:Success' };
    },
  };
}

/** The response with its EncryptedAssertion replaced by the plaintext one and its own signature dropped, base64. */
function withPlainAssertion(decrypted: { responseXml: string; assertionXml: string }): string {
  const doc = parseXml(decrypted.responseXml);
  const response = doc.documentElement;
  const signature = child(response, NS.dsig, 'Signature');
  if (signature) response.removeChild(signature);
  const encrypted = child(response, NS.assertion, 'EncryptedAssertion')!;
  response.replaceChild(doc.importNode(parseXml(decrypted.assertionXml).documentElement, true), encrypted);
  return Buffer.from(new XMLSerializer().serializeToString(doc as never), 'utf8').toString('base64');
}
