import { createHash, randomBytes } from 'node:crypto';
import type { Browser } from '../browsers/browser.js';

/** The CLI's public client and the loopback redirect it registers (RFC 8252). */
export const CLI_CLIENT = 'gatehouse-cli';
export const CLI_REDIRECT = 'http://127.0.0.1:53682/callback';

export interface CliTokens {
  access_token: string;
  id_token: string;
  refresh_token: string;
  expires_in: number;
  error?: string;
  error_description?: string;
}

/** POST /oauth/token as the CLI's public client. */
export async function oauthToken(base: string, form: Record<string, string>): Promise<{ status: number; body: CliTokens }> {
  const res = await fetch(`${base}/oauth/token`, { method: 'POST', body: new URLSearchParams({ client_id: CLI_CLIENT, ...form }) });
  return { status: res.status, body: (await res.json()) as CliTokens };
}

/** The loopback authorization-code flow with PKCE, as `gatehouse login` runs it, in a signed-in browser. */
export async function cliLogin(browser: Browser, base: string): Promise<CliTokens> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const query = new URLSearchParams({
    client_id: CLI_CLIENT,
    response_type: 'code',
    redirect_uri: CLI_REDIRECT,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const res = await browser.request(`${base}/oauth/authorize?${query}`);
  const code = new URL(res.location!).searchParams.get('code')!;
  return (await oauthToken(base, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CLI_REDIRECT })).body;
}
