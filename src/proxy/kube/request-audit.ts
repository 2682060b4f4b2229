import type { AuditInput } from '../../audit/sink.js';
import type { RequestContext } from '../../core/types.js';
import type { Admitted } from './admit.js';
import type { RequestInfo } from './request-info.js';

/** What an audit event says about the Kubernetes request. */
export function describeRequest(info: RequestInfo, method: string): Record<string, unknown> {
  return {
    method,
    path: info.path,
    verb: info.verb,
    api_group: info.apiGroup,
    api_version: info.apiVersion,
    resource: info.resource,
    subresource: info.subresource,
    namespace: info.namespace,
    name: info.name,
  };
}

export interface RequestOutcome {
  /** The status the client got (499: it went away first). */
  code: number;
  /** performance.now() when the request came in. */
  started: number;
  /** More details; `reason` becomes the event's reason for a failure. */
  extra?: Record<string, unknown>;
}

/** Records one `kube.request` for an admitted request, once it is over (best effort). */
export type AuditRequest = (admitted: Admitted, method: string, context: RequestContext, outcome: RequestOutcome) => void;

export function requestAuditor(emit: (event: AuditInput) => Promise<void>, auditDiscovery: boolean): AuditRequest {
  return (admitted, method, context, { code, started, extra }) => {
    if (!auditDiscovery && admitted.info.discovery && code < 400) return;
    const { info, who, impersonation } = admitted;
    const details: Record<string, unknown> = {
      ...describeRequest(info, method),
      code,
      duration_ms: Math.round((performance.now() - started) * 10) / 10,
      impersonated_user: impersonation.user,
      groups: impersonation.groups,
      requested: impersonation.requested,
    };
    let reason: string | undefined;
    if (extra) {
      for (const key in extra) if (key !== 'reason') details[key] = extra[key];
      reason = extra.reason as string | undefined;
    }
    void emit({
      type: 'kube.request',
      outcome: code < 400 ? 'success' : 'failure',
      user: who.user,
      connector: who.connector,
      roles: who.roles,
      cluster: admitted.cluster.name,
      reason: code >= 400 ? (reason ?? `http_${code}`) : undefined,
      details,
      context,
    });
  };
}
