import type { AuditEventType, AuditOutcome } from '../../audit/catalogue.js';
import { WireReader } from '../../ssh-ca/wire.js';

/**
 * Audits file transfers in an SFTP session (draft-ietf-secsh-filexfer-02, what OpenSSH speaks)
 * by reading the packet headers that pass through, in both directions, without buffering file
 * data: uploads and downloads (path, size) when a handle is closed; removes, renames, mkdir,
 * rmdir, symlinks and setstat when the server answers them.
 */
const FXP = {
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  SETSTAT: 9,
  OPENDIR: 11,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  RENAME: 18,
  SYMLINK: 20,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  EXTENDED: 200,
};
const PFLAGS_WRITE = 0x02 | 0x04 | 0x08 | 0x10; // WRITE | APPEND | CREAT | TRUNC
/** Larger than any packet OpenSSH sends (256 KiB); beyond it we stop following the stream. */
const MAX_PACKET = 1024 * 1024;

type Emit = (type: AuditEventType, outcome: AuditOutcome, details: Record<string, unknown>) => void;

interface OpenFile {
  path: string;
  writing: boolean;
  read: number;
  written: number;
}

export interface SftpAuditor {
  fromClient(data: Buffer): void;
  fromServer(data: Buffer): void;
  /** The session ended: transfers still open are reported as interrupted. */
  close(): void;
}

export function createSftpAuditor(emit: Emit): SftpAuditor {
  const opens = new Map<number, { path: string; writing: boolean }>();
  const reads = new Map<number, string>();
  const changes = new Map<number, { op: string; path: string; target?: string }>();
  const files = new Map<string, OpenFile>();

  const report = (file: OpenFile, outcome: AuditOutcome, interrupted = false) => {
    if (file.written > 0 || (file.writing && file.read === 0))
      emit('sftp.upload', outcome, { path: file.path, direction: 'upload', size: file.written, interrupted: interrupted || undefined });
    if (file.read > 0) emit('sftp.download', outcome, { path: file.path, direction: 'download', size: file.read, interrupted: interrupted || undefined });
  };

  const client = packetStream((type, r, complete) => {
    if (type === 1) return; // INIT
    const id = r.u32();
    switch (type) {
      case FXP.OPEN: {
        const path = r.string();
        opens.set(id, { path, writing: (r.u32() & PFLAGS_WRITE) !== 0 });
        return;
      }
      case FXP.READ:
        return void reads.set(id, r.bytes().toString('hex'));
      case FXP.WRITE: {
        const file = files.get(r.bytes().toString('hex'));
        r.u64();
        if (file) file.written += r.u32();
        return;
      }
      case FXP.CLOSE: {
        const handle = r.bytes().toString('hex');
        const file = files.get(handle);
        files.delete(handle);
        if (file) report(file, 'success');
        return;
      }
      case FXP.REMOVE:
        return void changes.set(id, { op: 'remove', path: r.string() });
      case FXP.MKDIR:
        return void changes.set(id, { op: 'mkdir', path: r.string() });
      case FXP.RMDIR:
        return void changes.set(id, { op: 'rmdir', path: r.string() });
      case FXP.SETSTAT:
        return void changes.set(id, { op: 'setstat', path: r.string() });
      case FXP.RENAME:
        return void changes.set(id, { op: 'rename', path: r.string(), target: r.string() });
      case FXP.SYMLINK:
        return void changes.set(id, { op: 'symlink', path: r.string(), target: r.string() });
      case FXP.EXTENDED: {
        if (!complete) return;
        const name = r.string();
        if (name === 'posix-rename@openssh.com') changes.set(id, { op: 'rename', path: r.string(), target: r.string() });
        else if (name === 'hardlink@openssh.com') changes.set(id, { op: 'hardlink', path: r.string(), target: r.string() });
        return;
      }
    }
  });

  const server = packetStream((type, r) => {
    if (type === 2) return; // VERSION
    const id = r.u32();
    switch (type) {
      case FXP.HANDLE: {
        const open = opens.get(id);
        opens.delete(id);
        if (open) files.set(r.bytes().toString('hex'), { ...open, read: 0, written: 0 });
        return;
      }
      case FXP.DATA: {
        const size = r.u32(); // first: a partial header throws before any state changes
        const handle = reads.get(id);
        reads.delete(id);
        const file = handle === undefined ? undefined : files.get(handle);
        if (file) file.read += size;
        return;
      }
      case FXP.STATUS: {
        const status = r.u32();
        reads.delete(id);
        const change = changes.get(id);
        changes.delete(id);
        if (change) emit('sftp.change', status === 0 ? 'success' : 'failure', { ...change, status });
        const open = opens.get(id);
        opens.delete(id);
        if (open && open.writing) emit('sftp.upload', 'failure', { path: open.path, direction: 'upload', size: 0, status });
        return;
      }
    }
  });

  return {
    fromClient: client,
    fromServer: server,
    close() {
      for (const file of files.values()) report(file, 'failure', true);
      files.clear();
    },
  };
}

/**
 * Splits a byte stream into SFTP packets and hands each one's type and a reader to `onPacket`.
 * WRITE and DATA packets are handed over as soon as their header is in, and their payload is
 * skipped without being buffered.
 */
function packetStream(onPacket: (type: number, reader: WireReader, complete: boolean) => void): (data: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  let skip = 0;
  let broken = false;
  return (chunk) => {
    if (broken) return;
    if (skip) {
      const n = Math.min(skip, chunk.length);
      skip -= n;
      chunk = chunk.subarray(n);
      if (!chunk.length) return;
    }
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 5) {
      const length = pending.readUInt32BE(0);
      if (length < 1 || length > MAX_PACKET) {
        broken = true;
        return;
      }
      const type = pending[4];
      if (pending.length >= 4 + length) {
        parse(type, pending.subarray(5, 4 + length), true);
        pending = pending.subarray(4 + length);
        continue;
      }
      if ((type === FXP.WRITE || type === FXP.DATA) && parse(type, pending.subarray(5), false)) {
        skip = 4 + length - pending.length;
        pending = Buffer.alloc(0);
      }
      break;
    }
    // Keep only what is still needed, not the chunk it was cut from.
    if (pending.length && pending.length < 64 * 1024) pending = Buffer.from(pending);
  };

  function parse(type: number, body: Buffer, complete: boolean): boolean {
    try {
      onPacket(type, new WireReader(body), complete);
      return true;
    } catch {
      return false; // a header not yet complete (partial WRITE/DATA), or a malformed packet
    }
  }
}
