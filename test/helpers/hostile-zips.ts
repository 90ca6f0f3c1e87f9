// Every kind of unsafe ZIP the oven must refuse as a whole, with the error code it must give.
// Each also holds an honest frame, so a refusal cannot be blamed on a tape with nothing in it.
// The codes hold for the service's default limits (maxEntries 20000, maxUnzippedBytes ≥ 1 MiB).

import { crc32, deflateSync } from 'node:zlib';
import { buildZip, type ZipEntrySpec } from './zip.ts';

/** One PNG chunk: length, type, data and CRC. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(8 + data.length + 4);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 8 + data.length);
  return out;
}

/** A solid-colour RGB PNG, made by hand so fixtures need no image library. */
export function tinyPng(width = 4, height = 3, rgb: [number, number, number] = [255, 0, 128]): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(width * 3).map((_, i) => rgb[i % 3]!)]);
  const pixels = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(pixels)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

const honest: ZipEntrySpec = { name: 'frame-00000.png', data: tinyPng() };

function withHonestFrame(...entries: ZipEntrySpec[]): Buffer {
  return buildZip([honest, ...entries]);
}

/** A ZIP whose end record claims more entries than it holds; refused before any is read. */
function claimsEntries(count: number): Buffer {
  const zip = withHonestFrame({ name: 'timing.json', data: '[]' });
  const end = zip.length - 22;
  zip.writeUInt16LE(count, end + 8);
  zip.writeUInt16LE(count, end + 10);
  return zip;
}

export function hostileZips(): { name: string; zip: Buffer; code: string }[] {
  const good = withHonestFrame({ name: 'timing.json', data: JSON.stringify([{ frame: 0, duration: 16.67 }]) });
  return [
    { name: 'absolute path', code: 'ZIP_UNSAFE_PATH', zip: withHonestFrame({ name: '/oven-evil-absolute', data: 'x' }) },
    { name: 'parent folder', code: 'ZIP_UNSAFE_PATH', zip: withHonestFrame({ name: '../evil', data: 'x' }) },
    { name: 'parent folder deep inside', code: 'ZIP_UNSAFE_PATH', zip: withHonestFrame({ name: 'tape/../../evil', data: 'x' }) },
    { name: 'drive letter', code: 'ZIP_UNSAFE_PATH', zip: withHonestFrame({ name: 'C:/evil', data: 'x' }) },
    { name: 'drive-relative path', code: 'ZIP_UNSAFE_PATH', zip: withHonestFrame({ name: 'C:evil', data: 'x' }) },
    { name: 'backslash parent', code: 'ZIP_UNSAFE_PATH', zip: withHonestFrame({ name: '..\\evil', data: 'x' }) },
    { name: 'control character', code: 'ZIP_UNSAFE_PATH', zip: withHonestFrame({ name: 'frame-00001.png\u0000.txt', data: 'x' }) },
    {
      name: 'unicode path field climbing out',
      code: 'ZIP_UNSAFE_PATH',
      zip: withHonestFrame({ name: 'frame-00001.png', unicodePathName: '../evil', data: tinyPng() }),
    },
    { name: 'symlink frame', code: 'ZIP_SYMLINK', zip: withHonestFrame({ name: 'frame-00001.png', unixMode: 0o120777, data: '/etc/passwd' }) },
    {
      name: 'symlinked folder then a file through it',
      code: 'ZIP_SYMLINK',
      zip: buildZip([{ name: 'tape', unixMode: 0o120777, data: '../..' }, { name: 'tape/frame-00000.png', data: tinyPng() }]),
    },
    { name: 'named pipe', code: 'ZIP_SPECIAL_FILE', zip: withHonestFrame({ name: 'timing.json', unixMode: 0o010644 }) },
    { name: 'character device', code: 'ZIP_SPECIAL_FILE', zip: withHonestFrame({ name: 'soundtrack.wav', unixMode: 0o020644 }) },
    { name: 'encrypted entry', code: 'ZIP_ENCRYPTED', zip: withHonestFrame({ name: 'frame-00001.png', encrypted: true, data: tinyPng() }) },
    {
      name: 'same name twice',
      code: 'ZIP_DUPLICATE_ENTRY',
      zip: withHonestFrame({ name: 'timing.json', data: '[]' }, { name: 'timing.json', data: '[{"duration":1}]' }),
    },
    { name: 'same name in another case', code: 'ZIP_DUPLICATE_ENTRY', zip: withHonestFrame({ name: 'FRAME-00000.PNG', data: tinyPng() }) },
    { name: 'same name spelled with ./', code: 'ZIP_DUPLICATE_ENTRY', zip: withHonestFrame({ name: './frame-00000.png', data: tinyPng() }) },
    { name: 'same frame number in both naming styles', code: 'ZIP_DUPLICATE_ENTRY', zip: withHonestFrame({ name: 'frame000000.png', data: tinyPng() }) },
    {
      name: 'bomb by ratio',
      code: 'ZIP_BOMB',
      zip: withHonestFrame({ name: 'frame-00001.png', data: Buffer.alloc(4 * 1024 * 1024) }),
    },
    {
      name: 'bomb by declared size',
      code: 'ZIP_BOMB',
      zip: withHonestFrame({ name: 'frame-00001.png', data: tinyPng(), declaredUncompressedSize: 0xfffffffe }),
    },
    {
      name: 'sizes that lie (inflates past its header)',
      code: 'ZIP_BOMB',
      zip: withHonestFrame({ name: 'frame-00001.png', data: Buffer.alloc(2 * 1024 * 1024, 7), declaredUncompressedSize: 1000 }),
    },
    {
      name: 'stored entry whose sizes disagree',
      code: 'ZIP_INVALID',
      zip: withHonestFrame({ name: 'frame-00001.png', method: 'store', data: tinyPng(), declaredUncompressedSize: 10 }),
    },
    { name: 'more entries than allowed', code: 'ZIP_TOO_MANY_ENTRIES', zip: claimsEntries(65535) },
    { name: 'truncated', code: 'ZIP_INVALID', zip: good.subarray(0, Math.floor(good.length / 2)) },
    { name: 'not a zip', code: 'ZIP_INVALID', zip: Buffer.from('this is a text file, not a tape\n') },
    { name: 'zero bytes', code: 'ZIP_INVALID', zip: Buffer.alloc(0) },
    { name: 'no entries', code: 'ZIP_EMPTY', zip: buildZip([]) },
    { name: 'only folders', code: 'ZIP_EMPTY', zip: buildZip([{ name: 'tape/', isDirectory: true }]) },
  ];
}
