import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditSink } from '../audit/sink.js';
import type { RequestContext } from '../core/types.js';
import { fromClaims } from './gateway-token.js';
import { TokenRejectedError, type TokenIssuer } from './issuer.js';

const PATHS = new Map([
  ['/apis/authentication.k8s.io/v1/tokenreviews', 'authentication.k8s.io/v1'],
  ['/apis/authentication.k8s.io/v1beta1/tokenreviews', 'authentication.k8s.io/v1beta1'],
]);
const API_VERSIONS = new Set(PATHS.values());
const MAX_BODY = 64 * 1024;

export interface TokenReviewOptions {
  issuer: TokenIssuer;
  audit: AuditSink;
  /**
   * The cluster audiences we issue tokens for (the audience registry's): the default when the
   * review names none, and the bound on what it names. A review is never answered for the
   * gateway's or an app's audience, whatever spec.audiences says.
   */
  audiences: () => string[];
  /** Callers must present this bearer token (kube-apiserver's webhook kubeconfig carries it). */
  bearerToken?: string;
  /** Username prefix, as kube-apiserver's --oidc-username-prefix would add. */
  usernamePrefix: string;
  context: (req: IncomingMessage) => RequestContext;
}

/**
 * kube-apiserver's webhook token authenticator (TokenReview v1 and v1beta1), served on the
 * data path before Express. Verifies a Gatehouse token (signature, iss, exp, nbf, and aud within
 * spec.audiences or our clusters') and answers in the review's own apiVersion, as the webhook
 * contract requires, whichever of the two paths it was posted to.
 */
export function createTokenReviewHandler(options: TokenReviewOptions) {
  const expected = options.bearerToken ? Buffer.from(`Bearer ${options.bearerToken}`) : undefined;

  const send = (res: ServerResponse, status: number, body: unknown) => {
    const json = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json), 'cache-control': 'no-store' });
    res.end(json);
  };
  const failure = (res: ServerResponse, status: number, code: string, message: string) =>
    send(res, status, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: code, message, code: status });

  return {
    matches: (req: IncomingMessage) => req.method === 'POST' && PATHS.has((req.url ?? '').split('?')[0]),

    async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const context = options.context(req);
      const pathVersion = PATHS.get((req.url ?? '').split('?')[0])!;
      const given = Buffer.from(req.headers.authorization ?? '');
      if (!expected || given.length !== expected.length || !timingSafeEqual(given, expected)) {
        req.resume();
        await options.audit.emit({ type: 'kube.tokenreview', outcome: 'failure', reason: 'caller_unauthenticated', context });
        return failure(
          res,
          401,
          'Unauthorized',
          expected
            ? 'The TokenReview caller must present the configured bearer token.'
            : 'The TokenReview webhook is not configured (tokenreview.bearer_token).',
        );
      }
      let review: { apiVersion?: unknown; kind?: string; spec?: { token?: unknown; audiences?: unknown } };
      try {
        review = JSON.parse(await readBody(req));
      } catch (err) {
        await options.audit.emit({ type: 'kube.tokenreview', outcome: 'failure', reason: 'malformed_review', context });
        return failure(
          res,
          (err as { status?: number }).status ?? 400,
          'BadRequest',
          (err as { status?: number }).status ? 'The TokenReview body is too large.' : 'The body is not a JSON TokenReview.',
        );
      }
      if (review?.kind !== 'TokenReview' || typeof review.spec?.token !== 'string' || !review.spec.token) {
        await options.audit.emit({ type: 'kube.tokenreview', outcome: 'failure', reason: 'malformed_review', context });
        return failure(res, 400, 'BadRequest', 'Expected kind TokenReview with spec.token.');
      }
      // A body without apiVersion (hand-made reviews) gets the path's; one we do not speak is refused, not answered in a shape its sender cannot decode.
      const apiVersion = review.apiVersion === undefined ? pathVersion : review.apiVersion;
      if (typeof apiVersion !== 'string' || !API_VERSIONS.has(apiVersion)) {
        await options.audit.emit({
          type: 'kube.tokenreview',
          outcome: 'failure',
          reason: 'malformed_review',
          details: { error: `unsupported apiVersion ${JSON.stringify(apiVersion)?.slice(0, 64)}` },
          context,
        });
        return failure(res, 400, 'BadRequest', `Unsupported TokenReview apiVersion; expected ${[...API_VERSIONS].join(' or ')}.`);
      }
      const requested = Array.isArray(review.spec.audiences) ? review.spec.audiences.filter((a): a is string => typeof a === 'string') : [];
      // The caller's audiences only narrow ours: one webhook bearer serves every cluster, so the bound is every cluster audience.
      const clusters = options.audiences();
      const audiences = requested.length ? requested.filter((a) => clusters.includes(a)) : clusters;
      const answer = (status: Record<string, unknown>) =>
        send(res, 201, {
          apiVersion,
          kind: 'TokenReview',
          metadata: { creationTimestamp: null },
          spec: { audiences: requested.length ? requested : undefined },
          status,
        });
      if (!audiences.length) {
        const message = 'none of spec.audiences is a cluster audience of this gateway';
        await options.audit.emit({
          type: 'kube.tokenreview',
          outcome: 'failure',
          reason: 'audience_not_cluster',
          details: { error: message, requested: requested.slice(0, 8).map((a) => a.slice(0, 128)) },
          context,
        });
        return answer({ authenticated: false, error: message });
      }
      try {
        const claims = await options.issuer.verify(review.spec.token, { audience: audiences, kind: 'access' });
        const tokenAudiences = ([] as unknown[]).concat(claims.aud ?? []).map(String);
        const { identity, roles } = fromClaims(claims);
        const username = `${options.usernamePrefix}${identity.username}`;
        const groups = identity.groups;
        await options.audit.emit({
          type: 'kube.tokenreview',
          outcome: 'success',
          user: identity.username,
          connector: identity.connector || undefined,
          roles: Array.isArray(claims.roles) ? roles : undefined,
          details: { audiences: tokenAudiences.filter((a) => audiences.includes(a)), groups, jti: claims.jti },
          context,
        });
        answer({
          authenticated: true,
          user: {
            username,
            uid: String(claims.sub),
            groups,
            extra: {
              'gatehouse.dev/connector': [identity.connector],
              'gatehouse.dev/roles': roles,
            },
          },
          audiences: tokenAudiences.filter((a) => audiences.includes(a)),
        });
      } catch (err) {
        const message = (err as Error).message;
        const reason = err instanceof TokenRejectedError && err.reason === 'revoked' ? 'token_revoked' : 'invalid_token';
        await options.audit.emit({ type: 'kube.tokenreview', outcome: 'failure', reason, details: { error: message }, context });
        answer({ authenticated: false, error: message });
      }
    },
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        // Stop buffering but let the rest drain, so the 413 answer still reaches the caller.
        req.removeAllListeners('data');
        req.resume();
        reject(Object.assign(new Error('body too large'), { status: 413 }));
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
