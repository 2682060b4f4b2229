/**
 * Every audit event type, with one code per outcome. Codes are never reused.
 * docs/audit-events.md documents the fields and when each is emitted.
 */
export const AUDIT_EVENTS = {
  'user.login': { success: 'GH1000I', failure: 'GH1001W' },
  'user.logout': { success: 'GH1010I', failure: 'GH1011W' },
  'token.issued': { success: 'GH2000I', failure: 'GH2001W' },
  'token.refreshed': { success: 'GH2010I', failure: 'GH2011W' },
  'token.reuse_detected': { success: 'GH2020I', failure: 'GH2021W' },
  'token.revoked': { success: 'GH2030I', failure: 'GH2031W' },
  'device.authorized': { success: 'GH2040I', failure: 'GH2041W' },
  'kube.tokenreview': { success: 'GH3000I', failure: 'GH3001W' },
  // Kubernetes API proxy (src/proxy/kube). access.denied and session.* are meant to be shared
  // with the other access proxies.
  'kube.request': { success: 'GH3010I', failure: 'GH3011W' },
  'access.denied': { success: 'GH4000I', failure: 'GH4001W' },
  'session.start': { success: 'GH5000I', failure: 'GH5001W' },
  'session.end': { success: 'GH5010I', failure: 'GH5011W' },
  'http.rejected': { success: 'GH9000I', failure: 'GH9001W' },
  // The audit log's own events (GH8xxx).
  'audit.recovered': { success: 'GH8000I', failure: 'GH8001W' },
  'audit.pruned': { success: 'GH8010I', failure: 'GH8011W' },
  'audit.read': { success: 'GH8020I', failure: 'GH8021W' },
} as const;

export type AuditEventType = keyof typeof AUDIT_EVENTS;
export type AuditOutcome = 'success' | 'failure';

export const auditCode = (type: AuditEventType, outcome: AuditOutcome): string => AUDIT_EVENTS[type][outcome];
