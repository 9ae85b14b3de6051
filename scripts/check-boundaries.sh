#!/usr/bin/env bash
# Enforces the package boundaries (README.md, "Development") with go list -deps: each room
# must not depend, even indirectly, on the packages listed for it.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=github.com/pinlb/pinlb
fail=0
forbid() { # package, forbidden import path prefixes...
	local pkg=$1; shift
	local deps
	deps=$(go list -deps "./$pkg/...")
	for bad in "$@"; do
		if grep -q "^$bad" <<<"$deps"; then
			echo "boundary violation: $pkg/ depends on $bad"
			fail=1
		fi
	done
}
forbid proxy     $mod/config $mod/discovery $mod/agent $mod/command github.com/hashicorp/hcl github.com/hashicorp/consul
forbid discovery $mod/proxy $mod/config $mod/agent $mod/command github.com/hashicorp/hcl
forbid config    $mod/agent $mod/proxy $mod/discovery $mod/command
forbid agent     $mod/command
[ $fail -eq 0 ] && echo "package boundaries: ok"
exit $fail
