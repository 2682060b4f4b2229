import { randomUUID } from 'node:crypto';

/** Recording ids are session ids: UUIDs. Anything else is refused before touching the disk. */
const RECORDING_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const isRecordingId = (id: string): boolean => RECORDING_ID.test(id);
export const newSessionId = (): string => randomUUID();
