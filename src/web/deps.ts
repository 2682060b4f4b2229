import type { Policy } from '../access/index.js';
import type { AuditBackend } from '../audit/reader.js';
import type { AuditSink } from '../audit/sink.js';
import type { Config } from '../config/schema.js';
import type { Connectors } from '../connectors/index.js';
import type { Logger } from '../core/logger.js';
import type { SessionManager } from '../sessions/sessions.js';
import type { Store } from '../store/store.js';
import type { TokenIssuer } from '../tokens/issuer.js';
import type { OAuthServer } from '../tokens/oauth/server.js';
import type { KeyManager } from '../tokens/keys.js';
import type { CookiePolicy } from './cookies.js';
import type { KubeProxy } from '../proxy/kube/index.js';

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
  cookies: CookiePolicy;
  /** The Kubernetes API proxy, when configured: kubeconfigs of mode: proxy clusters point at it. */
  kubeProxy?: Pick<KubeProxy, 'clusterUrl' | 'caPem'>;
}

export const SESSION_COOKIE = 'gatehouse_session';
