// A pass-through proxy in front of an S3 server (s3rver) that records every request and, during an
// outage, answers 5xx instead of passing the request on: an S3 endpoint that fails for a while.

import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  status: number;
  at: number;
}

export interface S3OutageProxy {
  /** http://127.0.0.1:<port>: use it as the S3 endpoint (path style). */
  endpoint: string;
  seen: SeenRequest[];
  /**
   * Answers `statuses` in turn (default 503 only) to every request for the next `ms`.
   * Resolves nothing: the outage ends by itself; `outageEndsAt` says when.
   */
  outageFor(ms: number, statuses?: number[]): void;
  /** Date.now() at which the current (or last) outage ends; 0 before any. */
  readonly outageEndsAt: number;
  stop(): Promise<void>;
}

const ERROR_BODY: Record<number, string> = {
  500: '<?xml version="1.0"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>',
  503: '<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>',
};

export async function startS3OutageProxy(target: string): Promise<S3OutageProxy> {
  const seen: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  let outageUntil = 0;
  let statuses = [503];
  let turn = 0;
  const server = http.createServer((req, res) => {
    if (Date.now() < outageUntil) {
      const status = statuses[turn++ % statuses.length]!;
      req.resume();
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, status, at: Date.now() });
        res.writeHead(status, { 'content-type': 'application/xml' });
        res.end(ERROR_BODY[status] ?? '<?xml version="1.0"?><Error><Code>ServiceUnavailable</Code></Error>');
      });
      return;
    }
    const upstream = http.request(new URL(req.url!, target), { method: req.method, headers: req.headers }, (answer) => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, status: answer.statusCode!, at: Date.now() });
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    outageFor(ms, answer = [503]) {
      statuses = answer.length ? answer : [503];
      turn = 0;
      outageUntil = Date.now() + ms;
    },
    get outageEndsAt() {
      return outageUntil;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
