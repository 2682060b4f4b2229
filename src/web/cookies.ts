import { parse, serialize, type SerializeOptions } from 'cookie';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Cookie policy: HttpOnly, SameSite=Lax, Secure and the __Host- prefix whenever we are served over https. */
export interface CookiePolicy {
  secure: boolean;
  name(base: string): string;
  set(res: ServerResponse, base: string, value: string, options?: { maxAgeSeconds?: number }): void;
  clear(res: ServerResponse, base: string): void;
  read(req: IncomingMessage, base: string): string | undefined;
}

export function createCookiePolicy(publicUrl: string): CookiePolicy {
  const secure = new URL(publicUrl).protocol === 'https:';
  const name = (base: string) => (secure ? `__Host-${base}` : base);
  const append = (res: ServerResponse, cookie: string) => {
    const existing = res.getHeader('set-cookie');
    res.setHeader('set-cookie', [...(Array.isArray(existing) ? existing : existing ? [String(existing)] : []), cookie]);
  };
  const base: SerializeOptions = { httpOnly: true, sameSite: 'lax', secure, path: '/' };
  return {
    secure,
    name,
    set(res, cookieName, value, options = {}) {
      append(res, serialize(name(cookieName), value, { ...base, maxAge: options.maxAgeSeconds }));
    },
    clear(res, cookieName) {
      append(res, serialize(name(cookieName), '', { ...base, maxAge: 0, expires: new Date(0) }));
    },
    read(req, cookieName) {
      const header = req.headers.cookie;
      return header ? parse(header)[name(cookieName)] : undefined;
    },
  };
}
