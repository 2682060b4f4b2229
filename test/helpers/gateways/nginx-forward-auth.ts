// An app behind a real nginx that asks Gatehouse (auth_request → /auth/verify): the gateway with
// one host app `docs` (role dev) at docs.localhost, a plain upstream, and nginx running the config
// a test builds from the two ports.
import type { TestContext } from 'node:test';
import { findNginx, startNginx, type Nginx } from '../peers/nginx.js';
import { skipOrFail } from '../peers/services.js';
import { startUpstream, type Upstream } from '../peers/upstream.js';
import { startAppsGateway, type AppsSetup } from './apps.js';

export interface NginxForwardAuth {
  s: AppsSetup;
  upstream: Upstream;
  nginx: Nginx;
  /** `http://docs.localhost:<nginx port>`. */
  app: string;
  stop(): Promise<void>;
}

/** Undefined (a skip, a failure on CI) when nginx is not installed. */
export async function startNginxForwardAuth(
  t: TestContext,
  nginxConfig: (gatewayPort: number, upstreamPort: number) => string,
): Promise<NginxForwardAuth | undefined> {
  const bin = findNginx();
  if (!bin) {
    skipOrFail(t, 'nginx is not installed (Debian package nginx)');
    return undefined;
  }
  const upstream = await startUpstream();
  const s = await startAppsGateway([{ name: 'docs', public_host: 'docs.localhost', roles: ['dev'] }]);
  const nginx = await startNginx(bin, nginxConfig(Number(new URL(s.gw.url).port), upstream.port));
  return {
    s,
    upstream,
    nginx,
    app: `http://docs.localhost:${nginx.port}`,
    async stop() {
      await nginx.stop();
      await s.stop();
      await upstream.close();
    },
  };
}
