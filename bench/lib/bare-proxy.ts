// The floors for bench/http-proxy: proxies with no checks at all, each in its own process.
//   BENCH_PROXY=node-http  node:http server + http.Agent (keep-alive), piping both ways: a proxy
//                          built on node:http alone
//   BENCH_PROXY=undici     node:http server + an undici Pool (dispatch, hop-by-hop headers
//                          dropped): Node's floor for what Gatehouse's app proxy is built on
// Env: BENCH_UPSTREAM (port).
import http from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import { serveUntilStopped } from './children.js';
import { installLoopProbe } from './loop-probe.js';

const upstream = Number(process.env.BENCH_UPSTREAM);
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host']);

function nodeHttp(): http.RequestListener {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  return (req, res) => {
    const up = http.request({ agent, host: '127.0.0.1', port: upstream, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode!, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  };
}

function undici(): http.RequestListener {
  const pool = new Pool(`http://127.0.0.1:${upstream}`, { connections: 512, pipelining: 1 });
  return (req, res) => {
    const headers: Record<string, string | string[]> = {};
    for (const name in req.headers) if (!HOP_BY_HOP.has(name)) headers[name] = req.headers[name]!;
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart: () => undefined,
      onResponseStart(_c, status, responseHeaders) {
        const out: Record<string, string | string[]> = {};
        for (const name in responseHeaders) if (!HOP_BY_HOP.has(name)) out[name] = responseHeaders[name]!;
        res.writeHead(status, out);
      },
      onResponseData: (_c, chunk) => void res.write(chunk),
      onResponseEnd: () => void res.end(),
      onResponseError: () => void res.destroy(),
    };
    pool.dispatch({ method: req.method ?? 'GET', path: req.url ?? '/', headers, body: null }, handler);
  };
}

const server = http.createServer(process.env.BENCH_PROXY === 'undici' ? undici() : nodeHttp());
server.keepAliveTimeout = 65_000;
installLoopProbe();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  serveUntilStopped(
    { type: 'ready', url: `http://127.0.0.1:${port}` },
    () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  );
});
