export { createKubeProxy, type KubeProxy, type KubeProxyOptions } from './serve.js';
export { CLUSTER_PREFIX } from './admit.js';
export { execRecorder, type ExecRecorder, type ExecRecording, type ExecRecordingMeta } from './recording.js';
export { parseRequestInfo, type RequestInfo } from './request-info.js';
