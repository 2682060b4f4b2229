import { splitHostPort } from '../core/hosts.js';
import { parseConfig } from './load.js';
import type { Config } from './schema.js';

/** The demo's toy SSH node (src/demo-node), started in process by the gateway in demo mode. */
export const DEMO_NODE_NAME = 'demo-node';
/** The demo's SSH listener port, unless `listen` is given (then any free port: demos side by side). */
const DEMO_SSH_PORT = 3022;

/** The config used when none is given: an embedded IdP, in-memory state, a file audit log. */
export function demoConfig(options: { listen?: string; dataDir?: string } = {}): Config {
  const listen = options.listen ?? '127.0.0.1:8080';
  const [host, port] = splitHostPort(listen);
  const publicHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const bracket = (h: string) => (h.includes(':') ? `[${h}]` : h);
  return parseConfig({
    server: { public_url: `http://${bracket(publicHost)}:${port}`, listen },
    state: { data_dir: options.dataDir ?? './data/demo' },
    connectors: [{ type: 'demo', id: 'demo', name: 'Demo IdP' }],
    // The demo app (src/proxy/http/demo-app.ts) is for everyone signed in at the demo IdP.
    roles: [
      { name: 'admin', kubernetes_groups: ['platform-admins'], logins: ['root'], node_labels: { env: ['*'] }, apps: ['*'], audit: 'read' },
      {
        name: 'developer',
        kubernetes_groups: ['developers'],
        logins: ['{{username}}'],
        node_labels: { env: ['dev'] },
        apps: ['whoami'],
        // Developers may ask for root on the dev nodes for an hour; an admin approves (/requests).
        request: { roles: ['dev-root'], reviewers: { roles: ['admin'], approvals: 1 }, require_reason: true },
      },
      { name: 'dev-root', logins: ['root'], node_labels: { env: ['dev'] }, requestable: true }, // max_duration: the default, 1h
      { name: 'demo-user', apps: ['whoami'] },
    ],
    mappings: [
      { match: { claim: 'groups', value: 'admins' }, roles: ['admin'] },
      { match: { claim: 'groups', value: 'devs' }, roles: ['developer'] },
      { match: { connector: 'demo' }, roles: ['demo-user'] },
    ],
    // The toy node: admins log in as root, developers as themselves. Its addr and host_key are
    // filled in when it listens (src/main.ts); until then nothing can connect (port 0, and a
    // node without a pinned host key is refused).
    ssh: {
      listen: `${bracket(host)}:${options.listen === undefined ? DEMO_SSH_PORT : 0}`,
      require_host_key: true,
      nodes: [{ name: DEMO_NODE_NAME, addr: '127.0.0.1:0', labels: { env: 'dev', kind: 'demo' } }],
    },
  });
}
