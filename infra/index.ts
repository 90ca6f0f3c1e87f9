// The Pulumi program (project `oven`): read the stack's config, build the host, export what
// operators and the Ansible step need. `pulumi stack output ansibleInventory` is the hand-off.

import { readOvenConfig } from './config.ts';
import { createOven } from './oven.ts';

const oven = createOven(readOvenConfig());

export const ip = oven.ip;
export const url = oven.url;
export const ansibleInventory = oven.ansibleInventory;
