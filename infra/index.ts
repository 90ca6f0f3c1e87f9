// The Pulumi program (project `oven`): read the stack's config, build the host, export what
// operators and the Ansible step need. `pulumi stack output ansibleInventory` is the hand-off.
// The outputs are one default export, so a stack without workers has no redisUri or workerIps
// at all (a named export left undefined would make Pulumi warn about it at every `pulumi up`).

import { readOvenConfig } from './config.ts';
import { createOven } from './oven.ts';

const oven = createOven(readOvenConfig());

export default {
  ip: oven.ip,
  url: oven.url,
  ansibleInventory: oven.ansibleInventory,
  ...(oven.cluster && {
    workerIps: oven.cluster.workerIps,
    redisUri: oven.cluster.redisUri,
  }),
};
