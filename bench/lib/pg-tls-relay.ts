// The floor for bench/db: a bare Node relay for PostgreSQL with TLS on the client leg, in its own
// process, and nothing of Gatehouse's: no certificate check, no authorization, no framing, no
// audit. It answers the SSLRequest with 'S', terminates TLS (BENCH_TLS_DIR's server certificate)
// and pipes the stream to the server over plain TCP, as the gateway's upstream leg on loopback
// is. Env: BENCH_PG_HOST_PORT (host:port), BENCH_TLS_DIR.
import { readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { createSecureContext, TLSSocket } from 'node:tls';
import { serveUntilStopped } from './children.js';
import { installLoopProbe } from './loop-probe.js';

const dir = process.env.BENCH_TLS_DIR!;
const [host, port] = process.env.BENCH_PG_HOST_PORT!.split(':');
const secureContext = createSecureContext({ cert: readFileSync(join(dir, 'server.crt')), key: readFileSync(join(dir, 'server.key')) });
const sockets = new Set<Socket>();

const server = createServer((socket) => {
  sockets.add(socket);
  socket.once('close', () => sockets.delete(socket));
  socket.on('error', () => socket.destroy());
  socket.once('data', (first) => {
    // An SSLRequest is 8 bytes; libpq sends nothing else before the answer.
    if (first.length !== 8 || first.readInt32BE(4) !== 80877103) return void socket.destroy();
    socket.write('S');
    const tls = new TLSSocket(socket, { isServer: true, secureContext });
    const upstream = connect({ host, port: Number(port), noDelay: true });
    tls.on('error', () => upstream.destroy());
    upstream.on('error', () => tls.destroy());
    tls.pipe(upstream).pipe(tls);
  });
});
server.on('connection', (s) => s.setNoDelay(true));
installLoopProbe();
server.listen(0, '127.0.0.1', () => {
  const { port: relayPort } = server.address() as { port: number };
  serveUntilStopped(
    { type: 'ready', url: `postgres://127.0.0.1:${relayPort}` },
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
});
