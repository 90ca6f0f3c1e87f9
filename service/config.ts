// Every setting Oven reads, in one place: its environment name, default and meaning.
// Read and validated once at start; a bad value stops start-up with a sentence naming it.
// The README's configuration table is printed from SETTINGS by `npm run config:table`.

import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

interface Setting<T> {
  env: string;
  /** The default as people read it in the README. */
  shown: string;
  meaning: string;
  read(raw: string | undefined, env: Env): T;
}

function fail(name: string, why: string): never {
  throw new ConfigError(`${name} ${why}`);
}

function integer(env: string, fallback: number, min: number, max: number, meaning: string): Setting<number> {
  return {
    env,
    shown: String(fallback),
    meaning,
    read(raw) {
      if (raw === undefined || raw.trim() === '') return fallback;
      if (!/^\d+$/.test(raw.trim())) fail(env, `must be a whole number, got "${raw}".`);
      const n = Number(raw);
      if (n < min || n > max) fail(env, `must be between ${min} and ${max}, got ${n}.`);
      return n;
    },
  };
}

function boolean(env: string, fallback: boolean, meaning: string): Setting<boolean> {
  return {
    env,
    shown: String(fallback),
    meaning,
    read(raw) {
      if (raw === undefined || raw.trim() === '') return fallback;
      const v = raw.trim().toLowerCase();
      if (['true', '1', 'yes'].includes(v)) return true;
      if (['false', '0', 'no'].includes(v)) return false;
      fail(env, `must be true or false, got "${raw}".`);
    },
  };
}

function text<F extends string | undefined>(env: string, fallback: F, shown: string, meaning: string): Setting<string | F> {
  return {
    env,
    shown,
    meaning,
    read: (raw) => (raw === undefined || raw.trim() === '' ? fallback : raw.trim()),
  };
}

function url(env: string, meaning: string, schemes: string[] = ['http:', 'https:']): Setting<string | undefined> {
  return {
    env,
    shown: 'unset',
    meaning,
    read(raw) {
      if (raw === undefined || raw.trim() === '') return undefined;
      let parsed: URL;
      try {
        parsed = new URL(raw.trim());
      } catch {
        // A Redis URL carries its password: it is never repeated back.
        fail(env, schemes.includes('http:') ? `must be a URL such as https://sfo3.digitaloceanspaces.com, got "${raw}".` : `must be a URL such as ${schemes[0]}//host:6379.`);
      }
      if (!schemes.includes(parsed.protocol)) fail(env, `must be a ${schemes.map((s) => s.replace(':', '')).join(' or ')} URL.`);
      return parsed.toString().replace(/\/$/, '');
    },
  };
}

const MiB = 1024 * 1024;

