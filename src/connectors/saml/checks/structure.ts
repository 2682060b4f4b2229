import { samlError } from '../errors.js';
import { NS, attr, children, descendants } from '../xml.js';

/*
 * checkResponseStructure enforces the shape that signature-wrapping (XSW) attacks must break:
 *   - the root is exactly one samlp:Response;
 *   - it holds exactly one saml:Assertion or saml:EncryptedAssertion, as a direct child;
 *   - no other element called Assertion (in any namespace) appears anywhere: not in
 *     Extensions, not inside a Signature's Object, not wrapped in another element;
 *   - every ID/Id/id value is unique in the document (a duplicate lets a verifier and a reader
 *     resolve the same reference to different elements);
 *   - ds:Signature appears only as a direct child of the Response or the Assertion, at most once
 *     each, with exactly one Reference whose URI is "#" + its parent's ID (the signature covers
 *     the element that carries it, and nothing else).
 * checkAssertionStructure applies the same rules to a decrypted assertion on its own.
 */

export interface ResponseShape {
  response: Element;
  assertion?: Element;
  encryptedAssertion?: Element;
}

export function checkResponseStructure(doc: Document): ResponseShape {
  const response = doc.documentElement;
  if (response.namespaceURI !== NS.protocol || response.localName !== 'Response') {
    throw samlError('saml_response_malformed', 'The SAML message is not a samlp:Response.');
  }
  const assertions = children(response, NS.assertion, 'Assertion');
  const encrypted = children(response, NS.assertion, 'EncryptedAssertion');
  checkCommon(response, assertions.length + encrypted.length);
  return { response, assertion: assertions[0], encryptedAssertion: encrypted[0] };
}

export function checkAssertionStructure(assertion: Element): void {
  if (assertion.namespaceURI !== NS.assertion || assertion.localName !== 'Assertion') {
    throw samlError('saml_response_malformed', 'The decrypted content is not a saml:Assertion.');
  }
  checkCommon(assertion, 1);
}

function checkCommon(root: Element, topLevelAssertions: number): void {
  const all = [...descendants(root)];
  const anyAssertions = all.filter((el) => el.localName === 'Assertion' || el.localName === 'EncryptedAssertion');
  if (topLevelAssertions > 1 || anyAssertions.length > Math.max(1, topLevelAssertions)) {
    throw wrapping('more than one assertion');
  }
  if (anyAssertions.length === 1 && anyAssertions[0] !== root && anyAssertions[0].parentNode !== root) {
    throw wrapping('the assertion is not where the protocol puts it');
  }
  const ids = new Set<string>();
  for (const el of all) {
    for (const name of ['ID', 'Id', 'id']) {
      const value = attr(el, name);
      if (value === undefined) continue;
      if (ids.has(value)) throw wrapping('duplicate ID');
      ids.add(value);
    }
  }
  for (const sig of all.filter((el) => el.namespaceURI === NS.dsig && el.localName === 'Signature')) {
    const parent = sig.parentNode as Element;
    const allowed = parent === root || (parent.localName === 'Assertion' && parent.namespaceURI === NS.assertion && parent.parentNode === root);
    if (!allowed) throw wrapping('a signature in an unexpected place');
    if (children(parent, NS.dsig, 'Signature').length !== 1) throw wrapping('several signatures on one element');
    const signedInfo = children(sig, NS.dsig, 'SignedInfo');
    const references = signedInfo.length === 1 ? children(signedInfo[0], NS.dsig, 'Reference') : [];
    if (references.length !== 1) throw wrapping('a signature must have exactly one reference');
    const id = attr(parent, 'ID');
    if (!id || attr(references[0], 'URI') !== `#${id}`) throw wrapping('the signature does not cover the element that carries it');
  }
}

const wrapping = (why: string) =>
  samlError('saml_signature_wrapping', `The SAML response has a suspicious structure (${why}).`, { details: { structure: why } });
