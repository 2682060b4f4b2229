/**
 * Every audit event type, with one code per outcome. Codes are never reused.
 * docs/audit-events.md documents the fields and when each is emitted.
 */
export const AUDIT_EVENTS = {
  'user.login': { success: 'GH1000I', failure: 'GH1001W' },
  'user.logout': { success: 'GH1010I', failure: 'GH1011W' },
  'http.rejected': { success: 'GH9000I', failure: 'GH9001W' },
  // HTTP apps (src/proxy/http)
  'app.session.start': { success: 'GH3000I', failure: 'GH3001W' },
  'access.denied': { success: 'GH3010I', failure: 'GH3011W' },
  'app.request': { success: 'GH3020I', failure: 'GH3021W' },
} as const;

export type AuditEventType = keyof typeof AUDIT_EVENTS;
export type AuditOutcome = 'success' | 'failure';

export const auditCode = (type: AuditEventType, outcome: AuditOutcome): string => AUDIT_EVENTS[type][outcome];
