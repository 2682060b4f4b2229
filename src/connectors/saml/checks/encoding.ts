import { samlError } from '../errors.js';

/*
 * decodeSamlResponse enforces:
 *   - strict base64 (only the base64 alphabet and whitespace, correct padding),
 *   - valid UTF-8 in the decoded bytes,
 *   - something that starts like an XML document.
 */

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeSamlResponse(encoded: string): string {
  const compact = encoded.replace(/[\r\n\t ]+/g, '');
  if (!compact || compact.length % 4 !== 0 || !BASE64.test(compact)) {
    throw samlError('saml_response_malformed', 'The SAML response is not valid base64.');
  }
  let xml: string;
  try {
    xml = utf8.decode(Buffer.from(compact, 'base64'));
  } catch {
    throw samlError('saml_response_malformed', 'The SAML response is not valid UTF-8.');
  }
  if (!/^\s*</.test(xml.replace(/^\uFEFF/, ''))) throw samlError('saml_response_malformed', 'The SAML response is not XML.');
  return xml;
}
