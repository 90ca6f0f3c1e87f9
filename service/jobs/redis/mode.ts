// Redis mode (OVEN_REDIS_URL set): every job on BullMQ, shared by every process. What a process does
// is its OVEN_ROLE: `api` takes and shows jobs, `worker` bakes them, `all` does both. Every role
// delivers callbacks, so they go out as long as any process of the oven is up.

import type { Dispatcher } from 'undici';
import { ProgressWebhooks } from '../../callback/progress.ts';
import type { Config } from '../../config.ts';
import { log } from '../../log.ts';
import type { Jobs } from '../jobs.ts';
import { clearWorkRoot, workRootOf } from '../pipeline.ts';
import { RedisJobs } from './api.ts';
import { BakeWorker } from './bake-worker.ts';
import { checkEvictionPolicy, connectRedis, whenReady } from './connection.ts';
import { Deliveries } from './deliveries.ts';

export interface RedisMode {
  jobs: Jobs;
  drain(graceMs: number): Promise<{ finished: number; requeued: number }>;
  describe(): Record<string, unknown>;
}

export async function startRedisMode(config: Config, dispatcher: Dispatcher): Promise<RedisMode> {
  const redis = connectRedis(config.redisUrl!, 'queue', { blocking: false });
  // Refuses to start (ConfigError, a sentence) on a Redis that may evict keys.
  await whenReady(redis, 30_000)
    .then(() => checkEvictionPolicy(redis))
    .catch((err) => {
    redis.disconnect();
    throw err;
  });
  const bakes = config.role !== 'api';
  // Folders of bakes a killed process of this machine never finished.
  if (bakes) await clearWorkRoot(workRootOf(config));
  const jobs = new RedisJobs(config, redis, { follow: config.role !== 'worker' });
  const deliveries = new Deliveries(config, redis, dispatcher);
  deliveries.start();
  const worker = bakes ? new BakeWorker(config, deliveries, new ProgressWebhooks({ secret: config.callbackSecret, dispatcher, log })) : undefined;
  const where = new URL(config.redisUrl!);
  return {
    jobs,
    async drain(graceMs) {
      await jobs.drain();
      const drained = worker ? await worker.drain(graceMs) : { finished: 0, requeued: 0 };
      await deliveries.close();
      await jobs.close();
      redis.disconnect();
      return drained;
    },
    describe: () => ({ mode: 'redis', redis: `${where.hostname}:${where.port || 6379}`, bakes }),
  };
}
