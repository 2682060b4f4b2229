import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import type { TestTls } from './tls.js';

/** What the stand-in was told about who is acting, per request. */
export interface SeenRequest {
  method: string;
  url: string;
  /** Every Impersonate-* header as received (lowercase names, repeated headers as arrays). */
  impersonate: Record<string, string[]>;
  /** Headers a front proxy could abuse, which must never arrive from a client. */
  xRemote: Record<string, string[]>;
  user?: string;
  groups: string[];
  extra: Record<string, string[]>;
}

/**
 * An HTTPS stand-in for kube-apiserver behind the impersonating proxy (no real one can run
 * here). Like kube-apiserver it only serves callers presenting its credential — Gatehouse's
 * service-account token — and takes the identity from the Impersonate-* headers, which it
 * records. It serves discovery, a pod list and get, a watch and a followed log whose second
 * event or line waits for the test (`releaseWatch`), and `exec` and `attach` over the WebSocket
 * v5.channel.k8s.io protocol.
 */
export async function startKubeProxyStandin(options: { tls: TestTls; token: string }) {
  const seen: SeenRequest[] = [];
  let releaseWatch: () => void = () => undefined;
  let watchReleased = new Promise<void>((resolve) => (releaseWatch = resolve));
  const expected = Buffer.from(`Bearer ${options.token}`);
  const authorised = (req: IncomingMessage) => {
    const given = Buffer.from(req.headers.authorization ?? '');
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  const record = (req: IncomingMessage): SeenRequest => {
    const impersonate: Record<string, string[]> = {};
    const xRemote: Record<string, string[]> = {};
    for (const [name, values] of Object.entries(req.headersDistinct)) {
      if (name.startsWith('impersonate-')) impersonate[name] = values!;
      if (name.startsWith('x-remote-')) xRemote[name] = values!;
    }
    const extra: Record<string, string[]> = {};
    for (const [name, values] of Object.entries(impersonate)) {
      if (name.startsWith('impersonate-extra-')) extra[decodeURIComponent(name.slice('impersonate-extra-'.length))] = values;
    }
    const entry = {
      method: req.method ?? '',
      url: req.url ?? '',
      impersonate,
      xRemote,
      user: impersonate['impersonate-user']?.[0],
      groups: impersonate['impersonate-group'] ?? [],
      extra,
    };
    seen.push(entry);
    return entry;
  };
  const pod = (name: string, namespace: string, who?: SeenRequest) => ({
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      name,
      namespace,
      uid: name,
      resourceVersion: '1',
      creationTimestamp: new Date().toISOString(),
      annotations: who ? { user: who.user ?? '', groups: who.groups.join(',') } : {},
    },
    spec: { containers: [{ name: 'c', image: 'busybox' }] },
    status: { phase: 'Running' },
  });
  const status = (code: number, reason: string, message: string) => ({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  });

  const server: Server = createServer({ cert: options.tls.cert, key: options.tls.key }, (req, res) => {
    const json = (code: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (!authorised(req)) return json(401, status(401, 'Unauthorized', 'Unauthorized'));
    const who = record(req);
    if (!who.user) return json(403, status(403, 'Forbidden', 'the proxy must impersonate'));
    const url = new URL(req.url ?? '/', 'https://standin');
    const path = url.pathname;
    if (path === '/api')
      return json(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] });
    if (path === '/apis') return json(200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
    if (path === '/api/v1') {
      return json(200, {
        kind: 'APIResourceList',
        groupVersion: 'v1',
        resources: [
          { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list', 'watch'], shortNames: ['po'] },
          { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
          { name: 'pods/attach', singularName: '', namespaced: true, kind: 'PodAttachOptions', verbs: ['create', 'get'] },
          { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
        ],
      });
    }
    if (path === '/version') return json(200, { major: '1', minor: '32', gitVersion: 'v1.32.0-standin' });
    const list = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(path);
    if (list && url.searchParams.get('watch') === 'true') {
      // A watch: one event now, the next only when the test has seen the first (no buffering allowed).
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.write(`${JSON.stringify({ type: 'ADDED', object: pod('first-event', list[1], who) })}\n`);
      void watchReleased.then(() => {
        res.write(`${JSON.stringify({ type: 'ADDED', object: pod('second-event', list[1], who) })}\n`);
        res.end();
      });
      return;
    }
    if (list) return json(200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [pod('whoami', list[1], who)] });
    if (/^\/api\/v1\/namespaces\/[^/]+\/pods\/[^/]+\/log$/.test(path) && url.searchParams.get('follow') === 'true') {
      // kubectl logs -f: a line now, the next only when the test has seen the first.
      res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
      res.write(`first line for ${who.user}\n`);
      void watchReleased.then(() => res.end('second line\n'));
      return;
    }
    const one = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(path);
    if (one) return json(200, pod(one[2], one[1], who));
    json(404, status(404, 'NotFound', `${path} not found`));
  });

  const wss = new WebSocketServer({ noServer: true, handleProtocols: (protocols) => (protocols.has('v5.channel.k8s.io') ? 'v5.channel.k8s.io' : false) });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const refuse = (code: number, text: string) => socket.end(`HTTP/1.1 ${code} ${text}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
    if (!authorised(req)) return refuse(401, 'Unauthorized');
    const who = record(req);
    const url = new URL(req.url ?? '/', 'https://standin');
    const target = /^\/api\/v1\/namespaces\/[^/]+\/pods\/([^/]+)\/(exec|attach)$/.exec(url.pathname);
    if (!target || String(req.headers.upgrade).toLowerCase() !== 'websocket') return refuse(400, 'Bad Request');
    wss.handleUpgrade(req, socket, head, (ws) => {
      const output =
        target[2] === 'exec' ? `ran ${url.searchParams.getAll('command').join(' ')}` : `attached to ${target[1]}/${url.searchParams.get('container')}`;
      ws.send(Buffer.concat([Buffer.from([1]), Buffer.from(`${output} as ${who.user}\n`)]));
      // `exec -- hold`: a session that stays open until someone ends it (the client or the gateway).
      if (target[2] === 'exec' && url.searchParams.get('command') === 'hold') return;
      ws.send(Buffer.concat([Buffer.from([2]), Buffer.from('a line on stderr\n')]));
      ws.send(Buffer.concat([Buffer.from([3]), Buffer.from(JSON.stringify({ metadata: {}, status: 'Success' }))]));
      ws.close(1000);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    releaseWatch: () => releaseWatch(),
    resetWatch: () => {
      watchReleased = new Promise<void>((resolve) => (releaseWatch = resolve));
    },
    close: () =>
      new Promise<void>((resolve) => {
        releaseWatch();
        for (const client of wss.clients) client.terminate();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
