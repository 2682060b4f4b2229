import { Router, type Request, type Response } from 'express';
import { bestEffort } from '../../audit/sink.js';
import { isSamlConnector, type SamlConnector } from '../../connectors/saml.js';
import { checkResponseSize, MAX_ENCODED_CHARS } from '../../connectors/saml/checks/size.js';
import { samlError } from '../../connectors/saml/errors.js';
import { GatehouseError } from '../../core/errors.js';
import { randomId, sha256Hex } from '../../core/ids.js';
import type { Session } from '../../core/types.js';
import { sessionRef } from '../../sessions/sessions.js';
import { getJson, setJson, takeJson } from '../../store/store.js';
import { redirectTarget } from '../../core/redirect-target.js';
import { redirectPolicyOf, type WebDeps } from '../deps.js';
import { createLoginFlow, STATE_FORMAT } from '../login-flow.js';
import { sendError } from '../errors.js';
import { asyncHandler } from '../middleware.js';
import { samlContinuePage } from '../views/saml.js';

/** A POSTed SAMLResponse waiting for its same-site GET (see docs/decisions.md, "SAML ACS"). */
interface PendingAcs {
  connector: string;
  samlResponse: string;
  relayState?: string;
}

const ACS_TTL_SECONDS = 60;
/** Body cap for the ACS: the largest accepted SAMLResponse, fully percent-encoded, plus RelayState. */
const MAX_ACS_BODY = MAX_ENCODED_CHARS * 3 + 8192;
const acsKey = (k: string) => `saml:acs:${k}`;
const nameIdKey = (connector: string, nameId: string) => `saml:sessions:${connector}:${sha256Hex(nameId)}`;

interface IndexedSession {
  sid: string;
  idx?: string;
}

/**
 * SAML endpoints: SP metadata, the ACS (two steps: POST validates and stores only a valid
 * response, same-site GET completes through the shared login flow), and single logout in both
 * directions.
 */
