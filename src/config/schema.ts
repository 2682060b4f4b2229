import { z } from 'zod';
import { duration } from './fields.js';
import { audienceCollisions } from '../core/audiences.js';
import { parseSize } from '../core/duration.js';
import { databasesSection, dbSection, roleDatabases } from './databases.js';
import { accessRequestsSection, notificationsSection, roleRequestFields } from './requests.js';

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:8080');
const slug = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lowercase letters, digits, "-" and "_" only');
const httpUrl = z.url({ protocol: /^https?$/ });

const claimsMap = z.strictObject({
  /** Dot paths into the ID token / userinfo, e.g. `realm_access.roles`. */
  username: z.string().default('preferred_username'),
  email: z.string().default('email'),
  groups: z.string().default('groups'),
});

const oidcConnector = z.strictObject({
  type: z.literal('oidc'),
  id: slug,
  name: z.string().optional(),
  /** Presets add provider specifics: google (hd, email_verified), keycloak (realm roles as groups). */
  provider: z.enum(['generic', 'google', 'keycloak']).optional(),
  issuer: httpUrl,
  client_id: z.string().min(1),
  client_secret: z.string().min(1).optional(),
  scopes: z.array(z.string()).default(['openid', 'email', 'profile']),
  claims: claimsMap.default({ username: 'preferred_username', email: 'email', groups: 'groups' }),
  /** Google Workspace domain: sent as `hd` and enforced on the `hd` claim. */
  hosted_domain: z.string().optional(),
  require_email_verified: z.boolean().optional(),
  /** Merge the userinfo response into the ID token claims. */
  userinfo: z.boolean().default(false),
  /** Send the person to the IdP's end_session_endpoint on logout. */
  rp_initiated_logout: z.boolean().default(true),
  /** Accept OIDC Back-Channel Logout at `POST <public_url>/backchannel-logout/<id>` (docs/keycloak.md). */
  backchannel_logout: z.boolean().default(true),
  auth_params: z.record(z.string(), z.string()).default({}),
  /** Prefix for this connector's groups when passed through `{{external.groups}}` (e.g. `google:`). */
  groups_prefix: z.string().default(''),
});

const demoUser = z.strictObject({
  username: z.string(),
  password: z.string(),
  email: z.string(),
  groups: z.array(z.string()).default([]),
});

const demoConnector = z.strictObject({
  type: z.literal('demo'),
  id: slug.default('demo'),
  name: z.string().default('Demo IdP'),
  users: z.array(demoUser).optional(),
  groups_prefix: z.string().default(''),
});

/** A SAML 2.0 IdP (Keycloak SAML, ADFS, Okta, ...); docs/saml.md explains every check. */
const samlConnector = z
  .strictObject({
    type: z.literal('saml'),
    id: slug,
    name: z.string().optional(),
    /** Exactly one of these: the IdP's metadata URL (fetched with a timeout, cached, refreshed) or a file. */
    idp_metadata_url: httpUrl.optional(),
    idp_metadata_file: z.string().optional(),
    /** How often the metadata URL is fetched again (signing-key rollover). */
    metadata_refresh: duration.default(3_600_000),
    /** Our entity id; default `<public_url>/saml/<id>/metadata`. */
    sp_entity_id: z.string().min(1).optional(),
    /** SAML attribute names or friendly names; the NameID stands in for a missing username. */
    attributes: z
      .strictObject({ username: z.string().optional(), email: z.string().default('email'), groups: z.string().default('groups') })
      .default({ email: 'email', groups: 'groups' }),
    name_id_format: z.string().optional(),
    want_assertions_signed: z.boolean().default(true),
    want_response_signed: z.boolean().default(false),
    /** Refuse assertions that arrive unencrypted. */
    want_assertions_encrypted: z.boolean().default(false),
    sign_authn_requests: z.boolean().default(false),
    /** Unsolicited responses (no AuthnRequest of ours): off by default, see docs/saml.md for the risk. */
    allow_idp_initiated: z.boolean().default(false),
    clock_skew: duration.default(60_000),
    /** Legacy algorithms, refused unless allowed: SHA-1 signatures/digests and RSA1_5 key transport. */
    allow_sha1: z.boolean().default(false),
    allow_rsa1_5: z.boolean().default(false),
    /** Send the browser to the IdP's SingleLogoutService on logout. */
    single_logout: z.boolean().default(true),
    force_authn: z.boolean().default(false),
    /** SP key and certificate (PEM); generated at first start under data_dir/saml when omitted. */
    sp_key_file: z.string().optional(),
    sp_cert_file: z.string().optional(),
    groups_prefix: z.string().default(''),
  })
  .refine((c) => Boolean(c.idp_metadata_url) !== Boolean(c.idp_metadata_file), {
    message: 'set exactly one of idp_metadata_url and idp_metadata_file',
  })
  .refine((c) => Boolean(c.sp_key_file) === Boolean(c.sp_cert_file), { message: 'set both sp_key_file and sp_cert_file, or neither' });

