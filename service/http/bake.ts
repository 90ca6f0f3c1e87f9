// POST /bake: read, authorise, check, hand to the job manager, answer 202.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { OvenError } from '../errors.ts';
import type { JobManager } from '../jobs/manager.ts';
import type { UrlPolicy } from '../net/guard.ts';
import { authorise, parseBakeRequest } from './bake-request.ts';
import { readJsonBody } from './body.ts';
import { sendError, sendJson } from './respond.ts';

export const MAX_BAKE_BODY_BYTES = 64 * 1024;

export function bakeRoute(jobs: JobManager, secret: string, policy: UrlPolicy) {
  return async (req: IncomingMessage, res: ServerResponse & { locals?: Record<string, unknown> }) => {
    try {
      if (jobs.isDraining()) {
        // Answered before reading or resolving anything: a draining oven takes no new work.
        req.resume();
        throw new OvenError('DRAINING', 'The oven is shutting down; try again in a minute.');
      }
      const body = await readJsonBody(req, MAX_BAKE_BODY_BYTES);
      authorise(req.headers, body, secret);
      const request = await parseBakeRequest(body, policy);
      const { job, status, position, duplicate } = await jobs.submit(request);
      res.locals = { jobId: job.jobId };
      sendJson(res, 202, {
        jobId: job.jobId,
        slug: job.request.slug,
        status,
        statusUrl: `/status/${job.jobId}`,
        position,
        ...(duplicate ? { duplicate: true } : {}),
      });
    } catch (err) {
      sendError(res, err);
    }
  };
}
