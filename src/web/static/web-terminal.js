// @ts-check
/**
 * The web terminal page's script (/static/web-terminal.js; CSP allows no inline script). Opens
 * xterm.js on #terminal, sized to fit it (and refitted when the window changes), and relays it over
 * the page's WebSocket. /static/xterm.js and /static/xterm-addon-fit.js, loaded before it, define
 * window.Terminal and window.FitAddon.
 */

/**
 * @typedef {object} TerminalGlobals
 * @property {typeof import('@xterm/xterm').Terminal} [Terminal]
 * @property {typeof import('@xterm/addon-fit')} FitAddon
 * @property {{ term: import('@xterm/xterm').Terminal, ws: WebSocket, fit: import('@xterm/addon-fit').FitAddon }} [gatehouseTerminal] for the e2e tests
 */

(function () {
  // FitAddon is taken as given, as Terminal's script loads just before it.
  const page = /** @type {Window & TerminalGlobals} */ (/** @type {unknown} */ (window));
  const el = document.getElementById('terminal');
  const status = /** @type {HTMLElement} */ (document.getElementById('terminal-status'));
  if (!el || !page.Terminal) return;
  const term = new page.Terminal({ convertEol: false });
  const fit = new page.FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(el);
  fit.fit();
  /** @type {number | undefined} */
  let pending;
  window.addEventListener('resize', function () {
    clearTimeout(pending);
    pending = setTimeout(function () {
      fit.fit();
    }, 50);
  });
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const url =
    proto +
    '//' +
    location.host +
    '/terminal/' +
    encodeURIComponent(String(el.dataset.node)) +
    '/ws?login=' +
    encodeURIComponent(String(el.dataset.login)) +
    '&cols=' +
    term.cols +
    '&rows=' +
    term.rows;
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  page.gatehouseTerminal = { term: term, ws: ws, fit: fit };
  ws.onopen = function () {
    status.textContent = 'Connected.';
    term.focus();
  };
  ws.onmessage = function (ev) {
    if (typeof ev.data === 'string') {
      const msg = JSON.parse(ev.data);
      if (msg.type === 'exit') status.textContent = 'Session ended' + (msg.code !== undefined ? ' (exit ' + msg.code + ').' : ' (' + msg.signal + ').');
      if (msg.type === 'ended') status.textContent = 'Session ended: ' + msg.reason + '.';
      return;
    }
    term.write(new Uint8Array(ev.data));
  };
  ws.onclose = function () {
    if (status.textContent === 'Connected.' || status.textContent === 'Connecting…') status.textContent = 'Disconnected.';
    el.dataset.closed = 'true';
  };
  term.onData(function (data) {
    if (ws.readyState === 1) ws.send(JSON.stringify({ type: 'input', data: data }));
  });
  term.onResize(function (size) {
    if (ws.readyState === 1) ws.send(JSON.stringify({ type: 'resize', cols: size.cols, rows: size.rows }));
  });
})();