export const connectorSchema = z.discriminatedUnion('type', [oidcConnector, demoConnector, samlConnector]);

/** `/regex/flags`, a glob, or an exact value. */
const pattern = z.string().superRefine((value, ctx) => {
  const regex = /^\/(.*)\/([imsu]*)$/s.exec(value);
  if (!regex) return;
  try {
    new RegExp(regex[1], regex[2]);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `invalid regex: ${(err as Error).message}` });
  }
});
const names = z.array(z.string()).default([]);

const role = z
  .strictObject({
    name: z.string().min(1),
    kubernetes_groups: names,
    kubernetes_users: names,
    logins: names,
    node_labels: z.record(z.string(), z.union([z.string().transform((v) => [v]), z.array(z.string())])).default({}),
    apps: names,
    audit: z.enum(['read', 'none']).default('none'),
    max_session_ttl: duration.optional(),
    port_forwarding: z.boolean().default(false),
    agent_forwarding: z.boolean().default(false),
    /** May revoke anyone's SSH certificates (everyone may revoke their own). */
    ssh_revoke: z.boolean().default(false),
    /** May rotate the SSH user and host CAs (`gatehouse ssh ca rotate`). */
    ssh_ca_admin: z.boolean().default(false),
    /** May fetch the kube-apiserver config, RBAC and webhook kubeconfig from the gateway (`gatehouse kube ...` without a config file). */
    cluster_artefacts: z.boolean().default(false),
    /** Database grants (src/config/databases.ts). */
    databases: roleDatabases,
    /** Just-in-time access requests (src/config/requests.ts). */
    ...roleRequestFields,
    /** What `gatehouse kube rbac` binds this role's groups to: a ClusterRole, cluster-wide or in these namespaces. */
    kubernetes_rbac: z
      .strictObject({ cluster_role: z.string().default('view'), namespaces: z.array(z.string()).default([]) })
      .default({ cluster_role: 'view', namespaces: [] }),
    deny: z
      .strictObject({ kubernetes_groups: names, kubernetes_users: names, logins: names, apps: names })
      .default({ kubernetes_groups: [], kubernetes_users: [], logins: [], apps: [] }),
  })
  .transform(({ max_session_ttl, max_duration, audit, ...rest }) => ({
    ...rest,
    audit: audit === 'read' ? ('read' as const) : undefined,
    max_session_ttl_ms: max_session_ttl,
    max_duration_ms: max_duration,
  }));

const mapping = z.strictObject({
  match: z
    .strictObject({ connector: z.string().optional(), email: pattern.optional(), claim: z.string().optional(), value: pattern.optional() })
    .refine((m) => Object.values(m).some((v) => v !== undefined), 'match needs at least one of connector, email, claim')
    .refine((m) => m.value === undefined || m.claim !== undefined, 'value needs a claim'),
  roles: z.array(z.string()).min(1),
});

/** An example identity and what it must resolve to; `gatehouse check-config` runs these. */
const policyTest = z.strictObject({
  name: z.string().optional(),
  identity: z.strictObject({
    connector: z.string(),
    username: z.string(),
    email: z.string().optional(),
    groups: z.array(z.string()).default([]),
    claims: z.record(z.string(), z.unknown()).default({}),
    /** Approved access requests the identity holds (ids default to `test-request-<n>`). */
    access_requests: z.array(z.strictObject({ id: z.string().min(1).optional(), roles: z.array(z.string().min(1)).min(1) })).optional(),
  }),
  expect: z.strictObject({
    roles: z.array(z.string()).optional(),
    kubernetes_groups: z.array(z.string()).optional(),
    kubernetes_users: z.array(z.string()).optional(),
    logins: z.array(z.string()).optional(),
    apps: z.array(z.string()).optional(),
    /** The roles the identity may request (from mappings alone, whatever requests it holds). */
    requestable: z.array(z.string()).optional(),
  }),
});

