// GET /events: server-sent events for the dashboard. A snapshot on connect, then every job change.
// One listener on the jobs serves every client (each change is turned into JSON once).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JobView } from '../jobs/job.ts';
import type { Jobs } from '../jobs/jobs.ts';
import type { EventStreams, Stream } from './sse.ts';

export function eventsRoute(jobs: Jobs, streams: EventStreams) {
  const clients = new Set<Stream>();
  jobs.on('change', (view: JobView) => {
    if (clients.size === 0) return;
    const data = { job: view, queue: jobs.figures() };
    for (const client of clients) client.send('job', data);
  });

  return async (req: IncomingMessage, res: ServerResponse) => {
    const stream = streams.start(req, res, {}, () => clients.delete(stream!));
    if (!stream) return;
    const summary = await jobs.summary().catch(() => ({ queued: [], active: [], recent: [] }));
    if (stream.closed) return;
    // The snapshot first: the page starts over from it, so a change sent before it would be lost.
    stream.send('snapshot', { ...summary, queue: jobs.figures() });
    clients.add(stream);
  };
}
