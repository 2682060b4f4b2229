/**
 * Ties a zod schema to a type the code already has (AuditEvent, RecordingMeta, ...): tsc fails
 * when the schema's output and the type differ in any field, so the published API description
 * cannot drift from what the code sends.
 */
import type { z } from 'zod';

type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/** Intersections and `Omit` as one plain object type, so `Same` compares members, not spellings. */
export type Flat<T> = { [K in keyof T]: T[K] };

export const schemaOf =
  <T>() =>
  <S extends z.ZodType>(schema: S & (Same<z.output<S>, T> extends true ? unknown : { 'the schema does not describe': T })): S =>
    schema;
