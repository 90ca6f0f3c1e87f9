// SSIM of a baked video against what it should show: each source frame upscaled with
// nearest-neighbour and padded to the video's size. Frames are paired by position (the video's
// N-th picture against source frame N): both sides get the same time base (settb=1/60, setpts=N)
// and are trimmed to the tape's frame count, so a video that keeps every frame at its recorded
// time is compared frame for frame, whatever its timestamps.

import path from 'node:path';
import { probeStreams } from '../test/helpers/tapes.ts';
import { run } from './measure.ts';

export interface Ssim {
  /** Luma alone: the first oven's colour planes are softened by its second `scale`, luma is not. */
  y: number;
  all: number;
}

export async function ssimOf(video: string, framesDir: string, frames: number, scale: number): Promise<Ssim> {
  const { width, height } = (await probeStreams(video)).video!;
  const paired = `settb=1/60,setpts=N,trim=end_frame=${frames}`;
  const graph = `[0:v]format=yuv420p,${paired}[a];` +
    `[1:v]scale=iw*${scale}:ih*${scale}:flags=neighbor,pad=${width}:${height}:0:0,format=yuv420p,${paired}[b];[a][b]ssim=shortest=1`;
  const r = await run('ffmpeg', [
    '-hide_banner', '-nostdin', '-i', video,
    '-framerate', '60', '-start_number', '0', '-i', path.join(framesDir, 'frame-%05d.png'),
    '-an', '-lavfi', graph, '-f', 'null', '-',
  ]);
  const m = /SSIM Y:([\d.]+) .*All:([\d.]+)/.exec(r.stderr);
  if (!m) throw new Error(`no SSIM for ${video}: ${r.stderr.split('\n').slice(-5).join('\n')}`);
  return { y: Number(m[1]), all: Number(m[2]) };
}
