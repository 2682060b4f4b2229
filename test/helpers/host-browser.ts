import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { LookupFunction } from 'node:net';
import { formAction, type Page } from './browser.js';

/**
 * A headless "browser" for host-based apps: cookies are kept per host name (as browsers do;
 * ports do not separate cookies), and every `*.localhost` name resolves to 127.0.0.1 (RFC 6761),
 * so `http://grafana.localhost:PORT/` reaches a test server with the right Host header offline.
 */
export interface HostPage extends Page {
  headers: IncomingHttpHeaders;
}

interface StoredCookie {
  host: string;
  name: string;
  value: string;
  path: string;
}

export const loopbackLookup: LookupFunction = (hostname, options, callback) => {
  const address = hostname === 'localhost' || hostname.endsWith('.localhost') || /^127\./.test(hostname) ? '127.0.0.1' : undefined;
  if (!address) return callback(new Error(`not resolvable offline: ${hostname}`) as NodeJS.ErrnoException, '', 4);
  if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family: 4 }]);
  callback(null, address, 4);
};

export class HostBrowser {
  private readonly jar = new Map<string, StoredCookie>();

  /** Cookie names and values the browser holds for a host. */
  cookies(host: string): Record<string, string> {
    return Object.fromEntries([...this.jar.values()].filter((c) => c.host === host).map((c) => [c.name, c.value]));
  }

  private cookieHeader(url: URL): string {
    return [...this.jar.values()]
      .filter((c) => c.host === url.hostname && (url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  private store(url: URL, setCookie: string[] | undefined): void {
    for (const line of setCookie ?? []) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = '/';
      let expired = value === '';
      for (const attr of attrs) {
        const [k, v = ''] = attr.trim().split('=');
        if (k.toLowerCase() === 'path') path = v;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
      }
      const key = `${url.hostname}|${name}|${path}`;
      if (expired) this.jar.delete(key);
      else this.jar.set(key, { host: url.hostname, name, value, path });
    }
  }

  /** One request, no redirect following. Sends `Accept: text/html` like a browser unless told otherwise. */
  request(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<HostPage> {
    const target = new URL(url);
    const headers: Record<string, string> = { accept: 'text/html,application/xhtml+xml', ...init.headers };
    const cookie = this.cookieHeader(target);
    if (cookie && !headers.cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    return new Promise((resolve, reject) => {
      const req = httpRequest(target, { method: init.method ?? (init.form ? 'POST' : 'GET'), headers, lookup: loopbackLookup, agent: false }, (res) => {
        this.store(target, res.headers['set-cookie']);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const location = res.headers.location;
          resolve({
            url: target.href,
            status: res.statusCode!,
            body: Buffer.concat(chunks).toString('utf8'),
            location: location ? new URL(location, target).href : undefined,
            headers: res.headers,
          });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  async go(url: string, init: { form?: Record<string, string>; headers?: Record<string, string> } = {}, stopAt?: string): Promise<HostPage> {
    let page = await this.request(url, init);
    for (let hops = 0; hops < 20; hops++) {
      if (page.status < 300 || page.status >= 400 || !page.location) return page;
      if (stopAt && page.location.startsWith(stopAt)) return page;
      page = await this.request(page.location, { headers: init.headers });
    }
    throw new Error('too many redirects');
  }

  async submit(page: Page, actionSuffix: string, fields: Record<string, string>, stopAt?: string): Promise<HostPage> {
    const action = formAction(page.body, actionSuffix);
    assert.ok(action, `no form posting to …/${actionSuffix} on ${page.url}:\n${page.body}`);
    return this.go(new URL(action, page.url).href, { form: fields }, stopAt);
  }
}
