import { splitHostPort } from '../core/hosts.js';
import { parseConfig } from './load.js';
import type { Config } from './schema.js';

/** The config used when none is given: an embedded IdP, in-memory state, a file audit log. */
export function demoConfig(options: { listen?: string; dataDir?: string } = {}): Config {
  const listen = options.listen ?? '127.0.0.1:8080';
  const [host, port] = splitHostPort(listen);
  const publicHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return parseConfig({
    server: { public_url: `http://${publicHost.includes(':') ? `[${publicHost}]` : publicHost}:${port}`, listen },
    state: { data_dir: options.dataDir ?? './data/demo' },
    connectors: [{ type: 'demo', id: 'demo', name: 'Demo IdP' }],
    // The demo app (src/proxy/http/demo-app.ts) is for everyone signed in at the demo IdP.
    roles: [
      { name: 'admin', kubernetes_groups: ['platform-admins'], logins: ['root'], node_labels: { env: ['*'] }, apps: ['*'], audit: 'read' },
      { name: 'developer', kubernetes_groups: ['developers'], logins: ['{{username}}'], node_labels: { env: ['dev'] }, apps: ['whoami'] },
      { name: 'demo-user', apps: ['whoami'] },
    ],
    mappings: [
      { match: { claim: 'groups', value: 'admins' }, roles: ['admin'] },
      { match: { claim: 'groups', value: 'devs' }, roles: ['developer'] },
      { match: { connector: 'demo' }, roles: ['demo-user'] },
    ],
  });
}
