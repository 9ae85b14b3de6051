#!/bin/sh
# Stops the agent when the package is removed, not when it is upgraded
# (deb: "remove"; rpm: 0 packages left).
set -e
if [ "$1" = "remove" ] || [ "$1" = "0" ]; then
	if [ -d /run/systemd/system ]; then
		systemctl disable --now pinlb.service >/dev/null 2>&1 || true
	fi
fi
