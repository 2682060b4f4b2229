import { fromClaims, GATEWAY_AUDIENCE, toClaims } from '../../tokens/gateway-token.js';
import { appAudience, FORWARD_AUTH_AUDIENCE } from '../../core/audiences.js';
import { canUseApp, capToRequests, resolveAccess, type Access, type Policy } from '../../access/index.js';
import { renderTemplate } from '../../access/templates.js';
import type { AuditSink } from '../../audit/sink.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { sha256Hex } from '../../core/ids.js';
import type { ExternalIdentity, RequestContext } from '../../core/types.js';
import { sessionRef, type SessionManager } from '../../sessions/sessions.js';
import { getJson, type Store } from '../../store/store.js';
import type { TokenIssuer } from '../../tokens/issuer.js';
import type { HttpApp } from './apps.js';
import { ExpiringCache } from './cache.js';
import { headerSafe, listItem } from './headers.js';

/**
 * Who is calling and what they may reach, cached per credential so the data path neither reads
 * the session store, resolves policy nor signs on every request:
 * - a viewer (identity + access) is kept for at most DECISION_TTL_MS and never past its session;
 * - a per-app decision holds the identity headers and the signed assertion;
 * - the assertion is minted once per session and app and reused until it nears its expiry;
 * - when a session ends (logout here or on another replica), its entries are dropped at once.
 */

/** Longest time a cached decision is trusted without re-reading the session. */
export const DECISION_TTL_MS = 10_000;
const MAX_ENTRIES = 20_000;
/** Re-mint an assertion once less than this share of its lifetime is left. */
const ASSERTION_REFRESH_SHARE = 0.5;

export interface Viewer {
  identity: ExternalIdentity;
  access: Access;
  /** Digest of the gateway session id (or of the bearer token): what audit events carry. */
  sessionRef: string;
  /** When the credential stops being valid (session absolute expiry, token exp). */
  expiresAt: number;
  /** The credential was a gateway bearer token, which must not travel on to an app. */
  bearer: boolean;
}

export interface Decision {
  allowed: boolean;
  viewer: Viewer;
  /** Upstream identity headers (lowercased names), assertion included. */
  headers: [string, string][];
  assertion?: string;
  expiresAt: number;
}

/** A credential as presented: the cache key and how to resolve it. */
export type Credential = { kind: 'session'; id: string } | { kind: 'app-session'; id: string; app: string } | { kind: 'bearer'; token: string };

/** What `app.session.start` / `access.denied` need besides the viewer. */
export interface DecisionContext {
  context: RequestContext;
  /** Forward-auth group check instead of (or besides) an app. */
  allowedGroups?: string[];
}

export interface AppSessionRecord {
  app: string;
  sessionId: string;
}
export const appSessionKey = (id: string): string => `app-session:${id}`;

export interface IdentityEngine {
  /** A cached decision for this credential and app, without any I/O. */
  peek(credential: Credential, app: HttpApp | undefined, allowedGroups?: string[]): Decision | undefined;
  /** Resolves the credential (null when it is not valid) and decides; audits first use and denials. */
  decide(credential: Credential, app: HttpApp | undefined, ctx: DecisionContext): Promise<Decision | null>;
  /** Whether this credential is known (cached) not to be valid, so the next one may be tried without I/O. */
  rejected(credential: Credential): boolean;
  /** Drops everything cached for a gateway session (by its sessionRef digest). */
  revoke(ref: string): void;
  /** Drops what is cached for one credential (an app cookie signed out on its host), so it is refused at once. */
  forget(credential: Credential): void;
  close(): Promise<void>;
}

export interface IdentityEngineOptions {
  sessions: SessionManager;
  store: Store;
  audit: AuditSink;
  issuer: TokenIssuer;
  policy: Policy;
  clock?: Clock;
}

