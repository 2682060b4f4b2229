import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditInput } from '../../audit/sink.js';
import type { RequestContext } from '../../core/types.js';
import type { HttpApp } from './apps.js';
import type { Decision } from './identity.js';

/** One `app.request` per request when the app asks for it: written once the response is done. */
export function createRequestAudit(emit: (input: AuditInput) => Promise<void>, requestContext: (req: IncomingMessage) => RequestContext) {
  return (req: IncomingMessage, res: ServerResponse, app: HttpApp, decision: Decision): void => {
    const started = Date.now();
    const { method, url } = req;
    // Taken now: once the response is done, the request may no longer hold its socket.
    const context = requestContext(req);
    res.once('close', () => {
      const complete = res.writableFinished;
      void emit({
        type: 'app.request',
        outcome: complete && res.statusCode < 500 ? 'success' : 'failure',
        user: decision.viewer.identity.username,
        connector: decision.viewer.identity.connector,
        session_id: decision.viewer.sessionRef,
        reason: complete ? (res.statusCode >= 500 ? 'upstream_error' : undefined) : 'aborted',
        details: { app: app.name, method, path: url?.slice(0, 1024), status: res.statusCode, duration_ms: Date.now() - started },
        context,
      });
    });
  };
}
