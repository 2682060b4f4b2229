// The upstream app for bench/http-proxy, in its own process: 12 bytes at any path, 64 KB at any
// path ending in /big. Kept-alive connections (65 s), nothing else.
import http from 'node:http';
import { serveUntilStopped } from './children.js';

const small = Buffer.from('hello world\n');
const big = Buffer.alloc(64 * 1024, 120);
const server = http.createServer((req, res) => {
  const body = req.url!.endsWith('/big') ? big : small;
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
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
