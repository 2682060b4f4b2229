// The demo IdP's interactions: the login form (with its password-guess rate limit), consent and
// abort, and the friendly page for an interaction that cannot go on.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type Provider from 'oidc-provider';
import type { errors as ProviderErrors, Interaction } from 'oidc-provider';

import type { RequestContext } from '../core/types.js';
import { createFixedWindowLimiter } from '../store/rate-limit.js';
import type { EmbeddedIdpLoginLimit, EmbeddedIdpUser } from './types.js';
import { consentPage, interactionErrorPage, loginPage, setPageHeaders } from './views.js';

const INVALID_CREDENTIALS = 'Invalid username or password.';
const TOO_MANY_ATTEMPTS = 'Too many failed sign-in attempts; wait a few minutes and try again.';

const sha256 = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();
const constantTimeEqual = (a: string, b: string): boolean => timingSafeEqual(sha256(a), sha256(b));

function asStringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function bodyField(req: Request, name: string): string {
  const body = req.body as Record<string, unknown> | undefined;
  const value = body?.[name];
  return typeof value === 'string' ? value : '';
}

// --- login guard (brute-force limit on the password form) -------------------------------------

interface GuardState {
  address: string;
  userKey: string;
}

type LoginGuard = ReturnType<typeof createLoginGuard>;

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

// --- interaction routes -------------------------------------------------------------------------

export interface InteractionSettings {
  provider: Provider;
  /** oidc-provider's error classes (the module is loaded lazily, so they are passed in). */
  errors: typeof ProviderErrors;
  issuerPath: string;
  title: string;
  users: Map<string, EmbeddedIdpUser>;
  loginLimit?: EmbeddedIdpLoginLimit;
}

/** Adds `/interaction/...` (login, confirm, abort and their error page) to `router`. */
export function mountInteractions(router: Router, settings: InteractionSettings): void {
  const { provider, errors, issuerPath, title, users } = settings;
  const loginGuard: LoginGuard | undefined = settings.loginLimit ? createLoginGuard(settings.loginLimit, (u) => users.has(u)) : undefined;

  const interactionPath = (uid: string, action?: string): string => `${issuerPath}/interaction/${encodeURIComponent(uid)}${action ? `/${action}` : ''}`;

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
  const login = (details: Interaction, username: string, error?: string): string =>
    loginPage({
      title,
      action: interactionPath(details.uid, 'login'),
      abortAction: interactionPath(details.uid, 'abort'),
      clientId: clientIdOf(details),
      username,
      error,
    });

  const urlencoded = express.urlencoded({ extended: false, limit: '16kb' });

  router.use('/interaction', (_req, res, next) => {
    setPageHeaders(res);
    next();
  });

  router.get('/interaction/:uid', async (req: Request, res: Response) => {
    const details = await loadInteraction(req, res);
    switch (details.prompt.name) {
      case 'login': {
        const hint = typeof details.params.login_hint === 'string' ? details.params.login_hint : '';
        res.status(200).send(login(details, hint));
        return;
      }
      case 'consent': {
        const d = details.prompt.details;
        const resources = Object.entries((d.missingResourceScopes ?? {}) as Record<string, unknown>).map(
          ([r, s]) => [r, asStringList(s)] as [string, string[]],
        );
        res.status(200).send(
          consentPage({
            title,
            action: interactionPath(details.uid, 'confirm'),
            abortAction: interactionPath(details.uid, 'abort'),
            clientId: clientIdOf(details),
            accountId: details.session?.accountId,
            scopes: asStringList(d.missingOIDCScope),
            claims: asStringList(d.missingOIDCClaims),
            resources,
          }),
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
    const guard = loginGuard && (await loginGuard.check(req, res, username));
    if (guard?.refused) return void res.status(429).send(login(details, username, TOO_MANY_ATTEMPTS));
    // Always compare, so unknown users take as long as wrong passwords.
    const passwordOk = constantTimeEqual(password, user ? user.password : randomBytes(16).toString('hex'));
    if (!user || !passwordOk) {
      if (loginGuard && guard) await loginGuard.failed(req, res, guard, user?.username);
      res.status(401).send(login(details, username, INVALID_CREDENTIALS));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: user.username, amr: ['pwd'], remember: true } }, { mergeWithLastSubmission: false });
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
    setPageHeaders(res);
    res.status(err.statusCode || 400).send(interactionErrorPage(title, err instanceof errors.SessionNotFound, err.error_description ?? err.message));
  });
}
