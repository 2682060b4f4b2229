import { decodeFrontend, type BindParameter } from './frontend.js';
import { splitStatements } from './sql-split.js';
import type { Frame } from './wire.js';

/** One statement as the audit and the transcript see it. */
export interface Statement {
  protocol: 'simple' | 'extended';
  text: string;
  /** The text was cut (by the capture cap or max_query_chars). */
  cut: boolean;
  /** Extended protocol: the Bind parameters, in order. */
  params?: BindParameter[];
  /** Extended protocol: the prepared statement's name ('' for the unnamed one). */
  name?: string;
}

/** Prepared statements and portals a session may hold before the oldest are forgotten (their Execute is audited without text). */
const MAX_NAMED = 1000;

/**
 * Follows a session's frontend messages and yields its statements in order: each statement of a
 * simple Query, and each Execute of the extended protocol with the statement text (from Parse)
 * and parameters (from Bind) of the portal it runs.
 */
export function createStatementTracker(options: { maxChars: number }) {
  const prepared = new Map<string, { text: string; cut: boolean }>();
  const portals = new Map<string, { name: string; text: string; cut: boolean; params: BindParameter[] }>();
  const cap = (text: string, cut: boolean) => (text.length > options.maxChars ? { text: text.slice(0, options.maxChars), cut: true } : { text, cut });
  const remember = <V>(map: Map<string, V>, key: string, value: V) => {
    map.delete(key);
    map.set(key, value);
    if (map.size > MAX_NAMED) map.delete(map.keys().next().value as string);
  };

  return {
    /** The statements a frontend frame starts running (none for most messages). */
    onFrame(frame: Frame): Statement[] {
      const msg = decodeFrontend(frame.type, frame.body, frame.cut, options.maxChars);
      if (!msg) return [];
      switch (msg.type) {
        case 'query': {
          // A cut query is not split: its end is not known.
          const parts = msg.cut ? [msg.text] : splitStatements(msg.text);
          return parts.map((part, i) => ({ protocol: 'simple', ...cap(part, msg.cut && i === parts.length - 1) }));
        }
        case 'parse':
          remember(prepared, msg.name, cap(msg.text, msg.cut));
          return [];
        case 'bind': {
          const statement = prepared.get(msg.statement) ?? { text: '', cut: true };
          remember(portals, msg.portal, { name: msg.statement, ...statement, params: msg.params });
          return [];
        }
        case 'execute': {
          const portal = portals.get(msg.portal);
          if (!portal) return [{ protocol: 'extended', text: '', cut: true, params: [] }];
          return [{ protocol: 'extended', text: portal.text, cut: portal.cut, params: portal.params, name: portal.name }];
        }
        case 'close':
          (msg.kind === 'statement' ? prepared : portals).delete(msg.name);
          return [];
      }
    },
  };
}
