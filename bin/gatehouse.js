#!/usr/bin/env node
// The `gatehouse` command: runs the compiled CLI from dist/. Build it first with `npm run build`.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

if (!existsSync(main)) {
  console.error('Gatehouse is not built: run `npm run build`');
  process.exit(1);
}

await import(pathToFileURL(main).href);
