/**
 * RFC 8252 §7.3: a native app's redirect URI is http on a loopback IP literal, any port.
 * Enforces: scheme http, host exactly 127.0.0.1 or [::1] (not "localhost", which DNS or
 * /etc/hosts could point elsewhere), an explicit port, no credentials, no fragment.
 */
export function isLoopbackRedirect(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return (
    url.protocol === 'http:' &&
    (url.hostname === '127.0.0.1' || url.hostname === '[::1]') &&
    url.port !== '' &&
    !url.username &&
    !url.password &&
    !url.hash &&
    !value.includes('#')
  );
}
