import assert from 'node:assert/strict';
import { test } from 'node:test';
import { demoConfig } from '../../src/config/demo.js';
import { startGateway } from '../helpers/gateway.js';
import { HostBrowser } from '../helpers/host-browser.js';

test('demo mode: the whoami app behind the gateway shows the signed-in user and a verified assertion', async () => {
  const { roles, mappings } = demoConfig();
  const gw = await startGateway({ connectors: [{ type: 'demo', id: 'demo', name: 'Demo IdP' }], roles, mappings }, { demo: true });
  try {
    const alice = gw.gateway.connectors.demoUsers!.find((u) => u.username === 'alice')!;
    const browser = new HostBrowser();
    // A host app of its own (whoami.localhost), not a path of the gateway's origin.
    const appUrl = gw.url.replace('127.0.0.1', 'whoami.localhost');
    const chooser = await browser.go(`${appUrl}/`);
    const link = /href="([^"]+)">Demo IdP</.exec(chooser.body)?.[1];
    assert.ok(link, chooser.body);
    const form = await browser.go(new URL(link.replaceAll('&amp;', '&'), chooser.url).href);
    const consent = await browser.submit(form, 'login', { username: 'alice', password: alice.password });
    const page = /Allow/.test(consent.body) ? await browser.submit(consent, 'confirm', {}) : consent;
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
