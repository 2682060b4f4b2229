// Baseline: a bare Express 5 app with one JSON route and nothing else (no helmet, no session, no
// logging). The body has the same shape and about the same size as the gateway's whoami answer.
import type { AddressInfo } from 'node:net';
import express from 'express';
import { serveUntilStopped } from './children.js';

const BODY = {
  username: 'alice',
  email: 'alice@demo.gatehouse.test',
  groups: ['admins', 'devs'],
  connector: 'demo',
  subject: 'alice',
  session: { created_at: '2026-01-01T00:00:00.000Z', expires_at: '2026-01-01T12:00:00.000Z' },
};

const app = express();
app.get('/api/v1/whoami', (_req, res) => {
  res.json(BODY);
});
// A JSON POST answered with a small JSON object: the shape of a TokenReview exchange.
app.post('/json', express.json(), (req, res) => {
  res.status(201).json({ kind: req.body?.kind, status: { authenticated: true, user: BODY } });
});

const server = app.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  serveUntilStopped(
    { type: 'ready', url: `http://127.0.0.1:${port}` },
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
});
