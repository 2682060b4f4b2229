/** Served at /static/gatehouse.css; kept in code so the build needs no asset copy step. */
export const STYLES = `
:root { --fg:#1d2330; --muted:#667085; --bg:#f4f6fa; --card:#fff; --accent:#2f5bea; --warn:#b42318; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui, -apple-system, Segoe UI, sans-serif; color:var(--fg); background:var(--bg); }
.demo-banner { background:var(--warn); color:#fff; text-align:center; font-weight:700; padding:.4rem; letter-spacing:.05em; text-transform:uppercase; }
.top { display:flex; justify-content:space-between; align-items:center; padding:.8rem 1.5rem; background:#111827; color:#fff; }
.top { gap:1rem; }
.top .top-nav { margin-right:auto; }
.notice { background:#e3f4e8; color:#146c2e; border-radius:6px; padding:.5rem .8rem; }
form.review, form.drop { display:flex; flex-wrap:wrap; gap:.4rem; align-items:center; }
button.deny, button.drop { background:var(--warn); }
.top a.brand { color:#fff; font-weight:700; text-decoration:none; font-size:1.1rem; }
.top .who { margin-right:.5rem; }
main { max-width:60rem; margin:2rem auto; padding:0 1rem; }
h1 { font-size:1.6rem; line-height:1.25; margin:0 0 1rem; }
h2 { font-size:1.2rem; line-height:1.3; margin:0 0 .5rem; }
a { color:var(--accent); }
code, pre { font-family:ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:.9em; }
.card { background:var(--card); border-radius:10px; padding:1.5rem 2rem; margin-bottom:1.5rem; box-shadow:0 1px 3px rgba(0,0,0,.08); }
.card > :last-child { margin-bottom:0; }
.card.narrow { max-width:28rem; margin-left:auto; margin-right:auto; }
.connectors { list-style:none; padding:0; }
.connectors li { margin:.5rem 0; }
a.button, button { display:inline-block; background:var(--accent); color:#fff; border:0; border-radius:6px; padding:.55rem 1rem; text-decoration:none; font:inherit; cursor:pointer; }
a.button:hover, button:hover { background:#2449c4; }
a.button:focus-visible, button:focus-visible { outline:2px solid #93b4ff; outline-offset:2px; }
.connectors a.button { display:block; text-align:center; }
dl.facts { display:grid; grid-template-columns:max-content 1fr; gap:.4rem 1.5rem; }
dt { color:var(--muted); }
dd { margin:0; overflow-wrap:anywhere; }
#terminal { height:70vh; min-height:12rem; }
a.tag { text-decoration:none; }
.tag { display:inline-block; background:#e8edfd; color:#1e3a8a; border-radius:4px; padding:0 .45rem; margin-right:.2rem; }
pre { background:#0f172a; color:#e2e8f0; padding:1rem; border-radius:8px; overflow:auto; }
.muted { color:var(--muted); }
.error h1 { color:var(--warn); }
/* Audit log page */
form.filters { display:grid; grid-template-columns:repeat(auto-fill, minmax(12rem, 1fr)); gap:.6rem 1rem; align-items:end; }
form.filters label { display:flex; flex-direction:column; font-size:.85rem; color:var(--muted); gap:.2rem; }
form.filters input, form.filters select { font:inherit; color:var(--fg); padding:.35rem .5rem; border:1px solid #cfd5e1; border-radius:6px; background:#fff; }
form.filters .actions { display:flex; gap:.8rem; align-items:center; }
table.events { width:100%; border-collapse:collapse; font-size:.9rem; }
table.events th, table.events td { text-align:left; padding:.4rem .5rem; border-bottom:1px solid #e6e9f0; vertical-align:top; }
table.events th { color:var(--muted); font-weight:600; }
table.events td.links { white-space:nowrap; }
.outcome { border-radius:4px; padding:0 .4rem; font-size:.85em; }
.outcome.success { background:#e3f4e8; color:#146c2e; }
.outcome.failure { background:#fde8e7; color:var(--warn); }
.error-text { color:var(--warn); font-weight:600; }
nav.pager { display:flex; gap:1rem; align-items:center; margin:1rem 0; }
/* "My access" catalogue */
h3 { font-size:1rem; margin:1rem 0 .4rem; }
ul.catalogue, ul.logins { list-style:none; padding:0; margin:.5rem 0; }
ul.catalogue li, ul.logins li { display:flex; flex-wrap:wrap; gap:.4rem .8rem; align-items:center; padding:.45rem 0; border-bottom:1px solid #e6e9f0; }
ul.catalogue li:last-child, ul.logins li:last-child { border-bottom:0; }
ul.catalogue .item { flex:1 1 14rem; }
ul.logins li { display:grid; grid-template-columns:13rem 1fr; }
ul.logins .commands { display:flex; flex-wrap:wrap; gap:.4rem; }
a.tag.terminal { justify-self:start; padding:.15rem .6rem; font-weight:600; overflow-wrap:anywhere; }
a.tag.terminal::before { content:"▸ "; }
.tag.label { background:#eef1f6; color:var(--muted); font-size:.8em; font-weight:400; }
.command { display:inline-flex; align-items:center; gap:.3rem; background:#0f172a; color:#e2e8f0; border-radius:6px; padding:.15rem .2rem .15rem .6rem; }
.command code { white-space:nowrap; overflow-x:auto; }
button.copy { background:#334155; padding:.1rem .5rem; font-size:.8rem; border-radius:4px; }
button.copy:hover { background:#475569; }
p.setup .command { margin:.2rem 0; }
details > summary { cursor:pointer; }
details > summary h2 { display:inline; }
@media (max-width:36rem) {
  main { margin:1rem auto; }
  .card { padding:1.25rem; }
  dl.facts { grid-template-columns:1fr; gap:0; }
  dl.facts dd { margin-bottom:.6rem; }
  ul.logins li { grid-template-columns:1fr; }
}
dl.grants { display:grid; grid-template-columns:max-content 1fr; gap:.2rem 1rem; margin:.3rem 0; }
dl.grants dt { color:var(--muted); }
dl.grants dd { margin:0; }
`;
