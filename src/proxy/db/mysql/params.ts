import { PayloadReader } from './wire.js';

/** A parameter of COM_STMT_EXECUTE as the audit shows it: text, `null` for NULL, `\x…` hex with format binary. */
export interface ExecuteParam {
  value: string | null;
  format?: 'binary';
  cut: boolean;
}

/** Column types of the binary protocol (MYSQL_TYPE_*). */
const T = {
  DECIMAL: 0x00,
  TINY: 0x01,
  SHORT: 0x02,
  LONG: 0x03,
  FLOAT: 0x04,
  DOUBLE: 0x05,
  NULL: 0x06,
  TIMESTAMP: 0x07,
  LONGLONG: 0x08,
  INT24: 0x09,
  DATE: 0x0a,
  TIME: 0x0b,
  DATETIME: 0x0c,
  YEAR: 0x0d,
  VARCHAR: 0x0f,
  BIT: 0x10,
} as const;
/** Types sent as a length-encoded string: decimals, JSON, enums, sets, blobs, strings, geometry. */
const STRING_TYPES = new Set([T.DECIMAL, T.VARCHAR, T.BIT, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff]);

const pad = (n: number, width = 2) => String(n).padStart(width, '0');
const hex = (b: Buffer) => `\\x${b.toString('hex')}`;

/** UTF-8 text when the bytes are valid UTF-8 without control characters other than whitespace, else hex. */
function text(bytes: Buffer, cut: boolean): ExecuteParam {
  const s = bytes.toString('utf8');
  // A value cut by the capture cap may end inside a character: that is still text.
  const whole = cut ? s.replace(/\uFFFD$/, '') : s;
  const control = [...whole].some((c) => c.charCodeAt(0) < 0x20 && !'\t\n\r'.includes(c));
  if (!whole.includes('\uFFFD') && !control) return { value: whole, cut };
  return { value: hex(bytes), format: 'binary', cut };
}

function datetime(r: PayloadReader, withDate: boolean): string | undefined {
  const len = r.uint(1);
  if (len === undefined) return undefined;
  const b = new PayloadReader(r.bytes(len));
  if (!withDate) {
    if (len === 0) return '00:00:00';
    const negative = b.uint(1) === 1;
    const days = b.uint(4) ?? 0;
    const [h, m, s] = [b.uint(1) ?? 0, b.uint(1) ?? 0, b.uint(1) ?? 0];
    const us = len >= 12 ? b.uint(4) : undefined;
    return `${negative ? '-' : ''}${pad(days * 24 + h)}:${pad(m)}:${pad(s)}${us ? `.${pad(us, 6)}` : ''}`;
  }
  if (len === 0) return '0000-00-00 00:00:00';
  const date = `${pad(b.uint(2) ?? 0, 4)}-${pad(b.uint(1) ?? 0)}-${pad(b.uint(1) ?? 0)}`;
  if (len < 7) return date;
  const time = `${pad(b.uint(1) ?? 0)}:${pad(b.uint(1) ?? 0)}:${pad(b.uint(1) ?? 0)}`;
  const us = len >= 11 ? b.uint(4) : undefined;
  return `${date} ${time}${us ? `.${pad(us, 6)}` : ''}`;
}

function integer(r: PayloadReader, bytes: 1 | 2 | 4 | 8, unsigned: boolean): string | undefined {
  const b = r.bytes(bytes);
  if (b.length < bytes) return undefined;
  if (bytes === 8) return String(unsigned ? b.readBigUInt64LE(0) : b.readBigInt64LE(0));
  return String(unsigned ? b.readUIntLE(0, bytes) : b.readIntLE(0, bytes));
}

/**
 * The parameters of a COM_STMT_EXECUTE payload (after its command byte) for a statement of
 * `count` parameters: integers, floats, strings and blobs, dates and times, NULL. The types come
 * with the packet or, when it does not bind new ones, from the statement's previous execute
 * (`types`, updated here). Parameters sent with COM_STMT_SEND_LONG_DATA (`longData`) are not
 * in the packet. A type of unknown size ends the decoding: the rest is one hex value.
 */
export function decodeExecuteParams(
  payload: Buffer,
  cutPayload: boolean,
  count: number,
  types: number[] | undefined,
  longData: Set<number>,
): { params: ExecuteParam[]; types?: number[] } {
  const r = new PayloadReader(payload);
  r.bytes(9); // statement id, flags, iteration count
  if (count === 0) return { params: [] };
  const nulls = r.bytes(Math.floor((count + 7) / 8));
  const bound = r.uint(1) === 1;
  let kinds = types;
  if (bound) {
    kinds = [];
    for (let i = 0; i < count; i++) kinds.push(r.uint(2) ?? T.NULL);
  }
  const params: ExecuteParam[] = [];
  for (let i = 0; i < count; i++) {
    if (nulls.length > i >> 3 && nulls[i >> 3] & (1 << (i & 7))) {
      params.push({ value: null, cut: false });
      continue;
    }
    if (longData.has(i)) {
      params.push({ value: '(sent as long data)', cut: true });
      continue;
    }
    if (!kinds || r.left === 0) {
      params.push({ value: '', cut: true });
      continue;
    }
    const type = kinds[i] & 0xff;
    const unsigned = (kinds[i] & 0x8000) !== 0;
    let value: string | undefined;
    if (type === T.TINY) value = integer(r, 1, unsigned);
    else if (type === T.SHORT || type === T.YEAR) value = integer(r, 2, unsigned);
    else if (type === T.LONG || type === T.INT24) value = integer(r, 4, unsigned);
    else if (type === T.LONGLONG) value = integer(r, 8, unsigned);
    else if (type === T.FLOAT) value = r.left >= 4 ? String(r.bytes(4).readFloatLE(0)) : undefined;
    else if (type === T.DOUBLE) value = r.left >= 8 ? String(r.bytes(8).readDoubleLE(0)) : undefined;
    else if (type === T.NULL) {
      params.push({ value: null, cut: false });
      continue;
    } else if (type === T.DATE || type === T.DATETIME || type === T.TIMESTAMP) value = datetime(r, true);
    else if (type === T.TIME) value = datetime(r, false);
    else if (STRING_TYPES.has(type as never)) {
      const length = r.lenenc();
      const bytes = r.bytes(length ?? r.left);
      params.push(text(bytes, r.cut || length === undefined));
      continue;
    } else {
      params.push({ value: hex(r.rest()), format: 'binary', cut: cutPayload });
      for (let j = i + 1; j < count; j++) params.push({ value: '', cut: true });
      break;
    }
    params.push(value === undefined || r.cut ? { value: value ?? '', cut: true } : { value, cut: false });
  }
  return { params, types: kinds };
}
