import { GatehouseError } from '../core/errors.js';
import type { ExternalIdentity } from '../core/types.js';
import { extensionValue } from '../core/x509.js';

/**
 * What a Gatehouse database certificate says about its holder, in a non-critical extension
 * (signed with the certificate, so any replica reads it without a lookup): the upstream identity,
 * the roles at issue, the database it is for, and the db users and names it was issued for.
 * The OID is under 2.25 (ITU-T X.667's registry-free arc), with a random 31-bit number rather
 * than a whole UUID: the ASN.1 encoder (@peculiar/asn1-schema) mis-encodes arcs over 2^31.
 */
export const IDENTITY_OID = '2.25.2001413762';

export interface DbCertIdentity {
  identity: ExternalIdentity;
  roles: string[];
  database: string;
  users: string[];
  names: string[];
}

/** DER UTF8String (tag 12) around the JSON: the extension value must be DER. */
function utf8String(text: string): Uint8Array<ArrayBuffer> {
  const body = Buffer.from(text, 'utf8');
  const len = body.length;
  const header = len < 0x80 ? [0x0c, len] : len < 0x100 ? [0x0c, 0x81, len] : [0x0c, 0x82, len >> 8, len & 0xff];
  if (len > 0xffff) throw new Error('certificate identity too large');
  return new Uint8Array(Buffer.concat([Buffer.from(header), body]));
}

function readUtf8String(der: Uint8Array): string {
  const buf = Buffer.from(der);
  if (buf[0] !== 0x0c) throw new Error('not a UTF8String');
  const first = buf[1];
  const [len, start] = first < 0x80 ? [first, 2] : first === 0x81 ? [buf[2], 3] : first === 0x82 ? [buf.readUInt16BE(2), 4] : [-1, 0];
  if (len < 0 || start + len !== buf.length) throw new Error('bad UTF8String length');
  return buf.subarray(start).toString('utf8');
}

export function identityExtension(id: DbCertIdentity): { oid: string; value: Uint8Array<ArrayBuffer> } {
  const { connector, subject, username, email, groups } = id.identity;
  const json = JSON.stringify({ v: 1, c: connector, s: subject, u: username, e: email, g: groups, r: id.roles, db: id.database, du: id.users, dn: id.names });
  return { oid: IDENTITY_OID, value: utf8String(json) };
}

const strings = (v: unknown): string[] => {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error('expected a list of strings');
  return v;
};

/** The identity a Gatehouse database certificate carries; `db_cert_invalid` for any other certificate. */
export function identityFromCert(der: Uint8Array): DbCertIdentity {
  let value: Uint8Array | undefined;
  try {
    value = extensionValue(der, IDENTITY_OID);
  } catch (err) {
    throw new GatehouseError('cert_invalid', 'The client certificate cannot be parsed.', { status: 401, cause: err });
  }
  if (!value) throw new GatehouseError('cert_invalid', 'This certificate was not issued to a person by Gatehouse.', { status: 401 });
  try {
    const v = JSON.parse(readUtf8String(value)) as Record<string, unknown>;
    if (v.v !== 1 || typeof v.u !== 'string' || typeof v.c !== 'string' || typeof v.db !== 'string') throw new Error('inconsistent');
    return {
      identity: { connector: v.c, subject: String(v.s), username: v.u, email: typeof v.e === 'string' ? v.e : undefined, groups: strings(v.g), claims: {} },
      roles: strings(v.r),
      database: v.db,
      users: strings(v.du),
      names: strings(v.dn),
    };
  } catch (err) {
    throw new GatehouseError('cert_invalid', 'The certificate identity is malformed.', { status: 401, cause: err });
  }
}
