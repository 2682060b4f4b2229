import assert from 'node:assert/strict';
import { test } from 'node:test';
import { demoConfig } from '../../src/config/demo.js';
import { startGateway } from '../helpers/gateways/gateway.js';
import { ACCEPT_HTML, Browser } from '../helpers/browsers/browser.js';
import { followConnector, signInThroughIdp } from '../helpers/browsers/sign-in.js';

test('demo mode: the whoami app behind the gateway shows the signed-in user and a verified assertion', async () => {
  const { roles, mappings } = demoConfig();
  const gw = await startGateway({ connectors: [{ type: 'demo', id: 'demo', name: 'Demo IdP' }], roles, mappings }, { demo: true });
  try {
    const alice = gw.gateway.connectors.demoUsers!.find((u) => u.username === 'alice')!;
    const browser = new Browser({ accept: ACCEPT_HTML });
    // A host app of its own (whoami.localhost), not a path of the gateway's origin.
    const appUrl = gw.url.replace('127.0.0.1', 'whoami.localhost');
    const chooser = await browser.go(`${appUrl}/`);
    const page = await signInThroughIdp(browser, await followConnector(browser, chooser, 'Demo IdP'), alice);
    assert.equal(page.status, 200, page.body);
    assert.equal(page.url, `${appUrl}/`);
    assert.equal((await browser.request(`${gw.url}/apps/whoami/`)).status, 404, 'no path app on the gateway origin');
    assert.match(page.body, /<span id="user">alice<\/span>/);
    assert.match(page.body, /&#34;verified&#34;: true/);
    assert.match(page.body, /&#34;aud&#34;: &#34;gatehouse-app:whoami&#34;/);
  } finally {
    await gw.stop();
  }
});
