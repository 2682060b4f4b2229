import { GatehouseError } from '../core/errors.js';

/**
 * CA rotation as a state machine over the stored CA document, one CA kind at a time:
 *
 *   standby ──init──▶ init ──switch──▶ switch ──finish──▶ standby
 *             ◀─rollback─    ◀─rollback─
 *
 * - init: a new key is generated and published beside the signing one (nodes and clients add it).
 * - switch: the new key signs; the old one stays published for the overlap.
 * - finish: the old key is dropped; refused before the overlap has passed unless forced.
 * - rollback: from init, drops the new key; from switch, the old key signs again (both published).
 *
 * `user` / `host` always hold the signing key, so a replica that predates rotation keeps signing
 * and trusting the right key.
 */

export const CA_KINDS = ['user', 'host'] as const;
export type CaKind = (typeof CA_KINDS)[number];
export const ROTATION_PHASES = ['init', 'switch', 'finish', 'rollback'] as const;
export type RotationPhase = (typeof ROTATION_PHASES)[number];
/** What the last phase left: `standby` when no rotation is under way. */
export type RotationState = 'standby' | 'init' | 'switch';

/** A rotation under way for one kind (keys are PKCS#8 PEM). */
interface StoredRotation {
  phase: 'init' | 'switch';
  /** init: the published key that will sign at switch. */
  next?: string;
  /** switch: the key that signed before, still published. */
  previous?: string;
  /** ms since the epoch when this phase began. */
  since: number;
}

export interface StoredCas {
  user: string;
  host: string;
  createdAt: number;
  rotation?: Partial<Record<CaKind, StoredRotation>>;
}

/** The published keys of one kind, the signing key first. */
export interface PublishedKeys {
  state: RotationState;
  since?: number;
  signing: string;
  published: { pem: string; role: 'signing' | 'next' | 'previous' }[];
}

export function publishedKeys(doc: StoredCas, kind: CaKind): PublishedKeys {
  const rotation = doc.rotation?.[kind];
  const extra = rotation?.next
    ? { pem: rotation.next, role: 'next' as const }
    : rotation?.previous
      ? { pem: rotation.previous, role: 'previous' as const }
      : undefined;
  return {
    state: rotation?.phase ?? 'standby',
    since: rotation?.since,
    signing: doc[kind],
    published: [{ pem: doc[kind], role: 'signing' }, ...(extra ? [extra] : [])],
  };
}

/** How long the old key stays published after switch: the longest certificate it may have signed, at least an hour (host certificate renewal), plus a minute of skew. */
export const overlapMs = (certTtlMs: number): number => Math.max(certTtlMs, 3_600_000) + 60_000;

export interface PhaseOptions {
  now: number;
  /** See overlapMs. */
  overlapMs: number;
  /** finish before the overlap has passed (a compromised old key). */
  force?: boolean;
  /** A new PKCS#8 PEM private key. */
  generate: () => string;
}

const wrongOrder = (kind: CaKind, phase: RotationPhase, state: RotationState) => {
  const expected: Record<RotationPhase, string> = {
    init: 'standby',
    switch: 'init',
    finish: 'switch',
    rollback: 'init or switch',
  };
  return new GatehouseError('ssh_ca_phase', `The ${kind} CA is in phase "${state}"; "${phase}" needs phase ${expected[phase]}.`, { status: 409 });
};

/** The document after running `phase` on `kind`; throws `ssh_ca_phase` or `ssh_ca_overlap` (409). */
export function applyPhase(doc: StoredCas, kind: CaKind, phase: RotationPhase, options: PhaseOptions): StoredCas {
  const rotation = doc.rotation?.[kind];
  const state: RotationState = rotation?.phase ?? 'standby';
  const withRotation = (signing: string, next: StoredRotation | undefined): StoredCas => {
    const all = { ...doc.rotation };
    if (next) all[kind] = next;
    else delete all[kind];
    const out: StoredCas = { ...doc, [kind]: signing };
    if (Object.keys(all).length) out.rotation = all;
    else delete out.rotation;
    return out;
  };
  const { now } = options;
  switch (phase) {
    case 'init':
      if (state !== 'standby') throw wrongOrder(kind, phase, state);
      return withRotation(doc[kind], { phase: 'init', next: options.generate(), since: now });
    case 'switch':
      if (state !== 'init' || !rotation?.next) throw wrongOrder(kind, phase, state);
      return withRotation(rotation.next, { phase: 'switch', previous: doc[kind], since: now });
    case 'finish': {
      if (state !== 'switch') throw wrongOrder(kind, phase, state);
      const until = (rotation?.since ?? 0) + options.overlapMs;
      if (now < until && !options.force)
        throw new GatehouseError(
          'ssh_ca_overlap',
          `The old ${kind} CA key stays published until ${new Date(until).toISOString()} (certificates it signed may still be in use); force to drop it now.`,
          { status: 409 },
        );
      return withRotation(doc[kind], undefined);
    }
    case 'rollback':
      if (state === 'init') return withRotation(doc[kind], undefined);
      if (state === 'switch' && rotation?.previous) return withRotation(rotation.previous, { phase: 'init', next: doc[kind], since: now });
      throw wrongOrder(kind, phase, state);
  }
}
