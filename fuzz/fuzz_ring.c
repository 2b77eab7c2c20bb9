/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ring.c - libFuzzer target for the ring-buffer record decoders
 * (src/ring.c, hwbp_decode_sample and hwbp_decode_switch; src/bpf.c,
 * hwbp_bpf_decode, with regs_mask as the owner's): corrupted
 * records of any layout must be refused with -EINVAL or decoded with every
 * pointer inside the record (the PERF_SAMPLE_AUX trace of
 * HWBP_SAMPLE_BRANCHES too).  The same body is also read as a SWITCH or
 * SWITCH_CPU_WIDE record (type bit 63 picks, regs_mask gives misc).
 */
#include <stdlib.h>
#include <string.h>

#include "../src/internal.h"

static void check_inside(const void *p, size_t len, const unsigned char *b,
			 size_t size)
{
	const unsigned char *q = p;

	if (len && (q < b || q + len > b + size))
		abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	uint64_t type, regs_mask;
	unsigned char *body;
	struct hwbp_record rec;
	size_t n;

	if (size < 16)
		return 0;
	memcpy(&type, data, 8);
	memcpy(&regs_mask, data + 8, 8);
	n = size - 16;
	body = malloc(n ? n : 1); /* its own allocation: ASan sees overreads */
	if (!body)
		return 0;
	memcpy(body, data + 16, n);
	memset(&rec, 0, sizeof(rec));
	if (hwbp_decode_sample(body, n, type, regs_mask, &rec) == 0) {
		check_inside(rec.callchain, rec.nr_callchain * 8ull, body, n);
		check_inside(rec.regs, (size_t)__builtin_popcountll(rec.regs_mask) * 8,
			     body, n);
		check_inside(rec.stack, rec.stack_size, body, n);
		check_inside(rec.aux, rec.aux_size, body, n);
		if (!rec.aux != !rec.aux_size ||
		    (rec.aux_size && rec.aux_format != HWBP_AUX_INTEL_PT))
			abort();
	}
	{
		static struct hwbp owner; /* only req.regs_mask is read */

		owner.req.regs_mask = regs_mask;
		if (hwbp_bpf_decode(&owner, body, n, &rec) == 0)
			check_inside(rec.regs,
				     (size_t)__builtin_popcountll(rec.regs_mask) * 8,
				     body, n);
	}
	if (n <= 0xffff - sizeof(struct perf_event_header)) {
		struct perf_event_header h = {
			.type = type >> 63 ? PERF_RECORD_SWITCH_CPU_WIDE
					   : PERF_RECORD_SWITCH,
			.misc = (uint16_t)regs_mask,
			.size = (uint16_t)(n + sizeof(h)),
		};

		if (hwbp_decode_switch(&h, body, n, &rec) == 0 &&
		    (rec.kind != HWBP_REC_SWITCH || n < 24 ||
		     (rec.preempted && !rec.switch_out)))
			abort();
	}
	free(body);
	return 0;
}
