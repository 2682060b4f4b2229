import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Pool } from 'undici';
import { relay } from '../../../src/proxy/relay.js';

/**
 * An upstream that keeps its first connection alive after one answer, then drops it without a
 * word when the next request arrives on it: the race between a keep-alive timeout upstream and a
 * reuse here. Every later connection answers normally.
 */
function startStaleUpstream(): Promise<{ port: number; seen: string[]; server: TcpServer }> {
  const seen: string[] = [];
  let connections = 0;
  const server = createTcpServer((socket: Socket) => {
    const first = ++connections === 1;
    let answered = 0;
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      let end: number;
      while ((end = buffer.indexOf('\r\n\r\n')) !== -1) {
        const head = buffer.slice(0, end);
        buffer = buffer.slice(end + 4);
        seen.push(head.split(' ').slice(0, 2).join(' '));
        if (first && answered === 1) return void socket.destroy();
        answered++;
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nkeep-alive: timeout=60\r\n\r\nok');
      }
    });
    socket.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as AddressInfo).port, seen, server })));
}

describe('relay: a kept-alive upstream connection closed just as it is reused', () => {
  let upstream: Awaited<ReturnType<typeof startStaleUpstream>>;
  let gateway: Server;
  let url: string;
  let failures: string[];
  let pool: Pool;

  before(async () => {
    upstream = await startStaleUpstream();
    pool = new Pool(`http://127.0.0.1:${upstream.port}`, { connections: 1 });
    failures = [];
    gateway = createServer((req, res) =>
      relay(req, res, {
        dispatcher: pool,
        path: req.url!,
        headers: {},
        responseHeaders: () => ({}),
        onFailure: (err) => {
          failures.push(err.code ?? err.message);
          res.writeHead(502).end('bad gateway');
        },
      }),
    );
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
  });
  after(async () => {
    gateway.closeAllConnections();
    await new Promise((resolve) => gateway.close(resolve));
    await pool.destroy();
    upstream.server.close();
  });

  test('a GET is retried once on a fresh connection and succeeds', async () => {
    upstream.seen.length = 0;
    assert.equal((await fetch(`${url}/one`)).status, 200);
    const second = await fetch(`${url}/two`);
    assert.equal(second.status, 200);
    assert.equal(await second.text(), 'ok');
    assert.deepEqual(upstream.seen, ['GET /one', 'GET /two', 'GET /two']);
    assert.deepEqual(failures, []);
  });

  test('a POST is not retried, even without a body: the caller answers', async () => {
    // A new upstream (and pool), so that its first connection is the trap again.
    upstream.server.close();
    await pool.destroy();
    upstream = await startStaleUpstream();
    pool = new Pool(`http://127.0.0.1:${upstream.port}`, { connections: 1 });
    assert.equal((await fetch(`${url}/one`, { method: 'POST' })).status, 200);
    const second = await fetch(`${url}/two`, { method: 'POST' });
    assert.equal(second.status, 502);
    assert.deepEqual(upstream.seen, ['POST /one', 'POST /two']);
    assert.equal(failures.length, 1);
    assert.match(failures[0], /UND_ERR_SOCKET|ECONNRESET/);
  });
});
