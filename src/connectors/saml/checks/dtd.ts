import { samlError } from '../errors.js';

/*
 * checkNoDtd enforces, on the raw text before any parser sees it:
 *   - no document type declaration (<!DOCTYPE>), so no internal or external DTD subset,
 *   - no entity, element, attribute-list or notation declarations anywhere,
 * which rules out XXE, entity expansion ("billion laughs") and DTD-driven ID attributes.
 * Undefined entity references are left to the strict parser, which refuses them.
 */

const DECLARATION = /<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)/i;

export function checkNoDtd(xml: string): void {
  if (DECLARATION.test(xml)) throw samlError('saml_xml_dtd', 'The SAML message carries a DTD or entity declaration, which is refused.');
}
