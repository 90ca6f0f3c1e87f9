// GET /status/:jobId and GET /status: what the oven is doing, for operators and the Netlify side.

import type { ServerResponse } from 'node:http';
import { OvenError } from '../errors.ts';
import type { JobManager } from '../jobs/manager.ts';
import { sendError, sendJson } from './respond.ts';

export function statusRoute(jobs: JobManager) {
  return (req: { params: Record<string, string> }, res: ServerResponse) => {
    const job = jobs.get(req.params.jobId ?? '');
    if (!job) return sendError(res, new OvenError('NOT_FOUND', 'No job has that id (finished jobs are forgotten after a while).'));
    sendJson(res, 200, jobs.view(job));
  };
}

export function summaryRoute(jobs: JobManager) {
  return (_req: unknown, res: ServerResponse) => sendJson(res, 200, jobs.summary());
}
