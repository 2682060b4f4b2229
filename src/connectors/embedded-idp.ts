/**
 * Embedded OpenID Provider built on oidc-provider 8.
 *
 * Used as Gatehouse's demo-mode IdP (users alice/bob) and by integration tests as a real upstream
 * IdP with real login and consent forms. Everything is in memory: signing key and cookie keys are
 * generated at start, so tokens and sessions do not survive a restart.
 *
 * Mounting: `router` must be mounted at the issuer's path, e.g. issuer
 * `http://127.0.0.1:8080/demo-idp` → `app.use('/demo-idp', idp.router)`. oidc-provider derives its
 * own URLs from `req.originalUrl` minus the (express-stripped) `req.url`, so it sees the right path
 * behind the prefix. Do not put a global body parser in front of the router (oidc-provider parses
 * its own bodies and warns when it finds a pre-parsed one).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import Provider, {
  errors,
  type Adapter,
  type AdapterPayload,
  type ClientMetadata,
  type Configuration,
  type ErrorOut,
  type Interaction,
  type JWK,
  type KoaContextWithOIDC,
} from 'oidc-provider';

import type { AuditSink } from '../audit/sink.js';
import type { RequestContext } from '../core/types.js';
import { createFixedWindowLimiter } from '../store/rate-limit.js';
import type { Store } from '../store/store.js';

export interface EmbeddedIdpUser {
  username: string;
  password: string;
  email: string;
  name?: string;
  groups: string[];
  emailVerified?: boolean;
  /** Extra claims; their names are released under the `profile` scope. */
  extraClaims?: Record<string, unknown>;
}

export interface EmbeddedIdpClient {
  client_id: string;
  client_secret?: string;
  redirect_uris: string[];
  post_logout_redirect_uris?: string[];
}

/**
 * Brute-force limit on the login form: after `perUsername` failed passwords for one username, or
 * `perAddress` from one client address, within `windowSeconds`, further attempts are refused
 * (429, the form again with an error) without checking the password. Counted in the gateway's
 * store like its login rate limit; failures and the first refusal of a window are audited.
 */
export interface EmbeddedIdpLoginLimit {
  store: Store;
  audit?: AuditSink;
  /** The gateway connector that uses this IdP (for the audit events). */
  connector?: string;
  perUsername?: number;
  perAddress?: number;
  windowSeconds?: number;
}

export interface EmbeddedIdpOptions {
  issuer: string;
  users: EmbeddedIdpUser[];
  clients: EmbeddedIdpClient[];
  title?: string;
  idTokenTtlSeconds?: number;
  loginLimit?: EmbeddedIdpLoginLimit;
}

export interface EmbeddedIdp {
  issuer: string;
  router: Router;
  close(): Promise<void>;
}

const DEFAULT_TITLE = 'Gatehouse demo IdP';
const DEFAULT_ID_TOKEN_TTL = 600;
const INVALID_CREDENTIALS = 'Invalid username or password.';
const TOO_MANY_ATTEMPTS = 'Too many failed sign-in attempts; wait a few minutes and try again.';

// ---------------------------------------------------------------------------------------------
// In-memory adapter (one store per IdP instance; avoids oidc-provider's process-global LRU and its
// "development-only in-memory adapter" warning).
// ---------------------------------------------------------------------------------------------

interface StoredEntry {
  payload: AdapterPayload;
  expiresAt: number | undefined;
}

const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
]);

class MemoryStore {
  readonly entries = new Map<string, StoredEntry>();
  readonly index = new Map<string, { value: string; expiresAt: number | undefined }>();
  readonly grants = new Map<string, Set<string>>();
  private writes = 0;

  static expiry(expiresIn: number | undefined): number | undefined {
    return expiresIn && expiresIn > 0 ? Date.now() + expiresIn * 1000 : undefined;
  }

  get(key: string): AdapterPayload | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  lookup(key: string): string | undefined {
    const entry = this.index.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.index.delete(key);
      return undefined;
    }
    return entry.value;
  }

  sweep(): void {
    this.writes += 1;
    if (this.writes % 500 !== 0) return;
    const now = Date.now();
    for (const [k, v] of this.entries) if (v.expiresAt !== undefined && v.expiresAt <= now) this.entries.delete(k);
    for (const [k, v] of this.index) if (v.expiresAt !== undefined && v.expiresAt <= now) this.index.delete(k);
    for (const [g, keys] of this.grants) {
      for (const k of keys) if (!this.entries.has(k)) keys.delete(k);
      if (keys.size === 0) this.grants.delete(g);
    }
  }

  clear(): void {
    this.entries.clear();
    this.index.clear();
    this.grants.clear();
  }
}

