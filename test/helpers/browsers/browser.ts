import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import type { LookupFunction } from 'node:net';
import { Agent, fetch } from 'undici';

// Headless "browser" for tests that play the browser through real login forms: fetch with manual
// redirects and a cookie jar. Cookies are kept per host name, as browsers do (ports do not separate
// them), and every `*.localhost` name resolves to 127.0.0.1 (RFC 6761), so a host app such as
// `http://grafana.localhost:PORT/` is reached offline with the right Host header.
interface Cookie {
  host: string;
  name: string;
  value: string;
  path: string;
}

export interface Page {
  url: string;
  status: number;
  body: string;
  location?: string;
  /** The response headers as node:http has them (`set-cookie` a list). */
  headers: IncomingHttpHeaders;
  /** The same headers as fetch has them. */
  responseHeaders: Headers;
}

interface RequestInit {
  method?: string;
  form?: Record<string, string>;
  /** Extra request headers; a `cookie` here replaces the jar's. */
  headers?: Record<string, string>;
}

/** What a browser sends when it navigates to a page: the gateway then answers pages, not JSON. */
export const ACCEPT_HTML = 'text/html,application/xhtml+xml';

const loopbackLookup: LookupFunction = (hostname, options, callback) => {
  const address = hostname === 'localhost' || hostname.endsWith('.localhost') || /^127\./.test(hostname) ? '127.0.0.1' : undefined;
  if (!address) return callback(new Error(`not resolvable offline: ${hostname}`) as NodeJS.ErrnoException, '', 4);
  if ((options as { all?: boolean }).all)
    return (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family: 4 }]);
  callback(null, address, 4);
};

const dispatcher = new Agent({ connect: { lookup: loopbackLookup } });

export class Browser {
  private readonly jar = new Map<string, Cookie>();
  private readonly accept?: string;

  /** `accept`: the Accept header of every request (ACCEPT_HTML for a browser navigating pages); fetch's default otherwise. */
  constructor(options: { accept?: string } = {}) {
    this.accept = options.accept;
  }

  /** The value of a cookie by name (on any host), if the browser holds one. */
  cookie(name: string): string | undefined {
    return [...this.jar.values()].find((c) => c.name === name)?.value;
  }

  /** Cookie names and values the browser holds for a host. */
  cookies(host: string): Record<string, string> {
    return Object.fromEntries([...this.jar.values()].filter((c) => c.host === host).map((c) => [c.name, c.value]));
  }

  private cookieHeader(url: URL): string {
    return [...this.jar.values()]
      .filter((c) => c.host === url.hostname && (url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  private store(url: URL, setCookie: string[]): void {
    for (const line of setCookie) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = url.pathname.replace(/\/[^/]*$/, '') || '/';
      let expired = value === '';
      for (const attr of attrs) {
        const [k, v = ''] = attr.trim().split('=');
        if (k.toLowerCase() === 'path') path = v;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
        if (k.toLowerCase() === 'expires' && Date.parse(v) <= Date.now()) expired = true;
      }
      const key = `${url.hostname}|${name}|${path}`;
      if (expired) this.jar.delete(key);
      else this.jar.set(key, { host: url.hostname, name, value, path });
    }
  }

  /** One request, no redirect following. */
  async request(url: string, init: RequestInit = {}): Promise<Page> {
    const target = new URL(url);
    const headers: Record<string, string> = { ...(this.accept ? { accept: this.accept } : {}), ...init.headers };
    const cookie = this.cookieHeader(target);
    if (cookie && !headers.cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const res = await fetch(target, { method: init.method ?? (init.form ? 'POST' : 'GET'), headers, body, redirect: 'manual', dispatcher });
    const setCookie = res.headers.getSetCookie();
    this.store(target, setCookie);
    const location = res.headers.get('location') ?? undefined;
    return {
      url: target.href,
      status: res.status,
      body: await res.text(),
      location: location ? new URL(location, target).href : undefined,
      headers: { ...Object.fromEntries(res.headers), ...(setCookie.length ? { 'set-cookie': setCookie } : {}) },
      responseHeaders: res.headers as unknown as Headers,
    };
  }

  /**
   * Request and follow redirects until a non-redirect response, or until the next hop would
   * leave for `stopAt` (the relying party's redirect_uri, which we don't run a server for).
   * `init.headers` go with every hop.
   */
  async go(url: string, init: RequestInit = {}, stopAt?: string): Promise<Page> {
    let page = await this.request(url, init);
    for (let hops = 0; hops < 20; hops++) {
      if (page.status < 300 || page.status >= 400 || !page.location) return page;
      if (stopAt && page.location.startsWith(stopAt)) return page;
      page = await this.request(page.location, { headers: init.headers });
    }
    throw new Error('too many redirects');
  }

  /** Find `<form method="post" action="…/<suffix>">` on the page and submit it. */
  async submit(page: Page, actionSuffix: string, fields: Record<string, string>, stopAt?: string): Promise<Page> {
    const action = formAction(page.body, actionSuffix);
    assert.ok(action, `no form posting to …/${actionSuffix} on ${page.url}:\n${page.body}`);
    return this.go(new URL(action, page.url).href, { form: fields }, stopAt);
  }
}

/** Assert the page is a redirect to `prefix` (the RP's redirect_uri) and return its URL. */
export function redirectedTo(page: Page, prefix: string): URL {
  assert.ok(page.status >= 300 && page.status < 400, `expected a redirect, got ${page.status}:\n${page.body}`);
  const { location } = page;
  if (!location?.startsWith(prefix)) assert.fail(`expected redirect to ${prefix}, got ${location}`);
  return new URL(location);
}

export function unescapeHtml(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

export function formAction(html: string, suffix: string): string | undefined {
  for (const m of html.matchAll(/<form\b[^>]*>/gi)) {
    const tag = m[0];
    if (!/method="post"/i.test(tag)) continue;
    const action = /action="([^"]*)"/i.exec(tag)?.[1];
    if (action && unescapeHtml(action).endsWith(`/${suffix}`)) return unescapeHtml(action);
  }
  return undefined;
}

export function hiddenInputs(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of html.matchAll(/<input\b[^>]*type="hidden"[^>]*>/gi)) {
    const name = /name="([^"]*)"/.exec(m[0])?.[1];
    const value = /value="([^"]*)"/.exec(m[0])?.[1];
    if (name) out[name] = unescapeHtml(value ?? '');
  }
  return out;
}
