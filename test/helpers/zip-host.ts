// A ZIP host on loopback: serves tape ZIPs by path, and can misbehave on request
// (fail with a status, close mid-body, stall, trickle bytes, redirect) to test the fetch side.

import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Behaviour =
  | { kind: 'ok' }
  | { kind: 'status'; status: number }
  | { kind: 'close-mid-body' }
  | { kind: 'trickle'; bytesPerSecond: number }
  /** Sends the headers and the first half of the body, then goes silent (the connection stays open). */
  | { kind: 'stall' }
  | { kind: 'redirect'; location: string };

export interface ZipHost {
  url: string;
  /** Serves `data` at `/name`; `behaviours` are used one per request, then plain serving. */
  put(name: string, data: Buffer, ...behaviours: Behaviour[]): string;
  requests: string[];
  close(): Promise<void>;
}

export async function startZipHost(): Promise<ZipHost> {
  const files = new Map<string, { data: Buffer; behaviours: Behaviour[] }>();
  const requests: string[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').split('?')[0]!.slice(1));
    requests.push(name);
    const file = files.get(name);
    if (!file) {
      res.writeHead(404).end('not found');
      return;
    }
    const behaviour = file.behaviours.shift() ?? { kind: 'ok' };
    switch (behaviour.kind) {
      case 'ok':
        res.writeHead(200, { 'content-type': 'application/zip', 'content-length': file.data.length }).end(file.data);
        return;
      case 'status':
        res.writeHead(behaviour.status).end('no');
        return;
      case 'redirect':
        res.writeHead(302, { location: behaviour.location }).end();
        return;
      case 'close-mid-body':
        res.writeHead(200, { 'content-type': 'application/zip', 'content-length': file.data.length });
        res.write(file.data.subarray(0, Math.floor(file.data.length / 2)), () => res.destroy());
        return;
      case 'stall':
        res.writeHead(200, { 'content-type': 'application/zip', 'content-length': file.data.length });
        res.write(file.data.subarray(0, Math.floor(file.data.length / 2)));
        return;
      case 'trickle': {
        res.writeHead(200, { 'content-type': 'application/zip', 'content-length': file.data.length });
        let offset = 0;
        const step = Math.max(1, Math.floor(behaviour.bytesPerSecond / 10));
        const timer = setInterval(() => {
          if (res.destroyed || offset >= file.data.length) {
            clearInterval(timer);
            if (!res.destroyed) res.end();
            return;
          }
          res.write(file.data.subarray(offset, offset + step));
          offset += step;
        }, 100);
        res.on('close', () => clearInterval(timer));
        return;
      }
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    put(name, data, ...behaviours) {
      files.set(name, { data, behaviours });
      return `${url}/${encodeURIComponent(name)}`;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
