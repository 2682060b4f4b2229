import { SignedXml } from 'xml-crypto';
import { samlError } from '../errors.js';
import { NS, child, parseXml } from '../xml.js';

/*
 * verifyEnvelopedSignature enforces, for the ds:Signature that is a direct child of `element`:
 *   - it verifies with one of the IdP's signing certificates from its metadata (several at once
 *     during a key rollover); a certificate sent inside the message's KeyInfo is never trusted;
 *   - its single reference resolves to `element` itself (checkResponseStructure already pinned
 *     the URI; xml-crypto also refuses duplicate IDs and duplicate SignatureValues);
 *   - what we read afterwards comes from the canonical XML that was actually signed
 *     (xml-crypto's getSignedReferences), never from the original tree.
 * An element without a Signature returns undefined: whether one is required is the caller's rule.
 */

export interface VerifiedElement {
  /** The element as signed (canonical XML, re-parsed). */
  element: Element;
  /** Index into the IdP's certificate list of the key that verified it. */
  certIndex: number;
}

export function verifyEnvelopedSignature(options: { element: Element; documentXml: string; certificates: string[] }): VerifiedElement | undefined {
  const signature = child(options.element, NS.dsig, 'Signature');
  if (!signature) return undefined;
  for (let i = 0; i < options.certificates.length; i++) {
    const sig = new SignedXml({ publicCert: options.certificates[i], getCertFromKeyInfo: () => null });
    let valid = false;
    try {
      sig.loadSignature(signature);
      valid = sig.checkSignature(options.documentXml);
    } catch (err) {
      const message = (err as Error).message ?? '';
      if (/multiple elements with the same value|same SignatureValue/.test(message)) {
        throw samlError('saml_signature_wrapping', 'The SAML response has a suspicious structure (duplicate ID or signature).', { cause: err });
      }
      valid = false;
    }
    if (!valid) continue;
    const signed = sig.getSignedReferences();
    if (signed.length !== 1) throw samlError('saml_signature_wrapping', 'The signature covers more than one element.');
    const element = parseXml(signed[0]).documentElement;
    if (element.localName !== options.element.localName || element.getAttribute('ID') !== options.element.getAttribute('ID')) {
      throw samlError('saml_signature_wrapping', 'The signature covers another element than the one that carries it.');
    }
    return { element, certIndex: i };
  }
  throw samlError('saml_signature_invalid', `The ${options.element.localName} signature does not verify with any signing key in the IdP metadata.`);
}
