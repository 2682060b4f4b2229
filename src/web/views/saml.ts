import { html } from './html.js';

/**
 * The page the ACS answers the IdP's cross-site POST with. It only moves the browser on to a
 * same-origin GET (a meta refresh: our CSP allows no inline script), and that top-level
 * same-site navigation carries the SameSite=Lax login-binding cookie the POST could not.
 */
export function samlContinuePage(next: string): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0;url=${next}">
<title>Signing in · Gatehouse</title>
<link rel="stylesheet" href="/static/gatehouse.css">
</head>
<body>
<main><section class="card narrow"><h1>Signing in…</h1><p><a id="continue" href="${next}">Continue</a></p></section></main>
</body>
</html>`.value;
}
