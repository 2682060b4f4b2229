import { samlError } from '../errors.js';

/*
 * checkResponseSize enforces, before anything is decoded or parsed:
 *   - a SAMLResponse form field of at most 256 KiB once base64-decoded (MAX_RESPONSE_BYTES),
 *   - and a bound on the encoded text itself (base64 plus line breaks), so a huge field is
 *     refused by its length alone.
 */

export const MAX_RESPONSE_BYTES = 256 * 1024;
/** Base64 of MAX_RESPONSE_BYTES, plus room for line breaks every 64 characters. */
export const MAX_ENCODED_CHARS = Math.ceil(MAX_RESPONSE_BYTES / 3) * 4 * (66 / 64) + 1024;

export function checkResponseSize(encoded: string): void {
  if (encoded.length > MAX_ENCODED_CHARS) throw tooLarge();
  const compact = encoded.replace(/\s+/g, '');
  const decoded = Math.floor((compact.length * 3) / 4) - (compact.endsWith('==') ? 2 : compact.endsWith('=') ? 1 : 0);
  if (decoded > MAX_RESPONSE_BYTES) throw tooLarge();
}

const tooLarge = () => samlError('saml_response_too_large', `The SAML response is larger than ${MAX_RESPONSE_BYTES / 1024} KiB.`);
