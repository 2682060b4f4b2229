/** A request the proxy answers itself (refused, or the API server unreachable). */
export interface Denial {
  status: number;
  /** Machine-readable: the audit event's reason and the Status cause. */
  reason: string;
  message: string;
}

const STATUS_REASON: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 503: 'ServiceUnavailable' };

/** The answer as a Kubernetes Status object (JSON), which kubectl prints as an error. */
export function kubeStatus(denial: Denial): string {
  return JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `gatehouse: ${denial.message}`,
    reason: STATUS_REASON[denial.status] ?? 'InternalError',
    details: { causes: [{ reason: denial.reason, message: denial.message }] },
    code: denial.status,
  });
}
