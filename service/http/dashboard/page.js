// @ts-check
// The dashboard's script, run by the operator's browser: it follows GET /events and draws the
// jobs. Plain JavaScript, served as it is (its hash pins it in the page's CSP); type-checked by
// tsconfig.dashboard.json against the browser's DOM.

/** @typedef {{ code: string, message: string }} Failure */
/** @typedef {{ mp4Url: string, thumbnailUrl?: string, durationMs: number, frames: number, width: number, height: number }} Result */
/** @typedef {{ state: string, attempts: number, lastError: string | null }} Callback */
/** @typedef {{ jobId: string, slug: string, status: string, progress: number, position: number | null, createdAt: string, startedAt: string | null, finishedAt: string | null, result: Result | null, error: Failure | null, callback: Callback | null }} JobView */
/** @typedef {{ queued: number, running: number, limit: number, concurrency: number }} Queue */

/** How many finished jobs the page shows: what the server's snapshot holds (RECENT_JOBS). */
const RECENT = 20;

/** @param {string} selector */
const $ = (selector) => /** @type {HTMLElement} */ (document.querySelector(selector));
/** @type {Map<string, JobView>} */
const jobs = new Map();
/** @type {Queue} */
let queue = { queued: 0, running: 0, limit: 0, concurrency: 0 };

/**
 * @param {string} tag
 * @param {Record<string, string>} attrs
 * @param {...(Node | string | number | null | undefined)} children
 */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}
/** @param {number | null | undefined} ms */
function seconds(ms) {
  return ms == null ? '' : (ms / 1000).toFixed(1) + ' s';
}
/** @param {string | null} iso */
function ago(iso) {
  if (!iso) return '';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? s + ' s ago' : s < 3600 ? Math.round(s / 60) + ' min ago' : Math.round(s / 3600) + ' h ago';
}
/** @param {JobView} job */
function took(job) {
  if (!job.startedAt || !job.finishedAt) return '';
  return seconds(Date.parse(job.finishedAt) - Date.parse(job.startedAt));
}
/** Only http(s) links reach the page: a job's URLs come from outside. @param {string} url */
function safeHref(url) {
  try {
    const u = new URL(url, location.href);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}
/** @param {string | undefined} url @param {string} text */
function link(url, text) {
  const href = url && safeHref(url);
  return href ? el('a', { href, target: '_blank', rel: 'noopener' }, text) : null;
}

/** @param {JobView} job */
function card(job) {
  const stateClass = job.status === 'done' ? 'ok' : job.status === 'failed' ? 'bad' : 'busy';
  const node = el('li', { class: 'job ' + stateClass, 'data-job': job.jobId, 'data-status': job.status }, el('div', { class: 'row' }, el('span', { class: 'slug' }, job.slug), el('span', { class: 'status' }, job.status)));
  if (job.status !== 'done' && job.status !== 'failed' && job.status !== 'queued') {
    const bar = el('progress', { max: '1', value: String(job.progress || 0) });
    node.append(el('div', { class: 'row' }, bar, el('span', { class: 'pct' }, Math.round((job.progress || 0) * 100) + '%')));
  }
  const facts = el('div', { class: 'facts' });
  if (job.status === 'queued') facts.append(job.position ? 'position ' + job.position : 'waiting to retry', ' · ', ago(job.createdAt));
  if (job.result) {
    facts.append(seconds(job.result.durationMs) + ' video · ' + job.result.frames + ' frames · ' + job.result.width + '×' + job.result.height + ' · baked in ' + took(job) + ' ');
    const mp4 = link(job.result.mp4Url, 'MP4');
    const thumb = link(job.result.thumbnailUrl, 'thumbnail');
    if (mp4) facts.append(mp4, ' ');
    if (thumb) facts.append(thumb);
  }
  if (job.error) facts.append(el('span', { class: 'err' }, job.error.code + ': ' + job.error.message));
  if (job.callback) {
    const { state, attempts, lastError } = job.callback;
    const tries = attempts ? ' after ' + attempts + ' attempt' + (attempts > 1 ? 's' : '') : '';
    facts.append(el('div', { class: 'cb cb-' + state }, 'callback ' + state + tries + (lastError && state !== 'delivered' ? ' (' + lastError + ')' : '')));
  }
  if (job.finishedAt) facts.append(el('div', { class: 'when' }, 'finished ' + ago(job.finishedAt)));
  node.append(facts);
  const thumbnail = job.result && job.result.thumbnailUrl ? safeHref(job.result.thumbnailUrl) : null;
  if (thumbnail) node.prepend(el('img', { src: thumbnail, alt: '', loading: 'lazy' }));
  return node;
}

function render() {
  const all = [...jobs.values()];
  const active = all.filter((j) => !['queued', 'done', 'failed'].includes(j.status));
  const queued = all.filter((j) => j.status === 'queued').sort((a, b) => (a.position || 1e9) - (b.position || 1e9));
  const recent = all
    .filter((j) => j.status === 'done' || j.status === 'failed')
    .sort((a, b) => (b.finishedAt || '').localeCompare(a.finishedAt || ''))
    .slice(0, RECENT);
  $('#queued').textContent = String(queue.queued);
  $('#running').textContent = queue.running + ' / ' + queue.concurrency;
  $('#limit').textContent = String(queue.limit);
  for (const [id, list] of /** @type {[string, JobView[]][]} */ ([['#active', active], ['#waiting', queued], ['#recent', recent]])) {
    $(id).replaceChildren(...(list.length ? list.map(card) : [el('li', { class: 'empty' }, 'none')]));
  }
}

function connect() {
  const source = new EventSource('events');
  const conn = $('#conn');
  source.addEventListener('open', () => {
    conn.textContent = 'live';
    conn.className = 'live';
  });
  source.addEventListener('error', () => {
    conn.textContent = 'reconnecting…';
    conn.className = 'down';
  });
  source.addEventListener('snapshot', (e) => {
    /** @type {{ queued: JobView[], active: JobView[], recent: JobView[], queue: Queue }} */
    const data = JSON.parse(/** @type {MessageEvent} */ (e).data);
    jobs.clear();
    for (const j of [...data.queued, ...data.active, ...data.recent]) jobs.set(j.jobId, j);
    queue = data.queue;
    render();
  });
  source.addEventListener('job', (e) => {
    /** @type {{ job: JobView, queue: Queue }} */
    const data = JSON.parse(/** @type {MessageEvent} */ (e).data);
    jobs.set(data.job.jobId, data.job);
    queue = data.queue;
    render();
  });
}
connect();
setInterval(render, 10000);
