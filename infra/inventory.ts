// The hand-off to Ansible: an INI inventory with the API droplet in group `oven` and, when the stack
// has workers, the worker droplets in group `oven_workers`.
// Hosts are reached by public IPv4 (the domain is proxied by Cloudflare, which carries no SSH) and as
// root, the only account on a fresh droplet; the playbook takes it from there.

export interface InventoryHost {
  /** The inventory name: the public domain for the API droplet, the droplet's name for a worker. */
  name: string;
  /** Where SSH connects: the reserved IP for the API droplet, the droplet's own IPv4 for a worker. */
  address: string;
  /** The public domain, as the playbook variable `oven_domain` (a worker needs it for the URLs it reports). */
  domain: string;
}

export const INVENTORY_GROUP = 'oven';
export const WORKER_INVENTORY_GROUP = 'oven_workers';
export const INVENTORY_USER = 'root';

/** Without workers, exactly the one-group inventory of a single machine: no empty `oven_workers` group. */
export function ansibleInventory(hosts: InventoryHost[], workers: InventoryHost[] = []): string {
  const groups = [section(INVENTORY_GROUP, hosts)];
  if (workers.length > 0) groups.push(section(WORKER_INVENTORY_GROUP, workers));
  return groups.join('\n');
}

function section(group: string, hosts: InventoryHost[]): string {
  const lines = hosts.map(
    (host) => `${host.name} ansible_host=${host.address} ansible_user=${INVENTORY_USER} oven_domain=${host.domain}`,
  );
  return [`[${group}]`, ...lines, ''].join('\n');
}
