/**
 * The error-code catalogue: every stable `code` Gatehouse throws (`GatehouseError`), answers in a
 * JSON or OAuth error body, puts in a Kubernetes `Status`, or audits as an SSH refusal's `reason`.
 * docs/errors.md documents each one; test/unit/docs/catalogues.test.ts keeps the two in step.
 *
 * - `status` is the HTTP status of the answer, and what `GatehouseError` uses when the caller
 *   gives none.
 * - `also` lists the other statuses a code is honestly answered with: `invalid_request` is 413
 *   for an oversized body (the body parser's status); OAuth endpoints answer `access_denied` with
 *   400 (RFC 6749 §5.2, RFC 8628) where an app's refusal is 403; `slow_down` is 429 when the token
 *   endpoint's rate limit refuses a device poll.
 * - Codes never sent over HTTP keep the status their error object carries: SSH refusals use the
 *   HTTP meaning of the refusal (401 authentication, 403 policy, 502 the node); CLI-side and
 *   start-up codes carry 400 (the historical default, which keeps their message exposed).
 * - `server_error` and `token_error` are the CLI's codes for a gateway answer without a code;
 *   the CLI passes the answer's own status.
 */
export interface ErrorCodeEntry {
  readonly status: number;
  readonly also?: readonly number[];
  readonly meaning: string;
}

