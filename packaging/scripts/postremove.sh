#!/bin/sh
# A purge (deb) takes away what pinlb made at run time and its user; a
# removal or an RPM erase leaves both, as the operator's.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
if [ "$1" = "purge" ]; then
	rm -rf /var/log/pinlb /etc/pinlb.d
	if getent passwd pinlb >/dev/null; then
		userdel pinlb || true
	fi
	if getent group pinlb >/dev/null; then
		groupdel pinlb || true
	fi
fi
