import { z } from 'zod';
import { parseDuration } from '../core/duration.js';

/** `90s`, `15m`, `12h`, `7d` or a number of seconds, parsed to milliseconds. */
export const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});
