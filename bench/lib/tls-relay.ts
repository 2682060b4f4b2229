// The floor for bench/kube-proxy: a bare Node TLS relay with no auth, in its own process. It
// terminates TLS (the stand-in's certificate), passes the client's headers on (hop-by-hop ones
// dropped) over an undici Pool with TLS to the API-server stand-in, and streams the answer back:
// both TLS legs and both HTTP parsers, nothing of Gatehouse's. Env: BENCH_UPSTREAM, BENCH_TLS_DIR.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { Pool, type Dispatcher } from 'undici';
import { serveUntilStopped } from './children.js';
import { installLoopProbe } from './loop-probe.js';

const dir = process.env.BENCH_TLS_DIR!;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host']);
const pool = new Pool(process.env.BENCH_UPSTREAM!, { connections: 512, headersTimeout: 0, bodyTimeout: 0, connect: { ca: readFileSync(join(dir, 'ca.crt')) } });

const server = createServer({ cert: readFileSync(join(dir, 'server.crt')), key: readFileSync(join(dir, 'server.key')) }, (req, res) => {
  const headers: Record<string, string | string[]> = {};
  for (const name in req.headers) if (!HOP_BY_HOP.has(name)) headers[name] = req.headers[name]!;
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart: () => undefined,
    onResponseStart(_c, status, responseHeaders) {
      const out: Record<string, string | string[]> = {};
      for (const name in responseHeaders) if (!HOP_BY_HOP.has(name)) out[name] = responseHeaders[name]!;
      res.writeHead(status, out);
      if (responseHeaders['content-length'] === undefined) res.flushHeaders();
    },
    onResponseData: (_c, chunk) => void res.write(chunk),
    onResponseEnd: () => void res.end(),
    onResponseError: () => void res.destroy(),
  };
  pool.dispatch({ method: req.method ?? 'GET', path: req.url ?? '/', headers, body: null }, handler);
});
server.keepAliveTimeout = 65_000;
installLoopProbe();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  serveUntilStopped(
    { type: 'ready', url: `https://127.0.0.1:${port}` },
    () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
        void pool.destroy();
      }),
  );
});
