// The newcomer's first minute, in real Chromium: `gatehouse serve` with no config (a fresh
// directory, nothing installed) starts the demo; alice signs in and "My access" lists what she can
// reach, each with a way in: the demo app with its Open link, the in-process demo SSH node with
// web-terminal links and the exact `ssh -J` / `gatehouse ssh` lines (copy buttons copy them, and
// the `ssh -J` line works with real OpenSSH and the ssh config the CLI writes), and her
// recordings. She opens the web terminal on the toy node, runs `whoami`, exits; the new recording
// is on the home page and its player page loads. A full-page screenshot of the home page is kept
// as a test artefact ($GATEHOUSE_TEST_ARTIFACTS, default test-artifacts/ in the repo).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { DEFAULT_HOST_SUFFIX, sshConfigSnippet } from '../../src/cli/ssh-config.js';
import { launchChromium, signInWithIdp } from '../helpers/browsers/chromium.js';
import { eventually } from '../helpers/eventually.js';
import { requireBinary } from '../helpers/peers/services.js';
import { keygen, runSsh } from '../helpers/peers/ssh.js';
import { REPO_ROOT, startDemoCli } from '../helpers/gateways/demo-cli.js';

const ARTIFACTS = process.env.GATEHOUSE_TEST_ARTIFACTS || join(REPO_ROOT, 'test-artifacts');

const texts = (page: Page, selector: string) => page.locator(selector).allTextContents();
/** The lines on the web terminal's screen, as xterm.js holds them. */
const screenLines = (page: Page) =>
  page.evaluate(() => {
    type Buffer = { length: number; getLine(i: number): { translateToString(trim: boolean): string } | undefined };
    const { term } = (window as unknown as { gatehouseTerminal: { term: { buffer: { active: Buffer } } } }).gatehouseTerminal;
    const buffer = term.buffer.active;
    return Array.from({ length: buffer.length }, (_, i) => buffer.getLine(i)?.translateToString(true) ?? '');
  });

