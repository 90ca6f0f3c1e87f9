// GET /: the operators' dashboard. One self-contained page (no build step, no CDN) that follows
// GET /events. It shows job views only: no secrets, no callback URLs.

import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';

const SCRIPT = `
const $ = (s) => document.querySelector(s);
const jobs = new Map();
let queue = { queued: 0, running: 0, limit: 0, concurrency: 0 };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}
function seconds(ms) { return ms == null ? '' : (ms / 1000).toFixed(1) + ' s'; }
function ago(iso) {
  if (!iso) return '';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? s + ' s ago' : s < 3600 ? Math.round(s / 60) + ' min ago' : Math.round(s / 3600) + ' h ago';
}
function took(job) {
  if (!job.startedAt || !job.finishedAt) return '';
  return seconds(Date.parse(job.finishedAt) - Date.parse(job.startedAt));
}
function safeHref(url) {
  try { const u = new URL(url, location.href); return (u.protocol === 'https:' || u.protocol === 'http:') ? u.href : null; } catch { return null; }
}
function link(url, text) { const href = url && safeHref(url); return href ? el('a', { href, target: '_blank', rel: 'noopener' }, text) : null; }

function card(job) {
  const stateClass = job.status === 'done' ? 'ok' : job.status === 'failed' ? 'bad' : 'busy';
  const node = el('li', { class: 'job ' + stateClass, 'data-job': job.jobId, 'data-status': job.status },
    el('div', { class: 'row' },
      el('span', { class: 'slug' }, job.slug),
      el('span', { class: 'status' }, job.status)),
  );
  if (job.status !== 'done' && job.status !== 'failed' && job.status !== 'queued') {
    const bar = el('progress', { max: '1', value: String(job.progress || 0) });
    node.append(el('div', { class: 'row' }, bar, el('span', { class: 'pct' }, Math.round((job.progress || 0) * 100) + '%')));
  }
  const facts = el('div', { class: 'facts' });
  if (job.status === 'queued') facts.append(job.position ? 'position ' + job.position : 'waiting to retry', ' · ', ago(job.createdAt));
  if (job.result) {
    facts.append(seconds(job.result.durationMs) + ' video · ' + job.result.frames + ' frames · ' + job.result.width + '×' + job.result.height + ' · baked in ' + took(job) + ' ');
    const mp4 = link(job.result.mp4Url, 'MP4'); const thumb = link(job.result.thumbnailUrl, 'thumbnail');
    if (mp4) facts.append(mp4, ' ');
    if (thumb) facts.append(thumb);
  }
  if (job.error) facts.append(el('span', { class: 'err' }, job.error.code + ': ' + job.error.message));
  if (job.callback) facts.append(el('div', { class: 'cb cb-' + job.callback.state }, 'callback ' + job.callback.state + (job.callback.attempts ? ' after ' + job.callback.attempts + ' attempt' + (job.callback.attempts > 1 ? 's' : '') : '') + (job.callback.lastError && job.callback.state !== 'delivered' ? ' (' + job.callback.lastError + ')' : '')));
  if (job.finishedAt) facts.append(el('div', { class: 'when' }, 'finished ' + ago(job.finishedAt)));
  node.append(facts);
  if (job.result && job.result.thumbnailUrl && safeHref(job.result.thumbnailUrl)) {
    node.prepend(el('img', { src: safeHref(job.result.thumbnailUrl), alt: '', loading: 'lazy' }));
  }
  return node;
}

function render() {
  const all = [...jobs.values()];
  const active = all.filter((j) => !['queued', 'done', 'failed'].includes(j.status));
  const queued = all.filter((j) => j.status === 'queued').sort((a, b) => (a.position || 1e9) - (b.position || 1e9));
  const recent = all.filter((j) => j.status === 'done' || j.status === 'failed')
    .sort((a, b) => (b.finishedAt || '').localeCompare(a.finishedAt || '')).slice(0, 30);
  $('#queued').textContent = queue.queued;
  $('#running').textContent = queue.running + ' / ' + queue.concurrency;
  $('#limit').textContent = queue.limit;
  for (const [id, list] of [['#active', active], ['#waiting', queued], ['#recent', recent]]) {
    const ul = $(id);
    ul.replaceChildren(...(list.length ? list.map(card) : [el('li', { class: 'empty' }, 'none')]));
  }
}

function connect() {
  const source = new EventSource('events');
  source.addEventListener('open', () => { $('#conn').textContent = 'live'; $('#conn').className = 'live'; });
  source.addEventListener('error', () => { $('#conn').textContent = 'reconnecting…'; $('#conn').className = 'down'; });
  source.addEventListener('snapshot', (e) => {
    const data = JSON.parse(e.data);
    jobs.clear();
    for (const j of [...data.queued, ...data.active, ...data.recent]) jobs.set(j.jobId, j);
    queue = data.queue;
    render();
  });
  source.addEventListener('job', (e) => {
    const data = JSON.parse(e.data);
    jobs.set(data.job.jobId, data.job);
    queue = data.queue;
    render();
  });
}
connect();
setInterval(render, 10000);
`;

const STYLE = `
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --busy: #9a6700; --muted: #6e7781; }
* { box-sizing: border-box; }
body { font: 15px/1.4 system-ui, sans-serif; margin: 0 auto; padding: 12px; max-width: 960px; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 8px 16px; }
h1 { font-size: 1.3em; margin: 0; }
h2 { font-size: 1.05em; margin: 20px 0 6px; }
.figures { display: flex; gap: 12px; flex-wrap: wrap; }
.figures div { border: 1px solid #8884; border-radius: 8px; padding: 6px 10px; min-width: 90px; }
.figures b { display: block; font-size: 1.4em; }
#conn { font-size: .85em; padding: 2px 8px; border-radius: 10px; border: 1px solid currentColor; }
#conn.live { color: var(--ok); } #conn.down { color: var(--bad); }
ul { list-style: none; padding: 0; margin: 0; display: grid; gap: 8px; }
li.job { border: 1px solid #8884; border-left: 4px solid var(--busy); border-radius: 8px; padding: 8px 10px; overflow: hidden; }
li.job.ok { border-left-color: var(--ok); } li.job.bad { border-left-color: var(--bad); }
li.job img { float: right; width: 64px; height: 64px; object-fit: contain; image-rendering: pixelated; margin-left: 8px; }
.row { display: flex; gap: 8px; align-items: center; justify-content: space-between; }
.slug { font-family: ui-monospace, monospace; word-break: break-all; }
.status { font-weight: 600; }
progress { flex: 1; height: 10px; }
.facts, .when, .pct { color: var(--muted); font-size: .9em; }
.err { color: var(--bad); display: block; }
.cb-delivered { color: var(--ok); } .cb-gave-up { color: var(--bad); }
.empty { color: var(--muted); }
`;

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
