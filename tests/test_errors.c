/* SPDX-License-Identifier: MIT */
/*
 * test_errors.c - every public function with bad arguments: the errno, a
 * message that names the cause, and nothing leaked (fds, mappings).
 */
#include <sched.h>

#include "testutil.h"

static uint64_t word;
static uint8_t bytes[16] __attribute__((aligned(16)));

static void noop_hit(const struct hwbp_hit *h, void *uc)
{
	(void)h, (void)uc;
}

static void noop_record(const struct hwbp_record *r, void *c)
{
	(void)r, (void)c;
}

struct bad_create {
	const char *name;
	uint64_t addr;
	uint32_t len;
	enum hwbp_access access;
	struct hwbp_opts opts;
	int err;
	const char *msg; /* a piece of the message */
};

#define O(...) { .sz = sizeof(struct hwbp_opts), __VA_ARGS__ }

Test(errors, create_table)
{
	uint64_t w = (uintptr_t)&word, odd = (uintptr_t)&bytes[1];
	cpu_set_t empty, huge, cpu0;
	struct bad_create cases[] = {
		{ "address 0", 0, 8, HWBP_WRITE, O(), -EINVAL, "address 0" },
		{ "len 3", w, 3, HWBP_WRITE, O(), -EINVAL, "1, 2, 4 or 8" },
		{ "len 16", w, 16, HWBP_WRITE, O(), -EINVAL, "1, 2, 4 or 8" },
		{ "len 0 write", w, 0, HWBP_WRITE, O(), -EINVAL, "1, 2, 4 or 8" },
		{ "len 2 odd", odd, 2, HWBP_WRITE, O(), -EINVAL, "not 2-byte aligned" },
		{ "len 8 at +4", w + 4, 8, HWBP_RW, O(), -EINVAL, "not 8-byte aligned" },
		{ "read-only", w, 8, HWBP_READ, O(), -EOPNOTSUPP, "no read-only" },
		{ "access 0", w, 8, 0, O(), -EINVAL, "HWBP_WRITE" },
		{ "access 7", w, 8, 7, O(), -EINVAL, "HWBP_WRITE" },
		{ "exec len 1", w, 1, HWBP_EXEC, O(), -EINVAL, "needs len 8" },
		{ "kernel addr", 0xffffffff81000000ull, 8, HWBP_WRITE, O(),
		  -EINVAL, "kernel address" },
		{ "wraps", 0xfffffffffffffff8ull, 8, HWBP_WRITE, O(.kernel = 1),
		  -EINVAL, "wraps" },
		{ "scope 9", w, 8, HWBP_WRITE, O(.scope = 9), -EINVAL, "hwbp_scope" },
		{ "thread tid 0", w, 8, HWBP_WRITE, O(.scope = HWBP_SCOPE_THREAD),
		  -EINVAL, "tid > 0" },
		{ "dead tid", w, 8, HWBP_WRITE,
		  O(.scope = HWBP_SCOPE_THREAD, .pid = 4000000), -ESRCH, "no thread" },
		{ "dead pid", w, 8, HWBP_WRITE,
		  O(.scope = HWBP_SCOPE_PROCESS, .pid = 4000000), -ESRCH, "no process" },
		{ "process pid -1", w, 8, HWBP_WRITE,
		  O(.scope = HWBP_SCOPE_PROCESS, .pid = -1), -EINVAL, "pid" },
		{ "cpus NULL", w, 8, HWBP_WRITE, O(.scope = HWBP_SCOPE_CPUS),
		  -EINVAL, "opts.cpus" },
		{ "cpus empty", w, 8, HWBP_WRITE, O(.scope = HWBP_SCOPE_CPUS,
		  .cpus = &empty, .cpus_size = sizeof(empty)), -EINVAL, "empty" },
		{ "cpu 1000", w, 8, HWBP_WRITE, O(.scope = HWBP_SCOPE_CPUS,
		  .cpus = &huge, .cpus_size = sizeof(huge)), -EINVAL, "does not exist" },
		{ "delivery 9", w, 8, HWBP_WRITE, O(.delivery = 9), -EINVAL,
		  "hwbp_delivery" },
		{ "signal no cb", w, 8, HWBP_WRITE,
		  O(.delivery = HWBP_DELIVER_SIGNAL), -EINVAL, "on_hit" },
		{ "signal mode 7", w, 8, HWBP_WRITE, O(.delivery = HWBP_DELIVER_SIGNAL,
		  .on_hit = noop_hit, .signal_mode = 7), -EINVAL, "hwbp_signal_mode" },
		{ "signal on cpus", w, 8, HWBP_WRITE, O(.delivery = HWBP_DELIVER_SIGNAL,
		  .on_hit = noop_hit, .scope = HWBP_SCOPE_CPUS, .cpus = &cpu0,
		  .cpus_size = sizeof(cpu0)), -EINVAL, "not cpus" },
		{ "ring no cb", w, 8, HWBP_WRITE, O(.delivery = HWBP_DELIVER_RING),
		  -EINVAL, "on_record" },
		{ "ring pages 3", w, 8, HWBP_WRITE, O(.delivery = HWBP_DELIVER_RING,
		  .on_record = noop_record, .ring_pages = 3), -EINVAL, "power of 2" },
		{ "rearm 5", w, 8, HWBP_WRITE, O(.rearm = 5), -EINVAL, "hwbp_rearm" },
	};
	int fds = tu_open_fds();

	CPU_ZERO(&empty);
	CPU_ZERO(&huge);
	CPU_SET(1000, &huge);
	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	TU_REQUIRE_BREAKPOINTS();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hwbp *bp = (struct hwbp *)&word; /* must become NULL */
		int rc = hwbp_create(&bp, cases[i].addr, cases[i].len,
				     cases[i].access, &cases[i].opts);

		cr_expect_eq(rc, cases[i].err, "%s: got %d (%s), want %d: %s",
			     cases[i].name, rc, strerror(-rc), cases[i].err,
			     hwbp_last_error());
		cr_expect_null(bp, "%s: *out not cleared", cases[i].name);
		cr_expect(strstr(hwbp_last_error(), cases[i].msg),
			  "%s: message \"%s\" lacks \"%s\"", cases[i].name,
			  hwbp_last_error(), cases[i].msg);
		if (!rc)
			hwbp_close(bp);
	}
	cr_assert_eq(tu_open_fds(), fds, "fds leaked by failed creates");
}

