import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

type Listener = HttpServer | HttpsServer;

/** Listens on `port` and `host`; a listen error (EADDRINUSE, EACCES) rejects instead of being emitted. */
export function listen(server: Listener, port: number, host?: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/**
 * Stops accepting connections and resolves once every one is closed: idle keep-alive
 * connections close at once, requests in flight get `graceMs` to finish before theirs are cut
 * (0: cut at once).
 */
export function closeGracefully(server: Listener, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = graceMs > 0 ? setTimeout(() => server.closeAllConnections(), graceMs).unref() : undefined;
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    if (timer) server.closeIdleConnections();
    else server.closeAllConnections();
  });
}