export const ERROR_CODES = {
  // Browser logins (OIDC, SAML, demo IdP).
  unknown_connector: { status: 404, meaning: 'the login or callback path names no configured connector' },
  return_to_rejected: { status: 400, meaning: 'a redirect target is not same-origin or an allowed https host' },
  state_mismatch: { status: 400, meaning: 'the callback state (SAML RelayState) is missing, unknown, expired, used or foreign' },
  idp_error: { status: 401, meaning: 'the IdP answered the login with an error' },
  nonce_mismatch: { status: 401, meaning: 'the ID token nonce is not this login’s' },
  id_token_signature: { status: 401, meaning: 'the ID token is unsigned, uses an unexpected algorithm or a key not in the JWKS' },
  id_token_invalid: { status: 401, meaning: 'the ID token is malformed or a claim is invalid' },
  id_token_expired: { status: 401, meaning: 'the ID token has expired' },
  id_token_audience: { status: 401, meaning: 'the ID token was issued for another client' },
  id_token_issuer: { status: 401, meaning: 'the ID token was issued by another issuer' },
  code_rejected: { status: 401, meaning: 'the IdP refused the authorization code' },
  hosted_domain_mismatch: { status: 403, meaning: 'Google hd is not the configured hosted_domain' },
  email_not_verified: { status: 403, meaning: 'the IdP has not verified the email' },
  rate_limited: { status: 429, meaning: 'too many attempts from one address (or username) in a window' },
  invalid_credentials: { status: 401, meaning: 'the demo IdP’s password form: unknown username or wrong password' },
  idp_unavailable: { status: 502, meaning: 'the IdP’s discovery, token endpoint or metadata cannot be reached' },
  upstream_revoked: { status: 401, meaning: 'asked again (refresh token), the IdP no longer accepts the login: disabled, deleted, signed out there' },
  // OIDC Back-Channel Logout (POST /backchannel-logout/:connector; `details.check` names the failed check).
  logout_token_invalid: {
    status: 400,
    meaning: 'a back-channel logout token is missing, malformed, or a claim fails (iss, aud, iat, exp, events, sub/sid, nonce, jti)',
  },
  logout_token_signature: {
    status: 400,
    meaning: 'a back-channel logout token is unsigned, uses a refused algorithm, or is not signed by a key in the IdP’s JWKS',
  },
  logout_token_replayed: { status: 400, meaning: 'a back-channel logout token whose jti was already accepted' },
  // SAML (src/connectors/saml/errors.ts keeps its own status map; a unit test checks it agrees).
  saml_response_too_large: { status: 413, meaning: 'a SAMLResponse over 256 KiB' },
  saml_response_malformed: { status: 400, meaning: 'the SAMLResponse is missing, not base64/UTF-8/XML, or lacks parts' },
  saml_xml_dtd: { status: 400, meaning: 'the SAML message has a DTD or entity declaration' },
  saml_schema_invalid: { status: 400, meaning: 'the SAML message does not conform to the protocol schema' },
  saml_validator_unavailable: { status: 503, meaning: 'xmllint is not installed on the server' },
  saml_algorithm_refused: { status: 401, meaning: 'an algorithm outside the allowlist' },
  saml_signature_missing: { status: 401, meaning: 'a required signature is absent' },
  saml_signature_invalid: { status: 401, meaning: 'a signature does not verify with the IdP’s certificates' },
  saml_signature_wrapping: { status: 401, meaning: 'the structure allows signature wrapping' },
  saml_comment_injection: { status: 401, meaning: 'an XML comment inside NameID, AttributeValue, Issuer or Audience' },
  saml_decryption_failed: { status: 401, meaning: 'the EncryptedAssertion cannot be decrypted' },
  saml_encryption_required: { status: 401, meaning: 'a plaintext assertion where encryption is required' },
  saml_issuer_mismatch: { status: 401, meaning: 'the Issuer is not the IdP’s entityID' },
  saml_audience_mismatch: { status: 401, meaning: 'no AudienceRestriction listing our entity id' },
  saml_destination_mismatch: { status: 401, meaning: 'Destination or Recipient is not our endpoint' },
  saml_assertion_expired: { status: 401, meaning: 'past NotOnOrAfter beyond the clock skew' },
  saml_assertion_not_yet_valid: { status: 401, meaning: 'before NotBefore beyond the clock skew' },
  saml_subject_unconfirmed: { status: 401, meaning: 'no usable bearer SubjectConfirmation' },
  saml_in_response_to_mismatch: { status: 401, meaning: 'InResponseTo is not this browser’s AuthnRequest' },
  saml_unsolicited: { status: 401, meaning: 'an IdP-initiated response the connector does not allow' },
  saml_replay: { status: 401, meaning: 'the assertion ID was already accepted' },
  saml_logout_invalid: { status: 400, meaning: 'a SAML logout message is unreadable or names no subject' },
  saml_metadata_invalid: { status: 502, meaning: 'the IdP’s SAML metadata is unusable' },
  // HTTP in general, sessions, tokens, API.
  request_too_large: { status: 431, meaning: 'the request line or headers exceed 16 KiB' },
  bad_request: { status: 400, meaning: 'the HTTP request is malformed' },
  unauthenticated: { status: 401, meaning: 'no valid session or token' },
  invalid_token: { status: 401, meaning: 'a Gatehouse token failed verification, or Authorization is not Bearer' },
  token_revoked: { status: 401, meaning: 'the token’s CLI login was revoked' },
  store_unavailable: { status: 503, meaning: 'the session store is unreachable' },
  csrf_failed: { status: 403, meaning: 'a state-changing request not from a Gatehouse page' },
  metrics_unauthorized: { status: 401, meaning: 'GET /metrics without the configured bearer token' },
  not_found: { status: 404, meaning: 'no such page' },
  internal_error: { status: 500, meaning: 'anything unexpected (details only in the logs)' },
  audit_unavailable: { status: 503, meaning: 'the audit log cannot record the action, or cannot be read' },
  audit_forbidden: { status: 403, meaning: 'someone else’s audit events, or verification, without audit: read' },
  cluster_artefacts_forbidden: { status: 403, meaning: 'the cluster artefacts API without a role with cluster_artefacts' },
  invalid_query: { status: 400, meaning: 'a malformed audit query parameter' },
  invalid_cursor: { status: 400, meaning: 'an audit cursor not issued by this audit log' },
  invalid_request: { status: 400, also: [413], meaning: 'a malformed query parameter or body field (413: the body is too large)' },
  invalid_public_key: { status: 400, meaning: 'not a usable OpenSSH public key line' },
  no_ssh_logins: { status: 403, meaning: 'the roles allow no SSH login, so there is nothing to sign' },
  session_expired: { status: 401, meaning: 'the session ends before a certificate could be valid' },
  invalid_recording_id: { status: 400, meaning: 'a recording id that is not a session id' },
  recording_not_found: { status: 404, meaning: 'no such recording, or not the caller’s' },
  // OAuth endpoints (RFC 6749, RFC 8628, RFC 8707): 400 unless said otherwise.
  invalid_client: { status: 401, meaning: 'the client is not gatehouse-cli' },
  invalid_grant: { status: 400, meaning: 'the code, device code or refresh token is unusable, or policy no longer grants it' },
  invalid_target: { status: 400, meaning: 'resource names no cluster' },
  unsupported_grant_type: { status: 400, meaning: 'a grant type the token endpoint does not support' },
  unsupported_response_type: { status: 400, meaning: 'a response type the authorization endpoint does not support' },
  authorization_pending: { status: 400, meaning: 'the device code is not approved yet' },
  slow_down: { status: 400, also: [429], meaning: 'the device is polling too fast (429: the token endpoint’s rate limit)' },
  access_denied: { status: 403, also: [400], meaning: 'an app’s role check failed (400 at /oauth/token: the device code was denied)' },
  expired_token: { status: 400, meaning: 'the device code expired' },
  // HTTP apps and forward-auth.
  unknown_app: { status: 404, meaning: 'the app named by ?app= does not exist' },
  app_handoff_invalid: { status: 400, meaning: 'a host app’s sign-in hand-off is unknown, expired, used or foreign' },
  app_unavailable: { status: 502, meaning: 'the app’s upstream refused or dropped the connection' },
  app_timeout: { status: 504, meaning: 'the app’s upstream did not answer in time' },
  origin_rejected: { status: 403, meaning: 'a WebSocket handshake from a page on another origin' },
  invalid_allowed_groups: { status: 400, meaning: 'forward-auth allowed_groups names no group' },
  invalid_request_target: { status: 400, meaning: 'the request target is not a path (origin-form)' },
  // Kubernetes proxy (in a Status object's details.causes[0].reason).
  token_missing: { status: 401, meaning: 'no bearer token' },
  token_expired: { status: 401, meaning: 'the Gatehouse token has expired' },
  token_wrong_cluster: { status: 401, meaning: 'the token is for another cluster’s audience' },
  token_invalid: { status: 401, meaning: 'not a Gatehouse token' },
  impersonation_denied: { status: 403, meaning: 'kubectl --as or --as-group the roles do not map' },
  unknown_cluster: { status: 404, meaning: 'no cluster with mode: proxy by that name' },
  upstream_unreachable: { status: 502, meaning: 'the cluster’s API server cannot be reached' },
  // SSH refusals (a message for the OpenSSH client and the audit reason).
  cert_invalid: { status: 401, meaning: 'a malformed certificate, or not issued to a person by Gatehouse' },
  cert_untrusted: { status: 401, meaning: 'signed by another CA, or the CA signature is invalid' },
  cert_expired: { status: 401, meaning: 'past the certificate’s validity window' },
  cert_not_yet_valid: { status: 401, meaning: 'before the certificate’s validity window' },
  cert_wrong_type: { status: 401, meaning: 'a host certificate used as a user certificate (or the reverse)' },
  cert_principal: { status: 401, meaning: 'the certificate is not valid for the requested principal' },
  cert_revoked: { status: 401, meaning: 'the certificate was revoked' },
  cert_unknown: { status: 404, meaning: 'revoking a serial that is unknown, expired, or someone else’s' },
  revoke_forbidden: { status: 403, meaning: 'revoking another person’s certificates without ssh_revoke' },
  signature_invalid: { status: 401, meaning: 'the userauth signature does not verify' },
  cert_required: { status: 401, meaning: 'a plain public key instead of a Gatehouse certificate' },
  ssh_rate_limited: { status: 429, meaning: 'too many failed authentication attempts' },
  unknown_node: { status: 403, meaning: 'a node that is not in ssh.nodes' },
  no_login_on_node: { status: 403, meaning: 'the person has no login on that node' },
  login_not_allowed: { status: 403, meaning: 'a login the roles do not allow on that node' },
  node_unreachable: { status: 502, meaning: 'the node refused the connection or the gateway’s certificate' },
  node_host_key_missing: { status: 502, meaning: 'ssh.require_host_key is set and the node has no host_key' },
  node_session_refused: { status: 502, meaning: 'the node refused the shell, exec or subsystem request' },
  recording_quota: { status: 507, meaning: 'a session reached recordings.max_bytes_per_session (audited; it goes on)' },
  // Just-in-time access requests (`/api/v1/requests`, docs/access-requests.md).
  request_not_found: { status: 404, meaning: 'no access request has this id, or it is not yours to see' },
  request_role_not_allowed: { status: 403, meaning: 'the role is not requestable, or none of your roles may request it' },
  request_duration_exceeded: { status: 400, meaning: 'the requested duration is longer than the role’s max_duration' },
  request_reason_required: { status: 400, meaning: 'a role that may request this one requires a reason' },
  request_self_review: { status: 403, meaning: 'the requester reviewing their own request' },
  request_reviewer_forbidden: { status: 403, meaning: 'reviewing without one of the request’s reviewer roles' },
  request_already_reviewed: { status: 409, meaning: 'this reviewer has already reviewed the request' },
  request_not_pending: { status: 409, meaning: 'the request is no longer pending (decided, ended or expired)' },
  request_not_active: { status: 409, meaning: 'assuming or dropping a request that is not pending or active' },
  request_busy: { status: 409, meaning: 'another change to the same request is in progress; try again' },
  request_wait_timeout: { status: 400, meaning: 'CLI: `login --request` waited `--wait` and the request is still pending' },
  // SSH CA rotation (`POST /api/v1/ssh/ca/rotate`).
  ssh_ca_forbidden: { status: 403, meaning: 'rotating an SSH CA without a role with ssh_ca_admin' },
  ssh_ca_phase: { status: 409, meaning: 'a rotation phase out of order (switch without init, init during a rotation, ...)' },
  ssh_ca_overlap: { status: 409, meaning: 'finish before the old CA key’s overlap has passed (without force)' },
  ssh_ca_busy: { status: 409, meaning: 'another rotation phase is running on some replica' },
  // Database access (the db listener's refusals reach the client as its protocol's error; the API answers with the status).
  unknown_database: { status: 404, meaning: 'a database that is not in `databases`' },
  db_access_denied: { status: 403, meaning: 'the roles grant nothing on that database' },
  db_user_not_allowed: { status: 403, meaning: 'a db user the roles do not allow on that database' },
  db_name_not_allowed: { status: 403, meaning: 'a db name the roles do not allow on that database' },
  db_tls_required: { status: 400, meaning: 'the client started without TLS (the listener takes TLS only)' },
  db_cert_required: { status: 401, meaning: 'TLS without a client certificate' },
  db_protocol_error: { status: 400, meaning: 'bytes that are not the database protocol, or a packet over the length cap' },
  db_startup_timeout: { status: 408, meaning: 'the client did not finish TLS and startup in db.startup_timeout' },
  db_upstream_unreachable: { status: 502, meaning: 'the database refused the connection or its TLS certificate' },
  db_upstream_auth_failed: { status: 502, meaning: 'the database refused the gateway’s sign-in, or asked for a password none is configured for' },
  db_cancel_refused: { status: 403, meaning: 'a cancel request with a key of no session, or of another person’s session' },
  db_command_refused: { status: 403, meaning: 'a MySQL command the gateway does not relay (COM_CHANGE_USER, replication)' },
  // Start-up and the CLI (never answered by the gateway).
  config_invalid: { status: 400, meaning: 'the configuration is refused' },
  unsupported_key: { status: 400, meaning: 'a signing key type that has no SSH form' },
  login_required: { status: 401, meaning: 'CLI: not signed in (or the login can no longer be refreshed)' },
  kubeconfig_invalid: { status: 400, meaning: 'CLI: `kube login` cannot merge into the kubeconfig (not YAML, not a mapping, a list that is not a list)' },
  login_timeout: { status: 400, meaning: 'CLI: no answer from the browser within 5 minutes' },
  login_failed: { status: 400, meaning: 'CLI: the browser login came back with an error' },
  issuer_mismatch: { status: 400, meaning: 'CLI: the server’s discovery names another issuer' },
  no_server: { status: 400, meaning: 'CLI: no server given and none stored' },
  server_unreachable: { status: 400, meaning: 'CLI: the server cannot be reached' },
  server_error: { status: 502, meaning: 'CLI: the server answered an error without a code' },
  token_error: { status: 400, meaning: 'CLI: the token endpoint answered an error without a code' },
} as const satisfies Record<string, ErrorCodeEntry>;

export type ErrorCode = keyof typeof ERROR_CODES;

export const isErrorCode = (value: unknown): value is ErrorCode => typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);

/** The statuses a code may be answered with: its `status` first, then `also`. */
export function statusesOf(code: ErrorCode): readonly number[] {
  const entry: ErrorCodeEntry = ERROR_CODES[code];
  return [entry.status, ...(entry.also ?? [])];
}

/** A code read from another party's answer (the CLI reading the gateway's): unknown ones become `fallback`. */
export const errorCodeOr = (value: unknown, fallback: ErrorCode): ErrorCode => (isErrorCode(value) ? value : fallback);
