// The hand-off to Ansible: an INI inventory with the droplet in group `oven`.
// Hosts are reached by their reserved IP (the domain is proxied by Cloudflare, which carries no SSH)
// and as root, the only account on a fresh droplet; the playbook takes it from there.

export interface InventoryHost {
  /** The inventory name; the public domain, so the playbook can use it as the site's name. */
  name: string;
  /** Where SSH connects: the reserved IP. */
  address: string;
  /** The public domain, as the playbook variable `oven_domain`. */
  domain: string;
}

export const INVENTORY_GROUP = 'oven';
export const INVENTORY_USER = 'root';

export function ansibleInventory(hosts: InventoryHost[]): string {
  const lines = hosts.map(
    (host) => `${host.name} ansible_host=${host.address} ansible_user=${INVENTORY_USER} oven_domain=${host.domain}`,
  );
  return [`[${INVENTORY_GROUP}]`, ...lines, ''].join('\n');
}
