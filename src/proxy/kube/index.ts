export { createKubeProxy, CLUSTER_PREFIX, type KubeProxy, type KubeProxyOptions } from './proxy.js';
export type { ExecRecorder, ExecRecording, ExecRecordingMeta } from './recording.js';
export { parseRequestInfo, type RequestInfo } from './request-info.js';
