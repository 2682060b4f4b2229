/** The two fsync steps both the file backend and the spool rely on for "durable when emit resolves". */
import { open, type FileHandle } from 'node:fs/promises';

/** Writes all of `bytes` at `position` (one write may be short), then fsyncs the file. */
export async function writeDurably(fh: FileHandle, bytes: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += (await fh.write(bytes, done, bytes.length - done, position + done)).bytesWritten;
  await fh.sync();
}

/** Fsyncs a directory, so a file just created in it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
