import express, { Router, type Request, type Response } from 'express';
import type { AuditInput } from '../../audit/sink.js';
import { isGatehouseError } from '../../core/errors.js';
import { OAuthError } from '../../tokens/oauth/errors.js';
import type { OAuthServer, TokenResponse } from '../../tokens/oauth/server.js';
import { sessionRef } from '../../sessions/sessions.js';
import type { OAuthErrorBody } from '../api-schema/errors.js';
import { checkCsrf, csrfToken } from '../csrf.js';
import { loginRedirect } from '../../core/redirect-target.js';
import { redirectPolicyOf, type WebDeps } from '../deps.js';
import { asyncHandler, currentSession } from '../middleware.js';
import { createFixedWindowLimiter } from '../../store/rate-limit.js';
import { cliDonePage, deviceConfirmPage, deviceDonePage, deviceEntryPage } from '../views/device.js';

const form = express.urlencoded({ extended: false, limit: '16kb' });
/** RFC 8628 §5.1: user-code guesses per signed-in session per minute (also bounded per address). */
const USER_CODE_GUESSES_PER_SESSION = 10;
/** The token endpoint's budget per address, in login budgets (refreshes and device polls are frequent). */
const TOKEN_BUDGET_FACTOR = 5;

/**
 * The CLI's OAuth endpoints (listed in discovery) and the /device page.
 * Token endpoint errors use RFC 6749's `{ error, error_description }`.
 */
