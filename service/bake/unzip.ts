// Unpacks a tape ZIP: which of its entries are the tape (frames, timing.json, metadata.json,
// soundtrack.wav) and where they go. The ZIP itself is read by safe-zip.ts, which refuses the whole
// ZIP on anything unsafe before a byte is written. Entries are written under names we choose, never
// from their own names: nothing is written outside destDir, and no folder is made from an entry.
// Frames are read into memory and handed to `inspectFrame` before they are written, so each is
// read and checked once, in the same pass that unpacks it.

import { writeFileSync } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { OvenError } from '../errors.ts';
import { SafeZip, shown, type ZipEntryFile, type ZipLimits } from './safe-zip.ts';

export { DEFAULT_MAX_ENTRY_BYTES, DEFAULT_MAX_RATIO, RATIO_CHECK_MIN_BYTES } from './safe-zip.ts';

export interface UnzipLimits extends ZipLimits {
  /**
   * Checks a frame's bytes before they are written (the tape reader's PNG check); what it returns
   * is kept with the frame. Throwing refuses the tape.
   */
  inspectFrame?: (data: Buffer, originalName: string) => unknown;
  /** Frames bigger than this are refused before they are read into memory. Default 64 MiB. */
  maxFrameBytes?: number;
}

export interface ExtractedFrame {
  index: number;
  /** Absolute, under dir, named f000000.png, f000001.png, … in frame order. */
  path: string;
  originalName: string;
  /** What inspectFrame returned for it, when given. */
  inspected?: unknown;
}

export interface ExtractedTape {
  dir: string;
  /** Sorted by index. */
  frames: ExtractedFrame[];
  timingPath?: string;
  metadataPath?: string;
  soundtrackPath?: string;
}

/** frame-00000.png today; frame000000.png in older tapes. The one pattern for a frame's file name. */
export const FRAME_NAME = /^frame-?(\d{1,9})\.png$/i;
const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

type Role = { kind: 'frame'; index: number } | { kind: 'timing' } | { kind: 'metadata' } | { kind: 'soundtrack' };

interface Planned {
  file: ZipEntryFile;
  role: Role;
  originalName: string;
}

export async function extractTape(zipPath: string, destDir: string, limits: UnzipLimits): Promise<ExtractedTape> {
  // Silence compresses like a bomb does, so the soundtrack is bounded by its size alone.
  const zip = await SafeZip.open(zipPath, limits, (segments) => segments.at(-1)?.toLowerCase() === 'soundtrack.wav');
  try {
    const plan = planTape(zip.files);
    await mkdir(destDir, { recursive: true });
    return await writeTape(zip, plan, path.resolve(destDir), limits);
  } finally {
    zip.close();
  }
}

function roleOf(baseName: string): Role | undefined {
  const frame = FRAME_NAME.exec(baseName);
  if (frame) return { kind: 'frame', index: Number(frame[1]) };
  const lower = baseName.toLowerCase();
  if (lower === 'timing.json') return { kind: 'timing' };
  if (lower === 'metadata.json') return { kind: 'metadata' };
  if (lower === 'soundtrack.wav') return { kind: 'soundtrack' };
  return undefined;
}

/**
 * Picks the tape's entries: at the top of the ZIP, or else inside one top-level folder (a tape
 * zipped by hand from its folder). Everything else (__MACOSX/, .DS_Store, notes) is left unread.
 */
function planTape(files: ZipEntryFile[]): Planned[] {
  const byFolder = new Map<string, Planned[]>();
  for (const file of files) {
    const { segments } = file;
    if (segments.length > 2 || (segments.length === 2 && segments[0] === '__MACOSX')) continue;
    const role = roleOf(segments.at(-1)!);
    if (!role) continue;
    const folder = segments.length === 2 ? segments[0]! : '';
    const list = byFolder.get(folder) ?? [];
    list.push({ file, role, originalName: segments.join('/') });
    byFolder.set(folder, list);
  }
  const hasFrames = (folder: string) => byFolder.get(folder)?.some((p) => p.role.kind === 'frame') ?? false;
  let folder = '';
  if (!hasFrames('')) {
    const withFrames = [...byFolder.keys()].filter(hasFrames);
    if (withFrames.length > 1) {
      throw new OvenError('ZIP_INVALID', `The ZIP holds frames in more than one folder (${withFrames.slice(0, 3).map((f) => f + '/').join(', ')}); put one tape in each ZIP.`);
    }
    folder = withFrames[0] ?? '';
  }
  const chosen = byFolder.get(folder) ?? [];
  const frameNames = new Map<number, string>();
  for (const p of chosen) {
    if (p.role.kind !== 'frame') continue;
    const earlier = frameNames.get(p.role.index);
    if (earlier !== undefined) {
      throw new OvenError('ZIP_DUPLICATE_ENTRY', `The ZIP holds frame ${p.role.index} twice (${shown(earlier)} and ${shown(p.originalName)}).`);
    }
    frameNames.set(p.role.index, p.originalName);
  }
  return chosen;
}

/** Writes the planned entries under generated names; on any failure, removes what it wrote. */
async function writeTape(zip: SafeZip, plan: Planned[], dir: string, limits: UnzipLimits): Promise<ExtractedTape> {
  const maxFrameBytes = limits.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const frames = plan
    .flatMap((p) => (p.role.kind === 'frame' ? [{ planned: p, index: p.role.index }] : []))
    .sort((a, b) => a.index - b.index);
  const result: ExtractedTape = { dir, frames: [] };
  const written: string[] = [];
  try {
    for (const [position, { planned, index }] of frames.entries()) {
      if (planned.file.size > maxFrameBytes) {
        throw new OvenError('TAPE_BAD_FRAME', `${planned.originalName} is ${planned.file.size} bytes; a frame may be at most ${maxFrameBytes}.`);
      }
      const data = zip.read(planned.file);
      const inspected = limits.inspectFrame?.(data, planned.originalName);
      const target = path.join(dir, `f${String(position).padStart(6, '0')}.png`);
      // One write per frame, from memory ('wx': never follows or replaces anything there).
      writeFileSync(target, data, { flag: 'wx' });
      written.push(target);
      result.frames.push({ index, path: target, originalName: planned.originalName, ...(inspected !== undefined ? { inspected } : {}) });
    }
    for (const p of plan) {
      if (p.role.kind === 'frame') continue;
      const target = path.join(dir, { timing: 'timing.json', metadata: 'metadata.json', soundtrack: 'soundtrack.wav' }[p.role.kind]);
      await zip.write(p.file, target, written);
      if (p.role.kind === 'timing') result.timingPath = target;
      if (p.role.kind === 'metadata') result.metadataPath = target;
      if (p.role.kind === 'soundtrack') result.soundtrackPath = target;
    }
  } catch (err) {
    await Promise.all(written.map((file) => unlink(file).catch(() => undefined)));
    throw err;
  }
  return result;
}
