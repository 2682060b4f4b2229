import { startChild } from '../processes.js';

/**
 * A real WSGI upstream: python3's wsgiref on 127.0.0.1, started as a child process. Every request
 * is answered with JSON `{ method, path, environ }`, where `environ` holds the request's `HTTP_*`
 * keys as the WSGI server built them (it folds "-" and "_" in header names into the same key,
 * like CGI and Rack do). Undefined when python3 is not installed.
 */
export interface WsgiUpstream {
  url: string;
  close(): Promise<void>;
}

const APP = String.raw`
import json, sys
from wsgiref.simple_server import make_server, WSGIRequestHandler

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

def app(environ, start_response):
    body = json.dumps({
        'method': environ['REQUEST_METHOD'],
        'path': environ.get('PATH_INFO', ''),
        'environ': {k: v for k, v in environ.items() if k.startswith('HTTP_')},
    }).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]

server = make_server('127.0.0.1', 0, app, handler_class=Quiet)
print(server.server_port, flush=True)
server.serve_forever()
`;

export async function startWsgiUpstream(): Promise<WsgiUpstream | undefined> {
  const proc = startChild('python3', ['-c', APP], { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await new Promise<number | undefined>((resolve) => {
    let out = '';
    proc.child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = /^(\d+)\n/.exec(out);
      if (line) resolve(Number(line[1]));
    });
    void proc.exited.then(() => resolve(undefined));
  });
  if (!port) {
    await proc.stop();
    return undefined;
  }
  return { url: `http://127.0.0.1:${port}`, close: () => proc.stop(1000) };
}