const size = z.union([z.string(), z.number()]).transform((value, ctx) => {
  try {
    return parseSize(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

/** A node reachable through the SSH listener: `ssh -J gateway login@<name>`. */
const sshNode = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/, 'a host name: letters, digits, ".", "-" and "_"'),
  addr: hostPort,
  labels: z.record(z.string(), z.string()).default({}),
  /** The node's own host key (`ssh-ed25519 AAAA...`), checked when the gateway connects; see docs/ssh.md. */
  host_key: z.string().optional(),
});

/** User certificates last this long unless the session or a role's max_session_ttl ends sooner. */
export const DEFAULT_SSH_CERT_TTL_MS = 8 * 3_600_000;

const sshSection = z.strictObject({
  listen: hostPort.default('0.0.0.0:3022'),
  /** host:port clients use to reach the listener (default: public_url's host and the listen port). */
  public_addr: hostPort.optional(),
  /** Longest lifetime of a user certificate (also bounded by the person's session). */
  cert_ttl: duration.default(DEFAULT_SSH_CERT_TTL_MS),
  /** Names the gateway's own host certificate is valid for (default: public_url's host, localhost, 127.0.0.1). */
  host_principals: z.array(z.string()).optional(),
  nodes: z.array(sshNode).default([]),
  /** Environment variables a client may pass to the node (globs allowed). */
  env: z.array(z.string()).default(['LANG', 'LC_*', 'TERM', 'COLORTERM', 'TZ']),
  /** Refuse to connect to nodes without a pinned host_key. */
  require_host_key: z.boolean().default(false),
  /** On shutdown, open sessions get this long to finish before they are ended (keep it under the pod's grace period). */
  shutdown_grace: duration.default(0),
});

/** Gateway paths a path-based app may not take over. */
const RESERVED_APP_PATHS = [
  '/login',
  '/logout',
  '/callback',
  '/saml',
  '/auth',
  '/api',
  '/.well-known',
  '/static',
  '/healthz',
  '/readyz',
  '/metrics',
  '/demo-idp',
];
const headerName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]*$/, 'a header name (letters, digits, "-")');

/** An HTTP app behind the gateway (src/proxy/http). */
const app = z
  .strictObject({
    name: slug,
    /** Where requests go. Absent: the app is only guarded through forward-auth (/auth/verify). */
    upstream: httpUrl.optional(),
    /** Served on its own host (default `<name>.<server.apps_domain>` when that is set)... */
    public_host: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/, 'a lowercase host name')
      .optional(),
    /** ...or under a path prefix on the gateway (default `/apps/<name>/`). */
    path: z
      .string()
      .regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*\/$/, 'a path that starts and ends with "/"')
      .optional(),
    /** People holding one of these roles may use it (as may roles that list the app under `apps`). */
    roles: names,
    rewrite: z
      .strictObject({
        /** Host header sent upstream: `upstream` (the upstream's host), `preserve` (the public host), or a literal host. */
        host: z.string().default('upstream'),
        /** Rewrite `Location` headers that point at the upstream to the public URL. */
        redirects: z.boolean().default(true),
      })
      .default({ host: 'upstream', redirects: true }),
    /** Path apps: remove the prefix before forwarding (for apps that cannot serve from a sub-path). */
    strip_prefix: z.boolean().default(false),
    /**
     * Path apps run on the gateway's own origin, so their pages act with the gateway's authority
     * (device approval, terminal, SSH certificates). Required, in so many words, for a path app.
     */
    trust_gateway_origin: z.boolean().default(false),
    /** Extra request headers from identity templates: {{username}}, {{email}}, {{email.local}}, {{groups}}, {{roles}}, {{external.<claim>}}. */
    headers: z.record(headerName, z.string()).default({}),
    /** One `app.request` audit event per request (off by default: the access log is not the audit log). */
    audit_requests: z.boolean().default(false),
    /** Lifetime of the Gatehouse-Jwt-Assertion (capped by the session). */
    assertion_ttl: duration.default(300_000),
    /** CA bundle (PEM) that an https upstream's certificate must chain to, instead of the system roots. */
    ca_file: z.string().optional(),
    timeouts: z
      .strictObject({
        /** To establish the upstream TCP connection. */
        connect: duration.default(5_000),
        /** From sending the request to the upstream's response headers. */
        response: duration.default(60_000),
        /** Inactivity on an open request or WebSocket in either direction. */
        idle: duration.default(300_000),
      })
      .default({ connect: 5_000, response: 60_000, idle: 300_000 }),
  })
  .refine((a) => !(a.public_host && a.path), 'give public_host or path, not both')
  .refine((a) => !a.ca_file || a.upstream?.startsWith('https:'), { message: 'ca_file needs an https upstream', path: ['ca_file'] })
  .refine((a) => !a.path || a.path !== '/', 'path "/" would take over the gateway')
  .refine(
    (a) => !a.path || !RESERVED_APP_PATHS.some((r) => a.path === `${r}/` || a.path!.startsWith(`${r}/`)),
    `path may not be under a gateway path (${RESERVED_APP_PATHS.join(', ')})`,
  );

