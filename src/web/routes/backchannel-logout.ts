/**
 * `POST /backchannel-logout/:connector`: OpenID Connect Back-Channel Logout 1.0, the
 * `backchannel_logout_uri` to register at the IdP for each OIDC connector (on unless
 * `backchannel_logout: false`). Server to server: no cookie, no CSRF token.
 *
 * - The form field `logout_token` is validated by the connector (src/connectors/backchannel-logout.ts).
 * - A valid token ends the logins it names (`sid`: that IdP session; only `sub`: all of the
 *   person's at this connector), on every replica: the gateway sessions (and with them web
 *   terminals and app sessions, through SessionManager.onEnded), their upstream grants (a later
 *   refresh is `invalid_grant`), the CLI logins made from them (revoked at once, with their live
 *   access tokens), and the person's SSH certificates issued until now (live `ssh` connections
 *   made with them end). Answered 200, `Cache-Control: no-store`, audited `user.backchannel_logout`.
 * - A bad token is 400 `{ error: invalid_request, error_description, reason, check }` and audited
 *   as a failure with the same reason; nothing ends.
 */
import express, { Router, type Request, type Response } from 'express';
import { bestEffort } from '../../audit/sink.js';
import { GatehouseError, isGatehouseError } from '../../core/errors.js';
import type { WebDeps } from '../deps.js';

const BACKCHANNEL_LOGOUT_PATH = '/backchannel-logout';

const form = express.urlencoded({ extended: false, limit: '16kb' });
const readForm = (req: Request, res: Response) =>
  new Promise<void>((resolve, reject) =>
    form(req, res, (err?: unknown) =>
      err
        ? reject(
            new GatehouseError('logout_token_invalid', 'The body is not a form of at most 16 KiB.', { status: 400, cause: err, details: { check: 'body' } }),
          )
        : resolve(),
    ),
  );

/** Why later refreshes of an ended login fail (the token endpoint's `error_description`). */
const ENDED = { reason: 'upstream_revoked', message: 'The identity provider ended this login (back-channel logout)' };

export function backchannelLogoutRoutes(deps: WebDeps): Router {
  const router = Router();
  const emit = bestEffort(deps.audit, deps.logger);

  router.post(`${BACKCHANNEL_LOGOUT_PATH}/:connector`, async (req: Request, res: Response) => {
    const id = req.params.connector as string;
    const connector = deps.connectors.byId.get(id);
    const context = res.locals.ctx;
    res.setHeader('cache-control', 'no-store');
    try {
      if (!connector?.verifyLogoutToken)
        throw new GatehouseError('unknown_connector', 'No sign-in method here takes back-channel logout at this address.', { status: 404 });
      await readForm(req, res);
      const claims = await connector.verifyLogoutToken((req.body as Record<string, unknown> | undefined)?.logout_token);
      const ended = await deps.sessions.endByUpstream({ connector: id, sid: claims.sid, sub: claims.sub }, ENDED);
      const families = [];
      for (const login of ended) if (login.upstreamGrant) families.push(...(await deps.oauth.revokeBornOf(login.upstreamGrant)));
      const live = ended.filter((login) => login.identity);
      // SSH certificates name only the person (key id): all of theirs issued until now end.
      const users = [...new Set([...live.map((login) => login.identity!.username), ...families.map((f) => f.user)])];
      for (const user of users) await deps.sshRevocations?.revokeUser(user);
      await emit({
        type: 'user.backchannel_logout',
        outcome: 'success',
        user: users[0],
        connector: id,
        session_id: live[0]?.sessionRef,
        details: {
          sid: claims.sid,
          sub: claims.sub,
          jti: claims.jti,
          sessions_ended: live.length,
          sessions: live.map((login) => login.sessionRef),
          cli_logins_revoked: families.map((f) => f.family),
          ssh_certs_revoked_for: users,
        },
        context,
      });
      res.status(200).end();
    } catch (err) {
      const known = isGatehouseError(err);
      const reason = known ? err.code : 'internal_error';
      const check = known && typeof err.details?.check === 'string' ? err.details.check : undefined;
      await emit({ type: 'user.backchannel_logout', outcome: 'failure', connector: connector ? id : undefined, reason, details: { check }, context });
      if (!known || err.status >= 500) {
        deps.logger.error({ err, connector: connector ? id : undefined }, 'back-channel logout failed');
        const status = known ? err.status : 500;
        const description = known && err.expose ? err.message : 'The logout could not be processed; try again.';
        return void res.status(status).json({ error: 'temporarily_unavailable', error_description: description, reason });
      }
      res.status(err.status).json({ error: 'invalid_request', error_description: err.message, reason, ...(check ? { check } : {}) });
    }
  });

  return router;
}
