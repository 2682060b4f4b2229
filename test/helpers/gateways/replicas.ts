import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { Logger } from '../../../src/core/logger.js';
import type { EmbeddedIdp } from '../../../src/demo-idp/server.js';
import type { Browser } from '../browsers/browser.js';
import { startGateway, type TestGateway } from './gateway.js';
import { alice, bob, kubePolicy, startCorpIdp } from './sso.js';
import { closedPort } from '../peers/services.js';

/** A round-robin TCP balancer on 127.0.0.1: each new connection goes to the next backend. */
export async function startBalancer(ports: number[]): Promise<{ port: number; url: string; close(): Promise<void> }> {
  let next = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: ports[next++ % ports.length] });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

export interface Replicas {
  /** The public URL every replica shares (the balancer). */
  url: string;
  replicas: TestGateway[];
  idp: EmbeddedIdp;
  stop(): Promise<void>;
}

/**
 * N gateways on their own ports sharing one store (and whatever `extra` configures, e.g. a
 * PostgreSQL audit schema), behind a round-robin balancer that is their common public_url;
 * one embedded IdP whose client redirects to the balancer. Policy: kubePolicy.
 */
export async function startReplicas(count: number, extra: Record<string, unknown>, options: { logger?: Logger } = {}): Promise<Replicas> {
  const ports = await Promise.all(Array.from({ length: count }, () => closedPort()));
  const balancer = await startBalancer(ports);
  const { idp, corp } = await startCorpIdp(balancer.url, [alice, bob]);
  const { server, ...rest } = extra as { server?: Record<string, unknown> };
  const replicas: TestGateway[] = [];
  try {
    // One after the other, as a rollout would; the key test covers simultaneous starts.
    for (const port of ports)
      replicas.push(
        await startGateway({ connectors: [corp], ...kubePolicy, ...rest, server: { ...server, public_url: balancer.url } }, { port, logger: options.logger }),
      );
  } catch (err) {
    await Promise.all(replicas.map((r) => r.stop()));
    await balancer.close();
    await idp.close();
    throw err;
  }
  return {
    url: balancer.url,
    replicas,
    idp,
    async stop() {
      await Promise.all(replicas.map((r) => r.stop()));
      await balancer.close();
      await idp.close();
    },
  };
}

/** Code + PKCE through `base` (as the CLI does), then a refresh into a token for `resource`. */
export async function cliTokens(browser: Browser, base: string, resource?: string): Promise<{ access_token: string; id_token: string; refresh_token: string }> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const redirect = 'http://127.0.0.1:53682/callback';
  const authorize = await browser.request(
    `${base}/oauth/authorize?${new URLSearchParams({ client_id: 'gatehouse-cli', response_type: 'code', redirect_uri: redirect, code_challenge: challenge, code_challenge_method: 'S256', state: 's', scope: 'openid offline_access' })}`,
  );
  assert.equal(authorize.status, 302, authorize.body);
  const code = new URL(authorize.location!).searchParams.get('code')!;
  const token = async (form: Record<string, string>) => {
    const res = await fetch(`${base}/oauth/token`, { method: 'POST', body: new URLSearchParams({ client_id: 'gatehouse-cli', ...form }) });
    const body = (await res.json()) as { access_token: string; id_token: string; refresh_token: string };
    assert.equal(res.status, 200, JSON.stringify(body));
    return body;
  };
  const first = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: redirect });
  return resource ? token({ grant_type: 'refresh_token', refresh_token: first.refresh_token, resource }) : first;
}

/** A TokenReview as the API server sends it. */
export async function tokenReview(
  base: string,
  reviewer: string,
  token: string,
): Promise<{ status: number; authenticated?: boolean; groups?: string[]; error?: string }> {
  const res = await fetch(`${base}/apis/authentication.k8s.io/v1/tokenreviews`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${reviewer}` },
    body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } }),
  });
  const body = (await res.json()) as { status?: { authenticated?: boolean; user?: { groups: string[] }; error?: string } };
  return { status: res.status, authenticated: body.status?.authenticated, groups: body.status?.user?.groups, error: body.status?.error };
}
