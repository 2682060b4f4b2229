import { createServer } from 'node:http';
import { appAudience } from '../../core/audiences.js';
import { closeGracefully, listen } from '../../core/http-server.js';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { AppConfig } from '../../config/schema.js';

/**
 * The demo's app (`npm start` with no config): a tiny upstream on 127.0.0.1 behind the gateway on
 * a host of its own, `whoami.localhost` (RFC 6761: loopback, so the browser keeps app and gateway
 * origins apart without any DNS set-up). It shows what an app behind Gatehouse receives, and verifies the assertion the
 * way docs/http-apps.md tells apps to (jose createRemoteJWKSet against the gateway's JWKS).
 */
export const DEMO_APP_NAME = 'whoami';
export const DEMO_APP_HOST = `${DEMO_APP_NAME}.localhost`;

export interface DemoApp {
  url: string;
  /** Its entry for `apps:` (a host app on `whoami.localhost`). */
  config: AppConfig;
  close(): Promise<void>;
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export async function startDemoApp(options: { gatewayUrl: string }): Promise<DemoApp> {
  const jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', options.gatewayUrl));
  const server = createServer((req, res) => {
    const assertion = req.headers['gatehouse-jwt-assertion'];
    const verified: Promise<JWTPayload | string> =
      typeof assertion === 'string'
        ? jwtVerify(assertion, jwks, { issuer: options.gatewayUrl, audience: appAudience(DEMO_APP_NAME) }).then(
            (r) => r.payload,
            (err: Error) => `not verified: ${err.message}`,
          )
        : Promise.resolve('no assertion: this request did not come through Gatehouse');
    void verified.then((claims) => {
      const rows = ['x-forwarded-user', 'x-forwarded-email', 'x-forwarded-groups', 'x-forwarded-host']
        .map((h) => `<tr><th>${h}</th><td id="${h}">${escape(String(req.headers[h] ?? '—'))}</td></tr>`)
        .join('');
      const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>whoami · demo app</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 48rem; margin: 2rem auto">
<h1>Hello, <span id="user">${escape(String(req.headers['x-forwarded-user'] ?? 'stranger'))}</span></h1>
<p>This is a demo app behind Gatehouse. It trusts nobody's word for who you are: it verifies the
signed <code>Gatehouse-Jwt-Assertion</code> against <code>${escape(options.gatewayUrl)}/.well-known/jwks.json</code>.</p>
<table>${rows}</table>
<h2>Assertion</h2>
<pre id="assertion">${escape(typeof claims === 'string' ? claims : JSON.stringify({ verified: true, ...claims }, null, 2))}</pre>
</body></html>`;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(body);
    });
  });
  const { port } = await listen(server, 0, '127.0.0.1');
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    config: {
      name: DEMO_APP_NAME,
      upstream: url,
      public_host: DEMO_APP_HOST,
      roles: [],
      rewrite: { host: 'upstream', redirects: true },
      strip_prefix: false,
      trust_gateway_origin: false,
      headers: {},
      audit_requests: false,
      assertion_ttl: 300_000,
      timeouts: { connect: 5_000, response: 60_000, idle: 300_000 },
    },
    close: () => closeGracefully(server, 0),
  };
}