export const SETTINGS = {
  nodeEnv: text('NODE_ENV', 'development', 'development', '`production` makes `CALLBACK_SECRET` required.'),
  port: integer('PORT', 3000, 1, 65535, 'Port the service listens on (Caddy proxies to it).'),
  host: text('HOST', '127.0.0.1', '127.0.0.1', 'Address the service listens on.'),
  callbackSecret: text(
    'CALLBACK_SECRET',
    undefined,
    'none',
    'Shared secret: authorises `POST /bake` and signs callbacks. Required when `NODE_ENV=production`; otherwise a random one is made and printed once at start.',
  ),
  tempDir: text('TEMP_DIR', os.tmpdir(), 'the OS temp folder', 'Where per-job work folders are made; each is removed when its job ends.'),
  dataDir: text('OVEN_DATA_DIR', './data', '`./data`', 'Durable job state, and local blob storage when no Space is set (`/var/lib/oven` on the droplet).'),
  publicUrl: url('OVEN_PUBLIC_URL', 'Base of URLs for local blob storage. Default `http://localhost:$PORT`.'),
  concurrency: integer('OVEN_CONCURRENCY', 2, 1, 64, 'Bakes that run at once.'),
  queueLimit: integer('OVEN_QUEUE_LIMIT', 50, 1, 100000, 'Jobs that may wait beyond the running ones; more get 429.'),
  allowPrivateNetworks: boolean(
    'OVEN_ALLOW_PRIVATE_NETWORKS',
    false,
    'Allow `zipUrl`/`callbackUrl` on loopback, private and link-local addresses (tests and local use only).',
  ),
  allowedHosts: {
    env: 'OVEN_ALLOWED_HOSTS',
    shown: 'unset',
    meaning: 'Comma list of host names; when set, only URLs on these hosts are accepted.',
    read: (raw: string | undefined): string[] | undefined => {
      const hosts = (raw ?? '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
      return hosts.length ? hosts : undefined;
    },
  },
  maxZipBytes: integer('OVEN_MAX_ZIP_BYTES', 256 * MiB, 1024, 4096 * MiB, 'Largest ZIP downloaded, in bytes (256 MiB).'),
  maxUnzippedBytes: integer('OVEN_MAX_UNZIPPED_BYTES', 1024 * MiB, 1024, 16384 * MiB, 'Largest total of the entries unpacked from one ZIP, in bytes (1 GiB).'),
  maxEntries: integer('OVEN_MAX_ENTRIES', 20000, 1, 1000000, 'Most entries one ZIP may hold.'),
  maxTapeSeconds: integer('OVEN_MAX_TAPE_SECONDS', 120, 1, 3600, 'Longest tape baked, by the sum of its frame durations (AC itself stops at 30 s).'),
  maxFramePixels: integer('OVEN_MAX_FRAME_PIXELS', 4 * 1024 * 1024, 1, 64 * 1024 * 1024, 'Most pixels in one frame (width × height), read from the PNG header before decoding.'),
  maxMp4Bytes: integer('OVEN_MAX_MP4_BYTES', 50 * MiB, 16 * 1024, 4096 * MiB, 'Largest MP4 made, in bytes (50 MiB, the AC tape lexicon\'s blob limit). A bigger one is encoded again once at a bitrate computed to fit (the job\'s result says so under `sizeBudget`); one that still cannot fit fails `MP4_TOO_LARGE`.'),
  maxGifBytes: integer('OVEN_MAX_GIF_BYTES', 24 * MiB, 16 * 1024, 1024 * MiB, 'Largest GIF made when a job asks for one, in bytes (24 MiB: every 30 s tape measured fits with a third to spare). A bigger one is left out, with a `GIF_TOO_LARGE` warning in the result; the bake still succeeds.'),
  scale: integer('OVEN_SCALE', 3, 1, 16, 'Nearest-neighbour upscale factor; lowered when the video would not fit 1920×1080 / 1080×1920.'),
  encodeTimeoutSeconds: integer('OVEN_ENCODE_TIMEOUT_SECONDS', 600, 5, 86400, 'Wall-clock limit for one ffmpeg run; past it ffmpeg is killed and the job fails.'),
  extractTimeoutSeconds: integer('OVEN_EXTRACT_TIMEOUT_SECONDS', 120, 1, 3600, 'Wall-clock limit for unpacking and checking one tape (the extracting stage); past it the job fails `EXTRACT_TIMEOUT`.'),
  downloadTimeoutSeconds: integer('OVEN_DOWNLOAD_TIMEOUT_SECONDS', 120, 1, 3600, 'Wall-clock limit for downloading one ZIP.'),
  downloadIdleSeconds: integer('OVEN_DOWNLOAD_IDLE_SECONDS', 20, 1, 600, 'Longest silence while downloading before giving up (and the connect timeout).'),
  jobMaxAttempts: integer('OVEN_JOB_MAX_ATTEMPTS', 3, 1, 20, 'Times a job is started: a passing fault (download, upload, full disk) or a crash mid-bake starts it again up to this many times.'),
  jobRetryBaseMs: integer('OVEN_JOB_RETRY_BASE_MS', 30000, 1, 3600000, 'Wait before a job that hit a passing fault is tried again; doubles each time.'),
  bakeMemoryMb: integer(
    'OVEN_BAKE_MEMORY_MB',
    640,
    128,
    65536,
    'Memory ceiling of one bake process, in MiB: its own resident memory plus its ffmpeg\'s, weighed five times a second. Past it the bake is stopped and fails `BAKE_MEMORY_LIMIT`; its JavaScript heap is also capped, at half of this.',
  ),
  drainSeconds: integer('OVEN_DRAIN_SECONDS', 90, 0, 3600, 'On SIGTERM, how long running bakes may finish before the process exits; unfinished work resumes at next start.'),
  minFreeDiskMb: integer('OVEN_MIN_FREE_DISK_MB', 512, 0, 1024 * 1024, 'Free disk below this (in MiB, in the work or data folder) makes `/health` unhealthy.'),
  maxEventClients: integer('OVEN_MAX_EVENT_CLIENTS', 50, 1, 10000, 'Event streams (`/events`) open at once; more get 503. A client that leaves 256 KiB of events unread is disconnected (its browser reconnects).'),
  corsOrigins: {
    env: 'OVEN_CORS_ORIGINS',
    shown: '`https://aesthetic.computer`',
    meaning: 'Comma list of origins whose pages may read `GET /status/:jobId` and follow `GET /status/:jobId/events` (CORS).',
    read: (raw: string | undefined): string[] => {
      const origins = (raw ?? 'https://aesthetic.computer').split(',').map((o) => o.trim()).filter(Boolean);
      for (const origin of origins) {
        let parsed: URL | undefined;
        try {
          parsed = new URL(origin);
        } catch {
          /* refused below */
        }
        if (!parsed || parsed.origin !== origin) fail('OVEN_CORS_ORIGINS', `must list origins such as https://aesthetic.computer (scheme, host and port only), got "${origin}".`);
      }
      return origins;
    },
  },
  keepFinishedJobs: integer('OVEN_KEEP_FINISHED_JOBS', 500, 1, 1000000, 'How many finished jobs `/status` remembers.'),
  keepFinishedHours: integer('OVEN_KEEP_FINISHED_HOURS', 72, 1, 24 * 365, 'How long finished jobs are remembered.'),
  callbackBodySecret: boolean('OVEN_CALLBACK_BODY_SECRET', true, 'Put `secret` in the callback body (what the live receiver checks today).'),
  callbackTimeoutSeconds: integer('OVEN_CALLBACK_TIMEOUT_SECONDS', 15, 1, 600, 'Time limit for one callback attempt.'),
  callbackRetryBaseMs: integer('OVEN_CALLBACK_RETRY_BASE_MS', 5000, 1, 3600000, 'First callback retry delay; it doubles (with jitter) up to an hour.'),
  callbackGiveUpHours: integer('OVEN_CALLBACK_GIVE_UP_HOURS', 24, 0, 24 * 30, 'After this long, an undelivered callback is given up.'),
  redisUrl: url('OVEN_REDIS_URL', 'Redis (DigitalOcean Managed Valkey) for the job queue, e.g. `rediss://default:…@host:25061`. Unset: jobs live in files under `OVEN_DATA_DIR` and one process does everything (embedded mode). Set: every job is on BullMQ, shared by every API and worker process; the Space settings are then required.', ['redis:', 'rediss:']),
  role: {
    env: 'OVEN_ROLE',
    shown: 'all',
    meaning: '`all` (the API and bakes), `api` (HTTP only; never bakes) or `worker` (bakes only; answers just `GET /health` and `GET /metrics`). `api` and `worker` need `OVEN_REDIS_URL`.',
    read: (raw: string | undefined): 'all' | 'api' | 'worker' => {
      const v = (raw ?? '').trim() || 'all';
      if (v === 'all' || v === 'api' || v === 'worker') return v;
      fail('OVEN_ROLE', `must be all, api or worker, got "${raw}".`);
    },
  },
  lockSeconds: integer('OVEN_LOCK_SECONDS', 20, 5, 600, 'Redis mode: how long a worker\'s hold on a bake lasts without renewal (renewed every half of it). A worker that dies loses its bakes to another worker once this lapses and the next stalled check runs.'),
  stalledCheckSeconds: integer('OVEN_STALLED_CHECK_SECONDS', 15, 1, 600, 'Redis mode: how often workers look for bakes whose hold lapsed. With the defaults a dead worker\'s bake starts again elsewhere within 20 + 15 s.'),
  logLevel: {
    env: 'LOG_LEVEL',
    shown: 'info',
    meaning: '`debug`, `info`, `warn` or `error`.',
    read: (raw: string | undefined): 'debug' | 'info' | 'warn' | 'error' => {
      const v = (raw ?? '').trim() || 'info';
      if (v === 'debug' || v === 'info' || v === 'warn' || v === 'error') return v;
      fail('LOG_LEVEL', `must be debug, info, warn or error, got "${raw}".`);
    },
  },
  blobsKey: text('AT_BLOBS_SPACES_KEY', undefined, 'unset', 'Access key of the Space for MP4s and thumbnails. Unset: local disk under `OVEN_DATA_DIR/blobs`, served at `/blobs/…`.'),
  blobsSecret: text('AT_BLOBS_SPACES_SECRET', undefined, 'unset', 'Secret key of that Space.'),
  blobsEndpoint: url('AT_BLOBS_SPACES_ENDPOINT', 'Endpoint of that Space, e.g. `https://sfo3.digitaloceanspaces.com`.'),
  blobsBucket: text('AT_BLOBS_SPACES_BUCKET', undefined, 'unset', 'Bucket (Space) name, e.g. `at-blobs-aesthetic-computer`.'),
  blobsRegion: text('AT_BLOBS_SPACES_REGION', undefined, 'from the endpoint', 'Signing region; DigitalOcean accepts `us-east-1` for every region.'),
  blobsForcePathStyle: boolean('AT_BLOBS_SPACES_FORCE_PATH_STYLE', false, 'Path-style URLs, for S3 servers on loopback.'),
  blobsCdn: text('AT_BLOBS_CDN', undefined, 'unset', 'Host (or base URL) for public URLs instead of the Space\'s own.'),
  artKey: text('ART_SPACES_KEY', undefined, 'unset', 'Access key of the Space tapes are uploaded to; with all four `ART_SPACES_*` set, ZIPs in that bucket are fetched with credentials.'),
  artSecret: text('ART_SPACES_SECRET', undefined, 'unset', 'Secret key of that Space.'),
  artEndpoint: url('ART_SPACES_ENDPOINT', 'Endpoint of that Space.'),
  artBucket: text('ART_SPACES_BUCKET', undefined, 'unset', 'Bucket name, e.g. `art-aesthetic-computer`.'),
  ffmpegPath: text('FFMPEG_PATH', 'ffmpeg', 'ffmpeg', 'The ffmpeg binary.'),
  ffprobePath: text('FFPROBE_PATH', 'ffprobe', 'ffprobe', 'The ffprobe binary.'),
} as const;

type Settings = typeof SETTINGS;
type Values = { [K in keyof Settings]: ReturnType<Settings[K]['read']> };

export interface SpacesConfig {
  key: string;
  secret: string;
  endpoint: string;
  bucket: string;
  region: string;
  forcePathStyle: boolean;
  /** Base URL for public links (CDN or the Space's own). */
  publicBase: string;
}

export interface Config extends Omit<Values, 'callbackSecret' | 'publicUrl'> {
  callbackSecret: string;
  /** True when the secret was made up at start (not production). */
  callbackSecretGenerated: boolean;
  publicUrl: string;
  dataDir: string;
  tempDir: string;
  blobs?: SpacesConfig;
  art?: Omit<SpacesConfig, 'publicBase' | 'forcePathStyle'> & { forcePathStyle: boolean };
  version: string;
}

function regionOf(endpoint: string, given: string | undefined): string {
  if (given) return given;
  const first = new URL(endpoint).hostname.split('.')[0] ?? '';
  return /^[a-z]{2,4}\d$/.test(first) ? first : 'us-east-1';
}

function spacesGroup(prefix: string, parts: (string | undefined)[]): boolean {
  const set = parts.filter((p) => p !== undefined).length;
  if (set !== 0 && set !== parts.length) {
    throw new ConfigError(`${prefix}_KEY, _SECRET, _ENDPOINT and _BUCKET must be set together (${set} of ${parts.length} are set).`);
  }
  return set === parts.length;
}

function blobsPublicBase(v: Values, endpoint: string, bucket: string): string {
  if (v.blobsCdn) return /^https?:\/\//.test(v.blobsCdn) ? v.blobsCdn.replace(/\/$/, '') : `https://${v.blobsCdn}`;
  const e = new URL(endpoint);
  if (v.blobsForcePathStyle) return `${e.origin}/${bucket}`;
  return `${e.protocol}//${bucket}.${e.host}`;
}

export function loadConfig(env: Env = process.env, version = '0.0.0'): Config {
  const v = Object.fromEntries(
    Object.entries(SETTINGS).map(([key, setting]) => [key, (setting as Setting<unknown>).read(env[setting.env], env)]),
  ) as Values;

  if (v.callbackSecret === undefined && v.nodeEnv === 'production') {
    throw new ConfigError('CALLBACK_SECRET must be set when NODE_ENV=production.');
  }
  if (v.callbackSecret !== undefined && v.callbackSecret.length < 16) {
    throw new ConfigError('CALLBACK_SECRET must be at least 16 characters long.');
  }

  const config: Config = {
    ...v,
    callbackSecret: v.callbackSecret ?? randomBytes(24).toString('base64url'),
    callbackSecretGenerated: v.callbackSecret === undefined,
    publicUrl: v.publicUrl ?? `http://localhost:${v.port}`,
    dataDir: path.resolve(v.dataDir ?? './data'),
    tempDir: path.resolve(v.tempDir ?? os.tmpdir()),
    version,
  };

  if (spacesGroup('AT_BLOBS_SPACES', [v.blobsKey, v.blobsSecret, v.blobsEndpoint, v.blobsBucket])) {
    const endpoint = v.blobsEndpoint!;
    config.blobs = {
      key: v.blobsKey!,
      secret: v.blobsSecret!,
      endpoint,
      bucket: v.blobsBucket!,
      region: regionOf(endpoint, v.blobsRegion),
      forcePathStyle: v.blobsForcePathStyle,
      publicBase: blobsPublicBase(v, endpoint, v.blobsBucket!),
    };
  }
  if (v.role !== 'all' && !v.redisUrl) {
    throw new ConfigError(`OVEN_ROLE=${v.role} needs OVEN_REDIS_URL: only Redis can share jobs between an API and workers.`);
  }
  if (v.redisUrl && !config.blobs) {
    throw new ConfigError('OVEN_REDIS_URL needs the AT_BLOBS_SPACES_* settings: an MP4 baked on one machine must be served from any, so it goes to a Space, not to local disk.');
  }
  if (spacesGroup('ART_SPACES', [v.artKey, v.artSecret, v.artEndpoint, v.artBucket])) {
    config.art = {
      key: v.artKey!,
      secret: v.artSecret!,
      endpoint: v.artEndpoint!,
      bucket: v.artBucket!,
      region: regionOf(v.artEndpoint!, undefined),
      forcePathStyle: v.blobsForcePathStyle,
    };
  }
  return config;
}

/** The README's configuration table, as Markdown. */
export function settingsTable(): string {
  const rows = Object.values(SETTINGS).map((s) => `| \`${s.env}\` | ${s.shown.startsWith('`') || s.shown.includes(' ') ? s.shown : '`' + s.shown + '`'} | ${s.meaning} |`);
  return ['| name | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

/** Every value in the configuration that must never reach a log line (see log.ts's registerSecret). */
export function secretsOf(config: Config): string[] {
  const redisPassword = config.redisUrl ? decodeURIComponent(new URL(config.redisUrl).password) : undefined;
  return [config.callbackSecret, config.blobs?.secret, config.blobs?.key, config.art?.secret, config.art?.key, config.redisUrl, redisPassword].filter(
    (s): s is string => Boolean(s),
  );
}
