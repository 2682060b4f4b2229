import { alice, bob, startSso, type SsoSetup } from './sso.js';

export { alice, bob };
export type AppsSetup = SsoSetup;

/**
 * A real IdP (oidc-provider with login and consent forms) and a gateway with roles `dev` (group
 * devs) and `sre` (group admins), plus the given apps. `extra` is merged into the config.
 */
export function startAppsGateway(apps: Record<string, unknown>[], extra: Record<string, unknown> = {}): Promise<AppsSetup> {
  return startSso({
    roles: [{ name: 'dev' }, { name: 'sre' }],
    mappings: [
      { match: { claim: 'groups', value: 'devs' }, roles: ['dev'] },
      { match: { claim: 'groups', value: 'admins' }, roles: ['sre'] },
    ],
    apps,
    ...extra,
  });
}
