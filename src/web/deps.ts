import type { Policy } from '../access/index.js';
import type { RedirectPolicy } from '../core/redirect-target.js';
import type { AuditBackend } from '../audit/reader.js';
import type { AuditSink } from '../audit/sink.js';
import type { Config } from '../config/schema.js';
import type { Connectors } from '../connectors/index.js';
import type { Logger } from '../core/logger.js';
import type { SessionManager } from '../sessions/sessions.js';
import type { SshCa } from '../ssh-ca/ca.js';
import type { Revocations } from '../ssh-ca/revocation.js';
import type { RecordingStore } from '../recording/reader.js';
import type { Store } from '../store/store.js';
import type { Metrics } from '../metrics/metrics.js';
import type { TokenIssuer } from '../tokens/issuer.js';
import type { OAuthServer } from '../tokens/oauth/server.js';
import type { KeyManager } from '../tokens/keys.js';
import type { CookiePolicy } from './cookies.js';
import type { KubeProxy } from '../proxy/kube/index.js';
import type { AccessRequests } from '../requests/index.js';

/** Everything the web layer uses, built by the composition root. */
export interface WebDeps {
  config: Config;
  demo: boolean;
  logger: Logger;
  store: Store;
  sessions: SessionManager;
  audit: AuditSink;
  /** The same audit log, for reading (search, verify) and its readiness. */
  auditLog: AuditBackend;
  keys: KeyManager;
  issuer: TokenIssuer;
  connectors: Connectors;
  policy: Policy;
  oauth: OAuthServer;
  metrics: Metrics;
  /** Set when shutdown begins: /readyz turns false. */
  lifecycle: { draining: boolean };
  cookies: CookiePolicy;
  /** SSH certificate authorities (always present; the SSH listener is optional). */
  sshCa?: SshCa;
  sshRevocations?: Revocations;
  /** Session recordings on disk (search, playback). */
  recordings?: RecordingStore;
  /** The Kubernetes API proxy, when configured: kubeconfigs of mode: proxy clusters point at it. */
  kubeProxy?: Pick<KubeProxy, 'clusterUrl' | 'caPem'>;
  /** Hosts of host-based apps: a browser sent to sign in from one of them may return there. */
  appHosts?: readonly string[];
  /** Just-in-time access requests (src/requests). */
  requests?: AccessRequests;
}

/** Where this gateway may send a browser: its own origin, `server.return_to_hosts` and host apps (see core/redirect-target.ts). */
export const redirectPolicyOf = (deps: Pick<WebDeps, 'config' | 'appHosts'>): RedirectPolicy => ({
  base: deps.config.server.public_url,
  allowedHosts: [...deps.config.server.return_to_hosts, ...(deps.appHosts ?? [])],
});

export const SESSION_COOKIE = 'gatehouse_session';
