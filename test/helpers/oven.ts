// Starts the real service as its own process (what `npm start` runs), on a free loopback port,
// with its own data and work folders, and collects its log lines for assertions.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TEST_SECRET = 'test-secret-0123456789abcdef';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface OvenProcess {
  url: string;
  port: number;
  dataDir: string;
  tempDir: string;
  env: Record<string, string>;
  proc: ChildProcess;
  /** Every line the process printed so far, stdout and stderr. */
  lines: string[];
  /** Parsed JSON log lines. */
  logs(): Array<Record<string, unknown>>;
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit code when the process ends. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Removes the folders too. */
  cleanup(): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Reuse folders of an earlier process (restart after a kill). */
  dataDir?: string;
  tempDir?: string;
  port?: number;
  /** Wait for /health to answer 200 (default) or only for the listening line. */
  waitHealthy?: boolean;
  /** Node's arguments; default the TypeScript entry through tsx (benchmarks pass the compiled one). */
  nodeArgs?: string[];
}

export async function startOven(options: StartOptions = {}): Promise<OvenProcess> {
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'oven-data-')));
  const tempDir = options.tempDir ?? (await mkdtemp(path.join(os.tmpdir(), 'oven-work-')));
  const port = options.port ?? (await freePort());
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    CALLBACK_SECRET: TEST_SECRET,
    OVEN_DATA_DIR: dataDir,
    TEMP_DIR: tempDir,
    OVEN_ALLOW_PRIVATE_NETWORKS: 'true',
    OVEN_MIN_FREE_DISK_MB: '1',
    OVEN_CALLBACK_RETRY_BASE_MS: '200',
    OVEN_JOB_RETRY_BASE_MS: '300',
    LOG_LEVEL: 'debug',
    ...options.env,
  };
  const proc = spawn(process.execPath, options.nodeArgs ?? ['--import', 'tsx', 'service/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(line);
    for (const w of waiters) w();
  };
  let carry = { out: '', err: '' };
  proc.stdout!.on('data', (c: Buffer) => {
    const text = carry.out + c.toString('utf8');
    const cut = text.lastIndexOf('\n');
    carry.out = text.slice(cut + 1);
    if (cut >= 0) onData(Buffer.from(text.slice(0, cut + 1)));
  });
  proc.stderr!.on('data', (c: Buffer) => {
    const text = carry.err + c.toString('utf8');
    const cut = text.lastIndexOf('\n');
    carry.err = text.slice(cut + 1);
    if (cut >= 0) onData(Buffer.from(text.slice(0, cut + 1)));
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));

  const logs = () =>
    lines.flatMap((l) => {
      try {
        const parsed = JSON.parse(l);
        return parsed && typeof parsed === 'object' ? [parsed as Record<string, unknown>] : [];
      } catch {
        return [];
      }
    });

  const waitForLog = (predicate: (line: Record<string, unknown>) => boolean, timeoutMs = 20_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = () => {
        const hit = logs().find(predicate);
        if (hit) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`log line not seen in ${timeoutMs} ms; last lines:\n${lines.slice(-15).join('\n')}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });

  const oven: OvenProcess = {
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    tempDir,
    env,
    proc,
    lines,
    logs,
    waitForLog,
    exited,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
    async cleanup() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await exited;
      }
      await rm(dataDir, { recursive: true, force: true });
      await rm(tempDir, { recursive: true, force: true });
    },
  };

  const ready = Promise.race([
    waitForLog((l) => l.msg === 'oven listening', 30_000),
    exited.then((code) => {
      throw new Error(`oven exited with ${code} before listening:\n${lines.slice(-20).join('\n')}`);
    }),
  ]);
  await ready;
  return oven;
}

/** POST a JSON body (or raw text) to the oven. */
export async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

export async function getJson(url: string) {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: JSON.parse(text) as any };
}

/** Polls `fn` until it returns a truthy value. */
export async function until<T>(fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value) return value as T;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
}

/** The job's status once it is done or failed. */
export async function settled(o: Pick<OvenProcess, 'url'>, jobId: string, timeoutMs = 90_000): Promise<any> {
  return until(async () => {
    const s = (await getJson(`${o.url}/status/${jobId}`)).json;
    return s.status === 'done' || s.status === 'failed' ? s : undefined;
  }, timeoutMs, 200);
}
