// GET /events: server-sent events for the dashboard. A snapshot on connect, then every job change.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Job } from '../jobs/job.ts';
import type { JobManager } from '../jobs/manager.ts';

const HEARTBEAT_MS = 15_000;

export function eventsRoute(jobs: JobManager, queueLimit: number, concurrency: number) {
  const queueFigures = () => ({ queued: jobs.waitingCount(), running: jobs.runningCount(), limit: queueLimit, concurrency, draining: jobs.isDraining() });

  return (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    res.write('retry: 2000\n\n');
    send('snapshot', { ...jobs.summary(), queue: queueFigures() });

    const onChange = (job: Job) => send('job', { job: jobs.view(job), queue: queueFigures() });
    jobs.on('change', onChange);
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    req.on('close', () => {
      clearInterval(heartbeat);
      jobs.off('change', onChange);
    });
  };
}