const apps = z
  .array(app)
  .default([])
  .superRefine((list, ctx) => {
    const seen = { name: new Set<string>(), public_host: new Set<string>(), path: new Set<string>() };
    list.forEach((a, i) => {
      for (const key of ['name', 'public_host', 'path'] as const) {
        const value = a[key];
        if (value === undefined) continue;
        if (seen[key].has(value)) ctx.addIssue({ code: 'custom', path: [i, key], message: `another app already uses ${key} "${value}"` });
        seen[key].add(value);
      }
    });
  });

/** A Kubernetes cluster that trusts Gatehouse tokens (oidc) or is reached through Gatehouse (proxy). */
const cluster = z
  .strictObject({
    name: slug,
    /** `aud` of tokens for this cluster; kube-apiserver's --oidc-client-id. */
    audience: z.string().min(1),
    mode: z.enum(['oidc', 'proxy']).default('oidc'),
    api_server: z.url({ protocol: /^https$/ }),
    ca_file: z.string().optional(),
    token_file: z.string().optional(),
    /** mode proxy: Gatehouse's client certificate for the API server (instead of token_file). */
    client_cert_file: z.string().optional(),
    client_key_file: z.string().optional(),
    /** When set, only these roles may get tokens for the cluster; otherwise any role granting Kubernetes groups or users. */
    roles: z.array(z.string()).optional(),
  })
  .refine((c) => Boolean(c.client_cert_file) === Boolean(c.client_key_file), { message: 'set both client_cert_file and client_key_file, or neither' })
  .refine((c) => c.mode !== 'proxy' || c.token_file || c.client_cert_file, {
    message: "mode proxy needs Gatehouse's own credential: token_file, or client_cert_file and client_key_file",
  });

