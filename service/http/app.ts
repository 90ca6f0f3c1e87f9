// The HTTP layer: routes only. Each handler checks the request, calls the domain, answers JSON.

import polka from 'polka';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OvenError } from '../errors.ts';
import type { Jobs } from '../jobs/jobs.ts';
import { log } from '../log.ts';
import type { UrlPolicy } from '../net/guard.ts';
import type { HealthReport } from '../health.ts';
import type { Registry } from '../metrics/registry.ts';
import { bakeRoute } from './bake.ts';
import { serveBlob } from './blobs.ts';
import { dashboardRoute } from './dashboard.ts';
import { eventsRoute } from './events.ts';
import { healthRoute } from './health.ts';
import { preflightRoute } from './cors.ts';
import { jobEventsRoute } from './job-events.ts';
import { EventStreams } from './sse.ts';
import { sendError } from './respond.ts';
import { statusRoute, summaryRoute } from './status.ts';

export interface AppDeps {
  jobs: Jobs;
  secret: string;
  policy: UrlPolicy;
  health: () => Promise<HealthReport>;
  version: string;
  startedAt: number;
  /** OVEN_MAX_EVENT_CLIENTS: event streams open at once (the dashboard's, and apart, the per-job ones). */
  maxEventClients: number;
  /** OVEN_CORS_ORIGINS: pages that may read /status/:jobId and its events. */
  corsOrigins: readonly string[];
  metrics: Registry;
  /** Folder of local blobs, when blobs are stored on this disk. */
  localBlobRoot?: string;
}

type Res = ServerResponse & { locals?: Record<string, unknown> };

/** One JSON line per request, with the job it touched; never the query string (it may carry tokens). */
function logRequest(req: IncomingMessage & { path?: string }, res: Res, next: () => void): void {
  const started = process.hrtime.bigint();
  res.on('finish', () => {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const fields = { method: req.method, path: req.path ?? (req.url ?? '').split('?')[0], status: res.statusCode, ms: Math.round(ms * 10) / 10, ...res.locals };
    if (req.path === '/health' || req.path === '/events' || req.path === '/metrics') log.debug('request', fields);
    else log.info('request', fields);
  });
  next();
}

function baseApp(deps: Pick<AppDeps, 'jobs' | 'health' | 'version' | 'startedAt' | 'metrics'>) {
  const app = polka({
    onError: (err, _req, res) => {
      log.error('unhandled error in a route', { err });
      sendError(res, err);
    },
    onNoMatch: (_req, res) => sendError(res, new OvenError('NOT_FOUND', 'There is nothing at this address.')),
  });
  app.use(logRequest);
  app.get('/health', healthRoute({ ...deps, check: deps.health }));
  app.get('/metrics', (_req, res) => {
    const text = deps.metrics.render();
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  });
  return app;
}

/** A worker (OVEN_ROLE=worker) answers only what monitoring reads: /health and /metrics. */
export function createWorkerApp(deps: Pick<AppDeps, 'jobs' | 'health' | 'version' | 'startedAt' | 'metrics'>) {
  return baseApp(deps);
}

/** The whole API: jobs, status, the dashboard and its stream, health, metrics, local blobs. */
export function createApp(deps: AppDeps) {
  const app = baseApp(deps);
  app.post('/bake', bakeRoute(deps.jobs, deps.secret, deps.policy));
  app.get('/status', summaryRoute(deps.jobs));
  app.get('/status/:jobId', statusRoute(deps.jobs, deps.corsOrigins));
  app.get('/status/:jobId/events', jobEventsRoute(deps.jobs, new EventStreams(deps.maxEventClients), deps.corsOrigins));
  app.options('/status/:jobId', preflightRoute(deps.corsOrigins));
  app.options('/status/:jobId/events', preflightRoute(deps.corsOrigins));
  app.get('/', dashboardRoute());
  app.get('/events', eventsRoute(deps.jobs, new EventStreams(deps.maxEventClients)));
  if (deps.localBlobRoot) {
    const blobs = serveBlob(deps.localBlobRoot);
    // Every method reaches it, so that anything but GET and HEAD is answered 405, not 404.
    app.all('/blobs/*', blobs);
  }
  return app;
}
