// Small questions to ffprobe and ffmpeg: is this soundtrack decodable, which version is installed.

import { execFile } from 'node:child_process';
import { OvenError } from '../errors.ts';

export interface SoundtrackInfo {
  codec: string;
  sampleRate: number;
  channels: number;
  /** Seconds, when ffprobe can tell. */
  durationSeconds?: number;
}

/** The error a stopped bake ends with: the abort's own reason when it is an OvenError, else INTERRUPTED. */
export function interruptedError(signal: AbortSignal): OvenError {
  const reason: unknown = signal.reason;
  if (reason instanceof OvenError) return reason;
  return new OvenError('INTERRUPTED', 'The bake was stopped before it finished.', { retryable: true, cause: reason });
}

function run(binary: string, args: string[], timeoutMs: number, signal?: AbortSignal): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024, windowsHide: true, ...(signal ? { signal } : {}) },
      (err, stdout, stderr) => (err ? reject(Object.assign(err, { stderr })) : resolve({ stdout, stderr })),
    );
  });
}

/** ffprobe the soundtrack; anything that is not a readable audio stream is TAPE_BAD_SOUNDTRACK. */
export async function probeSoundtrack(ffprobePath: string, wavPath: string, signal?: AbortSignal): Promise<SoundtrackInfo> {
  let out: string;
  try {
    ({ stdout: out } = await run(
      ffprobePath,
      ['-v', 'error', '-protocol_whitelist', 'file', '-select_streams', 'a:0', '-show_entries', 'stream=codec_name,sample_rate,channels,duration', '-of', 'json', wavPath],
      30_000,
      signal,
    ));
  } catch (err) {
    if (signal?.aborted) throw interruptedError(signal);
    if ((err as { code?: unknown }).code === 'ENOENT') {
      throw new OvenError('INTERNAL', `ffprobe was not found at "${ffprobePath}"; install ffmpeg or set FFPROBE_PATH.`, { cause: err });
    }
    throw new OvenError('TAPE_BAD_SOUNDTRACK', 'The soundtrack (soundtrack.wav) is not a readable audio file.', { cause: err });
  }
  const stream = (JSON.parse(out) as { streams?: Record<string, unknown>[] }).streams?.[0];
  const sampleRate = Number(stream?.sample_rate);
  const channels = Number(stream?.channels);
  if (!stream || typeof stream.codec_name !== 'string' || !(sampleRate > 0) || !(channels > 0)) {
    throw new OvenError('TAPE_BAD_SOUNDTRACK', 'The soundtrack (soundtrack.wav) holds no audio stream.');
  }
  const duration = Number(stream.duration);
  return {
    codec: stream.codec_name,
    sampleRate,
    channels,
    ...(Number.isFinite(duration) ? { durationSeconds: duration } : {}),
  };
}

/** The first line of `ffmpeg -version` (or of ffprobe's), e.g. "ffmpeg version 5.1.6-0+deb12u1". */
export async function toolVersion(binary: string): Promise<string> {
  const { stdout } = await run(binary, ['-hide_banner', '-version'], 10_000);
  const first = stdout.split('\n')[0] ?? '';
  return first.replace(/\s+Copyright.*$/, '').trim();
}
