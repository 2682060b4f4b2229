import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { TestTls } from './tls.js';

export interface StandinUser {
  username: string;
  groups: string[];
}

/**
 * An HTTPS stand-in for kube-apiserver (no real one can run here). It authenticates bearers
 * the way the OIDC authenticator does — issuer discovery, the issuer's JWKS, iss, aud =
 * client id, exp/nbf, username and groups claims with the username prefix — and serves enough
 * discovery for `kubectl get pods`, answering with a pod that names the resolved user.
 */
export async function startApiserverStandin(options: { tls: TestTls; issuer: () => string; clientId: string; usernamePrefix: string }) {
  const seen: StandinUser[] = [];
  let keys: ReturnType<typeof createRemoteJWKSet> | undefined;

  // Like kube-apiserver, discover the issuer when the first token arrives (the gateway may start later).
  const jwks = async () => {
    if (keys) return keys;
    const discovery = (await (await fetch(`${options.issuer()}/.well-known/openid-configuration`)).json()) as { issuer: string; jwks_uri: string };
    if (discovery.issuer !== options.issuer()) throw new Error('issuer mismatch in discovery');
    return (keys = createRemoteJWKSet(new URL(discovery.jwks_uri)));
  };

  const authenticate = async (authorization: string | undefined): Promise<StandinUser | undefined> => {
    const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    if (!token) return undefined;
    try {
      const { payload } = await jwtVerify(token, await jwks(), { issuer: options.issuer(), audience: options.clientId, algorithms: ['ES256', 'RS256'] });
      if (typeof payload.preferred_username !== 'string') return undefined;
      return { username: options.usernamePrefix + payload.preferred_username, groups: Array.isArray(payload.groups) ? payload.groups.map(String) : [] };
    } catch {
      return undefined;
    }
  };

  const server: Server = createServer({ cert: options.tls.cert, key: options.tls.key }, async (req, res) => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const user = await authenticate(req.headers.authorization);
    if (!user) return json(401, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    seen.push(user);
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/api')
      return json(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] });
    if (path === '/apis') return json(200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
    if (path === '/api/v1')
      return json(200, {
        kind: 'APIResourceList',
        groupVersion: 'v1',
        resources: [{ name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list'], shortNames: ['po'] }],
      });
    if (path === '/version') return json(200, { major: '1', minor: '32', gitVersion: 'v1.32.0-standin' });
    const pods = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(path);
    if (pods) {
      return json(200, {
        kind: 'PodList',
        apiVersion: 'v1',
        metadata: { resourceVersion: '1' },
        items: [
          {
            kind: 'Pod',
            apiVersion: 'v1',
            metadata: {
              name: 'whoami',
              namespace: pods[1],
              uid: '1',
              creationTimestamp: new Date().toISOString(),
              annotations: { user: user.username, groups: user.groups.join(',') },
            },
            spec: { containers: [{ name: 'c', image: 'busybox' }] },
            status: { phase: 'Running' },
          },
        ],
      });
    }
    json(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `${path} not found`, reason: 'NotFound', code: 404 });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
