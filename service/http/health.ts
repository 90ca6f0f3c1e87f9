// GET /health: 200 when the oven can bake, 503 with the problems when it cannot.

import type { ServerResponse } from 'node:http';
import type { HealthReport } from '../health.ts';
import type { Jobs } from '../jobs/jobs.ts';
import { sendJson } from './respond.ts';

export interface HealthRouteDeps {
  jobs: Jobs;
  check: () => Promise<HealthReport>;
  version: string;
  startedAt: number;
}

export function healthRoute({ jobs, check, version, startedAt }: HealthRouteDeps) {
  return async (_req: unknown, res: ServerResponse) => {
    const report = await check().catch((err: Error) => ({ healthy: false, problems: [`The health check failed: ${err.message}`], ffmpeg: undefined }));
    // A save the store refused, or Redis gone, is known at once, before the folder check's next round.
    const problems = [...new Set([...report.problems, ...jobs.problems()])];
    if (problems.length > 0) return sendJson(res, 503, { status: 'unhealthy', version, problems });
    const { queued, running, concurrency, limit, draining } = jobs.figures();
    sendJson(res, 200, {
      status: 'healthy',
      version,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      queue: { queued, running, concurrency, limit },
      ffmpeg: report.ffmpeg,
      ...(draining ? { draining: true } : {}),
    });
  };
}
