/* SPDX-License-Identifier: MIT */
/*
 * test_attr.c - the perf_event_attr each delivery gets (src/event.c's
 * hwbp_fill_attr, a hidden function: this binary compiles the library's
 * sources): counting samples nothing (no overflow per hit, as perf stat),
 * signal and ring delivery overflow on every hit, and the sigtrap
 * sig_data carries all 32 bits of the generation.
 */
#include <criterion/criterion.h>

#include "../../src/internal.h"

static struct perf_event_attr attr_for(enum hwbp_delivery d, uint32_t gen)
{
	static uint64_t word;
	struct hwbp bp = { .slot = 0, .enabled = true };
	struct hwbp_place p = { (uintptr_t)&word, 8, HWBP_WRITE };
	struct perf_event_attr a;

	bp.req.place = p;
	bp.req.delivery = d;
	bp.req.signal_mode = HWBP_SIGNAL_SYNC;
	bp.req.scope = HWBP_SCOPE_SELF;
	hwbp_fill_attr(&a, &bp, &p, gen);
	return a;
}

Test(attr, counting_samples_nothing)
{
	struct perf_event_attr a = attr_for(HWBP_DELIVER_COUNT, 0);

	cr_assert_eq(a.sample_period, 0, "a counting event with a period "
		     "takes the overflow path on every hit");
	cr_assert_eq(a.sample_type, 0);
	cr_assert_eq(a.sigtrap, 0);
	cr_assert_eq(a.type, PERF_TYPE_BREAKPOINT);
	cr_assert_eq(a.bp_len, 8);
}

Test(attr, signal_and_ring_overflow_on_every_hit)
{
	struct perf_event_attr s = attr_for(HWBP_DELIVER_SIGNAL, 0x12345678);
	struct perf_event_attr r = attr_for(HWBP_DELIVER_RING, 0);

	cr_assert_eq(s.sample_period, 1);
	cr_assert_eq(s.sigtrap, 1);
	cr_assert_eq(s.remove_on_exec, 1);
	cr_assert_eq(s.sig_data & 0xffffffffull, 0x12345678, "sig_data "
		     "0x%llx: the generation's 32 bits",
		     (unsigned long long)s.sig_data);
	cr_assert_eq(r.sample_period, 1);
	cr_assert(r.sample_type & PERF_SAMPLE_IP);
}

/* A move copies the attributes the events were opened with and sets the
 * placement's fields: the result must be what filling them anew gives
 * (the kernel refuses a modify that changes any other field). */
Test(attr, a_move_sets_only_the_placement)
{
	static uint64_t word[2];
	enum hwbp_delivery ds[] = { HWBP_DELIVER_COUNT, HWBP_DELIVER_SIGNAL,
				    HWBP_DELIVER_RING };

	for (int i = 0; i < 3; i++) {
		struct hwbp bp = { .slot = 0, .enabled = i != 1 };
		struct hwbp_place at = { (uintptr_t)&word[0], 8, HWBP_WRITE };
		struct hwbp_place to = { (uintptr_t)&word[1] + 4, 4, HWBP_RW };
		struct perf_event_attr moved, fresh;

		bp.req.place = at;
		bp.req.delivery = ds[i];
		bp.req.signal_mode = HWBP_SIGNAL_SYNC;
		bp.req.sample = HWBP_SAMPLE_REGS;
		bp.req.regs_mask = 0xff;
		bp.lost_format = i == 2;
		hwbp_fill_attr(&bp.attr, &bp, &at, 7);
		hwbp_move_attr(&moved, &bp, &to, 0x10008);
		hwbp_fill_attr(&fresh, &bp, &to, 0x10008);
		cr_assert_eq(memcmp(&moved, &fresh, sizeof(moved)), 0,
			     "delivery %d: a move's attributes differ from "
			     "the placement's own", (int)ds[i]);
	}
}
