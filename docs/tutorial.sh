#!/bin/sh
# docs/tutorial.sh - the commands of docs/TUTORIAL.md, each echoed and
# followed by its exit status.  Run from the top of a built tree (`make`);
# on a machine whose debug registers do not fire (`hwbp probe`: "hits fire
# no") run it in a QEMU guest: scripts/qemu-check sh docs/tutorial.sh
T=${TMPDIR:-/tmp}/hwbp-tutorial
mkdir -p "$T"
run() {
	printf '$'
	for a in "$@"; do
		case "$a" in *[\ \']*|*'=='*) printf " '%s'" "$a" ;; *) printf ' %s' "$a" ;; esac
	done
	echo
	"$@"
	echo "[exit $?]"
	echo
}
run build/hwbp probe
run build/examples/demo_server
run build/hwbp watch server.max_clients -- build/examples/demo_server
run build/hwbp watch --if '== 0' server.max_clients -- build/examples/demo_server
run cc -g -O0 -pthread \
	examples/demo_server.c -o "$T/demo_fp"
run build/hwbp watch --bt --if '== 0' --max 1 server.max_clients -- "$T/demo_fp"
run build/hwbp watch --count server.max_clients server.refused -- build/examples/demo_server
run build/hwbp watch --json --if '== 0' --max 1 server.max_clients -- build/examples/demo_server
sed 's/__atomic_store_n(&server.max_clients, 0/__atomic_store_n(\&server.refused, 0/' \
	examples/demo_server.c >"$T/demo_fixed.c"
run diff examples/demo_server.c "$T/demo_fixed.c"
run cc -g -O2 -pthread "$T/demo_fixed.c" -o "$T/demo_fixed"
run build/hwbp watch --if '== 0' server.max_clients server.refused -- "$T/demo_fixed"
