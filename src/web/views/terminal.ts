import { html } from './html.js';
import { layout } from './layout.js';

export function terminalPage(options: { demo: boolean; user: string; node: string; login: string }): string {
  return layout({
    title: `${options.login}@${options.node}`,
    demo: options.demo,
    user: options.user,
    head: html`<link rel="stylesheet" href="/static/xterm.css">`,
    body: html`<section class="card">
  <h1>${options.login}@${options.node}</h1>
  <div id="terminal" data-node="${options.node}" data-login="${options.login}"></div>
  <p id="terminal-status">Connecting…</p>
</section>
<script src="/static/xterm.js"></script>
<script src="/static/xterm-addon-fit.js"></script>
<script src="/static/web-terminal.js"></script>`,
  });
}

/**
 * Opens xterm.js on #terminal, sized to fit it (and refitted when the window changes), and relays
 * it over the page's WebSocket (CSP allows no inline script).
 */
export const WEB_TERMINAL_JS = `(function () {
  var el = document.getElementById('terminal');
  var status = document.getElementById('terminal-status');
  if (!el || !window.Terminal) return;
  var term = new window.Terminal({ convertEol: false });
  var fit = new window.FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(el);
  fit.fit();
  var pending;
  window.addEventListener('resize', function () { clearTimeout(pending); pending = setTimeout(function () { fit.fit(); }, 50); });
  var proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  var url = proto + '//' + location.host + '/terminal/' + encodeURIComponent(el.dataset.node) + '/ws?login=' + encodeURIComponent(el.dataset.login) + '&cols=' + term.cols + '&rows=' + term.rows;
  var ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  window.gatehouseTerminal = { term: term, ws: ws, fit: fit };
  ws.onopen = function () { status.textContent = 'Connected.'; term.focus(); };
  ws.onmessage = function (ev) {
    if (typeof ev.data === 'string') {
      var msg = JSON.parse(ev.data);
      if (msg.type === 'exit') status.textContent = 'Session ended' + (msg.code !== undefined ? ' (exit ' + msg.code + ').' : ' (' + msg.signal + ').');
      if (msg.type === 'ended') status.textContent = 'Session ended: ' + msg.reason + '.';
      return;
    }
    term.write(new Uint8Array(ev.data));
  };
  ws.onclose = function () { if (status.textContent === 'Connected.' || status.textContent === 'Connecting…') status.textContent = 'Disconnected.'; el.dataset.closed = 'true'; };
  term.onData(function (data) { if (ws.readyState === 1) ws.send(JSON.stringify({ type: 'input', data: data })); });
  term.onResize(function (size) { if (ws.readyState === 1) ws.send(JSON.stringify({ type: 'resize', cols: size.cols, rows: size.rows })); });
})();
`;
