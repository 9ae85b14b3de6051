#!/bin/sh
# The user pinlb runs as: a system account without a shell or a home, made
# before the files are unpacked, so /etc/pinlb.d can belong to its group.
set -e
if ! getent passwd pinlb >/dev/null; then
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin --comment "pinlb load balancer" pinlb
fi
