#!/usr/bin/env bash
# Installs the Debian packages a make target needs when their commands are
# missing: as root through apt-get, otherwise it says what to install.
#
#   scripts/debian-deps.sh COMMAND=PACKAGE [/PATH/TO/FILE=PACKAGE ...]
set -euo pipefail

missing=()
for pair in "$@"; do
	what=${pair%%=*} pkg=${pair#*=}
	if [[ $what == /* ]]; then
		[ -e "$what" ] || missing+=("$pkg")
	else
		command -v "$what" >/dev/null 2>&1 || missing+=("$pkg")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
	echo "missing: ${missing[*]}; install them (Debian: apt-get install ${missing[*]}) and run make again" >&2
	exit 1
fi
echo "installing ${missing[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
