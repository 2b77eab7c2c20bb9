/* SPDX-License-Identifier: MIT */
/*
 * test_basic.c - counting delivery on the calling thread: exact hit counts
 * for every access type and length, the bytes a register covers and no
 * more, execute breakpoints, and enable/disable.
 */
#include "testutil.h"

static uint8_t buf[64] __attribute__((aligned(64)));
typedef uint32_t u32_unaligned __attribute__((aligned(1)));

static struct hwbp *must_create(void *addr, uint32_t len, enum hwbp_access a,
				const struct hwbp_opts *opts)
{
	struct hwbp *bp = NULL;
	int err = hwbp_create(&bp, (uintptr_t)addr, len, a, opts);

	cr_assert_eq(err, 0, "hwbp_create(%p, %u, %s): %s", addr, len,
		     hwbp_access_name(a), hwbp_last_error());
	return bp;
}

static uint64_t count_of(struct hwbp *bp)
{
	uint64_t n = 0;

	cr_assert_eq(hwbp_read_count(bp, &n), 0, "%s", hwbp_last_error());
	return n;
}

/* `n` stores of `len` bytes at p. */
static void store(void *p, uint32_t len, int n)
{
	for (int i = 0; i < n; i++) {
		switch (len) {
		case 1: TU_WRITE(*(uint8_t *)p, (uint8_t)i); break;
		case 2: TU_WRITE(*(uint16_t *)p, (uint16_t)i); break;
		case 4: TU_WRITE(*(uint32_t *)p, (uint32_t)i); break;
		default: TU_WRITE(*(uint64_t *)p, (uint64_t)i); break;
		}
	}
}

static uint64_t load(void *p, uint32_t len, int n)
{
	uint64_t sum = 0;

	for (int i = 0; i < n; i++) {
		switch (len) {
		case 1: sum += TU_READ(*(uint8_t *)p); break;
		case 2: sum += TU_READ(*(uint16_t *)p); break;
		case 4: sum += TU_READ(*(uint32_t *)p); break;
		default: sum += TU_READ(*(uint64_t *)p); break;
		}
	}
	return sum;
}

Test(basic, write_every_length)
{
	static const uint32_t lens[] = { 1, 2, 4, 8 };

	TU_REQUIRE_BREAKPOINTS();
	TU_REQUIRE_HITS();
	for (int i = 0; i < 4; i++) {
		void *p = &buf[16 + lens[i]]; /* aligned to len */
		struct hwbp *bp = must_create(p, lens[i], HWBP_WRITE, NULL);

		store(p, lens[i], 300 + i);
		(void)load(p, lens[i], 50); /* reads: not counted */
		cr_assert_eq(count_of(bp), (uint64_t)(300 + i), "len %u",
			     lens[i]);
		cr_assert_eq(hwbp_close(bp), 0);
	}
}

Test(basic, rw_counts_reads_and_writes)
{
	static const uint32_t lens[] = { 1, 2, 4, 8 };

	TU_REQUIRE_BREAKPOINTS();
	TU_REQUIRE_HITS();
	for (int i = 0; i < 4; i++) {
		void *p = &buf[32];
		struct hwbp *bp = must_create(p, lens[i], HWBP_RW, NULL);

		store(p, lens[i], 100);
		(void)load(p, lens[i], 70 + i);
		cr_assert_eq(count_of(bp), (uint64_t)(170 + i), "len %u",
			     lens[i]);
		hwbp_close(bp);
	}
}

Test(basic, len1_at_odd_address)
{
	struct hwbp *bp;

	TU_REQUIRE_BREAKPOINTS();
	TU_REQUIRE_HITS();
	bp = must_create(&buf[5], 1, HWBP_WRITE, NULL);
	store(&buf[5], 1, 77);
	store(&buf[4], 1, 10); /* the neighbour byte */
	store(&buf[6], 1, 10);
	cr_assert_eq(count_of(bp), 77);
	hwbp_close(bp);
}

