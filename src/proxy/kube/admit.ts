import type { JWTPayload } from 'jose';
import type { IncomingMessage } from 'node:http';
import type { AuditSink } from '../../audit/sink.js';
import type { ClusterConfig, Config } from '../../config/schema.js';
import type { RequestContext } from '../../core/types.js';
import type { Authenticate } from './authenticate.js';
import { impersonate, type Impersonation } from './impersonation.js';
import { describeRequest } from './request-audit.js';
import { parseRequestInfo, type RequestInfo } from './request-info.js';
import type { Denial } from './status.js';
import type { Upstream, Upstreams } from './upstream.js';

/** Clusters are served under this prefix: https://<proxy>/k8s/<cluster>/api/v1/... */
export const CLUSTER_PREFIX = '/k8s/';
const ROUTE = /^\/k8s\/([a-z0-9][a-z0-9-]*)(\/[^?]*)?(\?.*)?$/;

/** The person behind a request, as audit events name them. */
export interface Requester {
  user: string;
  connector?: string;
  roles: string[];
}

/** A request that may go on to the API server, as whom. */
export interface Admitted {
  cluster: ClusterConfig;
  /** Path and query on the API server (the cluster prefix removed). */
  path: string;
  info: RequestInfo;
  who: Requester;
  impersonation: Impersonation;
  upstream: Upstream;
  /** The bearer token's claims (a stream re-checks their revocation). */
  claims: JWTPayload;
}

export type Admission = Admitted | { denial: Denial };

/** Admission: cluster, token, impersonation. Denials are audited (awaited: no audit, no answer). */
export type Admit = (req: IncomingMessage, context: RequestContext) => Promise<Admission>;

export interface AdmitOptions {
  /** Read per request: a policy reload replaces the clusters in place. */
  config: Config;
  audit: AuditSink;
  authenticate: Authenticate;
  upstreams: Upstreams;
  usernamePrefix: string;
}

export function createAdmission(options: AdmitOptions): Admit {
  const { audit } = options;
  const findCluster = (name: string) => options.config.clusters.find((c) => c.name === name && c.mode === 'proxy');

  return async (req, context) => {
    const method = req.method ?? '';
    const m = ROUTE.exec(req.url ?? '');
    const cluster = m ? findCluster(m[1]) : undefined;
    const path = `${m?.[2] ?? '/'}${m?.[3] ?? ''}`;
    const info = parseRequestInfo(req.method ?? 'GET', path);
    const deny = async (denial: Denial, who: Partial<Requester> = {}, extra: Record<string, unknown> = {}) => {
      await audit.emit({
        type: 'access.denied',
        outcome: 'failure',
        ...who,
        cluster: cluster?.name ?? m?.[1],
        reason: denial.reason,
        details: { ...describeRequest(info, method), code: denial.status, ...extra },
        context,
      });
      return { denial };
    };
    if (!m || !cluster) {
      return deny({
        status: 404,
        reason: 'unknown_cluster',
        message: m ? `No proxied cluster "${m[1]}".` : `Clusters are served at ${CLUSTER_PREFIX}<cluster>/.`,
      });
    }
    const auth = await options.authenticate(req.headers.authorization, cluster);
    if ('reason' in auth) return deny(auth);
    const { identity } = auth;
    const result = impersonate(identity, req.headersDistinct, { usernamePrefix: options.usernamePrefix, remoteAddr: context.remoteAddr });
    const who: Requester = { user: identity.username, connector: identity.connector, roles: identity.roles };
    if (!result.ok) {
      return deny({ status: 403, reason: result.reason, message: result.message }, who, {
        requested_user: req.headersDistinct['impersonate-user']?.[0],
        requested_groups: req.headersDistinct['impersonate-group'],
      });
    }
    return { cluster, path, info, who, impersonation: result.impersonation, upstream: options.upstreams.get(cluster), claims: auth.claims };
  };
}
