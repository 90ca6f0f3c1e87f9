// The one terminal callback a finished job gets: its body (the contract's success or failure
// shape, built from the job's request and outcome) with a webhook-id of its own, made once and
// saved with the outcome, so that a restart re-sends this very one and never makes a second.

import { newDelivery, type CallbackDelivery } from '../callback/outbox.ts';
import { failurePayload, seedOf, successPayload } from '../callback/payload.ts';
import type { Job } from './job.ts';

export function terminalCallback(job: Job): CallbackDelivery {
  const seed = seedOf(job.jobId, job.request);
  const payload = job.status === 'done' && job.result ? successPayload(seed, job.result) : failurePayload(seed, job.error ?? { code: 'INTERNAL', message: 'The bake failed.' });
  return newDelivery(job.request.callbackUrl, payload);
}