Test(basic, only_covered_bytes_hit)
{
	struct hwbp *bp;

	TU_REQUIRE_BREAKPOINTS();
	TU_REQUIRE_HITS();
	bp = must_create(&buf[8], 4, HWBP_WRITE, NULL);
	store(&buf[4], 4, 10);  /* [4,8): just before */
	store(&buf[12], 4, 10); /* [12,16): just after */
	store(&buf[10], 1, 3);  /* inside */
	/* [6,10): a misaligned store over the first two bytes */
	for (int i = 0; i < 5; i++)
		TU_WRITE(*(u32_unaligned *)&buf[6], (uint32_t)i);
	cr_assert_eq(count_of(bp), 8);
	hwbp_close(bp);
}

__attribute__((noinline)) static int exec_target(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 1;
}

Test(basic, exec_counts_calls)
{
	struct hwbp *bp;
	int (*volatile fn)(int) = exec_target;
	int sum = 0;

	TU_REQUIRE_BREAKPOINTS();
	TU_REQUIRE(tu_probe().exec, "execute breakpoints refused here");
	TU_REQUIRE_HITS();
	bp = must_create((void *)(uintptr_t)exec_target, 0, HWBP_EXEC, NULL);
	for (int i = 0; i < 25; i++)
		sum += fn(i);
	cr_assert_eq(sum, 25 * 24 / 2 + 25);
	cr_assert_eq(count_of(bp), 25);
	hwbp_close(bp);
}

Test(basic, disabled_until_enabled)
{
	HWBP_OPTS(hwbp_opts, opts, .disabled = true);
	struct hwbp *bp;

	TU_REQUIRE_BREAKPOINTS();
	TU_REQUIRE_HITS();
	bp = must_create(&buf[0], 8, HWBP_WRITE, &opts);
	store(&buf[0], 8, 10);
	cr_assert_eq(count_of(bp), 0);
	cr_assert_eq(hwbp_enable(bp), 0);
	store(&buf[0], 8, 20);
	cr_assert_eq(hwbp_disable(bp), 0);
	store(&buf[0], 8, 40);
	cr_assert_eq(count_of(bp), 20);
	hwbp_close(bp);
}

Test(basic, four_registers_fifth_enospc)
{
	struct hwbp *bp[4], *fifth = NULL;
	int slots;

	TU_REQUIRE_BREAKPOINTS();
	slots = tu_probe().slots;
	cr_assert_eq(slots, 4, "x86-64 has 4 debug registers, probe says %d",
		     slots);
	for (int i = 0; i < 4; i++)
		bp[i] = must_create(&buf[8 * i], 8, HWBP_WRITE, NULL);
	TU_ASSERT_ERR(hwbp_create(&fifth, (uintptr_t)&buf[32], 8, HWBP_WRITE,
				  NULL), -ENOSPC);
	cr_assert_null(fifth);
	cr_assert(strstr(hwbp_last_error(), "4 per thread"), "%s",
		  hwbp_last_error());
	cr_assert(strstr(hwbp_last_error(), "4 by hwbp breakpoints"), "%s",
		  hwbp_last_error());
	TU_REQUIRE_HITS();
	/* All four still count, and closing one frees a register. */
	for (int i = 0; i < 4; i++)
		store(&buf[8 * i], 8, i + 1);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(count_of(bp[i]), (uint64_t)(i + 1));
	hwbp_close(bp[3]);
	fifth = must_create(&buf[32], 8, HWBP_WRITE, NULL);
	for (int i = 0; i < 3; i++)
		hwbp_close(bp[i]);
	hwbp_close(fifth);
}

Test(basic, probe_explains)
{
	char text[2048];
	int n = hwbp_probe_explain(text, sizeof(text));

	cr_assert_gt(n, 0);
	cr_assert_lt(n, (int)sizeof(text));
	cr_assert(strstr(text, "debug registers   4 per thread"), "%s", text);
	cr_assert(strstr(text, "perf_event_paranoid"), "%s", text);
}