class MemoryAdapter implements Adapter {
  constructor(
    private readonly store: MemoryStore,
    private readonly model: string,
  ) {}

  private key(id: string): string {
    return `${this.model}:${id}`;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    const key = this.key(id);
    const expiresAt = MemoryStore.expiry(expiresIn);
    if (this.model === 'Session' && payload.uid) {
      this.store.index.set(`sessionUid:${payload.uid}`, { value: id, expiresAt });
    }
    if (payload.userCode) {
      this.store.index.set(`userCode:${payload.userCode}`, { value: id, expiresAt });
    }
    if (GRANTABLE.has(this.model) && payload.grantId) {
      let keys = this.store.grants.get(payload.grantId);
      if (!keys) {
        keys = new Set();
        this.store.grants.set(payload.grantId, keys);
      }
      keys.add(key);
    }
    this.store.entries.set(key, { payload: { ...payload }, expiresAt });
    this.store.sweep();
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const payload = this.store.get(this.key(id));
    return payload ? { ...payload } : undefined;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const id = this.store.lookup(`sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const id = this.store.lookup(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id: string): Promise<void> {
    const payload = this.store.get(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    this.store.entries.delete(this.key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    const keys = this.store.grants.get(grantId);
    if (!keys) return;
    for (const key of keys) this.store.entries.delete(key);
    this.store.grants.delete(grantId);
  }
}

// ---------------------------------------------------------------------------------------------
// HTML
// ---------------------------------------------------------------------------------------------

function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const CSS = `
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:#f1f3f6;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f2933}
.card{width:100%;max-width:380px;background:#fff;border-radius:10px;box-shadow:0 4px 18px rgba(15,23,42,.12);padding:28px 32px;margin:16px}
.brand{font-size:.8rem;letter-spacing:.06em;text-transform:uppercase;color:#64748b;margin:0 0 6px}
h1{font-size:1.35rem;margin:0 0 14px;font-weight:600}
p{line-height:1.45;margin:0 0 14px}
label{display:block;font-size:.9rem;font-weight:600;margin:12px 0 4px}
input[type=text],input[type=password]{width:100%;padding:9px 11px;border:1px solid #cbd5e1;border-radius:6px;font-size:1rem}
input:focus{outline:2px solid #2563eb;outline-offset:0;border-color:#2563eb}
button{width:100%;padding:10px;border:0;border-radius:6px;font-size:1rem;font-weight:600;cursor:pointer;margin-top:14px}
.primary{background:#2563eb;color:#fff}.primary:hover{background:#1d4ed8}
.secondary{background:#e2e8f0;color:#1f2933}.secondary:hover{background:#cbd5e1}
.error{background:#fef2f2;border:1px solid #fecaca;color:#991b1b;padding:9px 11px;border-radius:6px;font-size:.92rem}
.client{font-weight:600;font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
ul{margin:0 0 6px;padding-left:20px}li{margin:3px 0}
.muted{color:#64748b;font-size:.85rem}
`;

function renderPage(title: string, heading: string, content: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(heading)} · ${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main class="card">
<p class="brand">${escapeHtml(title)}</p>
<h1>${escapeHtml(heading)}</h1>
${content}
</main>
</body>
</html>`;
}

function loginPage(title: string, action: string, abortAction: string, clientId: string, username: string, error?: string): string {
  return renderPage(
    title,
    'Sign in',
    `<p>to continue to <span class="client">${escapeHtml(clientId)}</span></p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="${escapeHtml(action)}" autocomplete="off">
<label for="username">Username</label>
<input type="text" id="username" name="username" value="${escapeHtml(username)}" required autofocus autocapitalize="none" spellcheck="false">
<label for="password">Password</label>
<input type="password" id="password" name="password" required>
<button type="submit" class="primary">Sign in</button>
</form>
<form method="post" action="${escapeHtml(abortAction)}">
<button type="submit" class="secondary">Cancel</button>
</form>`,
  );
}

function consentPage(
  title: string,
  action: string,
  abortAction: string,
  clientId: string,
  accountId: string | undefined,
  scopes: string[],
  claims: string[],
  resources: Array<[string, string[]]>,
): string {
  const items = [
    ...scopes.map((s) => `<li>scope <span class="client">${escapeHtml(s)}</span></li>`),
    ...claims.map((c) => `<li>claim <span class="client">${escapeHtml(c)}</span></li>`),
    ...resources.map(
      ([r, s]) => `<li><span class="client">${escapeHtml(r)}</span>: ${s.map((x) => escapeHtml(x)).join(', ')}</li>`,
    ),
  ];
  return renderPage(
    title,
    'Authorize access',
    `<p><span class="client">${escapeHtml(clientId)}</span> is requesting access to your account${
      accountId ? ` (<strong>${escapeHtml(accountId)}</strong>)` : ''
    }.</p>
${items.length ? `<ul>${items.join('')}</ul>` : ''}
<form method="post" action="${escapeHtml(action)}">
<button type="submit" class="primary" autofocus>Allow</button>
</form>
<form method="post" action="${escapeHtml(abortAction)}">
<button type="submit" class="secondary">Deny</button>
</form>`,
  );
}

function setPageHeaders(res: Response): void {
  res.set({
    'Cache-Control': 'no-store',
    Pragma: 'no-cache',
    'Content-Type': 'text/html; charset=utf-8',
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    // No form-action here: Chrome applies it to the redirect chain that follows a submission,
    // which ends at the relying party's redirect_uri.
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
  });
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function constantTimeEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

function issuerPathOf(issuer: string): string {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new TypeError(`embedded IdP: issuer is not a valid URL: ${issuer}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`embedded IdP: issuer must be an http(s) URL: ${issuer}`);
  }
  if (url.search || url.hash) {
    throw new TypeError(`embedded IdP: issuer must not contain a query or fragment: ${issuer}`);
  }
  return url.pathname.replace(/\/+$/, '');
}

function asStringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function bodyField(req: Request, name: string): string {
  const body = req.body as Record<string, unknown> | undefined;
  const value = body?.[name];
  return typeof value === 'string' ? value : '';
}

// ---------------------------------------------------------------------------------------------
// Login guard (brute-force limit on the password form)
// ---------------------------------------------------------------------------------------------

interface GuardState {
  address: string;
  userKey: string;
}

function createLoginGuard(limit: EmbeddedIdpLoginLimit, knownUser: (username: string) => boolean) {
  const windowSeconds = limit.windowSeconds ?? 300;
  const byUser = createFixedWindowLimiter(limit.store, { name: 'demo-idp:user', limit: limit.perUsername ?? 5, windowSeconds });
  const byAddress = createFixedWindowLimiter(limit.store, { name: 'demo-idp:addr', limit: limit.perAddress ?? 20, windowSeconds });
  // Counts refused attempts per limited key and window: the first one of each is audited.
  const refusals = createFixedWindowLimiter(limit.store, { name: 'demo-idp:refused', limit: 0, windowSeconds });
  // The gateway's request context when mounted on it (its trusted client address, request id).
  const ctxOf = (req: Request, res: Response): RequestContext =>
    (res.locals.ctx as RequestContext | undefined) ?? { remoteAddr: req.socket.remoteAddress, requestId: '' };
  const emit = async (req: Request, res: Response, reason: string, details: Record<string, unknown>, username?: string) => {
    if (!limit.audit) return;
    // A refusal stays a refusal when the audit write fails (the log reports it); nothing is granted.
    await limit.audit
      .emit({
      type: 'user.login',
      outcome: 'failure',
      // Only a real account name reaches the audit log; anything else is attacker-controlled text.
      user: username && knownUser(username) ? username : undefined,
      connector: limit.connector,
      reason,
      details: { via: 'demo-idp', ...details },
      context: ctxOf(req, res),
    })
      .catch(() => undefined);
  };
  return {
    /** Before the password is checked: refuses when the username or the address has used up its failures. */
    async check(req: Request, res: Response, username: string): Promise<GuardState & { refused: boolean }> {
      const address = String(ctxOf(req, res).remoteAddr);
      const userKey = createHash('sha256').update(username.trim().toLowerCase()).digest('hex').slice(0, 32);
      const which = (await byUser.exhausted(userKey)) ? 'username' : (await byAddress.exhausted(address)) ? 'address' : undefined;
      if (!which) return { address, userKey, refused: false };
      const refusal = await refusals.hit(`${which}:${which === 'username' ? userKey : address}`);
      if (refusal.first) await emit(req, res, 'rate_limited', { limit: which, window_s: windowSeconds }, username);
      res.setHeader('retry-after', String(refusal.retryAfterSeconds));
      return { address, userKey, refused: true };
    },
    /** A wrong password or an unknown user: counted for both, and audited. */
    async failed(req: Request, res: Response, state: GuardState, username?: string): Promise<void> {
      await byUser.hit(state.userKey);
      await byAddress.hit(state.address);
      await emit(req, res, 'invalid_credentials', {}, username);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// createEmbeddedIdp
// ---------------------------------------------------------------------------------------------

export async function createEmbeddedIdp(options: EmbeddedIdpOptions): Promise<EmbeddedIdp> {
  const issuer = options.issuer.replace(/\/+$/, '');
  const issuerPath = issuerPathOf(issuer);
  const isHttps = issuer.startsWith('https:');
  const title = options.title ?? DEFAULT_TITLE;
  const idTokenTtl = options.idTokenTtlSeconds ?? DEFAULT_ID_TOKEN_TTL;
  if (!Number.isInteger(idTokenTtl) || idTokenTtl <= 0) {
    throw new TypeError('embedded IdP: idTokenTtlSeconds must be a positive integer');
  }

  const users = new Map<string, EmbeddedIdpUser>();
  for (const user of options.users) {
    if (!user.username) throw new TypeError('embedded IdP: user without username');
    if (users.has(user.username)) throw new TypeError(`embedded IdP: duplicate user ${user.username}`);
    users.set(user.username, user);
  }

  // Claims configuration; extra claim names are released under `profile` (otherwise
  // oidc-provider would never emit them).
  const claimsConfig: Record<string, string[]> = {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  };
  const known = new Set(Object.values(claimsConfig).flat());
  for (const user of options.users) {
    for (const claim of Object.keys(user.extraClaims ?? {})) {
      if (!known.has(claim)) {
        known.add(claim);
        claimsConfig.profile.push(claim);
      }
    }
  }

  // Signing key: generated per start, never hard-coded.
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const privateJwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint({ kty: privateJwk.kty, n: privateJwk.n, e: privateJwk.e });
  const signingKey = { ...privateJwk, kid, alg: 'RS256', use: 'sig' } as JWK;

  const store = new MemoryStore();
  const loginGuard = options.loginLimit ? createLoginGuard(options.loginLimit, (u) => users.has(u)) : undefined;

  const clients: ClientMetadata[] = options.clients.map((c) => ({
    client_id: c.client_id,
    ...(c.client_secret ? { client_secret: c.client_secret } : {}),
    redirect_uris: [...c.redirect_uris],
    post_logout_redirect_uris: [...(c.post_logout_redirect_uris ?? [])],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: c.client_secret ? 'client_secret_basic' : 'none',
  }));

  const cookiePrefix = `_gh_idp_${createHash('sha256').update(issuer).digest('hex').slice(0, 8)}`;

  const configuration: Configuration = {
    adapter: (name: string) => new MemoryAdapter(store, name),
    clients,
    jwks: { keys: [signingKey] },
    findAccount: (_ctx, sub) => {
      const user = users.get(sub);
      if (!user) return undefined;
      return {
        accountId: user.username,
        claims: () => ({
          preferred_username: user.username,
          name: user.name ?? user.username,
          email: user.email,
          email_verified: user.emailVerified ?? true,
          groups: [...user.groups],
          ...(user.extraClaims ?? {}),
          sub: user.username,
        }),
      };
    },
    claims: claimsConfig,
    scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    pkce: { methods: ['S256'], required: () => true },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx: KoaContextWithOIDC, form: string) => {
          // `form` is generated by oidc-provider (id="op.logoutForm", action = end_session_confirm
          // under the mount prefix, hidden xsrf input); embed it verbatim.
          ctx.type = 'html';
          ctx.body = renderPage(
            title,
            'Sign out',
            `<p>Do you want to sign out of <strong>${escapeHtml(title)}</strong>?</p>
${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes" class="primary" autofocus>Yes, sign me out</button>
<button type="submit" form="op.logoutForm" class="secondary">No, stay signed in</button>`,
          );
        },
        postLogoutSuccessSource: (ctx: KoaContextWithOIDC) => {
          const clientId = ctx.oidc.client?.clientId;
          ctx.type = 'html';
          ctx.body = renderPage(
            title,
            'Signed out',
            `<p>You have been signed out${
              clientId ? ` of <span class="client">${escapeHtml(clientId)}</span>` : ''
            }.</p>`,
          );
        },
      },
    },
    interactions: {
      url: (_ctx: KoaContextWithOIDC, interaction: Interaction) => `${issuerPath}/interaction/${interaction.uid}`,
    },
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      names: {
        session: `${cookiePrefix}_session`,
        interaction: `${cookiePrefix}_interaction`,
        resume: `${cookiePrefix}_interaction_resume`,
      },
      // SameSite=None requires Secure in browsers; over plain http use Lax so the session cookie
      // is not dropped. oidc-provider adds `secure` itself when the request is https.
      long: { httpOnly: true, sameSite: isHttps ? 'none' : 'lax' },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      ClientCredentials: 600,
      DeviceCode: 600,
      BackchannelAuthenticationRequest: 600,
      IdToken: idTokenTtl,
      RefreshToken: 24 * 3600,
      Interaction: 3600,
      Session: 24 * 3600,
      Grant: 14 * 24 * 3600,
    },
    renderError: (ctx: KoaContextWithOIDC, out: ErrorOut) => {
      ctx.type = 'html';
      ctx.body = renderPage(
        title,
        'Something went wrong',
        `<p class="error" role="alert"><strong>${escapeHtml(out.error)}</strong>${
          out.error_description ? `: ${escapeHtml(out.error_description)}` : ''
        }</p>
<p class="muted">Return to the application and try again.</p>`,
      );
    },
    // Allow browser CORS calls (token, userinfo, jwks...) from a registered redirect_uri origin.
    clientBasedCORS: (_ctx, origin, client) =>
      (client.redirectUris ?? []).some((uri) => {
        try {
          return new URL(uri).origin === origin;
        } catch {
          return false;
        }
      }),
  };

  const provider = new Provider(issuer, configuration);
  // Let koa inherit express's view of protocol/host/ip (see providerHandler below), so that
  // `trust proxy` on the host app decides, and cookies get `secure` only on https.
  provider.proxy = true;

  // --- interaction routes ---------------------------------------------------------------------

  const interactionPath = (uid: string, action?: string): string =>
    `${issuerPath}/interaction/${encodeURIComponent(uid)}${action ? `/${action}` : ''}`;

  async function loadInteraction(req: Request, res: Response): Promise<Interaction> {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== req.params.uid) {
      throw new errors.SessionNotFound('interaction does not match the interaction cookie');
    }
    return details;
  }

  function expectPrompt(details: Interaction, name: string): void {
    if (details.prompt.name !== name) {
      throw new errors.InvalidRequest(`interaction is not awaiting ${name}`);
    }
  }

  const clientIdOf = (details: Interaction): string => String(details.params.client_id ?? '');

  const router = express.Router();
  const urlencoded = express.urlencoded({ extended: false, limit: '16kb' });

  router.use('/interaction', (_req, res, next) => {
    setPageHeaders(res);
    next();
  });

  router.get('/interaction/:uid', async (req: Request, res: Response) => {
    const details = await loadInteraction(req, res);
    const uid = details.uid;
    const clientId = clientIdOf(details);
    switch (details.prompt.name) {
      case 'login': {
        const hint = typeof details.params.login_hint === 'string' ? details.params.login_hint : '';
        res.status(200).send(loginPage(title, interactionPath(uid, 'login'), interactionPath(uid, 'abort'), clientId, hint));
        return;
      }
      case 'consent': {
        const d = details.prompt.details;
        const resources = Object.entries((d.missingResourceScopes ?? {}) as Record<string, unknown>).map(
          ([r, s]) => [r, asStringList(s)] as [string, string[]],
        );
        res
          .status(200)
          .send(
            consentPage(
              title,
              interactionPath(uid, 'confirm'),
              interactionPath(uid, 'abort'),
              clientId,
              details.session?.accountId,
              asStringList(d.missingOIDCScope),
              asStringList(d.missingOIDCClaims),
              resources,
            ),
          );
        return;
      }
      default:
        throw new errors.InvalidRequest(`unsupported interaction prompt: ${details.prompt.name}`);
    }
  });

  router.post('/interaction/:uid/login', urlencoded, async (req: Request, res: Response) => {
    const details = await loadInteraction(req, res);
    expectPrompt(details, 'login');
    const username = bodyField(req, 'username');
    const password = bodyField(req, 'password');
    const user = users.get(username);
    const rerender = (status: number, error: string) =>
      res
        .status(status)
        .send(loginPage(title, interactionPath(details.uid, 'login'), interactionPath(details.uid, 'abort'), clientIdOf(details), username, error));
    const guard = loginGuard && (await loginGuard.check(req, res, username));
    if (guard?.refused) return void rerender(429, TOO_MANY_ATTEMPTS);
    // Always compare, so unknown users take as long as wrong passwords.
    const passwordOk = constantTimeEqual(password, user ? user.password : randomBytes(16).toString('hex'));
    if (!user || !passwordOk) {
      if (loginGuard && guard) await loginGuard.failed(req, res, guard, user?.username);
      res
        .status(401)
        .send(
          loginPage(
            title,
            interactionPath(details.uid, 'login'),
            interactionPath(details.uid, 'abort'),
            clientIdOf(details),
            username,
            INVALID_CREDENTIALS,
          ),
        );
      return;
    }
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: user.username, amr: ['pwd'], remember: true } },
      { mergeWithLastSubmission: false },
    );
  });

  router.post('/interaction/:uid/confirm', urlencoded, async (req: Request, res: Response) => {
    const details = await loadInteraction(req, res);
    expectPrompt(details, 'consent');
    const accountId = details.session?.accountId;
    if (!accountId) throw new errors.SessionNotFound('no signed-in account for this interaction');
    const clientId = clientIdOf(details);

    const existing = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
    const grant = existing ?? new provider.Grant({ accountId, clientId });

    const d = details.prompt.details;
    const missingScope = asStringList(d.missingOIDCScope);
    if (missingScope.length) grant.addOIDCScope(missingScope.join(' '));
    const missingClaims = asStringList(d.missingOIDCClaims);
    if (missingClaims.length) grant.addOIDCClaims(missingClaims);
    for (const [indicator, scopes] of Object.entries((d.missingResourceScopes ?? {}) as Record<string, unknown>)) {
      grant.addResourceScope(indicator, asStringList(scopes).join(' '));
    }
    const grantId = await grant.save();

    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  });

  router.post('/interaction/:uid/abort', urlencoded, async (req: Request, res: Response) => {
    await loadInteraction(req, res);
    await provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'End-User aborted interaction' },
      { mergeWithLastSubmission: false },
    );
  });

  // Interaction errors (expired/missing interaction cookie, wrong prompt) → friendly page;
  // anything else goes to the host app's error handler.
  router.use('/interaction', (err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent || !(err instanceof errors.OIDCProviderError)) {
      next(err);
      return;
    }
    const expired = err instanceof errors.SessionNotFound;
    setPageHeaders(res);
    res
      .status(err.statusCode || 400)
      .send(
        renderPage(
          title,
          expired ? 'Sign-in session expired' : 'Something went wrong',
          `<p class="error" role="alert">${escapeHtml(
            expired
              ? 'Your sign-in session has expired or could not be found.'
              : err.error_description ?? err.message,
          )}</p>
<p class="muted">Return to the application and start again.</p>`,
        ),
      );
  });

  // --- oidc-provider --------------------------------------------------------------------------

  const callback = provider.callback();
  router.use((req: Request, res: Response, next: NextFunction) => {
    if (req.baseUrl.replace(/\/+$/, '') !== issuerPath) {
      next(
        new Error(
          `embedded IdP router is mounted at "${req.baseUrl || '/'}" but the issuer path is "${issuerPath || '/'}"`,
        ),
      );
      return;
    }
    // provider.proxy = true: hand koa the values express computed (honouring its `trust proxy`).
    req.headers['x-forwarded-proto'] = req.protocol;
    req.headers['x-forwarded-host'] = req.host;
    if (req.ip) req.headers['x-forwarded-for'] = req.ip;
    else delete req.headers['x-forwarded-for'];
    callback(req, res).catch(next);
  });

  return {
    issuer,
    router,
    async close() {
      store.clear();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// startEmbeddedIdp: standalone server on an ephemeral port
// ---------------------------------------------------------------------------------------------

export async function startEmbeddedIdp(
  options: Omit<EmbeddedIdpOptions, 'issuer'> & { host?: string },
): Promise<EmbeddedIdp & { url: string }> {
  const { host = '127.0.0.1', ...rest } = options;
  let handler: http.RequestListener = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const closeServer = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });

  let idp: EmbeddedIdp;
  try {
    idp = await createEmbeddedIdp({ ...rest, issuer: url });
  } catch (err) {
    await closeServer();
    throw err;
  }

  const app = express();
  app.disable('x-powered-by');
  app.use('/', idp.router);
  handler = app;

  return {
    issuer: idp.issuer,
    router: idp.router,
    url,
    async close() {
      await closeServer();
      await idp.close();
    },
  };
}
