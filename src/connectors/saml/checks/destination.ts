import { samlError } from '../errors.js';
import { attr } from '../xml.js';

/*
 * checkDestination enforces that the response was meant for this ACS:
 *   - Response/@Destination, when present, equals our ACS URL (it must be present on a signed
 *     response, saml-bindings 3.5.5.2; we check it whenever it is there);
 *   - every bearer SubjectConfirmationData has a Recipient, equal to our ACS URL.
 */

export function checkDestination(options: { response: Element; confirmations: Element[]; acsUrl: string }): void {
  const destination = attr(options.response, 'Destination');
  if (destination !== undefined && destination !== options.acsUrl) throw mismatch('Destination');
  for (const data of options.confirmations) {
    if (attr(data, 'Recipient') !== options.acsUrl) throw mismatch('Recipient');
  }
}

const mismatch = (what: string) =>
  samlError('saml_destination_mismatch', `The SAML response was refused: its ${what} is not this gateway's ACS URL.`, { details: { field: what } });
