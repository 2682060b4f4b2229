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
