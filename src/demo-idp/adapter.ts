// The demo IdP's oidc-provider adapter: every model (sessions, grants, codes, tokens) kept in one
// store per IdP instance, with expiry, uid/userCode lookups and revocation by grant. This avoids
// oidc-provider's process-global LRU and its "development-only in-memory adapter" warning.
import type { Adapter, AdapterPayload } from 'oidc-provider';

interface StoredEntry {
  payload: AdapterPayload;
  expiresAt: number | undefined;
}

const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

export class MemoryStore {
  readonly entries = new Map<string, StoredEntry>();
  readonly index = new Map<string, { value: string; expiresAt: number | undefined }>();
  readonly grants = new Map<string, Set<string>>();
  private writes = 0;

  static expiry(expiresIn: number | undefined): number | undefined {
    return expiresIn && expiresIn > 0 ? Date.now() + expiresIn * 1000 : undefined;
  }

  get(key: string): AdapterPayload | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  lookup(key: string): string | undefined {
    const entry = this.index.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.index.delete(key);
      return undefined;
    }
    return entry.value;
  }

  sweep(): void {
    this.writes += 1;
    if (this.writes % 500 !== 0) return;
    const now = Date.now();
    for (const [k, v] of this.entries) if (v.expiresAt !== undefined && v.expiresAt <= now) this.entries.delete(k);
    for (const [k, v] of this.index) if (v.expiresAt !== undefined && v.expiresAt <= now) this.index.delete(k);
    for (const [g, keys] of this.grants) {
      for (const k of keys) if (!this.entries.has(k)) keys.delete(k);
      if (keys.size === 0) this.grants.delete(g);
    }
  }

  clear(): void {
    this.entries.clear();
    this.index.clear();
    this.grants.clear();
  }
}

export class MemoryAdapter implements Adapter {
  constructor(
    private readonly store: MemoryStore,
    private readonly model: string,
  ) {}

  private key(id: string): string {
    return `${this.model}:${id}`;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    const key = this.key(id);
    const expiresAt = MemoryStore.expiry(expiresIn);
    if (this.model === 'Session' && payload.uid) {
      this.store.index.set(`sessionUid:${payload.uid}`, { value: id, expiresAt });
    }
    if (payload.userCode) {
      this.store.index.set(`userCode:${payload.userCode}`, { value: id, expiresAt });
    }
    if (GRANTABLE.has(this.model) && payload.grantId) {
      let keys = this.store.grants.get(payload.grantId);
      if (!keys) {
        keys = new Set();
        this.store.grants.set(payload.grantId, keys);
      }
      keys.add(key);
    }
    this.store.entries.set(key, { payload: { ...payload }, expiresAt });
    this.store.sweep();
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const payload = this.store.get(this.key(id));
    return payload ? { ...payload } : undefined;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const id = this.store.lookup(`sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const id = this.store.lookup(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id: string): Promise<void> {
    const payload = this.store.get(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    this.store.entries.delete(this.key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    const keys = this.store.grants.get(grantId);
    if (!keys) return;
    for (const key of keys) this.store.entries.delete(key);
    this.store.grants.delete(grantId);
  }
}
