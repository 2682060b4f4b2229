import type { Store } from '../../store/store.js';
import { readAssertion, type AssertionFacts } from './attributes.js';
import { checkAlgorithms } from './checks/algorithms.js';
import { checkAudience } from './checks/audience.js';
import { checkNoCommentsInValues } from './checks/comments.js';
import { checkDestination } from './checks/destination.js';
import { checkNoDtd } from './checks/dtd.js';
import { decodeSamlResponse } from './checks/encoding.js';
import { checkInResponseTo } from './checks/in-response-to.js';
import { checkIssuer } from './checks/issuer.js';
import { checkReplay } from './checks/replay.js';
import type { SchemaValidator } from './checks/schema.js';
import { verifyEnvelopedSignature } from './checks/signature.js';
import { checkResponseSize } from './checks/size.js';
import { checkStatus } from './checks/status.js';
import { checkAssertionStructure, checkResponseStructure } from './checks/structure.js';
import { bearerConfirmations } from './checks/subject.js';
import { checkValidity } from './checks/validity.js';
import { samlError } from './errors.js';
import type { IdpMetadata } from './metadata.js';
import { NS, attr, child, parseXml, XmlError } from './xml.js';

export interface ResponsePolicy {
  connector: string;
  spEntityId: string;
  acsUrl: string;
  wantAssertionsSigned: boolean;
  wantResponseSigned: boolean;
  wantAssertionsEncrypted: boolean;
  allowIdpInitiated: boolean;
  allowSha1: boolean;
  allowRsa15: boolean;
  skewMs: number;
}

export interface ValidationDeps {
  schema: SchemaValidator;
  store: Store;
  /** Decrypts the EncryptedAssertion of a Response document with our SP key; returns the assertion XML. */
  decrypt(responseXml: string): Promise<string>;
  /**
   * samlify's own parse of the same response, as a second opinion after ours. For an encrypted
   * one it gets what we decrypted (`decrypted`: the response document and its plaintext assertion,
   * and whether that assertion carries a signature of its own).
   */
  secondOpinion(
    encoded: string,
    options: { certIndex: number; decrypted?: { responseXml: string; assertionXml: string; assertionSigned: boolean } },
  ): Promise<void>;
}

export interface ValidatedResponse extends AssertionFacts {
  assertionId: string;
  expiresAt: number;
}

const parse = (xml: string, what: string): Document => {
  try {
    return parseXml(xml);
  } catch (err) {
    if (err instanceof XmlError) throw samlError('saml_response_malformed', `The ${what} is not well-formed XML.`, { cause: err });
    throw err;
  }
};

/**
 * Every check on an HTTP-POST SAMLResponse, in order. Cheap refusals come first (size, base64,
 * DTD, well-formedness, structure, schema, algorithms); then signatures (keys from the IdP metadata only);
 * decryption; the semantic checks on what was signed; samlify's second opinion; replay last.
 * Each check is its own function in ./checks and throws one stable code.
 */
export async function validateLoginResponse(
  encoded: string,
  context: {
    idp: IdpMetadata;
    policy: ResponsePolicy;
    expectedRequestId?: string;
    now: number;
    /**
     * The ACS POST's check before anything is stored: every check up to and including
     * signature, wrapping, issuer, destination, time and audience, but not InResponseTo (bound to
     * the login state, taken at the same-site hop), samlify's second opinion or the replay cache
     * (which would burn the assertion id before the login completes).
     */
    precheck?: boolean;
  },
  deps: ValidationDeps,
): Promise<ValidatedResponse> {
  const { idp, policy, now } = context;
  const algorithmPolicy = { allowSha1: policy.allowSha1, allowRsa15: policy.allowRsa15 };

  checkResponseSize(encoded);
  const xml = decodeSamlResponse(encoded);
  checkNoDtd(xml);
  const doc = parse(xml, 'SAML response');
  // Structure before the schema: wrapping attempts are often schema-valid, and this names them.
  const shape = checkResponseStructure(doc);
  await deps.schema.validate(xml);
  checkAlgorithms(doc.documentElement, algorithmPolicy);
  checkStatus(shape.response);
  if (!shape.assertion && !shape.encryptedAssertion) throw samlError('saml_response_malformed', 'The SAML response carries no assertion.');
  if (shape.assertion) checkNoCommentsInValues(shape.assertion);
  checkNoCommentsInValues(shape.response);

  // The response signature covers the (possibly encrypted) assertion; check it before decrypting.
  const signedResponse = verifyEnvelopedSignature({ element: shape.response, documentXml: xml, certificates: idp.signingCerts });
  if (policy.wantResponseSigned && !signedResponse) throw samlError('saml_signature_missing', 'The SAML response is not signed.');
  const response = signedResponse?.element ?? shape.response;

  let assertion: Element;
  let assertionXml: string;
  let encryptedIn: string | undefined;
  if (shape.encryptedAssertion) {
    encryptedIn = signedResponse ? String(signedResponse.element) : xml;
    let decrypted: string;
    try {
      decrypted = await deps.decrypt(encryptedIn);
    } catch (err) {
      throw samlError('saml_decryption_failed', 'The encrypted SAML assertion could not be decrypted with our key.', { cause: err });
    }
    checkNoDtd(decrypted);
    assertion = parse(decrypted, 'decrypted assertion').documentElement;
    checkAlgorithms(assertion, algorithmPolicy);
    checkAssertionStructure(assertion);
    checkNoCommentsInValues(assertion);
    assertionXml = decrypted;
  } else {
    if (policy.wantAssertionsEncrypted) throw samlError('saml_encryption_required', 'This sign-in method requires encrypted SAML assertions.');
    // From the signed response when there is one, so nothing unsigned is read.
    assertion = signedResponse ? child(response, NS.assertion, 'Assertion')! : shape.assertion!;
    assertionXml = signedResponse ? String(response) : xml;
  }

  const signedAssertion = verifyEnvelopedSignature({ element: assertion, documentXml: assertionXml, certificates: idp.signingCerts });
  if (policy.wantAssertionsSigned && !signedAssertion) throw samlError('saml_signature_missing', 'The SAML assertion is not signed.');
  if (!signedAssertion && !signedResponse) throw samlError('saml_signature_missing', 'Neither the SAML response nor its assertion is signed.');
  const trusted = signedAssertion?.element ?? assertion;
  const certIndex = (signedAssertion ?? signedResponse)!.certIndex;

  checkIssuer({ response, assertion: trusted, idpEntityId: idp.entityId });
  const confirmations = bearerConfirmations(trusted);
  checkDestination({ response, confirmations, acsUrl: policy.acsUrl });
  const expiresAt = checkValidity({ assertion: trusted, confirmations, now, skewMs: policy.skewMs });
  checkAudience(trusted, policy.spEntityId);
  if (!context.precheck)
    checkInResponseTo({ response, confirmations, expectedRequestId: context.expectedRequestId, allowUnsolicited: policy.allowIdpInitiated });

  const assertionId = attr(trusted, 'ID');
  const facts = readAssertion(trusted);
  if (!assertionId || !facts.nameId) throw samlError('saml_response_malformed', 'The SAML assertion has no ID or no NameID.');
  if (context.precheck) return { ...facts, assertionId, expiresAt };

  const decrypted = encryptedIn === undefined ? undefined : { responseXml: encryptedIn, assertionXml, assertionSigned: Boolean(signedAssertion) };
  await deps.secondOpinion(encoded, { certIndex, decrypted });
  await checkReplay({ store: deps.store, connector: policy.connector, assertionId, expiresAt, now, skewMs: policy.skewMs });
  return { ...facts, assertionId, expiresAt };
}
