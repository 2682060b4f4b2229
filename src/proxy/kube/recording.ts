/**
 * What the Kubernetes proxy needs from a session recorder: the smallest interface, so the
 * proxy does not depend on how recordings are stored. `src/recording/` (asciicast v2 files,
 * shared with SSH sessions) is adapted to it in the composition root; without a recorder, exec
 * sessions are audited (`session.start`/`session.end`) but not recorded.
 */
export interface ExecRecorder {
  start(meta: ExecRecordingMeta): Promise<ExecRecording>;
}

export interface ExecRecordingMeta {
  /** The session id (a UUID): also the recording id. */
  id: string;
  user: string;
  cluster: string;
  namespace: string;
  pod: string;
  container?: string;
  /** The command run (exec); absent for attach. */
  command?: string[];
  tty: boolean;
}

export interface ExecRecording {
  output(data: Buffer): void;
  resize(cols: number, rows: number): void;
  close(result: { exitCode?: number | null }): Promise<void>;
}
