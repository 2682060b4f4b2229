import type { AuditEvent, AuditInput, AuditSink } from '../audit/sink.js';
import type { RequestGrant } from '../access/policy.js';

/**
 * Every audit event of a person while they hold active access requests carries those requests
 * (`details.access_requests`: id and reason), so one search for a request id or a ticket named in
 * the reason (`INC-123`) lists everything done under it. Events that name a request already keep theirs.
 */
export function withRequestEvidence<T extends AuditSink>(sink: T, activeFor: (connector: string, username: string) => RequestGrant[]): T {
  const emit = (input: AuditInput): Promise<AuditEvent> => {
    if (!input.user || !input.connector || input.details?.access_requests) return sink.emit(input);
    const grants = activeFor(input.connector, input.user);
    if (!grants.length) return sink.emit(input);
    return sink.emit({ ...input, details: { ...input.details, access_requests: grants.map((g) => ({ id: g.id, reason: g.reason })) } });
  };
  return new Proxy(sink, { get: (target, prop, receiver) => (prop === 'emit' ? emit : Reflect.get(target, prop, receiver)) });
}
