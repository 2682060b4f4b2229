/** SSH wire encoding (RFC 4251 §5): what certificates, keys and signatures are built from. */

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

export function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

/** `string`: a uint32 length, then the bytes. */
export function sshString(data: Buffer | string): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return Buffer.concat([u32(bytes.length), bytes]);
}

/** `mpint` from an unsigned big-endian magnitude. */
export function mpint(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length && magnitude[start] === 0) start++;
  let body = magnitude.subarray(start);
  if (body.length && body[0] & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return sshString(body);
}

/** A name-list or a list of strings packed back to back (as certificates use for principals). */
export const packedStrings = (values: string[]): Buffer => Buffer.concat(values.map((v) => sshString(v)));

/** Options and extensions: sorted name/data pairs, data itself a string (empty for flags). */
export function packedOptions(options: Record<string, string>): Buffer {
  return Buffer.concat(
    Object.keys(options)
      .sort()
      .map((name) => Buffer.concat([sshString(name), sshString(options[name] === '' ? Buffer.alloc(0) : sshString(options[name]))])),
  );
}

export class WireError extends Error {}

/** Reads wire values from a buffer; throws WireError on truncation. */
export class WireReader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  get offset(): number {
    return this.pos;
  }
  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new WireError('truncated SSH data');
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  byte(): number {
    this.need(1);
    return this.buf[this.pos++];
  }
  bytes(): Buffer {
    const n = this.u32();
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  string(): string {
    return this.bytes().toString('utf8');
  }
  /** Strings packed back to back until the end of the buffer. */
  allStrings(): string[] {
    const out: string[] = [];
    while (this.remaining > 0) out.push(this.string());
    return out;
  }
  /** Name/data pairs; flag options have empty data, others hold a string. */
  allOptions(): Record<string, string> {
    const out: Record<string, string> = {};
    while (this.remaining > 0) {
      const name = this.string();
      const data = this.bytes();
      out[name] = data.length ? new WireReader(data).string() : '';
    }
    return out;
  }
  end(): void {
    if (this.remaining !== 0) throw new WireError('trailing bytes in SSH data');
  }
}
