#!/usr/bin/env bash
# Deploys the oven in one command: `pulumi up` in infra/ (droplets, Redis, firewall, DNS), the
# inventory it outputs written to ansible/inventory.ini (ignored by git), then ansible/site.yml
# over every host, workers first, one host at a time. docs/provisioning.md explains each step.
#
# A script rather than Pulumi's command provider: `pulumi up` stays about infrastructure (a
# provider would run Ansible inside every up's diff), and either half can be run again alone.
#
# Usage: scripts/deploy.sh [options] [-- ansible-playbook arguments]
#
#   -s, --stack NAME   the Pulumi stack (default: the stack selected in infra/)
#   -y, --yes          run `pulumi up` without asking (it still prints the preview)
#   --skip-infra       no Pulumi: only the playbook, with the inventory already written
#   --skip-playbook    only `pulumi up` and the inventory
#   -h, --help         this text
#
# Everything after `--` goes to ansible-playbook as it is, e.g.
#   scripts/deploy.sh --stack production -- --ask-vault-pass
#   scripts/deploy.sh --skip-infra -- --ask-vault-pass --tags deploy
#   scripts/deploy.sh --skip-infra -- --ask-vault-pass --limit oven_workers
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
infra_dir="$repo/infra"
inventory="$repo/ansible/inventory.ini"
playbook="$repo/ansible/site.yml"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'deploy: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '/^# Usage:/,/^set /{/^set /d;s/^# \{0,1\}//;p;}' "${BASH_SOURCE[0]}"; }

stack=""
yes=false
run_infra=true
run_playbook=true
ansible_args=()
while (($# > 0)); do
  case "$1" in
    -s | --stack)
      if (($# < 2)) || [[ -z "$2" ]]; then die "$1 needs a stack name, e.g. $1 production."; fi
      stack="$2"
      shift 2
      ;;
    --stack=*)
      stack="${1#--stack=}"
      [[ -n "$stack" ]] || die "--stack= needs a stack name, e.g. --stack=production."
      shift
      ;;
    -y | --yes) yes=true; shift ;;
    --skip-infra) run_infra=false; shift ;;
    --skip-playbook) run_playbook=false; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; ansible_args=("$@"); break ;;
    *) die "unknown option $1 (ansible-playbook's arguments go after --; see --help)." ;;
  esac
done

$run_infra || $run_playbook || die "--skip-infra and --skip-playbook together leave nothing to do."

# Every tool is looked for before anything runs: a missing ansible-playbook must not surface
# only after `pulumi up` has changed the infrastructure.
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is not installed or not on PATH ($2)."; }
if $run_infra; then need pulumi "https://www.pulumi.com/docs/install/"; fi
if $run_playbook; then need ansible-playbook "ansible-core 2.14 or later, see docs/provisioning.md"; fi

# ${list[@]+"${list[@]}"} rather than "${list[@]}": an empty list is an unset variable to set -u
# in bash before 4.4 (macOS ships 3.2).
pulumi_stack=()
[[ -z "$stack" ]] || pulumi_stack=(--stack "$stack")

if $run_infra; then
  up_args=()
  if $yes; then up_args+=(--yes); fi
  say "pulumi up${stack:+ (stack $stack)}"
  pulumi --cwd "$infra_dir" up ${pulumi_stack[@]+"${pulumi_stack[@]}"} ${up_args[@]+"${up_args[@]}"} ||
    die "pulumi up failed: the inventory and the hosts are left as they were."

  say "writing ${inventory#"$repo"/} from the stack's ansibleInventory"
  # Written beside the old one and renamed over it, so a failed read never leaves half a file.
  partial="$(mktemp "$inventory.XXXXXX")"
  trap 'rm -f "$partial"' EXIT
  pulumi --cwd "$infra_dir" stack output ansibleInventory ${pulumi_stack[@]+"${pulumi_stack[@]}"} >"$partial" ||
    die "pulumi stack output ansibleInventory failed: ${inventory#"$repo"/} is left as it was."
  [[ -s "$partial" ]] || die "the stack's ansibleInventory is empty: ${inventory#"$repo"/} is left as it was."
  if grep -qx '\[secret\]' "$partial"; then
    die "the stack's ansibleInventory is marked secret, so Pulumi printed [secret] instead of the hosts."
  fi
  mv -f "$partial" "$inventory"
fi

if $run_playbook; then
  [[ -s "$inventory" ]] || die "no ${inventory#"$repo"/}: run once without --skip-infra (or write it with pulumi stack output ansibleInventory)."
  say "ansible-playbook ${playbook#"$repo"/} ${ansible_args[*]+"${ansible_args[*]}"}"
  cd "$repo"
  ansible-playbook -i "$inventory" "$playbook" ${ansible_args[@]+"${ansible_args[@]}"}
fi
