// How the benchmarks run and time a command: pinned to one core under `/usr/bin/time -v`, so wall
// time, CPU time of the whole process tree and the largest resident set in it come from the kernel.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';

const TIME = '/usr/bin/time';
export const hasTime = existsSync(TIME);
export const hasTaskset = existsSync('/usr/bin/taskset');

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Measured {
  wallS: number;
  /** user + sys of the command and every child it waited for; NaN without /usr/bin/time. */
  cpuS: number;
  /** The largest single process's peak RSS in the tree, MB. */
  peakMb?: number;
  stdout: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export function run(cmd: string, args: string[], options: RunOptions = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** The core every timed command is pinned to: 0 unless BENCH_CORE says otherwise. */
export const BENCH_CORE = process.env.BENCH_CORE ?? '0';

/** Runs `cmd` pinned to BENCH_CORE; throws with the end of its stderr when it fails. */
export async function measured(cmd: string[], options: RunOptions = {}): Promise<Measured> {
  const pinned = hasTaskset ? ['taskset', '-c', BENCH_CORE, ...cmd] : cmd;
  const started = performance.now();
  const r = hasTime ? await run(TIME, ['-v', ...pinned], options) : await run(pinned[0]!, pinned.slice(1), options);
  const wallS = (performance.now() - started) / 1000;
  if (r.code !== 0) throw new Error(`${cmd.join(' ')} failed (${r.code}): ${r.stderr.split('\n').slice(-12).join('\n')}`);
  const field = (label: string): number | undefined => {
    const m = new RegExp(`${label}: ([\\d.]+)`).exec(r.stderr);
    return m ? Number(m[1]) : undefined;
  };
  const user = field('User time \\(seconds\\)');
  const sys = field('System time \\(seconds\\)');
  const rssKb = field('Maximum resident set size \\(kbytes\\)');
  return { wallS, cpuS: user !== undefined && sys !== undefined ? user + sys : NaN, ...(rssKb !== undefined ? { peakMb: rssKb / 1024 } : {}), stdout: r.stdout };
}

export const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** One line naming the machine a figure was measured on. */
export async function describeMachine(): Promise<string> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const model = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  const ffmpeg = (await run('ffmpeg', ['-version']).catch(() => ({ stdout: 'ffmpeg ?' }))).stdout.split('\n')[0]!.replace(/ Copyright.*/, '');
  return `${model}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM; Node ${process.version}; ${ffmpeg}; ${os.type()} ${os.release()}`;
}

/** "2026-12-01 23:50 UTC", for the line above each recorded table. */
export function nowUtc(when = new Date()): string {
  return `${when.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** A process's resident memory now (VmRSS) or its peak so far (VmHWM), in MiB, from /proc; undefined once it is gone. */
export function processMb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1];
  return kb === undefined ? undefined : Number(kb) / 1024;
}

export const loadAverage = (): string => os.loadavg().map((l) => l.toFixed(1)).join(' ');
