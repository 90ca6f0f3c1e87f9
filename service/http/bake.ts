// POST /bake: read, authorise, check, hand to the job manager, answer 202.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { drainingError, type Jobs } from '../jobs/jobs.ts';
import type { UrlPolicy } from '../net/guard.ts';
import { authorise, parseBakeRequest } from './bake-request.ts';
import { readJsonBody } from './body.ts';
import { sendError, sendJson } from './respond.ts';

export const MAX_BAKE_BODY_BYTES = 64 * 1024;

export function bakeRoute(jobs: Jobs, secret: string, policy: UrlPolicy) {
  return async (req: IncomingMessage, res: ServerResponse & { locals?: Record<string, unknown> }) => {
    try {
      if (jobs.isDraining()) {
        // Answered before reading or resolving anything: a draining oven takes no new work.
        req.resume();
        throw drainingError();
      }
      const body = await readJsonBody(req, MAX_BAKE_BODY_BYTES);
      authorise(req.headers, body, secret);
      const request = await parseBakeRequest(body, policy);
      const { view, duplicate } = await jobs.submit(request);
      res.locals = { jobId: view.jobId };
      sendJson(res, 202, {
        jobId: view.jobId,
        slug: view.slug,
        // A new job is answered as queued, even when a free baker has started it already.
        status: duplicate ? view.status : 'queued',
        statusUrl: `/status/${view.jobId}`,
        position: view.position ?? 0,
        ...(duplicate ? { duplicate: true } : {}),
      });
    } catch (err) {
      sendError(res, err);
    }
  };
}
