import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An app upstream whose page attacks the gateway from the app's own origin (a compromised or
 * malicious app behind Gatehouse). `GET /` serves the page; `/hostile.js` is its script, which
 * reads `gw`, `user_code`, `login` and `public_key` from the page's query, runs every attack once
 * and publishes what it could observe as `window.__hostile` (and `window.__hostileDone = true`).
 * `GET /api/ping` is the app's own API (what a real app page would call): it answers the
 * identity headers it received. Every request is recorded in `seen`.
 */
export interface HostileUpstream {
  url: string;
  seen: { method: string; url: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

/** What the page reports (JSON-safe). */
export interface HostileReport {
  own?: { status?: number; body?: { user?: string; cookie?: string | null; authorization?: string | null }; error?: string };
  /** (a) credentialed CORS reads of gateway pages: each must throw (TypeError), never give a body. */
  reads: Record<string, { ok?: boolean; status?: number; text?: string; error?: string }>;
  /** (a) no-cors reads: opaque responses, status 0 and no body. */
  opaque: Record<string, { type?: string; status?: number; length?: number; error?: string }>;
  /** (a) the gateway's /device page in an iframe: its document must be unreadable. */
  frame?: { read?: string | null; error?: string };
  /** (b) cross-origin device approvals that were sent (the page cannot see their answers). */
  approvals: string[];
  /** (c) the web terminal's WebSocket from the app's origin. */
  ws?: { events: string[]; closeCode?: number };
  /** (d) SSH certificate requests: a credentialed CORS fetch must throw; the others are blind. */
  certs: Record<string, { status?: number; type?: string; text?: string; error?: string }>;
}

/** A fresh OpenSSH ed25519 public key line (the private key is thrown away). */
export function sshPublicKeyLine(comment: string): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const field = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]).toString('base64')} ${comment}`;
}

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>Totally normal app</title></head>
<body><h1 id="title">Totally normal app</h1><script src="/hostile.js"></script></body></html>`;

