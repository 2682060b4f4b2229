// The recordings page plays a session in real headless Chromium: alice signs in through the
// embedded IdP, finds her recording on /recordings (a text search over the output), opens it, and
// the locally served asciinema-player renders the session's output under a strict CSP.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { newSessionId } from '../../src/recording/ids.js';
import { createRecorder } from '../../src/recording/recorder.js';
import { startGateway } from '../helpers/gateways/gateway.js';
import { launchChromium, signInWithIdp } from '../helpers/browsers/chromium.js';

const PASSWORD = 'alice-e2e-pw'; // secret-scan: allow

test('the recordings page plays a session in headless Chromium', { timeout: 120_000 }, async (t) => {
  const browser = await launchChromium(t);
  if (!browser) return;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-rec-page-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const gw = await startGateway({
    connectors: [
      {
        type: 'demo',
        users: [
          { username: 'alice', password: PASSWORD, email: 'alice@example.com', groups: ['devs'] },
          { username: 'bob', password: PASSWORD, email: 'bob@example.com', groups: ['devs'] },
        ],
      },
    ],
    recordings: { dir },
  });
  t.after(() => gw.stop());

  // Two recordings as the SSH proxy writes them: alice's, and bob's (which alice must not see).
  const recorder = createRecorder({ dir, maxBytesPerSession: 1 << 20, recordInput: false });
  const mine = newSessionId();
  const rec = recorder.start({ id: mine, user: 'alice', login: 'root', node: 'web-1', kind: 'shell', cols: 80, rows: 24, term: 'xterm' });
  rec.output(Buffer.from('root@web-1:~# echo \x1b[1mhello\x1b[0m\r\n'));
  rec.output(Buffer.from('hello-from-the-recording\r\nroot@web-1:~# exit\r\n'));
  rec.close({ exitCode: 0 });
  const bobs = newSessionId();
  const other = recorder.start({ id: bobs, user: 'bob', login: 'bob', node: 'web-1', kind: 'shell', cols: 80, rows: 24 });
  other.output(Buffer.from('bob-was-here\r\n'));
  other.close({ exitCode: 0 });

  const page = await browser.newPage();
  page.setDefaultTimeout(15_000);
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !new URL(page.url()).pathname.startsWith('/demo-idp/')) errors.push(`${page.url()}: ${msg.text()}`);
  });
  page.on('pageerror', (err) => errors.push(`${page.url()}: ${err.message}`));

  // Signed out: the page sends people to sign in and back.
  await page.goto(`${gw.url}/recordings?q=hello-from`);
  await signInWithIdp(page, gw.url, { username: 'alice', password: PASSWORD }, `${gw.url}/recordings?q=hello-from`);

  assert.equal(await page.locator('table.recordings tbody tr').count(), 1);
  assert.match((await page.locator('table.recordings tbody').textContent()) ?? '', /root@web-1/);
  await page.goto(`${gw.url}/recordings`);
  assert.doesNotMatch((await page.locator('table.recordings tbody').textContent()) ?? '', /bob/, 'only her own recordings');

  await page.goto(`${gw.url}/recordings?q=hello-from`);
  await page.locator('table.recordings tbody tr a').first().click();
  await page.waitForURL(`${gw.url}/recordings/${mine}`);
  // The player renders the terminal: the recorded output appears as text.
  await page.locator('#player .ap-term, #player .ap-terminal').first().waitFor();
  await page.waitForFunction(() => (document.querySelector('#player')?.textContent ?? '').includes('hello-from-the-recording'), null, { timeout: 20_000 });
  assert.equal(await page.locator('#session-id').textContent(), mine);

  // Someone else's recording is "not found", and the refusal is audited.
  const res = await page.goto(`${gw.url}/recordings/${bobs}`);
  assert.equal(res?.status(), 404);
  assert.deepEqual(
    errors.filter((e) => !e.includes('404')),
    [],
  );

  const view = await gw.waitForEvent((e) => e.type === 'recording.access' && e.outcome === 'success' && e.details?.action === 'view');
  assert.equal(view.session_id, mine);
  assert.equal(view.user, 'alice');
  await gw.waitForEvent((e) => e.type === 'recording.access' && e.outcome === 'success' && e.details?.action === 'download' && e.session_id === mine);
  const refused = await gw.waitForEvent((e) => e.type === 'recording.access' && e.outcome === 'failure');
  assert.equal(refused.reason, 'recording_not_found');
});
