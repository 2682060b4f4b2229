/**
 * The one registry of every `aud` Gatehouse signs for. The kinds are disjoint by construction:
 * - gateway: `gatehouse`, the gateway's own API (CLI and session bearer tokens, forward-auth);
 * - cli: the CLI's client id, the audience of its ID tokens for the gateway;
 * - app: `gatehouse-app:<name>`, the Gatehouse-Jwt-Assertion for one HTTP app;
 * - forward-auth: the assertion of a forward-auth check without an app (`?allowed_groups=`);
 * - cluster: each cluster's configured audience, which may not be any of the above, may not
 *   use the reserved `gatehouse-app:` namespace, and may not repeat another cluster's.
 * Config loading (and so check-config) refuses any collision, naming both sides.
 */

export const GATEWAY_AUDIENCE = 'gatehouse';
export const CLI_CLIENT_ID = 'gatehouse-cli';
export const APP_AUDIENCE_PREFIX = 'gatehouse-app:';
export const FORWARD_AUTH_AUDIENCE = 'gatehouse-forward-auth';

export type AudienceKind = 'gateway' | 'cli' | 'app' | 'forward-auth' | 'cluster';

/** The `aud` of an app's assertion: never a bare name, so no app can be named into another kind. */
export const appAudience = (name: string): string => `${APP_AUDIENCE_PREFIX}${name}`;

export interface AudienceEntry {
  audience: string;
  kind: AudienceKind;
  /** Who owns it, for error messages: `the gateway API`, `app "wiki"`, `cluster "prod"`. */
  owner: string;
  /** Where it is configured (config path), when it is configured. */
  path?: (string | number)[];
}

export interface AudienceSources {
  clusters: readonly { name: string; audience: string }[];
  apps: readonly { name: string }[];
  /** The CLI's client id (config `cli.client_id`), default `gatehouse-cli`. */
  cliClientId?: string;
}

/** Every audience, with its kind and owner. */
export function audienceEntries(sources: AudienceSources): AudienceEntry[] {
  return [
    { audience: GATEWAY_AUDIENCE, kind: 'gateway', owner: 'the gateway API' },
    { audience: sources.cliClientId ?? CLI_CLIENT_ID, kind: 'cli', owner: 'the CLI client id (cli.client_id, ID tokens)', path: ['cli', 'client_id'] },
    { audience: FORWARD_AUTH_AUDIENCE, kind: 'forward-auth', owner: 'forward-auth assertions' },
    ...sources.apps.map((a, i): AudienceEntry => ({ audience: appAudience(a.name), kind: 'app', owner: `app "${a.name}"`, path: ['apps', i, 'name'] })),
    ...sources.clusters.map((c, i): AudienceEntry => ({
      audience: c.audience,
      kind: 'cluster',
      owner: `cluster "${c.name}"`,
      path: ['clusters', i, 'audience'],
    })),
  ];
}

export interface AudienceCollision {
  path: (string | number)[];
  message: string;
}

/** Every audience equal to another (or a cluster audience in the app namespace), naming both. */
export function audienceCollisions(sources: AudienceSources): AudienceCollision[] {
  const seen = new Map<string, AudienceEntry>();
  const problems: AudienceCollision[] = [];
  for (const entry of audienceEntries(sources)) {
    const earlier = seen.get(entry.audience);
    if (earlier) {
      problems.push({
        path: entry.path ?? [],
        message: `audience "${entry.audience}" of ${entry.owner} collides with ${earlier.owner}: every audience must be distinct`,
      });
      continue;
    }
    if (entry.kind === 'cluster' && entry.audience.startsWith(APP_AUDIENCE_PREFIX)) {
      problems.push({
        path: entry.path ?? [],
        message: `audience "${entry.audience}" of ${entry.owner} is in the "${APP_AUDIENCE_PREFIX}" namespace reserved for app assertions`,
      });
    }
    seen.set(entry.audience, entry);
  }
  return problems;
}

export interface AudienceRegistry {
  kindOf(audience: string): AudienceKind | undefined;
  /** The configured cluster audiences (what TokenReview and `resource` may name). */
  clusterAudiences(): string[];
  app(name: string): string;
}

/** The registry over the current config (re-read on every call, so reloads apply). */
export function createAudienceRegistry(sources: () => AudienceSources): AudienceRegistry {
  return {
    kindOf(audience) {
      return audienceEntries(sources()).find((e) => e.audience === audience)?.kind;
    },
    clusterAudiences() {
      return sources().clusters.map((c) => c.audience);
    },
    app: appAudience,
  };
}
