// GET /status/:jobId and GET /status: what the oven is doing, for operators and the Netlify side.

import type { ServerResponse } from 'node:http';
import { OvenError } from '../errors.ts';
import type { Jobs } from '../jobs/jobs.ts';
import { sendError, sendJson } from './respond.ts';

export function statusRoute(jobs: Jobs) {
  return async (req: { params: Record<string, string> }, res: ServerResponse) => {
    try {
      const view = await jobs.view(req.params.jobId ?? '');
      if (!view) return sendError(res, new OvenError('NOT_FOUND', 'No job has that id (finished jobs are forgotten after a while).'));
      sendJson(res, 200, view);
    } catch (err) {
      sendError(res, err);
    }
  };
}

export function summaryRoute(jobs: Jobs) {
  return async (_req: unknown, res: ServerResponse) => {
    try {
      sendJson(res, 200, await jobs.summary());
    } catch (err) {
      sendError(res, err);
    }
  };
}
