// Which browser pages may read a job's status and progress (OVEN_CORS_ORIGINS): the AC site polls
// /status/:jobId and follows /status/:jobId/events from its own origin.

import type { IncomingMessage, ServerResponse } from 'node:http';

/** The CORS headers for this request: the origin echoed when it is allowed, nothing otherwise. */
export function corsHeaders(req: IncomingMessage, allowed: readonly string[]): Record<string, string> {
  const origin = req.headers.origin;
  const base = { Vary: 'Origin' };
  if (typeof origin !== 'string' || !allowed.includes(origin)) return base;
  return { ...base, 'Access-Control-Allow-Origin': origin };
}

/** OPTIONS (a preflight): 204, with what an allowed origin may do. */
export function preflightRoute(allowed: readonly string[]) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const headers = corsHeaders(req, allowed);
    res.writeHead(204, {
      ...headers,
      ...(headers['Access-Control-Allow-Origin']
        ? { 'Access-Control-Allow-Methods': 'GET, OPTIONS', 'Access-Control-Allow-Headers': 'Last-Event-ID, Cache-Control', 'Access-Control-Max-Age': '600' }
        : {}),
    });
    res.end();
  };
}
