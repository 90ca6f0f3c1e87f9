// GET /status/:jobId and GET /status: what the oven is doing, for operators and the Netlify side.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { corsHeaders } from './cors.ts';
import { OvenError } from '../errors.ts';
import type { Jobs } from '../jobs/jobs.ts';
import { sendError, sendJson } from './respond.ts';

/** A page on an allowed origin (OVEN_CORS_ORIGINS) may read a job's status. */
export function statusRoute(jobs: Jobs, corsOrigins: readonly string[]) {
  return async (req: IncomingMessage & { params: Record<string, string> }, res: ServerResponse) => {
    const cors = corsHeaders(req, corsOrigins);
    try {
      const view = await jobs.view(req.params.jobId ?? '');
      if (!view) return sendError(res, new OvenError('NOT_FOUND', 'No job has that id (finished jobs are forgotten after a while).'), cors);
      sendJson(res, 200, view, cors);
    } catch (err) {
      sendError(res, err, cors);
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