const credentialKey = (c: Credential): string => (c.kind === 'session' ? `s:${c.id}` : c.kind === 'app-session' ? `a:${c.app}:${c.id}` : `b:${c.token}`);
const decisionKey = (c: Credential, app: HttpApp | undefined, groups: string[] | undefined): string =>
  `${credentialKey(c)}\n${app?.name ?? ''}\n${groups?.join(',') ?? ''}`;

export function createIdentityEngine(options: IdentityEngineOptions): IdentityEngine {
  const clock = options.clock ?? systemClock;
  const now = () => clock.now();
  const viewers = new ExpiringCache<Viewer | null>(MAX_ENTRIES);
  const decisions = new ExpiringCache<Decision>(MAX_ENTRIES);
  const assertions = new ExpiringCache<{ token: string; exp: number; ref: string }>(MAX_ENTRIES);
  const inflight = new Map<string, Promise<Decision | null>>();

  const viewerFor = async (credential: Credential): Promise<Viewer | null> => {
    const key = credentialKey(credential);
    const t = now();
    const cached = viewers.get(key, t);
    if (cached !== undefined) return cached;
    let viewer: Viewer | null = null;
    if (credential.kind === 'bearer') {
      viewer = await viewerFromToken(credential.token).catch(() => null);
    } else {
      let sessionId = credential.id;
      if (credential.kind === 'app-session') {
        const record = /^[A-Za-z0-9_-]{43}$/.test(credential.id) ? await getJson<AppSessionRecord>(options.store, appSessionKey(credential.id)) : null;
        sessionId = record && record.app === credential.app ? record.sessionId : '';
      }
      const session = sessionId ? await options.sessions.get(sessionId) : null;
      if (session) {
        viewer = {
          identity: session.identity,
          access: resolveAccess(session.identity, options.policy),
          sessionRef: sessionRef(session.id),
          expiresAt: session.expiresAt,
          bearer: false,
        };
      }
    }
    // Unknown credentials are remembered briefly too, so a flood of bad cookies costs one lookup each per second.
    viewers.set(key, viewer, viewer ? Math.min(t + DECISION_TTL_MS, viewer.expiresAt) : t + 1000);
    return viewer;
  };

  const viewerFromToken = async (token: string): Promise<Viewer> => {
    const claims = await options.issuer.verify(token, { audience: GATEWAY_AUDIENCE });
    const { identity } = fromClaims(claims);
    return {
      identity,
      access: resolveAccess(identity, options.policy),
      sessionRef: `token:${sha256Hex(token).slice(0, 24)}`,
      expiresAt: Number(claims.exp) * 1000,
      bearer: true,
    };
  };

  const assertionFor = async (viewer: Viewer, audience: string, ttlMs: number): Promise<{ token: string; exp: number }> => {
    const key = `${viewer.sessionRef}\n${audience}`;
    const t = now();
    const cached = assertions.get(key, t);
    if (cached) return cached;
    const { identity, access } = viewer;
    const lifetime = capToRequests(access, Math.min(ttlMs, viewer.expiresAt - t), t);
    const token = await options.issuer.mint({
      kind: 'assertion',
      audience,
      ttlMs: lifetime,
      ...toClaims(identity, { roles: access.roles, requests: access.requests.map((r) => r.id) }),
    });
    const exp = t + lifetime;
    assertions.set(key, { token, exp, ref: viewer.sessionRef }, t + lifetime * ASSERTION_REFRESH_SHARE);
    return { token, exp };
  };

  /** One `app.session.start` per session and app, across replicas (the store remembers). */
  const noteFirstUse = async (viewer: Viewer, app: HttpApp, ctx: DecisionContext) => {
    const ttl = Math.max(1, Math.ceil((viewer.expiresAt - now()) / 1000));
    const first = await options.store.setIfAbsent(`app-access:${viewer.sessionRef}:${app.name}`, '1', ttl);
    if (!first) return;
    await options.audit.emit({
      type: 'app.session.start',
      outcome: 'success',
      user: viewer.identity.username,
      connector: viewer.identity.connector,
      roles: viewer.access.roles,
      session_id: viewer.sessionRef,
      details: { app: app.name, via: viewer.bearer ? 'token' : 'session' },
      context: ctx.context,
    });
  };

  /** Header templates (src/access/templates.ts); list items are encoded so a `,` inside one cannot split it. */
  const renderHeader = (template: string, identity: ExternalIdentity, access: Access): string =>
    renderTemplate(template, identity, { groupPrefix: options.policy.groupPrefixes[identity.connector] ?? '', roles: access.roles, listItem });

  const compute = async (credential: Credential, app: HttpApp | undefined, ctx: DecisionContext): Promise<Decision | null> => {
    const viewer = await viewerFor(credential);
    if (!viewer) return null;
    const { identity, access } = viewer;
    const groups = ctx.allowedGroups;
    const allowed =
      (app === undefined || canUseApp(access, { name: app.name, roles: app.config.roles })) &&
      (groups === undefined || groups.some((g) => identity.groups.includes(g)));
    const t = now();
    let expiresAt = Math.min(t + DECISION_TTL_MS, viewer.expiresAt);
    const headers: [string, string][] = [];
    let assertion: string | undefined;
    if (allowed) {
      const signed = await assertionFor(viewer, app ? appAudience(app.name) : FORWARD_AUTH_AUDIENCE, app?.config.assertion_ttl ?? 300_000);
      assertion = signed.token;
      expiresAt = Math.min(expiresAt, signed.exp);
      headers.push(['x-forwarded-user', headerSafe(identity.username)]);
      if (identity.email) headers.push(['x-forwarded-email', headerSafe(identity.email)]);
      headers.push(['x-forwarded-groups', headerSafe(identity.groups.map(listItem).join(','))]);
      headers.push(['gatehouse-jwt-assertion', assertion]);
      for (const [name, template] of app?.headers ?? []) headers.push([name, headerSafe(renderHeader(template, identity, access))]);
      if (app) await noteFirstUse(viewer, app, ctx);
    } else {
      await options.audit.emit({
        type: 'access.denied',
        outcome: 'failure',
        user: identity.username,
        connector: identity.connector,
        roles: access.roles,
        session_id: viewer.sessionRef,
        reason: 'access_denied',
        details: { resource: 'app', app: app?.name, allowed_groups: groups },
        context: ctx.context,
      });
    }
    const decision: Decision = { allowed, viewer, headers, assertion, expiresAt };
    decisions.set(decisionKey(credential, app, groups), decision, expiresAt);
    return decision;
  };

  const engine: IdentityEngine = {
    peek(credential, app, allowedGroups) {
      return decisions.get(decisionKey(credential, app, allowedGroups), now());
    },
    decide(credential, app, ctx) {
      const key = decisionKey(credential, app, ctx.allowedGroups);
      const cached = decisions.get(key, now());
      if (cached) return Promise.resolve(cached);
      // Concurrent first requests of one session share one lookup, one signature and one audit event.
      let pending = inflight.get(key);
      if (!pending) {
        pending = compute(credential, app, ctx).finally(() => inflight.delete(key));
        inflight.set(key, pending);
      }
      return pending;
    },
    rejected(credential) {
      return viewers.get(credentialKey(credential), now()) === null;
    },
    revoke(ref) {
      viewers.deleteWhere((v) => v?.sessionRef === ref);
      decisions.deleteWhere((d) => d.viewer.sessionRef === ref);
      assertions.deleteWhere((a) => a.ref === ref);
    },
    forget(credential) {
      const key = credentialKey(credential);
      viewers.delete(key);
      decisions.deleteWhere((_d, k) => k.startsWith(`${key}\n`));
    },
    close: () => stopWatching(),
  };

  // Ends here and on other replicas (through the store); until the store subscription stands,
  // the short DECISION_TTL_MS bounds how long an ended session is still honoured.
  const stopWatching = options.sessions.onEnded(({ ref }) => engine.revoke(ref));
  return engine;
}
