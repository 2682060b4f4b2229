import type { AppConfig } from '../../config/schema.js';
import { GatehouseError } from '../../core/errors.js';

/** An app with its defaults applied and its hot-path values precomputed. */
export interface HttpApp {
  name: string;
  config: AppConfig;
  /** Absent for apps guarded only through forward-auth. */
  upstream?: URL;
  /** Either a host of its own... */
  publicHost?: string;
  /** ...or a path prefix on the gateway (starts and ends with "/"). */
  path?: string;
  /** Configured extra headers, lowercased name → template. */
  headers: [string, string][];
  /** Their names: stripped from client requests even when a template renders nothing. */
  configuredHeaders: Set<string>;
  /**
   * The host (with the public port) the app is served on, from config and `public_url`, never
   * from the client: what `X-Forwarded-Host` says and what a WebSocket `Origin` must match.
   */
  forwardedHost: string;
  /** `<scheme>://<forwardedHost>`. */
  origin: string;
  /**
   * A path app without `trust_gateway_origin` (only possible for a config built in code, since
   * parseConfig refuses it): its responses get SANDBOX_CSP, so its pages run in an opaque origin.
   */
  sandboxed: boolean;
}

/** Defence in depth for untrusted content on the gateway's origin: no allow-same-origin. */
export const SANDBOX_CSP = 'sandbox allow-scripts allow-forms allow-popups allow-downloads';

export interface AppRegistry {
  apps: HttpApp[];
  byName: Map<string, HttpApp>;
  /** The app served on this Host header (port ignored), if any. */
  byHost(hostHeader: string | undefined): HttpApp | undefined;
  /** The path app whose prefix the raw request target falls under, longest prefix first. */
  byPath(url: string): HttpApp | undefined;
  /** Public hosts of host-based apps: `return_to` may point at them. */
  publicHosts: string[];
}

/**
 * Applies the defaults from the design: an app with neither `public_host` nor `path` is served on
 * `<name>.<server.apps_domain>` when that is set, else under `/apps/<name>/`.
 */
export function createAppRegistry(config: { apps: AppConfig[]; server: { public_url: string; apps_domain?: string } }): AppRegistry {
  const publicUrl = new URL(config.server.public_url);
  const gatewayHost = publicUrl.hostname.toLowerCase();
  const port = publicUrl.port ? `:${publicUrl.port}` : '';
  const apps = config.apps.map((app): HttpApp => {
    let publicHost = app.public_host;
    let path = app.path;
    if (!publicHost && !path) {
      if (config.server.apps_domain) publicHost = `${app.name}.${config.server.apps_domain.toLowerCase()}`;
      else if (app.upstream) path = `/apps/${app.name}/`;
    }
    if (publicHost === gatewayHost) {
      throw new GatehouseError('config_invalid', `apps: "${app.name}" uses the gateway's own host ${publicHost}; give it a host of its own or a path`);
    }
    return {
      name: app.name,
      config: app,
      upstream: app.upstream ? new URL(app.upstream) : undefined,
      publicHost,
      path,
      headers: Object.entries(app.headers).map(([name, template]) => [name.toLowerCase(), template]),
      configuredHeaders: new Set(Object.keys(app.headers).map((name) => name.toLowerCase())),
      forwardedHost: publicHost ? publicHost + port : publicUrl.host,
      origin: publicHost ? `${publicUrl.protocol}//${publicHost}${port}` : publicUrl.origin,
      sandboxed: Boolean(path) && app.trust_gateway_origin !== true,
    };
  });
  const hosts = new Map(apps.filter((a) => a.publicHost).map((a) => [a.publicHost!, a]));
  const paths = apps.filter((a) => a.path && a.upstream).sort((a, b) => b.path!.length - a.path!.length);
  return {
    apps,
    byName: new Map(apps.map((a) => [a.name, a])),
    byHost(hostHeader) {
      // Only a plain `name[:port]` matches: whatever else a client puts in Host (userinfo, paths)
      // must never flow into the URLs we build from it.
      if (!hostHeader || hosts.size === 0 || !HOST_HEADER.test(hostHeader)) return undefined;
      return hosts.get(hostnameOf(hostHeader));
    },
    byPath(url) {
      for (const app of paths) {
        if (url.startsWith(app.path!)) return app;
        // `/apps/wiki` and `/apps/wiki?x` belong to the app too (answered with a redirect to the prefix).
        const bare = app.path!.slice(0, -1);
        if (url === bare || url.startsWith(`${bare}?`)) return app;
      }
      return undefined;
    },
    publicHosts: [...hosts.keys()],
  };
}

const HOST_HEADER = /^[A-Za-z0-9.-]+(?::\d{1,5})?$/;

/** `Grafana.Example.com:8443` → `grafana.example.com`; `[::1]:80` → `::1`. */
export function hostnameOf(hostHeader: string): string {
  const host = hostHeader.toLowerCase();
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const colon = host.indexOf(':');
  const name = colon === -1 ? host : host.slice(0, colon);
  return name.endsWith('.') ? name.slice(0, -1) : name;
}
