export { createKubeProxy, CLUSTER_PREFIX, type KubeProxy, type KubeProxyOptions } from './proxy.js';
export { execRecorder, type ExecRecorder, type ExecRecording, type ExecRecordingMeta } from './recording.js';
export { parseRequestInfo, type RequestInfo } from './request-info.js';
