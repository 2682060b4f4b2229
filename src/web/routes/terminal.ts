import { readFileSync } from 'node:fs';
import { readPageScript, serveAsset } from '../static-asset.js';
import { createRequire } from 'node:module';
import { Router } from 'express';
import { checkNodeLogin } from '../../access/node-login.js';
import { GatehouseError } from '../../core/errors.js';
import { loginRedirect } from '../../core/redirect-target.js';
import { redirectPolicyOf, type WebDeps } from '../deps.js';
import { asyncHandler, currentSession } from '../middleware.js';
import { requirePrincipal } from '../principal.js';
import { terminalPage } from '../views/terminal.js';

const require = createRequire(import.meta.url);
/** xterm.js is served from node_modules: no CDN (CSP script-src 'self'). */
const XTERM_JS = require.resolve('@xterm/xterm/lib/xterm.js');
const XTERM_CSS = require.resolve('@xterm/xterm/css/xterm.css');
const XTERM_FIT_JS = require.resolve('@xterm/addon-fit/lib/addon-fit.js');

/**
 * `GET /terminal/:node?login=L`: the web terminal page (xterm.js). The shell itself runs over the
 * WebSocket at `/terminal/:node/ws` (src/proxy/ssh/terminal/websocket.ts), which checks everything again.
 */
export function terminalRoutes(deps: WebDeps): Router {
  const router = Router();
  const ssh = deps.config.ssh;
  if (!ssh) return router;
  const nodes = new Map(ssh.nodes.map((n) => [n.name, n]));

  router.get(
    '/terminal/:node',
    asyncHandler(async (req, res) => {
      if (!(await currentSession(deps, req))) return res.redirect(302, loginRedirect(req.originalUrl, redirectPolicyOf(deps)));
      const { identity, access } = await requirePrincipal(deps, req);
      const name = String(req.params.node);
      const login = typeof req.query.login === 'string' ? req.query.login : '';
      const check = checkNodeLogin(access, nodes.get(name), login);
      if (!check.allowed) {
        const { reason, node, logins: allowed } = check;
        await deps.audit.emit({
          type: 'access.denied',
          outcome: 'failure',
          user: identity.username,
          connector: identity.connector,
          roles: access.roles,
          reason,
          context: res.locals.ctx,
          details: { node: name.slice(0, 128), login: login.slice(0, 64), allowed, via: 'web-terminal' },
        });
        const message = !node
          ? `Unknown node "${name}".`
          : allowed.length
            ? `${identity.username} may not log in as "${login}" on ${node.name} (allowed: ${allowed.join(', ')}).`
            : `${identity.username} has no login on ${node.name}.`;
        throw new GatehouseError(reason, message, { status: 403 });
      }
      res.setHeader('cache-control', 'no-store');
      res.type('html').send(terminalPage({ demo: deps.demo, user: identity.username, node: check.node.name, login }));
    }),
  );

  serveAsset(router, '/static/xterm.js', 'application/javascript', () => readFileSync(XTERM_JS));
  serveAsset(router, '/static/xterm.css', 'text/css', () => readFileSync(XTERM_CSS));
  serveAsset(router, '/static/xterm-addon-fit.js', 'application/javascript', () => readFileSync(XTERM_FIT_JS));
  serveAsset(router, '/static/web-terminal.js', 'application/javascript', () => readPageScript('web-terminal.js'));
  return router;
}
