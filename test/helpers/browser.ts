import assert from 'node:assert/strict';

// Headless "browser": fetch with manual redirects and a tiny cookie jar (single host), for tests that play
// the browser through real login forms.
export interface Cookie {
  name: string;
  value: string;
  path: string;
}

export interface Page {
  url: string;
  status: number;
  body: string;
  location?: string;
  responseHeaders?: Headers;
}

export class Browser {
  private readonly jar = new Map<string, Cookie>();

  /** The value of a cookie by name, if the browser holds one. */
  cookie(name: string): string | undefined {
    return [...this.jar.values()].find((c) => c.name === name)?.value;
  }

  private cookieHeader(url: URL): string {
    return [...this.jar.values()]
      .filter((c) => url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  private store(url: URL, res: Response): void {
    for (const line of res.headers.getSetCookie()) {
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
      const key = `${name}|${path}`;
      if (expired) this.jar.delete(key);
      else this.jar.set(key, { name, value, path });
    }
  }

  /** One request, no redirect following. */
  async request(url: string, init: { method?: string; form?: Record<string, string>; accept?: string } = {}): Promise<Page> {
    const target = new URL(url);
    const headers: Record<string, string> = {};
    if (init.accept) headers.accept = init.accept;
    const cookie = this.cookieHeader(target);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const res = await fetch(target, { method: init.method ?? (init.form ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    this.store(target, res);
    const location = res.headers.get('location') ?? undefined;
    return {
      url: target.href,
      status: res.status,
      body: await res.text(),
      location: location ? new URL(location, target).href : undefined,
      responseHeaders: res.headers,
    };
  }

  /**
   * Request and follow redirects until a non-redirect response, or until the next hop would
   * leave for `stopAt` (the relying party's redirect_uri, which we don't run a server for).
   */
  async go(url: string, init: { form?: Record<string, string> } = {}, stopAt?: string): Promise<Page> {
    let page = await this.request(url, init);
    for (let hops = 0; hops < 20; hops++) {
      if (page.status < 300 || page.status >= 400 || !page.location) return page;
      if (stopAt && page.location.startsWith(stopAt)) return page;
      page = await this.request(page.location);
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

