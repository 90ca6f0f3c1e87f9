// GET /status/:jobId/events: one job's progress as server-sent events, for a page on the AC site.
// A `status` event at once and at every change ({jobId, status, progress}; progress at most four
// times a second), then one `done` or `failed` event with the job's result or error, and the stream
// ends. The last event's id is `end`: an EventSource that reconnects after it is answered 204, which
// tells it to stop; one that reconnects earlier simply starts again from the job's state now.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { OvenError } from '../errors.ts';
import { isTerminal, type JobView } from '../jobs/job.ts';
import type { Jobs } from '../jobs/jobs.ts';
import { corsHeaders } from './cors.ts';
import { sendError } from './respond.ts';
import type { EventStreams, Stream } from './sse.ts';

/** At most this often a progress-only change is sent (a stage change goes at once). */
const PROGRESS_EVERY_MS = 250;
const END_ID = 'end';

class Watcher {
  private sent?: { status: string; progress: number; at: number };
  private pending?: NodeJS.Timeout;

  constructor(private readonly stream: Stream) {}

  update(view: JobView): void {
    if (this.stream.closed) return;
    if (isTerminal(view.status)) return this.finish(view);
    const { status, progress } = view;
    if (this.sent && this.sent.status === status && this.sent.progress === progress) return;
    const wait = this.sent && this.sent.status === status ? this.sent.at + PROGRESS_EVERY_MS - Date.now() : 0;
    if (this.pending) clearTimeout(this.pending);
    if (wait > 0) {
      this.pending = setTimeout(() => this.send(view), wait);
      return;
    }
    this.send(view);
  }

  close(): void {
    if (this.pending) clearTimeout(this.pending);
  }

  private send(view: JobView): void {
    this.pending = undefined;
    this.sent = { status: view.status, progress: view.progress, at: Date.now() };
    this.stream.send('status', { jobId: view.jobId, status: view.status, progress: view.progress });
  }

  private finish(view: JobView): void {
    this.close();
    const body = view.status === 'done' ? { jobId: view.jobId, status: view.status, result: view.result, warning: view.warning } : { jobId: view.jobId, status: view.status, error: view.error };
    this.stream.send(view.status, body, END_ID);
    this.stream.end();
  }
}

export function jobEventsRoute(jobs: Jobs, streams: EventStreams, corsOrigins: readonly string[]) {
  const watchers = new Map<string, Set<Watcher>>();
  jobs.on('change', (view: JobView) => {
    for (const watcher of watchers.get(view.jobId) ?? []) watcher.update(view);
  });

  return async (req: IncomingMessage & { params?: Record<string, string> }, res: ServerResponse) => {
    const cors = corsHeaders(req, corsOrigins);
    const jobId = req.params?.jobId ?? '';
    let view: JobView | undefined;
    try {
      view = await jobs.view(jobId);
    } catch (err) {
      return sendError(res, err, cors);
    }
    if (!view) return sendError(res, new OvenError('NOT_FOUND', 'No job has that id (finished jobs are forgotten after a while).'), cors);
    if (isTerminal(view.status) && req.headers['last-event-id'] === END_ID) {
      res.writeHead(204, cors);
      return void res.end();
    }
    let watcher: Watcher | undefined;
    const stream = streams.start(req, res, cors, () => {
      watcher?.close();
      const set = watchers.get(jobId);
      set?.delete(watcher!);
      if (set?.size === 0) watchers.delete(jobId);
    });
    if (!stream) return;
    watcher = new Watcher(stream);
    if (!watchers.has(jobId)) watchers.set(jobId, new Set());
    watchers.get(jobId)!.add(watcher);
    watcher.update(view);
    // A change between reading the view and listening is caught by reading it once more.
    const now = await jobs.view(jobId).catch(() => undefined);
    if (now) watcher.update(now);
  };
}
