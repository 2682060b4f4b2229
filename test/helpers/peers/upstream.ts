import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

/** One request as the upstream saw it. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface Upstream {
  url: string;
  port: number;
  /** Every request received, in order. */
  seen: SeenRequest[];
  /** Bytes of `/download` bodies handed to the socket so far (all downloads). */
  downloadedBytes(): number;
  /** Resolves once this many `/download` responses have ended or been cut off. */
  downloadsClosed(count: number): Promise<void>;
  close(): Promise<void>;
}

/** Deterministic bytes for download tests: chunk i of the stream, for any size. */
export function patternChunk(index: number, size: number): Buffer {
  const chunk = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 4) chunk.writeUInt32LE((index * 2654435761 + i * 40503) >>> 0, i);
  return chunk;
}
export const PATTERN_CHUNK = 64 * 1024;

/**
 * A real upstream app on 127.0.0.1 (node:http, or node:https with `tls`, plus a ws WebSocket echo):
 * - any path: JSON `{ method, url, headers }` (what arrived);
 * - `POST /upload`: streams the body into SHA-256, answers `{ bytes, sha256 }`;
 * - `GET /download?bytes=N`: streams N pattern bytes (`x-sha256` trailer-free: compute from patternChunk);
 * - `GET /redirect`: 302 to an absolute URL on the upstream's own host;
 * - `GET /hang`: never answers;
 * - `GET /set-cookie`: sets an app cookie and tries to set `gatehouse_session`;
 * - WebSocket on any path: echoes every message.
 */
export async function startUpstream(options: { tls?: { cert: string; key: string } } = {}): Promise<Upstream> {
  const seen: SeenRequest[] = [];
  let closedDownloads = 0;
  let downloadedBytes = 0;
  const downloadWaiters: { count: number; resolve: () => void }[] = [];
  const handler: RequestListener = (req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    const url = new URL(req.url!, 'http://upstream');
    if (url.pathname.endsWith('/upload') && req.method === 'POST') {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        hash.update(chunk);
      });
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') }));
      });
      return;
    }
    if (url.pathname.endsWith('/download')) {
      const total = Number(url.searchParams.get('bytes') ?? 0);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
      res.once('close', () => {
        closedDownloads++;
        for (const w of downloadWaiters.filter((w) => closedDownloads >= w.count)) w.resolve();
      });
      let sent = 0;
      let index = 0;
      const pump = () => {
        while (sent < total) {
          const size = Math.min(PATTERN_CHUNK, total - sent);
          const chunk = patternChunk(index++, PATTERN_CHUNK).subarray(0, size);
          sent += size;
          downloadedBytes += size;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    if (url.pathname.endsWith('/hang')) return; // never answers (timeout tests)
    if (url.pathname.endsWith('/redirect')) {
      const { port } = server.address() as AddressInfo;
      res.writeHead(302, { location: `http://127.0.0.1:${port}${url.pathname.replace(/redirect$/, 'target')}?from=redirect` });
      return void res.end();
    }
    if (url.pathname.endsWith('/set-cookie')) {
      res.setHeader('set-cookie', ['app_pref=dark; Path=/', 'gatehouse_session=planted; Path=/']);
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers }));
  };
  const server: Server = options.tls ? createHttpsServer(options.tls, handler) : createServer(handler);
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket, req) => {
    seen.push({ method: 'WEBSOCKET', url: req.url!, headers: req.headers });
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    seen,
    downloadedBytes: () => downloadedBytes,
    downloadsClosed: (count) => (closedDownloads >= count ? Promise.resolve() : new Promise<void>((resolve) => downloadWaiters.push({ count, resolve }))),
    async close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
