import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';

/**
 * Relays one HTTP request to an upstream through an undici dispatcher and streams the answer back,
 * for the app proxy and the Kubernetes proxy alike:
 * - bodies are never buffered whole: the request body is streamed up, and the upstream is paused
 *   once CLIENT_BUFFER waits for a slow client;
 * - the upstream request is aborted when the client goes away;
 * - a failure before the first response byte goes to `onFailure` so the caller can answer; after
 *   it, the client connection is cut (the response cannot be completed honestly);
 * - a kept-alive connection the upstream closed just as it was reused is retried once on a fresh
 *   one, for bodyless idempotent requests only (nothing can have been processed twice).
 */

export interface RelayOptions {
  dispatcher: Dispatcher;
  /** Upstream request target (path and query). */
  path: string;
  headers: Record<string, string | string[]>;
  /** The headers to send to the client, from the upstream's (lowercased; a lone Set-Cookie is a string). */
  responseHeaders(headers: Record<string, string | string[] | undefined>): OutgoingHttpHeaders;
  /** Send the headers at once when the response has no length (a watch, `logs -f`): streams stay live. */
  flushStreams?: boolean;
  /** The upstream's response started (status below 200 excepted). */
  onResponse?(status: number): void;
  /** Nothing was sent to the client yet: the caller answers. `code` is undici's or the socket's. */
  onFailure(err: Error & { code?: string }): void;
}

/**
 * How much may wait for a slow client before the upstream is paused. Above the stream default
 * (16 KiB), so that a 64 KB response or a burst of watch events is written in one go instead of
 * pausing and resuming undici's parser for every chunk; still a small bound per request.
 */
const CLIENT_BUFFER = 256 * 1024;

const RETRYABLE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const STALE_CONNECTION = new Set(['UND_ERR_SOCKET', 'ECONNRESET']);

export function relay(req: IncomingMessage, res: ServerResponse, o: RelayOptions, retried = false): void {
  const method = req.method ?? 'GET';
  const bodyless = !req.headers['content-length'] && !req.headers['transfer-encoding'];
  let controller: Dispatcher.DispatchController | undefined;
  /** The exchange ended (completed or failed), or the client went away. */
  let settled = false;
  const resume = () => controller?.resume();
  const settle = () => {
    settled = true;
    res.off('drain', resume);
  };
  res.on('drain', resume);
  res.once('close', () => {
    if (settled) return;
    settle();
    controller?.abort(new Error('client went away'));
  });

  const handler: Dispatcher.DispatchHandler = {
    onRequestStart(c) {
      controller = c;
      if (settled) c.abort(new Error('client went away'));
    },
    onResponseStart(_c, status, headers, statusMessage) {
      if (status < 200) return; // 103 Early Hints and the like are not relayed
      o.onResponse?.(status);
      res.writeHead(status, statusMessage, o.responseHeaders(headers));
      if (o.flushStreams && headers['content-length'] === undefined) res.flushHeaders();
    },
    onResponseData(c, chunk) {
      if (!res.write(chunk) && res.writableLength > CLIENT_BUFFER) c.pause();
    },
    onResponseEnd() {
      settle();
      res.end();
    },
    onResponseError(_c, err) {
      if (settled) return; // the client went away: nobody to answer
      settle();
      // The client's upload broke off (its 'close' not seen yet): not the upstream's failure.
      if (req.destroyed && !req.complete) return void res.destroy();
      const code = (err as NodeJS.ErrnoException).code;
      if (!retried && bodyless && RETRYABLE_METHODS.has(method) && !res.headersSent && code && STALE_CONNECTION.has(code)) {
        return relay(req, res, o, true);
      }
      if (res.headersSent) res.destroy(err);
      else if (!res.destroyed) o.onFailure(err);
    },
  };

  try {
    o.dispatcher.dispatch({ method, path: o.path, headers: o.headers, body: bodyless ? null : req }, handler);
  } catch (err) {
    // undici refuses some requests outright (a header it will not send, say).
    settle();
    o.onFailure(err as Error);
  }
}
