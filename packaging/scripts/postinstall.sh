#!/bin/sh
# The units are installed, not enabled: pinlb binds the Pinpoint ports, so
# the operator starts it once the configuration is theirs.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	if systemctl is-active --quiet pinlb.service; then
		systemctl restart pinlb.service || true
	fi
fi
if [ "$1" = "configure" ] && [ -z "$2" ] || [ "$1" = "1" ]; then
	echo "pinlb: edit /etc/pinlb.d/pinlb.hcl, check it with 'pinlb validate /etc/pinlb.d', then 'systemctl enable --now pinlb'"
fi
