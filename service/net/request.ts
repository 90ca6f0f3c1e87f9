// One HTTP request through undici's dispatch API, with the answer's body consumed synchronously, in
// undici's own callback, from its first byte: given to `onBody` (a 2xx body) or dropped.
//
// Why not `undici.request()`: its body is a stream that nobody reads until the caller's `await` has
// returned. undici 7 crashes the whole process (an uncatchable `assert(!this.paused)` in its socket
// end handler, nodejs/undici#5360, fixed only in undici 8, which needs Node 22) when a server closes
// the connection while such an unread body fills its 64 KiB buffer: HTTP/1.0 hosts, `Connection:
// close`, a busy CPU. A consumer that is in place before the request is sent, and never pauses,
// closes that window whatever the server does. Both the ZIP download and the callbacks use this.

import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';

export interface SendOptions {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  /** Longest wait for the answer's headers. */
  headersTimeoutMs: number;
  /** Longest silence between body chunks. */
  bodyTimeoutMs: number;
  signal?: AbortSignal;
  /**
   * Called when a 2xx answer's headers arrive, before its body; throwing refuses the answer (the
   * request is aborted with that error). `declaredBytes` is the Content-Length, when there is one.
   */
  onAccept?: (status: number, headers: IncomingHttpHeaders, declaredBytes: number | undefined) => void;
  /** Each chunk of a 2xx body, synchronously (write it or count it; never wait). Throwing aborts. Without it the body is dropped. */
  onBody?: (chunk: Buffer) => void;
  /** Settle as soon as the headers are in (the body is still read and dropped in the background). */
  settleOnHeaders?: boolean;
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  /** Bytes of the body given to onBody (0 when it was dropped). */
  bodyBytes: number;
}

/** How many times a request is sent when connections keep dying before they answer. */
const SENDS_ON_DEAD_CONNECTIONS = 3;
/** The signs of a pooled keep-alive connection the server had already closed. */
const DEAD_CONNECTION_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);
/** Bytes of a body nobody wants (a redirect's, an error page) read before the connection is given up. */
const DROPPED_BODY_LIMIT = 64 * 1024;

class DeadBeforeAnswer extends Error {
  constructor(override readonly cause: unknown) {
    super('the connection closed before the answer began');
  }
}

/**
 * Sends the request; when it dies before any byte of the answer on a connection the server had
 * dropped (a reused keep-alive connection), sends it again at once on a fresh one.
 */
export async function send(dispatcher: Dispatcher, url: URL, options: SendOptions): Promise<Answer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await sendOnce(dispatcher, url, options, attempt > 1);
    } catch (err) {
      if (!(err instanceof DeadBeforeAnswer)) throw err;
      if (attempt >= SENDS_ON_DEAD_CONNECTIONS || options.signal?.aborted) throw err.cause;
    }
  }
}

function sendOnce(dispatcher: Dispatcher, url: URL, options: SendOptions, fresh: boolean): Promise<Answer> {
  const { signal } = options;
  return new Promise((resolve, reject) => {
    let answer: Answer | undefined;
    let wanted = false;
    let dropped = 0;
    let settled = false;
    let controller: Dispatcher.DispatchController | undefined;
    const onAbort = (): void => controller?.abort(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    const settle = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (err !== undefined) reject(err);
      else resolve(answer!);
    };
    if (signal?.aborted) return reject(signal.reason);
    signal?.addEventListener('abort', onAbort, { once: true });

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (signal?.aborted) onAbort();
      },
      onResponseStart(c, status, headers) {
        if (status < 200) return; // 1xx: the real answer follows
        answer = { status, headers, bodyBytes: 0 };
        wanted = status <= 299 && options.onBody !== undefined;
        if (status <= 299 && options.onAccept) {
          const declared = Number(headers['content-length']);
          try {
            options.onAccept(status, headers, Number.isSafeInteger(declared) && declared >= 0 ? declared : undefined);
          } catch (err) {
            return c.abort(err as Error);
          }
        }
        if (options.settleOnHeaders) settle();
      },
      onResponseData(c, chunk) {
        if (!wanted) {
          dropped += chunk.length;
          if (dropped > DROPPED_BODY_LIMIT) c.abort(new Error('the answer had a long body nobody reads'));
          return;
        }
        answer!.bodyBytes += chunk.length;
        try {
          options.onBody!(chunk);
        } catch (err) {
          c.abort(err as Error);
        }
      },
      onResponseEnd() {
        settle();
      },
      onResponseError(_c, err) {
        const code = (err as { code?: unknown }).code;
        if (answer === undefined && typeof code === 'string' && DEAD_CONNECTION_CODES.has(code)) return settle(new DeadBeforeAnswer(err));
        settle(err);
      },
    };
    dispatcher.dispatch(
      {
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: options.method,
        headers: options.headers,
        ...(options.body !== undefined ? { body: options.body } : {}),
        headersTimeout: options.headersTimeoutMs,
        bodyTimeout: options.bodyTimeoutMs,
        // A second send after a dead pooled connection does not put its own back in the pool.
        ...(fresh ? { reset: true } : {}),
      },
      handler,
    );
  });
}
