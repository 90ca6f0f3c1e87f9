// GET /health: 200 when the oven can bake, 503 with the problems when it cannot.

import type { ServerResponse } from 'node:http';
import type { HealthReport } from '../health.ts';
import type { JobManager } from '../jobs/manager.ts';
import { sendJson } from './respond.ts';

export interface HealthRouteDeps {
  jobs: JobManager;
  check: () => Promise<HealthReport>;
  version: string;
  startedAt: number;
  concurrency: number;
  queueLimit: number;
}

export function healthRoute({ jobs, check, version, startedAt, concurrency, queueLimit }: HealthRouteDeps) {
  return async (_req: unknown, res: ServerResponse) => {
    const report = await check().catch((err: Error) => ({ healthy: false, problems: [`The health check failed: ${err.message}`], ffmpeg: undefined }));
    // A save the store refused is known at once, before the folder check's next round.
    const storeProblem = jobs.storeProblem();
    const problems = storeProblem && !report.problems.includes(storeProblem) ? [...report.problems, storeProblem] : report.problems;
    if (problems.length > 0) return sendJson(res, 503, { status: 'unhealthy', version, problems });
    sendJson(res, 200, {
      status: 'healthy',
      version,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      queue: { queued: jobs.waitingCount(), running: jobs.runningCount(), concurrency, limit: queueLimit },
      ffmpeg: report.ffmpeg,
      ...(jobs.isDraining() ? { draining: true } : {}),
    });
  };
}
