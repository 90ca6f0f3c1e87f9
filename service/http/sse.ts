// Server-sent event streams with a bound on what they may cost: at most `maxClients` open at once
// (the next gets 503), and a client that stops reading is dropped once MAX_UNSENT_BYTES wait for it,
// so a stalled browser can never make the server hold every event it missed. A dropped
// EventSource reconnects by itself and starts again from a fresh snapshot.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { OvenError } from '../errors.ts';
import { sendError } from './respond.ts';

/** Bytes a client may leave unread before it is disconnected. */
export const MAX_UNSENT_BYTES = 256 * 1024;
const HEARTBEAT_MS = 15_000;

export interface Stream {
  /** Sends one event (with an id, when given); false when the client was dropped (or is gone). */
  send(event: string, data: unknown, id?: string): boolean;
  end(): void;
  readonly closed: boolean;
}

export class EventStreams {
  private readonly open = new Set<ServerResponse>();

  constructor(private readonly maxClients: number) {}

  get count(): number {
    return this.open.size;
  }

  /**
   * Starts a stream on `res`, or answers 503 TOO_MANY_STREAMS when the cap is reached. `onClose`
   * runs once, however the stream ends (the client left, was dropped, or `end()` was called).
   */
  start(req: IncomingMessage, res: ServerResponse, headers: Record<string, string>, onClose: () => void): Stream | undefined {
    if (this.open.size >= this.maxClients) {
      sendError(res, new OvenError('TOO_MANY_STREAMS', `${this.maxClients} event streams are open already (OVEN_MAX_EVENT_CLIENTS); try again soon.`));
      return undefined;
    }
    this.open.add(res);
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
      ...headers,
    });
    let closed = false;
    const heartbeat = setInterval(() => write(': keep-alive\n\n'), HEARTBEAT_MS);
    const close = (): void => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      this.open.delete(res);
      onClose();
    };
    const write = (text: string): boolean => {
      if (closed || res.destroyed) return false;
      if (res.writableLength > MAX_UNSENT_BYTES) {
        // Not reading: drop it rather than queue for it.
        res.destroy();
        close();
        return false;
      }
      res.write(text);
      return true;
    };
    req.on('close', close);
    res.on('close', close);
    write('retry: 2000\n\n');
    return {
      send: (event, data, id) => write(`${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`),
      end: () => {
        res.end();
        close();
      },
      get closed() {
        return closed;
      },
    };
  }
}
