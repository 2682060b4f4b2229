import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { describe, test } from 'node:test';
import { closeGracefully, listen } from '../../../src/core/http-server.js';

/** A GET whose body arrives when `release` is called; resolves with how the exchange ended. */
function get(port: number, path = '/'): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(`status ${res.statusCode}`));
      res.on('error', () => resolve('cut'));
    });
    req.on('error', () => resolve('cut'));
    req.end();
  });
}

describe('listen', () => {
  test('resolves with the bound address', async () => {
    const server = createServer((_req, res) => res.end('ok'));
    const address = await listen(server, 0, '127.0.0.1');
    assert.equal(address.address, '127.0.0.1');
    assert.ok(address.port > 0);
    assert.equal(await get(address.port), 'status 200');
    await closeGracefully(server, 0);
  });

  test('rejects with the listen error instead of emitting it', async () => {
    const first = createServer();
    const { port } = await listen(first, 0, '127.0.0.1');
    const second = createServer();
    await assert.rejects(listen(second, port, '127.0.0.1'), { code: 'EADDRINUSE' });
    assert.equal(second.listenerCount('error'), 0);
    await closeGracefully(first, 0);
  });
});

describe('closeGracefully', () => {
  const slowServer = async (): Promise<{ server: Server; port: number; arrived: Promise<void> }> => {
    let arrived!: () => void;
    const seen = new Promise<void>((r) => (arrived = r));
    // Answers only after 5 s: a request in flight at close.
    const server = createServer((_req, res) => {
      arrived();
      setTimeout(() => res.end('late'), 5_000).unref();
    });
    const { port } = await listen(server, 0, '127.0.0.1');
    return { server, port, arrived: seen };
  };

  test('gives requests in flight the grace period, then cuts them', async () => {
    const { server, port, arrived } = await slowServer();
    const exchange = get(port);
    await arrived;
    const started = performance.now();
    await closeGracefully(server, 200);
    const waited = performance.now() - started;
    assert.equal(await exchange, 'cut');
    assert.ok(waited >= 150 && waited < 4_000, `closed after ${waited} ms`);
  });

  test('with no grace, cuts them at once', async () => {
    const { server, port, arrived } = await slowServer();
    const exchange = get(port);
    await arrived;
    const started = performance.now();
    await closeGracefully(server, 0);
    assert.ok(performance.now() - started < 150);
    assert.equal(await exchange, 'cut');
  });

  test('lets a request that finishes within the grace period complete', async () => {
    let arrived!: () => void;
    const seen = new Promise<void>((r) => (arrived = r));
    const server = createServer((_req, res) => {
      arrived();
      setTimeout(() => res.end('done'), 50);
    });
    const { port } = await listen(server, 0, '127.0.0.1');
    const exchange = get(port);
    await seen;
    await closeGracefully(server, 5_000);
    assert.equal(await exchange, 'status 200');
  });
});