test('demo: "My access" lists every kind with a way in; the web terminal on the demo node is recorded', { timeout: 180_000 }, async (t) => {
  const browser = await launchChromium(t);
  if (!browser) return;
  const ssh = requireBinary(t, 'ssh');
  if (!ssh) return;
  const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-e2e-catalogue-'));
  t.after(() => rmSync(cwd, { recursive: true, force: true }));
  const demo = await startDemoCli(t, { cwd });
  const { url, port } = demo;

  const context = await browser.newContext();
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  // CSP violations (an inline script, a blocked asset), failed requests and script errors.
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const where = new URL(page.url());
    // The embedded IdP's own pages (oidc-provider) declare no icon, so Chromium asks for /favicon.ico.
    if (where.pathname.startsWith('/demo-idp/') && msg.location().url === `${url}/favicon.ico`) return;
    problems.push(`${where.pathname}: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`${page.url()}: ${err.message}`));

  let failed = false;
  const step = (name: string, fn: () => Promise<void>) =>
    t.test(name, async (st) => {
      if (failed) return st.skip('an earlier step failed');
      try {
        await fn();
      } catch (err) {
        failed = true;
        throw new Error(`${(err as Error).message}\n(page: ${page.url()})\n${demo.output()}`, { cause: err });
      }
    });

  const rootLine = 'ssh -J gatehouse-proxy root@demo-node.gatehouse';

  await step('alice signs in; the catalogue shows the demo app, the demo node with its ways in, and where recordings go', async () => {
    await page.goto(`${url}/`);
    await signInWithIdp(page, url, { username: 'alice', password: demo.alicePassword }, `${url}/`);
    assert.equal(await page.locator('h1').textContent(), 'My access');
    assert.deepEqual(await texts(page, '#roles .tag'), ['admin', 'demo-user', 'developer']);

    // Apps: the demo app on a host of its own, with an Open link.
    assert.deepEqual(await texts(page, '#apps li strong'), ['whoami']);
    assert.equal(await page.locator('#apps [data-app="whoami"] a.open').getAttribute('href'), `http://whoami.localhost:${port}/`);

    // SSH: the toy node, as root (admin) and as alice (developer), each with the terminal link and both commands.
    assert.deepEqual(await texts(page, '#ssh-nodes [data-node="demo-node"] a.tag'), ['alice@demo-node', 'root@demo-node']);
    assert.equal(await page.locator('#ssh-nodes [data-login="root"] a.tag').getAttribute('href'), '/terminal/demo-node?login=root');
    assert.deepEqual(await texts(page, '#ssh-nodes [data-login="root"] code'), [rootLine, 'gatehouse ssh root@demo-node']);
    assert.deepEqual(await texts(page, '#ssh-nodes [data-login="alice"] code'), [
      'ssh -J gatehouse-proxy alice@demo-node.gatehouse',
      'gatehouse ssh alice@demo-node',
    ]);
    assert.deepEqual(await texts(page, '#ssh-nodes p.setup code'), [
      `gatehouse login --server ${url}`,
      '~/.gatehouse/ssh/config',
      'Include ~/.gatehouse/ssh/config',
      '~/.ssh/config',
      'ssh',
    ]);

    // Recordings: none yet, and where they will be.
    assert.match((await page.locator('#my-recordings #no-recordings').textContent()) ?? '', /No recordings yet/);
    assert.equal(await page.locator('#my-recordings a[href="/recordings"]').count(), 1);
    // No cluster in the demo (a cluster needs a real API server), and nothing is "empty".
    assert.equal(await page.locator('#clusters, #catalogue-empty').count(), 0);
  });

  await step('a copy button copies its command exactly', async () => {
    const button = page.locator('#ssh-nodes [data-login="root"] button.copy').first();
    await button.click();
    await page.waitForFunction((b) => b?.textContent === 'Copied', await button.elementHandle());
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), rootLine);
  });

  await step('the ssh -J line works with real OpenSSH and the ssh config the CLI writes', async () => {
    const dir = join(cwd, 'client');
    mkdirSync(dir);
    const key = keygen(dir, 'id_ed25519');
    const publicKey = readFileSync(`${key}.pub`, 'utf8');
    // The certificate as the signed-in page asks for it (what `gatehouse ssh cert` does with a token).
    const issued = await page.evaluate(async (public_key) => {
      const res = await fetch('/api/v1/ssh/certs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ public_key }) });
      return { status: res.status, body: (await res.json()) as { certificate: string; known_hosts: string; proxy: string } };
    }, publicKey);
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    assert.notEqual(issued.body.proxy.split(':')[1], '0', 'the demo tells clients the port its SSH listener got');
    const f = { key, cert: `${key}-cert.pub`, knownHosts: join(dir, 'known_hosts'), path: join(dir, 'config') };
    writeFileSync(f.cert, `${issued.body.certificate}\n`);
    writeFileSync(f.knownHosts, `${issued.body.known_hosts}\n`);
    writeFileSync(
      f.path,
      sshConfigSnippet({ ...f, proxy: issued.body.proxy, nodes: ['demo-node'], suffix: DEFAULT_HOST_SUFFIX }) + 'Host *\n  BatchMode yes\n',
    );
    const [command, ...args] = rootLine.split(' ');
    assert.equal(command, 'ssh');
    const run = await runSsh(ssh, ['-F', f.path, ...args, 'whoami'], { timeoutMs: 30_000 });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'root\n');
  });

  let recording = '';
  await step('the web terminal on the demo node: whoami shows the login, exit ends the session', async () => {
    await page.click('#ssh-nodes a.tag:text("root@demo-node")');
    await page.waitForURL(`${url}/terminal/demo-node?login=root`);
    await page.waitForFunction(() => document.getElementById('terminal-status')?.textContent === 'Connected.');
    await eventually(async () => (await screenLines(page)).some((l) => l.startsWith('root@demo-node:~#')), { timeoutMs: 10_000, message: 'no prompt' });
    await page.locator('#terminal .xterm-helper-textarea').focus();
    await page.keyboard.type('whoami');
    await page.keyboard.press('Enter');
    let lines: string[] = [];
    await eventually(async () => (lines = await screenLines(page)).includes('root'), {
      timeoutMs: 10_000,
      message: () => `no "root" line on the screen:\n${lines.join('\n')}`,
    });
    assert.equal(lines[lines.indexOf('root') - 1], 'root@demo-node:~# whoami');
    await page.keyboard.type('exit');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => (document.getElementById('terminal-status')?.textContent ?? '').startsWith('Session ended'));
    assert.equal(await page.locator('#terminal-status').textContent(), 'Session ended (exit 0).');
  });

  await step('the new recording is on the home page, and its player page plays it', async () => {
    await eventually(
      async () => {
        await page.goto(`${url}/`);
        return (await page.locator('#my-recordings [data-recording]').count()) === 1;
      },
      { timeoutMs: 10_000, message: 'the recording is not listed on the home page' },
    );
    recording = (await page.locator('#my-recordings [data-recording]').getAttribute('data-recording')) ?? '';
    assert.equal(await page.locator('#my-recordings [data-recording] a').textContent(), 'root@demo-node');
    assert.match((await page.locator('#my-recordings [data-recording] .muted').textContent()) ?? '', /UTC · shell$/);
    assert.equal(await page.locator('#no-recordings').count(), 0);
    await page.click('#my-recordings [data-recording] a');
    await page.waitForURL(`${url}/recordings/${recording}`);
    assert.equal(await page.locator('#session-id').textContent(), recording);
    await page.locator('#player .ap-term, #player .ap-terminal').first().waitFor();
    await page.waitForFunction(() => (document.querySelector('#player')?.textContent ?? '').includes('root@demo-node:~# whoami'), null, { timeout: 20_000 });
  });

  await step('a full-page screenshot of the home page is kept as a test artefact', async () => {
    await page.goto(`${url}/`);
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = join(ARTIFACTS, 'home-catalogue.png');
    await page.screenshot({ path: file, fullPage: true });
    const png = readFileSync(file);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
    assert.ok(statSync(file).size > 20_000, `the screenshot has content (${statSync(file).size} bytes)`);
    t.diagnostic(`screenshot: ${file}`);
  });

  await step('no console errors, CSP violations or script errors on any page', async () => {
    assert.deepEqual(problems, []);
  });

  await step('SIGTERM stops the demo (gateway, demo node and app) with exit 0', async () => {
    demo.child.kill('SIGTERM');
    assert.deepEqual(await demo.exited, { code: 0, signal: null });
  });
});