export const configSchema = z
  .strictObject({
    server: z.strictObject({
      public_url: httpUrl.transform((u) => u.replace(/\/+$/, '')),
      listen: hostPort.default('127.0.0.1:8080'),
      apps_domain: z.string().optional(),
      /** Extra hosts `return_to` may point at (besides our own origin). */
      return_to_hosts: z.array(z.string()).default([]),
      /** Trust X-Forwarded-For from this many proxy hops (0: use the socket address). */
      trust_proxy_hops: z.number().int().min(0).default(0),
      /** A file holding the bearer token Prometheus sends to GET /metrics; without it /metrics is not served (404). */
      metrics_bearer_token_file: z.string().optional(),
      /** On SIGTERM, /readyz turns false this long before the listener closes (give load balancers time). */
      drain_delay: duration.default(0),
      /** Gateway processes sharing the listeners (node:cluster); auto: one per core when state and audit allow it (docs/operations.md#workers). */
      workers: z.union([z.literal('auto'), z.number().int().min(1).max(256)]).default('auto'),
      session: z
        .strictObject({ idle_ttl: duration.default(3_600_000), absolute_ttl: duration.default(43_200_000) })
        .default({ idle_ttl: 3_600_000, absolute_ttl: 43_200_000 }),
      rate_limit: z.strictObject({ login_per_minute: z.number().int().min(1).default(60) }).default({ login_per_minute: 60 }),
    }),
    state: z
      .strictObject({
        /** Without it, state lives in memory: fine for one replica, lost on restart. */
        redis_url: z.url({ protocol: /^rediss?$/ }).optional(),
        redis_prefix: z.string().default('gatehouse:'),
        data_dir: z.string().default('./data'),
      })
      .default({ redis_prefix: 'gatehouse:', data_dir: './data' }),
    tokens: z
      .strictObject({
        signing_alg: z.enum(['ES256', 'RS256']).default('ES256'),
        ttl: duration.default(600_000),
        /** Start signing with a fresh key this often; old public keys stay published until their tokens expire. */
        rotate_every: duration.default(30 * 86_400_000),
      })
      .default({ signing_alg: 'ES256', ttl: 600_000, rotate_every: 30 * 86_400_000 }),
    connectors: z.array(connectorSchema).min(1, 'configure at least one connector'),
    clusters: z.array(cluster).default([]),
    /** Who may call the TokenReview webhook: a bearer token, or a client certificate signed by this CA. */
    tokenreview: z
      .strictObject({ bearer_token: z.string().min(16).optional(), client_ca_file: z.string().optional() })
      .refine((t) => t.bearer_token || t.client_ca_file, 'set bearer_token or client_ca_file')
      .optional(),
    /** The HTTPS listener of the Kubernetes API proxy (clusters with mode: proxy), at /k8s/<cluster>/. */
    kube_proxy: z
      .strictObject({
        listen: hostPort.default('0.0.0.0:8443'),
        /** What kubeconfigs point at (default: https://<listen host>:<port>, with 127.0.0.1 for 0.0.0.0). */
        public_url: z
          .url({ protocol: /^https$/ })
          .transform((u) => u.replace(/\/+$/, ''))
          .optional(),
        /** Serving certificate; when omitted Gatehouse creates a CA and a certificate under data_dir/kube-proxy. */
        tls_cert_file: z.string().optional(),
        tls_key_file: z.string().optional(),
        /** Extra DNS names or IPs for the generated serving certificate. */
        hosts: z.array(z.string()).default([]),
        /** false: discovery reads (/api, /apis, /version, /openapi, ...) are not audited. */
        audit_discovery: z.boolean().default(true),
        /** Record the output of `kubectl exec`/`attach` sessions (WebSocket protocol) as asciicast. */
        record_exec: z.boolean().default(true),
      })
      .refine((k) => Boolean(k.tls_cert_file) === Boolean(k.tls_key_file), { message: 'set both tls_cert_file and tls_key_file, or neither' })
      .optional(),
    /** The public OAuth client the `gatehouse` CLI uses (code + PKCE on loopback, device grant, refresh). */
    cli: z
      .strictObject({
        client_id: z.string().default('gatehouse-cli'),
        /** Upper bound of a CLI login; each role's max_session_ttl may shorten it. */
        refresh_ttl: duration.default(43_200_000),
      })
      .default({ client_id: 'gatehouse-cli', refresh_ttl: 43_200_000 }),
    roles: z.array(role).default([]),
    mappings: z.array(mapping).default([]),
    tests: z.array(policyTest).default([]),
    ssh: sshSection.optional(),
    recordings: z
      .strictObject({
        dir: z.string().default('./session-recordings'),
        max_bytes_per_session: size.default(1024 ** 3),
        /** Also record what people type (`i` events); off by default since input holds passwords. */
        record_input: z.boolean().default(false),
      })
      .default({ dir: './session-recordings', max_bytes_per_session: 1024 ** 3, record_input: false }),
    audit: z
      .strictObject({
        /** file: JSONL per day under `dir` (default); postgres: for replicas and large logs. */
        backend: z.enum(['file', 'postgres']).default('file'),
        dir: z.string().optional(),
        postgres_url: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
        postgres_schema: z
          .string()
          .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lowercase SQL identifier')
          .default('public'),
        /** Where events wait while PostgreSQL is unreachable (default <data_dir>/audit-spool). */
        spool_dir: z.string().optional(),
        /** Remove events older than this (e.g. 365d); unset keeps everything. */
        retention: duration.optional(),
        /** When an event cannot be stored anywhere: refuse the action (default) or log the event and go on. */
        on_failure: z.enum(['refuse', 'log']).default('refuse'),
      })
      .refine((a) => a.backend !== 'postgres' || a.postgres_url, { message: 'postgres_url is required when backend is postgres', path: ['postgres_url'] })
      .transform(({ retention, ...rest }) => ({ ...rest, retention_ms: retention }))
      .default({ backend: 'file', postgres_schema: 'public', on_failure: 'refuse', retention_ms: undefined }),
    apps,
    // Database access (src/config/databases.ts, docs/databases.md).
    databases: databasesSection,
    db: dbSection.optional(),
    // Just-in-time access requests (src/config/requests.ts, docs/access-requests.md).
    access_requests: accessRequestsSection,
    notifications: notificationsSection,
  })
  .superRefine((c, ctx) => {
    requestProblems(c).forEach((problem) => ctx.addIssue({ code: 'custom', ...problem }));
    // Workers are replicas on one host: they need the shared store and an audit log with several writers.
    const workers = c.server.workers;
    if (workers !== 'auto' && workers > 1) {
      const path = ['server', 'workers'];
      if (!c.state.redis_url)
        ctx.addIssue({
          code: 'custom',
          path,
          message: `${workers} workers need state.redis_url: with the in-memory store each worker would keep its own sessions and revocations; set state.redis_url, or workers: 1`,
        });
      if (c.audit.backend === 'file')
        ctx.addIssue({
          code: 'custom',
          path,
          message: `${workers} workers need audit.backend: postgres: the file backend keeps one hash chain in one file and allows one writer; use the postgres backend, or workers: 1`,
        });
    }
    // One audience registry (src/core/audiences.ts): gateway, CLI, app and cluster audiences never collide.
    for (const problem of audienceCollisions({ clusters: c.clusters, apps: c.apps, cliClientId: c.cli.client_id }))
      ctx.addIssue({ code: 'custom', ...problem });
    // Clusters with mode: proxy are served by the Kubernetes API proxy's own listener.
    const proxied = c.clusters.filter((cluster) => cluster.mode === 'proxy').map((cluster) => cluster.name);
    if (proxied.length && !c.kube_proxy) {
      ctx.addIssue({
        code: 'custom',
        path: ['kube_proxy'],
        message: `clusters ${proxied.join(', ')} use mode: proxy; configure kube_proxy (at least kube_proxy.listen).`,
      });
    }
  });

