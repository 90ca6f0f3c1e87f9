// GET /events: server-sent events for the dashboard. A snapshot on connect, then every job change.
// One listener on the manager serves every client (each change is turned into JSON once).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Job } from '../jobs/job.ts';
import type { JobManager } from '../jobs/manager.ts';
import type { EventStreams, Stream } from './sse.ts';

export function eventsRoute(jobs: JobManager, streams: EventStreams, queueLimit: number, concurrency: number) {
  const queueFigures = () => ({ queued: jobs.waitingCount(), running: jobs.runningCount(), limit: queueLimit, concurrency, draining: jobs.isDraining() });
  const clients = new Set<Stream>();
  jobs.on('change', (job: Job) => {
    if (clients.size === 0) return;
    const data = { job: jobs.view(job), queue: queueFigures() };
    for (const client of clients) client.send('job', data);
  });

  return (req: IncomingMessage, res: ServerResponse) => {
    const stream = streams.start(req, res, {}, () => clients.delete(stream!));
    if (!stream) return;
    clients.add(stream);
    stream.send('snapshot', { ...jobs.summary(), queue: queueFigures() });
  };
}