// Runs in the browser. Plain ES2020, no build step.
const SCRIPT = String.raw`
(async () => {
  const q = new URLSearchParams(location.search);
  const gw = q.get('gw');
  const out = { reads: {}, opaque: {}, approvals: [], certs: {} };
  window.__hostile = out;
  const settle = (ms) => new Promise((r) => setTimeout(r, ms));
  const loaded = (el) => new Promise((r) => { el.addEventListener('load', () => r('load')); setTimeout(() => r('timeout'), 5000); });

  // The app's own request: proves the page runs with a working app session.
  try {
    const r = await fetch('/api/ping', { credentials: 'same-origin' });
    out.own = { status: r.status, body: await r.json() };
  } catch (e) { out.own = { error: String(e) }; }

  // (a) Read gateway pages with the person's cookie, to scrape a CSRF token or identity.
  for (const path of ['/', '/device', '/api/v1/whoami']) {
    try {
      const r = await fetch(gw + path, { credentials: 'include' });
      out.reads[path] = { ok: r.ok, status: r.status, text: (await r.text()).slice(0, 2000) };
    } catch (e) { out.reads[path] = { error: e.name }; }
    try {
      const r = await fetch(gw + path, { credentials: 'include', mode: 'no-cors' });
      out.opaque[path] = { type: r.type, status: r.status, length: (await r.text()).length };
    } catch (e) { out.opaque[path] = { error: e.name }; }
  }
  {
    const frame = document.createElement('iframe');
    frame.src = gw + '/device';
    document.body.appendChild(frame);
    await loaded(frame);
    try { out.frame = { read: frame.contentDocument ? frame.contentDocument.documentElement.outerHTML : null }; }
    catch (e) { out.frame = { error: e.name }; }
  }

  // (b) Approve the attacker's device code as the person: forms into a hidden frame, and a blind fetch.
  const userCode = q.get('user_code');
  const post = async (label, fields, enctype) => {
    const sink = document.createElement('iframe');
    sink.name = 'sink-' + out.approvals.length;
    document.body.appendChild(sink);
    const form = document.createElement('form');
    form.method = 'post';
    form.action = gw + '/device/decide';
    form.target = sink.name;
    if (enctype) form.enctype = enctype;
    for (const [name, value] of Object.entries(fields)) {
      const input = document.createElement('input');
      input.type = 'hidden';
      input.name = name;
      input.value = value;
      form.appendChild(input);
    }
    document.body.appendChild(form);
    const done = loaded(sink);
    form.submit();
    await done;
    out.approvals.push(label);
  };
  await post('form-no-token', { user_code: userCode, decision: 'approve' });
  await post('form-forged-token', { user_code: userCode, decision: 'approve', csrf: 'A'.repeat(43) });
  try {
    await fetch(gw + '/device/decide', { method: 'POST', mode: 'no-cors', credentials: 'include', body: new URLSearchParams({ user_code: userCode, decision: 'approve', csrf: 'A'.repeat(43) }) });
  } catch (e) { /* blind either way */ }
  out.approvals.push('fetch-no-cors');

  // (c) The web terminal's WebSocket (cookies go with a same-site handshake; Origin is the app's).
  out.ws = await new Promise((resolve) => {
    const events = [];
    let ws;
    try { ws = new WebSocket(gw.replace(/^http/, 'ws') + '/terminal/node1/ws?login=' + encodeURIComponent(q.get('login'))); }
    catch (e) { return resolve({ events: ['throw:' + e.name] }); }
    ws.onopen = () => { events.push('open'); ws.close(); };
    ws.onerror = () => events.push('error');
    ws.onclose = (ev) => { events.push('close'); resolve({ events, closeCode: ev.code }); };
    setTimeout(() => resolve({ events: events.concat('timeout') }), 8000);
  });

  // (d) Get an SSH certificate for the attacker's key as the person.
  const body = JSON.stringify({ public_key: q.get('public_key') });
  try {
    const r = await fetch(gw + '/api/v1/ssh/certs', { method: 'POST', credentials: 'include', headers: { 'content-type': 'text/plain' }, body });
    out.certs.cors = { status: r.status, text: await r.text() };
  } catch (e) { out.certs.cors = { error: e.name }; }
  try {
    const r = await fetch(gw + '/api/v1/ssh/certs', { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body });
    out.certs.opaque = { type: r.type, status: r.status, text: await r.text() };
  } catch (e) { out.certs.opaque = { error: e.name }; }
  {
    // The classic text/plain form that smuggles a JSON body: name '{"public_key":"…","x":"' value '"}'.
    const sink = document.createElement('iframe');
    sink.name = 'cert-sink';
    document.body.appendChild(sink);
    const form = document.createElement('form');
    form.method = 'post';
    form.enctype = 'text/plain';
    form.action = gw + '/api/v1/ssh/certs';
    form.target = sink.name;
    const input = document.createElement('input');
    input.type = 'hidden';
    input.name = body.slice(0, -1) + ',"x":"';
    input.value = '"}';
    form.appendChild(input);
    document.body.appendChild(form);
    const done = loaded(sink);
    form.submit();
    await done;
    let read;
    try { read = sink.contentDocument ? sink.contentDocument.documentElement.outerHTML : null; } catch (e) { read = 'error:' + e.name; }
    out.certs.form = { text: read };
  }
  await settle(50);
  window.__hostileDone = true;
})();
`;

export async function startHostileUpstream(): Promise<HostileUpstream> {
  const seen: HostileUpstream['seen'] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    const path = new URL(req.url!, 'http://upstream').pathname;
    if (path === '/') return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    if (path === '/hostile.js') return void res.writeHead(200, { 'content-type': 'application/javascript' }).end(SCRIPT);
    if (path === '/api/ping') {
      const h = req.headers;
      return void res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ user: h['x-forwarded-user'], cookie: h.cookie ?? null, authorization: h.authorization ?? null }));
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
