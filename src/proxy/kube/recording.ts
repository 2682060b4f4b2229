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
  user: string;
  cluster: string;
  /** e.g. `kubectl exec prod/default/web-1 -c app -- sh` */
  title: string;
  tty: boolean;
  cols?: number;
  rows?: number;
}

export interface ExecRecording {
  /** The recording id; also the session id in audit events. */
  id: string;
  output(data: Buffer): void;
  resize(cols: number, rows: number): void;
  close(): Promise<void>;
}
