/* SPDX-License-Identifier: MIT */
/*
 * test_errors.c - errors beyond the bad-input table of test_api.c: the
 * opts ABI with a hit, the helpers' good and bad lengths, the message
 * callback.
 */
#include "testutil.h"

static uint64_t word;
static uint8_t bytes[16] __attribute__((aligned(16)));

/* The opts ABI: an older caller's smaller struct takes defaults; a newer
 * caller's larger struct is fine while its unknown tail is zero. */
Test(errors, opts_sizes)
{
	struct {
		struct hwbp_opts o;
		uint64_t future[4];
	} big;
	struct hwbp *bp;
	uint64_t n;

	TU_REQUIRE_BREAKPOINTS();
	memset(&big, 0, sizeof(big));
	big.o.sz = sizeof(big);
	cr_assert_eq(hwbp_create(&bp, (uintptr_t)&word, 8, HWBP_WRITE, &big.o),
		     0, "%s", hwbp_last_error());
	hwbp_close(bp);
	big.future[2] = 1;
	TU_ASSERT_ERR(hwbp_create(&bp, (uintptr_t)&word, 8, HWBP_WRITE, &big.o),
		      -EINVAL);
	cr_assert(strstr(hwbp_last_error(), "newer hwbp.h"));
	/* Old caller: knows sz and scope only; delivery et al. default. */
	memset(&big, 0, sizeof(big));
	big.o.sz = offsetof(struct hwbp_opts, pid);
	big.o.scope = HWBP_SCOPE_SELF;
	big.o.delivery = HWBP_DELIVER_SIGNAL; /* beyond its sz: ignored */
	cr_assert_eq(hwbp_create(&bp, (uintptr_t)&word, 8, HWBP_WRITE, &big.o),
		     0, "%s", hwbp_last_error());
	TU_REQUIRE_HITS();
	TU_WRITE(word, 1);
	cr_assert_eq(hwbp_read_count(bp, &n), 0);
	cr_assert_eq(n, 1);
	hwbp_close(bp);
	big.o.sz = 4;
	TU_ASSERT_ERR(hwbp_create(&bp, (uintptr_t)&word, 8, HWBP_WRITE, &big.o),
		      -EINVAL);
}

Test(errors, probe_and_helpers)
{
	struct hwbp_probe tiny = { .sz = 1 };
	static const uint8_t nop[] = { 0x90 };
	static const uint8_t movabs[] = { 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8 };
	static const uint8_t invalid[] = { 0x06 }; /* push es: not in 64-bit */
	char small[8];

	TU_ASSERT_ERR(hwbp_probe(NULL), -EINVAL);
	TU_ASSERT_ERR(hwbp_probe(&tiny), -EINVAL);
	TU_ASSERT_ERR(hwbp_probe_explain(NULL, 10), -EINVAL);
	cr_assert_gt(hwbp_probe_explain(NULL, 0), 100, "length when size 0");
	cr_assert_gt(hwbp_probe_explain(small, sizeof(small)), 100);
	cr_assert_eq(strlen(small), sizeof(small) - 1, "truncated, terminated");

	cr_assert_eq(hwbp_insn_len(nop, 1), 1);
	cr_assert_eq(hwbp_insn_len(movabs, sizeof(movabs)), 10);
	cr_assert_eq(hwbp_insn_len(movabs, 5), -EINVAL, "cut short");
	cr_assert_eq(hwbp_insn_len(invalid, 1), -EINVAL);
	cr_assert_eq(hwbp_insn_len(NULL, 15), -EINVAL);
	cr_assert_eq(hwbp_insn_len(nop, 0), -EINVAL);
	cr_assert_eq(hwbp_uc_skip_insn(NULL), -EINVAL);
	cr_assert_eq(hwbp_uc_pc(NULL), 0);
	hwbp_uc_set_pc(NULL, 1); /* no crash */
	cr_assert_str_eq(hwbp_access_name(HWBP_RW), "rw");
	cr_assert_str_eq(hwbp_access_name(99), "?");
}

static int printed;
static char last_printed[256];
static void capture(enum hwbp_log_level level, const char *msg)
{
	(void)level;
	printed++;
	snprintf(last_printed, sizeof(last_printed), "%s", msg);
}

Test(errors, print_callback)
{
	hwbp_print_fn prev = hwbp_set_print(capture);
	struct hwbp *bp;

	cr_assert_not_null(prev, "a default printer is installed");
	cr_assert_eq(hwbp_create(&bp, (uintptr_t)&bytes[1], 2, HWBP_WRITE,
				 NULL), -EINVAL);
	cr_assert_eq(printed, 1);
	cr_assert_str_eq(last_printed, hwbp_last_error());
	cr_assert_eq(hwbp_set_print(NULL), capture);
	cr_assert_eq(hwbp_create(&bp, (uintptr_t)&bytes[1], 2, HWBP_WRITE,
				 NULL), -EINVAL);
	cr_assert_eq(printed, 1, "silenced");
}
