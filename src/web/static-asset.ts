import { readFileSync } from 'node:fs';
import type { Router } from 'express';

/** Serves a static asset from memory: read once on first request, cached by browsers for an hour. */
export function serveAsset(router: Router, path: string, type: string, body: () => string | Buffer): void {
  let cached: string | Buffer | undefined;
  router.get(path, (_req, res) => {
    cached ??= body();
    res.setHeader('cache-control', 'public, max-age=3600');
    res.type(type).send(cached);
  });
}

/**
 * A page script of src/web/static/, read beside this module: in src/ when run by tsx, in dist/
 * when built (`npm run build` compiles them to dist/web/static/).
 */
export const readPageScript = (name: string): string => readFileSync(new URL(`./static/${name}`, import.meta.url), 'utf8');
