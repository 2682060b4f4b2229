/**
 * What a Kubernetes API request is about, parsed from method, path and query the way
 * kube-apiserver's RequestInfoFactory does:
 * - `/api/v1/...` is the core group (""), `/apis/<group>/<version>/...` the others;
 * - `namespaces/<ns>/` scopes what follows, except the namespace subresources `status` and `finalize`;
 *   `/api/v1/namespaces/<ns>` itself is the namespace `ns`;
 * - verbs: GET → get (with a name) or list, `watch=true` (or the legacy `/watch/` prefix) → watch,
 *   POST → create, PUT → update, PATCH → patch, DELETE → delete or deletecollection;
 * - a list or watch with `fieldSelector=metadata.name=X` names X;
 * - anything else (`/version`, `/openapi/v3`, `/healthz`, bare discovery) is a non-resource request.
 */
export interface RequestInfo {
  resourceRequest: boolean;
  verb: string;
  apiGroup?: string;
  apiVersion?: string;
  namespace?: string;
  resource?: string;
  subresource?: string;
  name?: string;
  /** Path without the query. */
  path: string;
  /** A read-only discovery request (API groups and versions, resource lists, /version, OpenAPI). */
  discovery: boolean;
}

const STREAMING = new Set(['exec', 'attach', 'portforward']);
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
const VERBS: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete', GET: 'get', HEAD: 'get' };
const DISCOVERY_PREFIXES = ['/version', '/openapi/', '/.well-known/openid-configuration', '/openid/v1/jwks'];

export function parseRequestInfo(method: string, url: string): RequestInfo {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
  const upper = method.toUpperCase();
  const parts = path.split('/').filter(Boolean).map(safeDecode);
  const nonResource = (): RequestInfo => ({
    resourceRequest: false,
    verb: upper.toLowerCase(),
    path,
    discovery: (upper === 'GET' || upper === 'HEAD') && (parts.length === 0 || DISCOVERY_PREFIXES.some((p) => `${path}/`.startsWith(p))),
  });

  let rest: string[];
  let apiGroup: string;
  let apiVersion: string;
  if (parts[0] === 'api' && parts.length >= 2) {
    apiGroup = '';
    apiVersion = parts[1];
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 3) {
    apiGroup = parts[1];
    apiVersion = parts[2];
    rest = parts.slice(3);
  } else if ((parts[0] === 'api' || parts[0] === 'apis') && parts.length <= 2) {
    // /api, /apis, /apis/<group>: the group and version lists.
    return { ...nonResource(), discovery: upper === 'GET' || upper === 'HEAD' };
  } else {
    return nonResource();
  }
  // /api/v1, /apis/<group>/<version>: the resource list of a group version.
  if (!rest.length) return { ...nonResource(), apiGroup, apiVersion, discovery: upper === 'GET' || upper === 'HEAD' };

  let verb = VERBS[upper] ?? upper.toLowerCase();
  if (rest[0] === 'watch') {
    verb = 'watch';
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length > 1) {
    namespace = rest[1];
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2])) rest = rest.slice(2);
  }
  const [resource, name, subresource] = rest;
  if (!resource) return nonResource();

  if (verb === 'get' && !name) verb = 'list';
  if ((verb === 'list' || verb === 'get') && !name && isTrue(query.get('watch'))) verb = 'watch';
  if (verb === 'delete' && !name) verb = 'deletecollection';
  // exec, attach and port-forward over WebSocket arrive as GET, and are authorised as create
  // (kube-apiserver's AuthorizePodWebsocketUpgradeCreatePermission, on by default since 1.31).
  if (upper === 'GET' && resource === 'pods' && subresource && STREAMING.has(subresource)) verb = 'create';
  let named = name;
  if (!named && (verb === 'list' || verb === 'watch')) {
    const selector = query.get('fieldSelector') ?? '';
    for (const term of selector.split(',')) {
      const m = /^metadata\.name==?(.+)$/.exec(term.trim());
      if (m) named = m[1];
    }
  }
  return { resourceRequest: true, verb, apiGroup, apiVersion, namespace, resource, subresource, name: named, path, discovery: false };
}

const isTrue = (v: string | null) => v === 'true' || v === '1';

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