export function oauthRoutes(deps: WebDeps, oauth: OAuthServer): Router {
  const router = Router();
  const publicUrl = deps.config.server.public_url;
  const audit = (res: Response, input: Omit<AuditInput, 'context'>) => deps.audit.emit({ ...input, context: res.locals.ctx });

  const sendOAuthError = (res: Response, err: unknown) => {
    if (!isGatehouseError(err)) throw err;
    res.status(err.status).setHeader('cache-control', 'no-store');
    res.json({ error: err.code, error_description: err.message } satisfies OAuthErrorBody);
  };

  // The login limiter's store-backed fixed windows (src/store/rate-limit.ts), per client address
  // (and per session for user codes). Refusals are audited once per window, not per request.
  const loginBudget = deps.config.server.rate_limit.login_per_minute;
  const limiters = {
    token: createFixedWindowLimiter(deps.store, { name: 'oauth-token', limit: loginBudget * TOKEN_BUDGET_FACTOR, windowSeconds: 60 }),
    device: createFixedWindowLimiter(deps.store, { name: 'oauth-device', limit: loginBudget, windowSeconds: 60 }),
    userCode: createFixedWindowLimiter(deps.store, { name: 'device-code', limit: loginBudget, windowSeconds: 60 }),
    userCodeBySession: createFixedWindowLimiter(deps.store, { name: 'device-code-session', limit: USER_CODE_GUESSES_PER_SESSION, windowSeconds: 60 }),
  };
  /** Counts one request; when over the budget sets Retry-After and says whether to audit (first refusal of the window). */
  const limited = async (res: Response, limiter: keyof typeof limiters, subject = String(res.locals.ctx?.remoteAddr)) => {
    const hit = await limiters[limiter].hit(subject);
    if (hit.limited) res.setHeader('retry-after', String(hit.retryAfterSeconds));
    return hit.limited ? { audit: hit.first } : undefined;
  };

  const sendTokens = (res: Response, tokens: TokenResponse) => {
    const { audit: _who, ...body } = tokens;
    res.setHeader('cache-control', 'no-store');
    res.json(body);
  };

  router.get(
    '/oauth/authorize',
    asyncHandler(async (req, res) => {
      const request = oauth.checkAuthorizationRequest(req.query);
      const session = await currentSession(deps, req);
      if (!session) {
        const connector = typeof req.query.connector === 'string' ? `&connector=${encodeURIComponent(req.query.connector)}` : '';
        return res.redirect(302, `/login?return_to=${encodeURIComponent(req.originalUrl)}${connector}`);
      }
      const target = new URL(request.redirectUri);
      if (request.state !== undefined) target.searchParams.set('state', request.state);
      target.searchParams.set('iss', publicUrl);
      try {
        target.searchParams.set('code', await oauth.issueCode(request, session.identity));
      } catch (err) {
        if (!(err instanceof OAuthError)) throw err;
        target.searchParams.set('error', err.code);
        target.searchParams.set('error_description', err.message);
      }
      res.redirect(302, target.href);
    }),
  );

  router.post('/oauth/token', form, async (req: Request, res: Response) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const grantType = body.grant_type;
    const type = grantType === 'refresh_token' ? 'token.refreshed' : 'token.issued';
    try {
      const over = await limited(res, 'token');
      if (over) {
        // RFC 8628 §3.5 names slow_down for pollers; other grants get our rate_limited.
        const device = grantType === 'urn:ietf:params:oauth:grant-type:device_code';
        throw new OAuthError(
          device ? 'slow_down' : 'rate_limited',
          'Too many token requests from this address; wait a minute.',
          over.audit ? 'rate_limited' : 'rate_limited_again',
          undefined,
          429,
        );
      }
      let tokens: TokenResponse;
      if (grantType === 'authorization_code') tokens = await oauth.exchangeCode(body);
      else if (grantType === 'refresh_token') tokens = await oauth.refresh(body);
      else if (grantType === 'urn:ietf:params:oauth:grant-type:device_code') tokens = await oauth.pollDevice(body);
      else throw new OAuthError('unsupported_grant_type', 'Use authorization_code, refresh_token or the device_code grant.');
      await audit(res, {
        type,
        outcome: 'success',
        user: tokens.audit.user,
        connector: tokens.audit.connector,
        details: { grant_type: grantType, audience: tokens.audit.audience, family: tokens.audit.family },
      });
      sendTokens(res, tokens);
    } catch (err) {
      // Polling answers are the device flow working as designed, not failures worth auditing.
      // So is a flood past the rate limit after its first (audited) refusal in the window.
      const pending =
        err instanceof OAuthError &&
        (((err.code === 'authorization_pending' || err.code === 'slow_down') && err.reason !== 'rate_limited') || err.reason === 'rate_limited_again');
      if (!pending) {
        const reason = err instanceof OAuthError ? err.reason : isGatehouseError(err) ? err.code : 'internal_error';
        await audit(res, {
          type: reason === 'refresh_token_reused' ? 'token.reuse_detected' : type,
          outcome: 'failure',
          user: err instanceof OAuthError ? err.user : undefined,
          reason,
          details: { grant_type: typeof grantType === 'string' ? grantType.slice(0, 64) : undefined },
        });
      }
      sendOAuthError(res, err);
    }
  });

  router.post('/oauth/device_authorization', form, async (req, res) => {
    try {
      const over = await limited(res, 'device');
      if (over) {
        if (over.audit)
          await audit(res, { type: 'device.authorized', outcome: 'failure', reason: 'rate_limited', details: { endpoint: 'device_authorization' } });
        throw new OAuthError('rate_limited', 'Too many device authorizations from this address; wait a minute.', 'rate_limited', undefined, 429);
      }
      res.setHeader('cache-control', 'no-store');
      res.json(await oauth.startDeviceAuthorization(req.body ?? {}));
    } catch (err) {
      sendOAuthError(res, err);
    }
  });

  router.post('/oauth/revoke', form, async (req, res) => {
    try {
      const result = await oauth.revoke(req.body ?? {});
      if (result.revoked) await audit(res, { type: 'token.revoked', outcome: 'success', user: result.user, details: { via: 'revocation_endpoint' } });
      res.status(200).end();
    } catch (err) {
      sendOAuthError(res, err);
    }
  });

  router.get('/cli/done', (_req, res) => {
    res.type('html').send(cliDonePage({ demo: deps.demo }));
  });

  // The /device page: a signed-in person enters the code their CLI printed, then approves it.
  const deviceSession = async (req: Request, res: Response) => {
    const session = await currentSession(deps, req);
    if (!session) res.redirect(302, loginRedirect(req.originalUrl, redirectPolicyOf(deps)));
    return session;
  };
  /** RFC 8628 §5.1: every user-code submission counts, per session and per address; 429 and audited past the budget. */
  const guessesExhausted = async (res: Response, session: { id: string; identity: { username: string } }) => {
    const bySession = await limited(res, 'userCodeBySession', sessionRef(session.id));
    const byAddress = await limited(res, 'userCode');
    if (!bySession && !byAddress) return false;
    if (bySession?.audit || byAddress?.audit)
      await audit(res, {
        type: 'device.authorized',
        outcome: 'failure',
        user: session.identity.username,
        reason: 'rate_limited',
        session_id: sessionRef(session.id),
        details: { endpoint: 'device' },
      });
    res
      .status(429)
      .type('html')
      .send(deviceEntryPage({ ...view(session), error: 'Too many codes entered; wait a minute and try again. (rate_limited)' }));
    return true;
  };
  const view = (session: { id: string; identity: { username: string } }) => ({ demo: deps.demo, user: session.identity.username, csrf: csrfToken(session.id) });

  router.get(
    '/device',
    asyncHandler(async (req, res) => {
      const session = await deviceSession(req, res);
      if (!session) return;
      const userCode = typeof req.query.user_code === 'string' ? req.query.user_code.slice(0, 16) : undefined;
      res.type('html').send(deviceEntryPage({ ...view(session), userCode }));
    }),
  );

  router.post(
    '/device',
    form,
    asyncHandler(async (req, res) => {
      const session = await deviceSession(req, res);
      if (!session) return;
      checkCsrf(req, session.id, publicUrl);
      if (await guessesExhausted(res, session)) return;
      const typed = String(req.body?.user_code ?? '').slice(0, 32);
      const found = await oauth.findUserCode(typed);
      if (!found) {
        await audit(res, {
          type: 'device.authorized',
          outcome: 'failure',
          user: session.identity.username,
          reason: 'user_code_invalid',
          session_id: sessionRef(session.id),
        });
        return res
          .status(400)
          .type('html')
          .send(deviceEntryPage({ ...view(session), userCode: typed, error: 'That code is unknown or has expired.' }));
      }
      const display = `${found.userCode.slice(0, 4)}-${found.userCode.slice(4)}`;
      res.type('html').send(deviceConfirmPage({ ...view(session), userCode: display }));
    }),
  );

  router.post(
    '/device/decide',
    form,
    asyncHandler(async (req, res) => {
      const session = await deviceSession(req, res);
      if (!session) return;
      checkCsrf(req, session.id, publicUrl);
      if (await guessesExhausted(res, session)) return;
      const approve = req.body?.decision === 'approve';
      const decided = await oauth.decideDevice(String(req.body?.user_code ?? ''), session.identity, approve);
      await audit(res, {
        type: 'device.authorized',
        outcome: decided && approve ? 'success' : 'failure',
        user: session.identity.username,
        connector: session.identity.connector,
        session_id: sessionRef(session.id),
        reason: decided ? (approve ? undefined : 'denied_by_user') : 'user_code_invalid',
      });
      if (!decided)
        return res
          .status(400)
          .type('html')
          .send(deviceEntryPage({ ...view(session), error: 'That code is unknown, expired or already used.' }));
      res.type('html').send(deviceDonePage({ demo: deps.demo, user: session.identity.username, approved: approve }));
    }),
  );

  return router;
}