Test(errors, create_null_out)
{
	TU_ASSERT_ERR(hwbp_create(NULL, (uintptr_t)&word, 8, HWBP_WRITE, NULL),
		      -EINVAL);
}

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

Test(errors, handle_functions)
{
	HWBP_OPTS(hwbp_stats, st);
	struct hwbp_stats tiny = { .sz = 2 };
	struct hwbp *bp;
	uint64_t n;

	TU_REQUIRE_BREAKPOINTS();
	TU_ASSERT_ERR(hwbp_enable(NULL), -EINVAL);
	TU_ASSERT_ERR(hwbp_disable(NULL), -EINVAL);
	TU_ASSERT_ERR(hwbp_move(NULL, (uintptr_t)&word, 8, HWBP_WRITE), -EINVAL);
	TU_ASSERT_ERR(hwbp_read_count(NULL, &n), -EINVAL);
	TU_ASSERT_ERR(hwbp_get_stats(NULL, &st), -EINVAL);
	TU_ASSERT_ERR(hwbp_ring_poll(NULL, 0), -EINVAL);
	TU_ASSERT_ERR(hwbp_ring_consume(NULL), -EINVAL);
	TU_ASSERT_ERR(hwbp_ring_fd(NULL), -EINVAL);
	cr_assert_eq(hwbp_close(NULL), 0);

	cr_assert_eq(hwbp_create(&bp, (uintptr_t)&word, 8, HWBP_WRITE, NULL), 0);
	TU_ASSERT_ERR(hwbp_read_count(bp, NULL), -EINVAL);
	TU_ASSERT_ERR(hwbp_get_stats(bp, NULL), -EINVAL);
	TU_ASSERT_ERR(hwbp_get_stats(bp, &tiny), -EINVAL);
	TU_ASSERT_ERR(hwbp_ring_poll(bp, 0), -EINVAL);
	cr_assert_eq(hwbp_close(bp), 0);

	/* A closed handle: -EBADF, not a crash (and not under ASan). */
	TU_ASSERT_ERR(hwbp_close(bp), -EBADF);
	TU_ASSERT_ERR(hwbp_enable(bp), -EBADF);
	TU_ASSERT_ERR(hwbp_disable(bp), -EBADF);
	TU_ASSERT_ERR(hwbp_move(bp, (uintptr_t)&word, 8, HWBP_WRITE), -EBADF);
	TU_ASSERT_ERR(hwbp_read_count(bp, &n), -EBADF);
	TU_ASSERT_ERR(hwbp_get_stats(bp, &st), -EBADF);
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
