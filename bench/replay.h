/* SPDX-License-Identifier: MIT */
/*
 * replay.h - the capture file of bench/replay_gen, read by bench/replay:
 * magic; u32 n, n code mappings (struct replay_map + path); u32 n, n
 * watched variables (struct replay_loc + name); u32 n, n samples (struct
 * replay_sample + stack_size bytes of stack from the sampled SP).
 */
#ifndef HWBP_BENCH_REPLAY_H
#define HWBP_BENCH_REPLAY_H

#include <stdint.h>

#define REPLAY_MAGIC "HWBPREPLAY1"

struct replay_map {
	uint64_t start, len, pgoff;
	uint32_t pathlen, unused;
};

struct replay_loc {
	uint64_t addr;
	uint32_t len;
	uint32_t namelen;
};

/* regs: perf order, AX..FLAGS then R8..R15 (the command's mask). */
struct replay_sample {
	uint32_t thread, loc;
	uint64_t ip;
	uint64_t regs[18];
	uint32_t stack_size, unused;
};

#endif
