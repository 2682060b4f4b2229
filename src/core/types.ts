/** Who a person is according to an upstream IdP, normalised across protocols. */
export interface ExternalIdentity {
  connector: string;
  /** Stable subject at the IdP (`sub` or NameID). */
  subject: string;
  username: string;
  email?: string;
  emailVerified?: boolean;
  groups: string[];
  /** Raw claims or attributes, kept so policy can match on them. */
  claims: Record<string, unknown>;
  /** The id of the server-side record that lets Gatehouse ask the IdP again (src/sessions/upstream.ts), when the login gave a refresh token. */
  upstreamGrant?: string;
}

/** A gateway session, stored server-side and referenced by an opaque cookie. */
export interface Session {
  id: string;
  identity: ExternalIdentity;
  /** ms since epoch */
  createdAt: number;
  lastSeenAt: number;
  /** Absolute expiry, ms since epoch. */
  expiresAt: number;
  /** Upstream ID token, kept for RP-initiated logout (`id_token_hint`). */
  upstreamIdToken?: string;
  /** Upstream protocol facts for logout (SAML: NameID, format, SessionIndex). */
  upstreamLogout?: Record<string, string>;
}

/** Who and where a request came from, for audit events. */
export interface RequestContext {
  remoteAddr?: string;
  userAgent?: string;
  requestId?: string;
}
