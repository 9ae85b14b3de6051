#!/usr/bin/env bash
# Runs every fuzz target for a set time, one after the other, and prints a
# table: target, execs, result. A crash leaves its input in the package's
# testdata/fuzz/TARGET/, where `go test` replays it from then on.
#
#   scripts/fuzz.sh DURATION PARALLEL PACKAGE:TARGET...
set -uo pipefail
time=$1 parallel=$2
shift 2
rows=() failed=0
for t in "$@"; do
	pkg=${t%%:*} fn=${t#*:}
	echo "== $fn in $pkg for $time"
	log=$(mktemp)
	go test "$pkg" -run '^$' -fuzz "^$fn\$" -fuzztime "$time" -fuzzminimizetime 100x -parallel "$parallel" 2>&1 | tee "$log" | grep -v '^fuzz: elapsed' 
	status=${PIPESTATUS[0]}
	execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	result=pass
	[ "$status" -eq 0 ] || { result=FAIL; failed=1; }
	rows+=("$(printf '%-18s %-14s %12s  %s' "$fn" "$pkg" "${execs:-0}" "$result")")
	rm -f "$log"
done
printf '\n%-18s %-14s %12s  %s\n' target package execs result
printf '%s\n' "${rows[@]}"
exit $failed
