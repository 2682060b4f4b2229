// The API-server stand-in for bench/kube-proxy, in its own process: HTTPS (a throwaway CA from
// openssl), Gatehouse's bearer required, and three endpoints: GET one pod, LIST N pods, and a
// watch that streams M events as fast as the connection takes them. Env: BENCH_TOKEN, BENCH_TLS_DIR.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { serveUntilStopped } from './children.js';

const LIST_SIZE = 100;
const expected = `Bearer ${process.env.BENCH_TOKEN}`;
const dir = process.env.BENCH_TLS_DIR!;
const pod = (name: string) => ({
  kind: 'Pod',
  apiVersion: 'v1',
  metadata: {
    name,
    namespace: 'default',
    uid: name,
    resourceVersion: '1',
    labels: { app: 'bench', tier: 'web' },
    annotations: { 'example.com/owner': 'platform' },
  },
  spec: { containers: [{ name: 'app', image: 'registry.example.com/app:1.2.3', ports: [{ containerPort: 8080 }] }], nodeName: 'node-1' },
  status: { phase: 'Running', podIP: '10.0.0.1' },
});
const one = JSON.stringify(pod('web-0'));
const list = JSON.stringify({
  kind: 'PodList',
  apiVersion: 'v1',
  metadata: { resourceVersion: '1' },
  items: Array.from({ length: LIST_SIZE }, (_, i) => pod(`web-${i}`)),
});
const event = Buffer.from(`${JSON.stringify({ type: 'MODIFIED', object: pod('web-0') })}\n`);

const server = createServer({ cert: readFileSync(join(dir, 'server.crt')), key: readFileSync(join(dir, 'server.key')) }, (req, res) => {
  if (req.headers.authorization !== expected || !req.headers['impersonate-user']) {
    res.writeHead(401).end();
    return;
  }
  const url = new URL(req.url!, 'https://x');
  if (url.pathname === '/api/v1/namespaces/default/pods/web-0') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(one) }).end(one);
  } else if (url.pathname === '/api/v1/namespaces/default/pods' && url.searchParams.get('watch') === 'true') {
    let left = Number(url.searchParams.get('events') ?? 1000);
    res.writeHead(200, { 'content-type': 'application/json' });
    const pump = () => {
      while (left > 0) {
        left--;
        if (!res.write(event)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  } else if (url.pathname === '/api/v1/namespaces/default/pods') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(list) }).end(list);
  } else {
    res.writeHead(404).end();
  }
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  serveUntilStopped({ type: 'ready', url: `https://127.0.0.1:${port}`, listBytes: Buffer.byteLength(list) }, () => new Promise((r) => server.close(() => r())));
});
