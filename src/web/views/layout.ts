import { html, type SafeHtml } from './html.js';

export function layout(options: { title: string; body: SafeHtml; user?: string; demo?: boolean }): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · Gatehouse</title>
<link rel="stylesheet" href="/static/gatehouse.css">
</head>
<body>
${options.demo ? html`<div class="demo-banner" role="alert">Demo mode: not for production</div>` : ''}
<header class="top">
  <a class="brand" href="/">Gatehouse</a>
  ${options.user
    ? html`<form method="post" action="/logout" class="logout"><span class="who">${options.user}</span> <button type="submit">Sign out</button></form>`
    : ''}
</header>
<main>
${options.body}
</main>
</body>
</html>`.value;
}