/** Requestable roles are never mapped; request.roles name requestable roles; reviewers name defined roles. */
function requestProblems(c: {
  roles: { name: string; requestable: boolean; request?: { roles: string[]; reviewers: { roles: string[] } } }[];
  mappings: { roles: string[] }[];
  notifications: { for_roles?: string[] }[];
}): { path: (string | number)[]; message: string }[] {
  const byName = new Map(c.roles.map((r) => [r.name, r]));
  const problems: { path: (string | number)[]; message: string }[] = [];
  c.mappings.forEach((m, i) =>
    m.roles.forEach((name, j) => {
      if (byName.get(name)?.requestable)
        problems.push({ path: ['mappings', i, 'roles', j], message: `${name} is requestable: only an approved access request grants it, never a mapping` });
    }),
  );
  c.roles.forEach((role, i) => {
    role.request?.roles.forEach((name, j) => {
      const target = byName.get(name);
      if (!target?.requestable)
        problems.push({
          path: ['roles', i, 'request', 'roles', j],
          message: target ? `${name} is not requestable: set requestable: true on it` : `no role named ${name}`,
        });
    });
    role.request?.reviewers.roles.forEach((name, j) => {
      if (!byName.has(name)) problems.push({ path: ['roles', i, 'request', 'reviewers', 'roles', j], message: `no role named ${name}` });
    });
  });
  c.notifications.forEach((n, i) =>
    n.for_roles?.forEach((name, j) => {
      if (!byName.has(name)) problems.push({ path: ['notifications', i, 'for_roles', j], message: `no role named ${name}` });
    }),
  );
  return problems;
}

export type Config = z.output<typeof configSchema>;
export type ConnectorConfig = Config['connectors'][number];
export type OidcConnectorConfig = Extract<ConnectorConfig, { type: 'oidc' }>;
export type DemoConnectorConfig = Extract<ConnectorConfig, { type: 'demo' }>;
export type SamlConnectorConfig = Extract<ConnectorConfig, { type: 'saml' }>;
export type ClusterConfig = Config['clusters'][number];
export type SshConfig = NonNullable<Config['ssh']>;
export type SshNodeConfig = SshConfig['nodes'][number];
export type AppConfig = Config['apps'][number];
