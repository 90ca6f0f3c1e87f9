// Connections to Redis (DigitalOcean Managed Valkey) for BullMQ, and the one check BullMQ needs of
// the server: it must never evict keys, or queued jobs could silently disappear under memory pressure.

import { Redis } from 'ioredis';
import { ConfigError } from '../../config.ts';
import { log } from '../../log.ts';

/**
 * `blocking`: for a Worker or QueueEvents, whose commands wait on Redis and must be retried for
 * ever while it restarts. Otherwise (a Queue that adds jobs): commands fail at once while Redis is
 * unreachable, so POST /bake answers 503 instead of hanging.
 */
export function connectRedis(url: string, purpose: string, options: { blocking: boolean }): Redis {
  const redis = new Redis(url, {
    connectionName: `oven-${purpose}`,
    maxRetriesPerRequest: options.blocking ? null : 1,
    enableOfflineQueue: options.blocking,
    // Back off to at most 2 s between reconnects: a restarted Redis is back in use within that.
    retryStrategy: (times) => Math.min(2000, 100 * times),
    lazyConnect: false,
  });
  let down = false;
  redis.on('error', (err) => {
    if (down) return;
    down = true;
    log.warn('Redis connection lost; reconnecting', { purpose, err });
  });
  redis.on('ready', () => {
    if (down) log.info('Redis connection back', { purpose });
    down = false;
  });
  return redis;
}

/** Resolves once the connection is up; at start-up, Redis must be reachable within `ms`. */
export async function whenReady(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms / 1000} s (OVEN_REDIS_URL)`)), ms);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Refuses to start on a Redis that may evict keys: BullMQ's jobs would be lost under memory pressure. */
export async function checkEvictionPolicy(redis: Redis): Promise<void> {
  // INFO rather than CONFIG GET: managed servers often refuse CONFIG.
  const info = await redis.info('memory');
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  if (policy !== 'noeviction') {
    throw new ConfigError(
      `Redis's maxmemory-policy is ${policy ?? 'unknown'}; it must be noeviction, or queued jobs could be evicted (set eviction policy "noeviction" on the Valkey cluster, or maxmemory-policy noeviction in redis.conf).`,
    );
  }
}