export function samlRoutes(deps: WebDeps): Router {
  const router = Router();
  const { config, store, audit } = deps;
  const flow = createLoginFlow(deps);

  const samlConnector = (id: string): SamlConnector => {
    const connector = flow.connectorOr404(id);
    if (!isSamlConnector(connector)) throw new GatehouseError('unknown_connector', `"${id}" is not a SAML sign-in method.`, { status: 404 });
    return connector;
  };

  router.get(
    '/saml/:connector/metadata',
    asyncHandler(async (req, res) => {
      const connector = samlConnector(req.params.connector as string);
      res.setHeader('cache-control', 'public, max-age=300');
      res.type('application/samlmetadata+xml').send(connector.spMetadata());
    }),
  );

  router.post('/saml/:connector/acs', async (req, res) => {
    const id = req.params.connector;
    try {
      // Counted in the login budget per client address; a flood is audited once per window.
      const over = await flow.overBudget(res);
      if (over) {
        if (over.first) return await flow.fail(req, res, over.error, id);
        return sendError(req, res, over.error, { logger: deps.logger, demo: deps.demo });
      }
      const connector = samlConnector(id);
      const form = await readForm(req, MAX_ACS_BODY);
      const samlResponse = form.get('SAMLResponse');
      if (!samlResponse) throw samlError('saml_response_malformed', 'The request carries no SAMLResponse.');
      checkResponseSize(samlResponse);
      // Validated before anything is stored: only a response that passes every check up to the
      // audience (signature, wrapping, issuer, time) waits for the same-site hop, where
      // InResponseTo and the replay cache are checked with the login state.
      await connector.precheckResponse(samlResponse);
      const relayState = form.get('RelayState') ?? undefined;
      const k = randomId(32);
      const pending: PendingAcs = { connector: id, samlResponse, relayState: relayState?.slice(0, 1024) };
      await setJson(store, acsKey(k), pending, ACS_TTL_SECONDS);
      res.setHeader('cache-control', 'no-store');
      res.type('html').send(samlContinuePage(`/saml/${encodeURIComponent(id)}/acs/complete?k=${k}`));
    } catch (err) {
      await flow.fail(req, res, err, id);
    }
  });

  router.get('/saml/:connector/acs/complete', async (req, res) => {
    const id = req.params.connector;
    try {
      const connector = samlConnector(id);
      const k = req.query.k;
      const pending = typeof k === 'string' && STATE_FORMAT.test(k) ? await takeJson<PendingAcs>(store, acsKey(k)) : null;
      if (!pending || pending.connector !== id) {
        throw new GatehouseError(
          'state_mismatch',
          'Sign-in could not be completed: this SAML response is unknown, expired or was already used. Please start again.',
          {
            status: 400,
          },
        );
      }
      // RelayState in our state format is an SP-initiated login of ours; anything else is unsolicited.
      const unsolicited = !(pending.relayState && STATE_FORMAT.test(pending.relayState));
      if (unsolicited && !connector.allowIdpInitiated) {
        throw samlError('saml_unsolicited', 'This sign-in method does not accept IdP-initiated (unsolicited) SAML responses.');
      }
      const form: Record<string, string> = { SAMLResponse: pending.samlResponse };
      if (pending.relayState) form.RelayState = pending.relayState;
      await flow.complete(req, res, {
        connectorId: id,
        state: unsolicited ? undefined : pending.relayState,
        unsolicited,
        // An IdP-initiated RelayState naming a destination goes through the shared redirect check.
        unsolicitedReturnTo: unsolicited ? pending.relayState : undefined,
        callbackUrl: new URL(connector.acsUrl),
        form,
        onSession: (session) => indexSession(id, session),
      });
    } catch (err) {
      await flow.fail(req, res, err, id);
    }
  });

  /** Remembers which gateway sessions belong to a NameID, for IdP-initiated logout. */
  const indexSession = async (connector: string, session: Session) => {
    const nameId = session.upstreamLogout?.nameId;
    if (!nameId) return;
    const key = nameIdKey(connector, nameId);
    const ttl = Math.ceil(config.server.session.absolute_ttl / 1000);
    const list = ((await getJson<IndexedSession[]>(store, key)) ?? []).slice(-49);
    list.push({ sid: session.id, idx: session.upstreamLogout?.sessionIndex });
    await setJson(store, key, list, ttl);
  };

  router.get('/saml/:connector/slo', async (req: Request, res: Response) => {
    const id = req.params.connector as string;
    const rawQuery = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '';
    const ctx = flow.ctxOf(res);
    try {
      const connector = samlConnector(id);
      if (req.query.SAMLResponse !== undefined) {
        // The IdP's answer to our LogoutRequest: the gateway session already ended at /logout.
        const { success } = await connector.handleLogoutResponse(rawQuery);
        if (!success) deps.logger.warn({ connector: id }, 'the IdP reported a partial or failed single logout');
        return res.redirect(302, redirectTarget('/login', redirectPolicyOf(deps)));
      }
      const request = await connector.handleLogoutRequest(rawQuery);
      const key = nameIdKey(id, request.nameId);
      const list = (await getJson<IndexedSession[]>(store, key)) ?? [];
      const ending = list.filter((s) => request.sessionIndexes.length === 0 || (s.idx !== undefined && request.sessionIndexes.includes(s.idx)));
      const keep = list.filter((s) => !ending.includes(s));
      for (const s of ending) {
        const session = await deps.sessions.get(s.sid);
        await deps.sessions.destroy(s.sid);
        await audit.emit({
          type: 'user.logout',
          outcome: 'success',
          user: session?.identity.username,
          connector: id,
          session_id: sessionRef(s.sid),
          details: { initiated_by: 'idp', upstream_logout: true },
          context: ctx,
        });
      }
      if (keep.length) await setJson(store, key, keep, Math.ceil(config.server.session.absolute_ttl / 1000));
      else await store.delete(key);
      if (ending.length === 0) {
        await audit.emit({ type: 'user.logout', outcome: 'success', connector: id, details: { initiated_by: 'idp', sessions_ended: 0 }, context: ctx });
      }
      res.redirect(302, request.responseUrl());
    } catch (err) {
      const reason = err instanceof GatehouseError ? err.code : 'internal_error';
      const connector = config.connectors.some((c) => c.id === id) ? id : undefined;
      await bestEffort(audit, deps.logger)({ type: 'user.logout', outcome: 'failure', connector, reason, details: { initiated_by: 'idp' }, context: ctx });
      sendError(req, res, err, { logger: deps.logger, demo: deps.demo });
    }
  });

  return router;
}

/** Reads an application/x-www-form-urlencoded body, refusing (without reading on) past `limit` bytes. */
async function readForm(req: Request, limit: number): Promise<URLSearchParams> {
  const type = String(req.headers['content-type'] ?? '')
    .split(';')[0]
    .trim()
    .toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw samlError('saml_response_malformed', 'The ACS expects an HTML form POST.');
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw samlError('saml_response_too_large', 'The SAML response is too large.');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      req.resume();
      throw samlError('saml_response_too_large', 'The SAML response is too large.');
    }
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('latin1'));
}
