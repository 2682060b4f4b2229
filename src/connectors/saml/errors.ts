import { GatehouseError } from '../../core/errors.js';

/**
 * The stable error codes of SAML logins (docs/errors.md). Each check in ./checks throws exactly
 * one of them, so the audit log says why a response was refused.
 */
export const SAML_ERRORS = {
  saml_response_too_large: 413,
  saml_response_malformed: 400,
  saml_xml_dtd: 400,
  saml_schema_invalid: 400,
  saml_algorithm_refused: 401,
  saml_signature_missing: 401,
  saml_signature_invalid: 401,
  saml_signature_wrapping: 401,
  saml_decryption_failed: 401,
  saml_encryption_required: 401,
  saml_issuer_mismatch: 401,
  saml_audience_mismatch: 401,
  saml_destination_mismatch: 401,
  saml_assertion_expired: 401,
  saml_assertion_not_yet_valid: 401,
  saml_subject_unconfirmed: 401,
  saml_in_response_to_mismatch: 401,
  saml_unsolicited: 401,
  saml_replay: 401,
  saml_comment_injection: 401,
  saml_logout_invalid: 400,
  saml_metadata_invalid: 502,
} as const;

export type SamlErrorCode = keyof typeof SAML_ERRORS | 'idp_error' | 'idp_unavailable';

export function samlError(code: SamlErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}): GatehouseError {
  const status = code === 'idp_error' ? 401 : code === 'idp_unavailable' ? 502 : SAML_ERRORS[code];
  // Every message names the failed check, never key material or the payload: safe to show.
  return new GatehouseError(code, message, { status, expose: true, ...options });
}

/**
 * samlify's own checks run after ours as a second opinion; its error strings map here.
 * Anything unknown is a malformed response (fail closed).
 */
export function fromSamlify(err: unknown): GatehouseError {
  const text = err instanceof Error ? err.message : String(err);
  const map: [RegExp, SamlErrorCode][] = [
    [/WRAPPING/, 'saml_signature_wrapping'],
    [/SIGNATURE|CERTIFICATE|NO_SELECTED/, 'saml_signature_invalid'],
    [/UNMATCH_ISSUER/, 'saml_issuer_mismatch'],
    [/EXPIRED_SESSION|SUBJECT_UNCONFIRMED/, 'saml_assertion_expired'],
    [/DECRYPT|ENCRYPTED/, 'saml_decryption_failed'],
    [/ERR_FAILED_STATUS/, 'idp_error'],
  ];
  const code = map.find(([re]) => re.test(text))?.[1] ?? 'saml_response_malformed';
  return samlError(code, `The SAML response was refused (${code}).`, { cause: err, details: { samlify: text.slice(0, 200) } });
}
