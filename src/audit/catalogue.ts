/**
 * Every audit event type, with one code per outcome. Codes are never reused.
 * docs/audit-events.md documents the fields and when each is emitted.
 */
export const AUDIT_EVENTS = {
  'user.login': { success: 'GH1000I', failure: 'GH1001W' },
  'user.logout': { success: 'GH1010I', failure: 'GH1011W' },
  'user.upstream_revoked': { success: 'GH1020I', failure: 'GH1021W' },
  'user.backchannel_logout': { success: 'GH1030I', failure: 'GH1031W' },
  'token.issued': { success: 'GH2000I', failure: 'GH2001W' },
  'token.refreshed': { success: 'GH2010I', failure: 'GH2011W' },
  'token.reuse_detected': { success: 'GH2020I', failure: 'GH2021W' },
  'token.revoked': { success: 'GH2030I', failure: 'GH2031W' },
  'device.authorized': { success: 'GH2040I', failure: 'GH2041W' },
  // Kubernetes (GH4xxx).
  'kube.tokenreview': { success: 'GH4000I', failure: 'GH4001W' },
  'kube.request': { success: 'GH4010I', failure: 'GH4011W' },
  'http.rejected': { success: 'GH9000I', failure: 'GH9001W' },
  'auth.token_rejected': { success: 'GH9010I', failure: 'GH9011W' },
  'auth.csrf_rejected': { success: 'GH9020I', failure: 'GH9021W' },
  // The audit log's own events (GH8xxx).
  'audit.recovered': { success: 'GH8000I', failure: 'GH8001W' },
  'audit.pruned': { success: 'GH8010I', failure: 'GH8011W' },
  'audit.read': { success: 'GH8020I', failure: 'GH8021W' },
  // SSH access and recordings (docs/audit-events.md "SSH").
  'ssh.cert.issued': { success: 'GH3000I', failure: 'GH3001W' },
  'ssh.cert.revoked': { success: 'GH3002I', failure: 'GH3003W' },
  'ssh.auth': { success: 'GH3010I', failure: 'GH3011W' },
  'access.denied': { success: 'GH3020I', failure: 'GH3021W' },
  'session.start': { success: 'GH3030I', failure: 'GH3031W' },
  'session.end': { success: 'GH3040I', failure: 'GH3041W' },
  exec: { success: 'GH3050I', failure: 'GH3051W' },
  'sftp.upload': { success: 'GH3060I', failure: 'GH3061W' },
  'sftp.download': { success: 'GH3070I', failure: 'GH3071W' },
  'sftp.change': { success: 'GH3080I', failure: 'GH3081W' },
  'recording.quota': { success: 'GH3090I', failure: 'GH3091W' },
  'recording.access': { success: 'GH3100I', failure: 'GH3101W' },
  'ssh.ca.rotate': { success: 'GH3110I', failure: 'GH3111W' },
  // Just-in-time access requests (src/requests; GH5xxx).
  'access_request.create': { success: 'GH5000I', failure: 'GH5001W' },
  'access_request.review': { success: 'GH5010I', failure: 'GH5011W' },
  'access_request.activate': { success: 'GH5020I', failure: 'GH5021W' },
  'access_request.expire': { success: 'GH5030I', failure: 'GH5031W' },
  'access_request.revoke': { success: 'GH5040I', failure: 'GH5041W' },
  'access_request.notify': { success: 'GH5050I', failure: 'GH5051W' },
  // Database access (src/proxy/db, src/web/routes/db.ts; GH7xxx).
  'db.cert.issued': { success: 'GH7000I', failure: 'GH7001W' },
  'db.session.start': { success: 'GH7010I', failure: 'GH7011W' },
  'db.session.end': { success: 'GH7020I', failure: 'GH7021W' },
  'db.query': { success: 'GH7030I', failure: 'GH7031W' },
  'db.cancel': { success: 'GH7040I', failure: 'GH7041W' },
  // HTTP apps (src/proxy/http; GH6xxx). Denials share access.denied above.
  'app.session.start': { success: 'GH6000I', failure: 'GH6001W' },
  'app.request': { success: 'GH6020I', failure: 'GH6021W' },
  'app.upstream': { success: 'GH6030I', failure: 'GH6031W' },
} as const;

export type AuditEventType = keyof typeof AUDIT_EVENTS;
export type AuditOutcome = 'success' | 'failure';

export const auditCode = (type: AuditEventType, outcome: AuditOutcome): string => AUDIT_EVENTS[type][outcome];
