// GET /: the operators' dashboard. One self-contained page (no CDN) that follows GET /events.
// It shows job views only: no secrets, no callback URLs.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';

// The page's script and styles are files of their own beside this one (dashboard/page.js is
// type-checked against the browser's DOM by tsconfig.dashboard.json); read once, at start.
const SCRIPT = readFileSync(new URL('./dashboard/page.js', import.meta.url), 'utf8');
const STYLE = readFileSync(new URL('./dashboard/page.css', import.meta.url), 'utf8');

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>Oven</title><style>${STYLE}</style></head>
<body>
<header><h1>Oven</h1><span id="conn">connecting…</span></header>
<section class="figures" aria-label="queue">
  <div>queued<b id="queued">–</b></div><div>baking<b id="running">–</b></div><div>queue limit<b id="limit">–</b></div>
</section>
<h2>Baking</h2><ul id="active"></ul>
<h2>Waiting</h2><ul id="waiting"></ul>
<h2>Recent</h2><ul id="recent"></ul>
<script>${SCRIPT}</script>
</body></html>`;

const scriptHash = createHash('sha256').update(SCRIPT).digest('base64');
const CSP = `default-src 'none'; script-src 'sha256-${scriptHash}'; style-src 'unsafe-inline'; img-src 'self' https: http: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

export function dashboardRoute() {
  return (_req: unknown, res: ServerResponse) => {
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': Buffer.byteLength(PAGE),
      'Content-Security-Policy': CSP,
      'Cache-Control': 'no-store',
    });
    res.end(PAGE);
  };
}
