import { html, type SafeHtml } from './html.js';

/** An inline SVG icon (a gate), so browsers do not ask for /favicon.ico. CSP allows data: images. */
const FAVICON =
  'data:image/svg+xml,' +
  encodeURIComponent(
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#111827"/>' +
      '<path d="M8 26V12l8-6 8 6v14h-5v-8h-6v8z" fill="#2f5bea"/></svg>',
  );

export function layout(options: { title: string; body: SafeHtml; user?: string; demo?: boolean; head?: SafeHtml }): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · Gatehouse</title>
<link rel="icon" href="${FAVICON}">
<link rel="stylesheet" href="/static/gatehouse.css">
${options.head ?? ''}
</head>
<body>
${options.demo ? html`<div class="demo-banner" role="alert">Demo mode: not for production</div>` : ''}
<header class="top">
  <a class="brand" href="/">Gatehouse</a>
  ${options.user ? html`<nav class="top-nav"><a class="tag" id="nav-requests" href="/requests">Requests</a></nav>` : ''}
  ${
    options.user
      ? html`<form method="post" action="/logout" class="logout"><span class="who">${options.user}</span> <button type="submit">Sign out</button></form>`
      : ''
  }
</header>
<main>
${options.body}
</main>
</body>
</html>`.value;
}
