import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from './store.js';

/**
 * One JSON document of key material (signing keys, SSH CAs): in the shared store when it is
 * Redis, so replicas agree, else in a 0600 file under the data directory. `create` writes only
 * when nothing is there yet, so replicas starting together end up with the same document.
 */
export interface SecretDocument<T> {
  read(): Promise<T | undefined>;
  write(value: T): Promise<void>;
  /** Writes unless another writer got there first; returns what is stored then. */
  create(value: T): Promise<T>;
}

/** How long a created document lives in the store: setIfAbsent needs a TTL; key material is rewritten (no TTL) or rotated long before. */
const CREATE_TTL_SECONDS = 10 * 365 * 86_400;

export function secretDocument<T>(options: { store?: Store; dataDir: string; fileName: string; storeKey: string }): SecretDocument<T> {
  const { store } = options;
  if (store?.kind === 'redis') {
    const read = async () => {
      const raw = await store.get(options.storeKey);
      return raw ? (JSON.parse(raw) as T) : undefined;
    };
    return {
      read,
      write: (value) => store.set(options.storeKey, JSON.stringify(value)),
      async create(value) {
        if (await store.setIfAbsent(options.storeKey, JSON.stringify(value), CREATE_TTL_SECONDS)) return value;
        return (await read()) ?? value;
      },
    };
  }
  const path = join(options.dataDir, options.fileName);
  const save = (value: T, flag: 'w' | 'wx') => {
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(path, JSON.stringify(value, null, 2), { mode: 0o600, flag });
    chmodSync(path, 0o600);
  };
  const read = async () => {
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as T;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  };
  return {
    read,
    async write(value) {
      save(value, 'w');
    },
    async create(value) {
      try {
        save(value, 'wx');
        return value;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return (await read()) ?? value;
        throw err;
      }
    },
  };
}
