// A callback receiver on 127.0.0.1 for tests: records every request with its raw body and answers
// as told (a queue of answers, then a default), and can go down and come back on the same port.

import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ReceivedRequest {
  method: string;
  /** Path and query as sent. */
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Date.now() when the body had arrived. */
  at: number;
  /** The status actually written back; unset while waiting, or when the client left before the answer. */
  answered?: number;
}

export interface Answer {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** Wait this long before answering (to trigger timeouts). */
  delayMs?: number;
  /** Answer 302 with this Location. */
  redirectTo?: string;
  /** Sets Retry-After (seconds or an HTTP date). */
  retryAfter?: string | number;
}

export interface Receiver {
  /** http://127.0.0.1:<port> — append a path for callbackUrl. */
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** The requests whose JSON body names this jobId, to paths starting with `path` when given (callbacks, progress). */
  requestsFor(jobId: string, path?: string): ReceivedRequest[];
  /** Answers for the next requests, in order; after them the default (200 `{"ok":true}`). */
  respond(...answers: Answer[]): void;
  setDefault(answer: Answer): void;
  /** Resolves with the requests once at least n have arrived (rejects after timeoutMs). */
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  /** Stop listening (connections refused) but keep the port for up(). */
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

export async function startReceiver(options: { answers?: Answer[]; defaultAnswer?: Answer; port?: number } = {}): Promise<Receiver> {
  const queue: Answer[] = [...(options.answers ?? [])];
  let fallback: Answer = options.defaultAnswer ?? { status: 200, body: '{"ok":true}' };
  const requests: ReceivedRequest[] = [];
  const waiters = new Set<() => void>();
  const sockets = new Set<Socket>();

  const handler: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const received: ReceivedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      requests.push(received);
      for (const wake of waiters) wake();
      const answer = queue.shift() ?? fallback;
      const reply = () => {
        if (res.destroyed) return;
        const headers: Record<string, string> = { 'content-type': 'application/json', ...answer.headers };
        if (answer.retryAfter !== undefined) headers['retry-after'] = String(answer.retryAfter);
        if (answer.redirectTo) headers.location = answer.redirectTo;
        const status = answer.redirectTo ? (answer.status ?? 302) : (answer.status ?? 200);
        res.writeHead(status, headers);
        res.end(answer.body ?? '');
        received.answered = status;
      };
      if (answer.delayMs) setTimeout(reply, answer.delayMs);
      else reply();
    });
  };

  let server: http.Server;
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server = http.createServer(handler);
      server.on('connection', (s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    });
  const close = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });

  const port = await listen(options.port ?? 0);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    requestsFor: (jobId, path) =>
      requests.filter((r) => {
        if (path !== undefined && !r.url.startsWith(path)) return false;
        try {
          return JSON.parse(r.body).jobId === jobId;
        } catch {
          return false;
        }
      }),
    respond: (...answers) => void queue.push(...answers),
    setDefault: (answer) => void (fallback = answer),
    waitFor(n, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (requests.length < n) return;
          cleanup();
          resolve(requests.slice());
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`receiver: expected ${n} requests, got ${requests.length} within ${timeoutMs} ms`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    down: close,
    up: async () => {
      if (!server.listening) await listen(port);
    },
    stop: close,
  };
}
