/** True for loopback host names: localhost, RFC 6761's `*.localhost` (browsers hard-wire it; host-based apps use it in tests and the demo), 127.0.0.0/8 and ::1. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** `host:port` or `[v6]:port` (a `listen` setting) as host (brackets removed) and port. */
export function splitHostPort(listen: string): [string, number] {
  const idx = listen.lastIndexOf(':');
  return [listen.slice(0, idx).replace(/^\[|\]$/g, ''), Number(listen.slice(idx + 1))];
}
