# bench/lib.sh - what bench/run and bench/redis both read from the tools'
# output, sourced by each: the hits hwbp kept and lost, perf record's
# samples, and the registers hwbp watch samples, as perf names them.

# The user registers hwbp watch samples for its exact values
# (tools/tool.h SAMPLED_REGS_MASK), for perf record --user-regs.
PERF_USER_REGS=AX,BX,CX,DX,SI,DI,BP,SP,IP,FLAGS,R8,R9,R10,R11,R12,R13,R14,R15

hits_lost_of() { # "HITS LOST" of hwbp's output file (human or JSON)
	if grep -q '^{"type":"summary"' "$1"; then
		sed -n 's/^{"type":"summary","hits":\([0-9]*\),"lost":\([0-9]*\).*/\1 \2/p' "$1"
	else
		sed -n 's/^--- hwbp: \([0-9]*\) hits\{0,1\} in .*, \([0-9]*\) lost$/\1 \2/p' "$1"
	fi
}

perf_samples() { # the samples perf record kept in the file $1
	perf report -i "$1" --stats 2>/dev/null |
		awk '/SAMPLE events/ { for (i = 1; i <= NF; i++)
			if ($i ~ /^[0-9]+$/) { print $i; exit } }'
}
