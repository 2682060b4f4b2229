import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { browserCommands, type BrowserContext } from '../../../src/cli/browser-commands.js';

const URL_ = 'https://gw.example/authorize?client_id=gatehouse-cli&state=a%20b';
const WSL = 'Linux version 5.15.153.1-microsoft-standard-WSL2 (root@941d701f84f1) (gcc (GCC) 11.2.0) #1 SMP';
const LINUX = 'Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0) #1 SMP';
const commands = (ctx: Partial<BrowserContext>) => browserCommands(URL_, { platform: 'linux', env: {}, ...ctx }).map((c) => [c.command, ...c.args]);

describe('which command opens the browser', () => {
  test('GATEHOUSE_BROWSER overrides everything; none means print the URL only', () => {
    const env = { GATEHOUSE_BROWSER: '/opt/my browser', BROWSER: 'firefox', DISPLAY: ':0' };
    assert.deepEqual(commands({ env }), [['/opt/my browser', URL_]]);
    assert.deepEqual(commands({ env: { ...env, GATEHOUSE_BROWSER: 'none' }, platform: 'darwin' }), []);
  });

  test('$BROWSER: colon-separated, tried in order before the platform opener; %s substituted, else appended', () => {
    const env = { BROWSER: 'nonexistent-browser:firefox --new-tab %s: :lynx -dump "%s" --title "%%s is %s":w3m', DISPLAY: ':0' };
    assert.deepEqual(commands({ env }), [
      ['nonexistent-browser', URL_],
      ['firefox', '--new-tab', URL_],
      ['lynx', '-dump', URL_, '--title', `%s is ${URL_}`],
      ['w3m', URL_],
      ['xdg-open', URL_],
    ]);
    // Only a literal %%s: the URL is still appended.
    assert.deepEqual(commands({ env: { BROWSER: 'echo 100%%s' } }), [['echo', '100%s', URL_]]);
  });

  test('macOS: open', () => {
    assert.deepEqual(commands({ platform: 'darwin' }), [['open', URL_]]);
    assert.deepEqual(commands({ platform: 'darwin', env: { BROWSER: 'chrome' } }), [
      ['chrome', URL_],
      ['open', URL_],
    ]);
  });

  test('Linux: xdg-open only with a display (X11 or Wayland)', () => {
    assert.deepEqual(commands({ procVersion: LINUX }), []);
    assert.deepEqual(commands({ procVersion: LINUX, env: { DISPLAY: ':1' } }), [['xdg-open', URL_]]);
    assert.deepEqual(commands({ procVersion: LINUX, env: { WAYLAND_DISPLAY: 'wayland-0' } }), [['xdg-open', URL_]]);
  });

  test('WSL (/proc/version names Microsoft or WSL): wslview, then Windows itself, without a display too', () => {
    for (const procVersion of [WSL, 'Linux version 4.4.0-19041-Microsoft (Microsoft@Microsoft.com) (gcc version 5.4.0 (GCC) ) #1237-Microsoft']) {
      assert.deepEqual(commands({ procVersion }), [
        ['wslview', URL_],
        ['powershell.exe', '-NoProfile', '-NonInteractive', '-Command', `Start-Process '${URL_}'`],
        ['cmd.exe', '/c', 'start', 'https://gw.example/authorize?client_id=gatehouse-cli^&state=a^%20b'],
      ]);
    }
    // WSLg has a display: xdg-open last.
    assert.deepEqual(commands({ procVersion: WSL, env: { DISPLAY: ':0' } }).at(-1), ['xdg-open', URL_]);
    // Not WSL on another platform, whatever the text says.
    assert.deepEqual(commands({ platform: 'darwin', procVersion: WSL }), [['open', URL_]]);
  });

  test("PowerShell quoting: a ' in the URL is doubled, nothing else is interpreted", () => {
    const url = "https://gw.example/cb?x=it's$(calc)";
    const ps = browserCommands(url, { platform: 'linux', env: {}, procVersion: WSL })[1];
    assert.deepEqual(ps.args.at(-1), "Start-Process 'https://gw.example/cb?x=it''s$(calc)'");
  });
});
