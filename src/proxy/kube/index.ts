export { createKubeProxy, type KubeProxy } from './serve.js';
export { execRecorder } from './recording.js';
