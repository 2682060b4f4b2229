import type { OidcConnectorConfig } from '../config/schema.js';

/** Provider specifics, layered on the generic OIDC connector. */
export interface ProviderPreset {
  name: 'generic' | 'google' | 'keycloak';
  requireEmailVerified: boolean;
  /** Claims to read groups from when the configured one is absent. */
  fallbackGroupClaims: string[];
}

/** Google: accounts must have a verified email; `hosted_domain` is checked on the `hd` claim. */
const google: ProviderPreset = { name: 'google', requireEmailVerified: true, fallbackGroupClaims: [] };

/** Keycloak: realm roles stand in for groups when no groups mapper is configured. */
const keycloak: ProviderPreset = { name: 'keycloak', requireEmailVerified: false, fallbackGroupClaims: ['realm_access.roles'] };

const generic: ProviderPreset = { name: 'generic', requireEmailVerified: false, fallbackGroupClaims: [] };

export function applyPreset(config: OidcConnectorConfig): ProviderPreset {
  const inferred =
    config.provider ??
    (config.issuer.startsWith('https://accounts.google.com') ? 'google' : /\/realms\/[^/]+\/?$/.test(config.issuer) ? 'keycloak' : 'generic');
  const preset = { google, keycloak, generic }[inferred];
  return config.require_email_verified === undefined ? preset : { ...preset, requireEmailVerified: config.require_email_verified };
}
