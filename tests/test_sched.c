/* SPDX-License-Identifier: MIT */
/*
 * test_sched.c - the scheduler: pinned watches fill the registers and the
 * next one fails with the reason; ranges take as many registers as they
 * need; round-robin gives every watch its turn; the reservoir arms every
 * candidate with the same probability (fixed seeds, a bound a wrong policy
 * fails); with traps: exact counts, strays dropped, read-only emulated.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "testutil.h"

static volatile uint64_t vars[64] __attribute__((aligned(64)));

static struct hwbp_sched *make_sched(enum hwbp_policy policy, uint32_t regs,
				     uint64_t seed, hwbp_hit_fn on_hit)
{
	HWBP_OPTS(hwbp_sched_opts, o, .policy = policy, .registers = regs,
		  .seed = seed, .manual = true, .on_hit = on_hit);
	struct hwbp_sched *s;

	cr_assert_eq(hwbp_sched_create(&s, &o), 0, "%s", hwbp_last_error());
	return s;
}

static struct hwbp_watch *must_add(struct hwbp_sched *s, volatile void *at,
				   uint64_t len, enum hwbp_access access)
{
	struct hwbp_watch *w;

	cr_assert_eq(hwbp_sched_add(s, (uintptr_t)at, len, access, (void *)at,
				    &w), 0, "%s", hwbp_last_error());
	return w;
}

static struct hwbp_watch_stats stats_of(struct hwbp_watch *w)
{
	HWBP_OPTS(hwbp_watch_stats, st);

	cr_assert_eq(hwbp_watch_get_stats(w, &st), 0, "%s", hwbp_last_error());
	return st;
}

Test(sched, pinned_fills_registers_then_enospc)
{
	struct hwbp_sched *s;
	struct hwbp_watch *w[4], *extra = (void *)1;

	TU_REQUIRE_BREAKPOINTS();
	s = make_sched(HWBP_POLICY_PINNED, 0, 0, NULL);
	for (int i = 0; i < 4; i++) {
		w[i] = must_add(s, &vars[i], 8, HWBP_WRITE);
		cr_assert(stats_of(w[i]).armed);
		cr_assert_eq(stats_of(w[i]).registers, 1);
	}
	TU_ASSERT_ERR(hwbp_sched_add(s, (uintptr_t)&vars[4], 8, HWBP_WRITE,
				     NULL, &extra), -ENOSPC);
	cr_assert_null(extra);
	cr_assert(strstr(hwbp_last_error(), "0 of 4 free"), "%s",
		  hwbp_last_error());
	cr_assert(strstr(hwbp_last_error(), "round-robin"));
	cr_assert_eq(hwbp_sched_remove(s, w[2]), 0);
	cr_assert(!stats_of(w[2]).armed);
	/* A 16-byte range needs 2 registers: 1 is free. */
	TU_ASSERT_ERR(hwbp_sched_add(s, (uintptr_t)&vars[8], 16, HWBP_WRITE,
				     NULL, NULL), -ENOSPC);
	cr_assert(strstr(hwbp_last_error(), "needs 2 debug registers, 1 of 4"),
		  "%s", hwbp_last_error());
	extra = must_add(s, &vars[8], 8, HWBP_READ);
	cr_assert(stats_of(extra).armed);
	TU_ASSERT_ERR(hwbp_sched_remove(s, w[2]), -ENOENT);
	cr_assert_eq(hwbp_sched_close(s), 0);
}

Test(sched, ranges_take_the_registers_they_need)
{
	struct hwbp_sched *s;
	struct hwbp_watch *w;

	TU_REQUIRE_BREAKPOINTS();
	s = make_sched(HWBP_POLICY_PINNED, 0, 0, NULL);
	w = must_add(s, (volatile char *)&vars[0] + 1, 3, HWBP_WRITE);
	cr_assert_eq(stats_of(w).registers, 1, "3 bytes in one 4-byte register");
	w = must_add(s, (volatile char *)&vars[1] + 6, 4, HWBP_WRITE);
	cr_assert_eq(stats_of(w).registers, 2, "crosses an 8-byte block");
	TU_ASSERT_ERR(hwbp_sched_add(s, (uintptr_t)&vars[8], 40, HWBP_RW, NULL,
				     NULL), -ENOSPC);
	cr_assert(strstr(hwbp_last_error(), "needs 5 debug registers, the "
			 "scheduler has 4") &&
		  strstr(hwbp_last_error(), "round-robin and reservoir"), "%s",
		  hwbp_last_error());
	hwbp_sched_close(s);
}

Test(sched, round_robin_gives_every_watch_its_turn)
{
	struct hwbp_sched *s;
	struct hwbp_watch *w[6];
	int turns[6] = { 0 };

	TU_REQUIRE_BREAKPOINTS();
	s = make_sched(HWBP_POLICY_RR, 0, 0, NULL);
	for (int i = 0; i < 6; i++)
		w[i] = must_add(s, &vars[i], 8, HWBP_WRITE);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(stats_of(w[i]).armed, i < 4, "watch %d", i);
	for (int round = 0; round < 30; round++) {
		int armed = 0;

		cr_assert_eq(hwbp_sched_rotate(s), 0, "%s", hwbp_last_error());
		for (int i = 0; i < 6; i++) {
			bool on = stats_of(w[i]).armed;

			turns[i] += on;
			armed += on;
		}
		cr_assert_eq(armed, 4, "every register busy");
	}
	for (int i = 0; i < 6; i++)
		cr_assert_eq(turns[i], 20, "watch %d armed %d of 30 rounds "
			     "(4 registers for 6 watches: 20)", i, turns[i]);
	hwbp_sched_close(s);
}

Test(sched, round_robin_timer_rotates)
{
	HWBP_OPTS(hwbp_sched_opts, o, .policy = HWBP_POLICY_RR,
		  .quantum_us = 1000);
	struct hwbp_sched *s;
	struct hwbp_watch *w[8];
	int fds = tu_open_fds();

	TU_REQUIRE_BREAKPOINTS();
	cr_assert_eq(hwbp_sched_create(&s, &o), 0, "%s", hwbp_last_error());
	for (int i = 0; i < 8; i++)
		w[i] = must_add(s, &vars[i], 8, HWBP_WRITE);
	usleep(300 * 1000);
	for (int i = 0; i < 8; i++) {
		struct hwbp_watch_stats st = stats_of(w[i]);

		cr_assert_gt(st.armed_ns, 0, "watch %d never armed", i);
		cr_assert_lt(st.armed_ns, st.total_ns, "watch %d never off", i);
	}
	hwbp_sched_close(s);
	cr_assert_eq(tu_open_fds(), fds, "the scheduler left fds");
}

/* Reservoir: add 20 candidates for 4 registers, 4000 times with seeds
 * 1..4000; each candidate must end armed ~4/20 of the time.  "Never
 * replace" arms 0-3 always; "always replace" arms 16-19 always. */
Test(sched, reservoir_is_uniform)
{
	enum { N = 20, K = 4, TRIALS = 4000 };
	int armed_count[N] = { 0 };
	double expect = (double)TRIALS * K / N, chi2 = 0;

	TU_REQUIRE_BREAKPOINTS();
	for (int t = 1; t <= TRIALS; t++) {
		struct hwbp_sched *s = make_sched(HWBP_POLICY_RESERVOIR, K,
						  (uint64_t)t, NULL);
		struct hwbp_watch *w[N];
		int armed = 0;

		for (int i = 0; i < N; i++)
			cr_assert_eq(hwbp_sched_add(s, (uintptr_t)&vars[i], 8,
						    HWBP_WRITE, NULL, &w[i]), 0,
				     "trial %d add %d: %s", t, i,
				     hwbp_last_error());
		for (int i = 0; i < N; i++) {
			bool on = stats_of(w[i]).armed;

			armed_count[i] += on;
			armed += on;
		}
		cr_assert_eq(armed, K, "trial %d: %d armed", t, armed);
		hwbp_sched_close(s);
	}
	for (int i = 0; i < N; i++) {
		double d = armed_count[i] - expect;

		chi2 += d * d / expect;
		/* 5 standard deviations (sd = sqrt(T p (1-p)) = 25.3) */
		cr_assert(d < 127 && d > -127, "candidate %d armed %d times, "
			  "expected %.0f", i, armed_count[i], expect);
	}
	/* 19 degrees of freedom: P(chi2 > 43.8) = 0.001 */
	cr_assert_lt(chi2, 43.8, "chi-square %.1f: not uniform", chi2);
}

/*
 * Reservoir over time: with a fixed set of 8 watches for 4 registers and
 * no new ones, every re-draw (each quantum; here hwbp_sched_rotate) is a
 * new uniform 4-subset: each watch armed in ~1/2 of the turns, not the
 * first 4 for ever.  4000 turns, fixed seed; a policy that keeps its
 * draw fails the chi-square bound, one that never arms some watch fails
 * at once.
 */
Test(sched, reservoir_redraws_every_quantum)
{
	enum { N = 8, K = 4, TURNS = 4000 };
	struct hwbp_sched *s;
	struct hwbp_watch *w[N];
	int armed_count[N] = { 0 };
	double expect = (double)TURNS * K / N, chi2 = 0;

	TU_REQUIRE_BREAKPOINTS();
	s = make_sched(HWBP_POLICY_RESERVOIR, K, 7, NULL);
	for (int i = 0; i < N; i++)
		w[i] = must_add(s, &vars[i], 8, HWBP_WRITE);
	for (int t = 0; t < TURNS; t++) {
		int armed = 0;

		cr_assert_eq(hwbp_sched_rotate(s), 0, "%s", hwbp_last_error());
		for (int i = 0; i < N; i++) {
			bool on = stats_of(w[i]).armed;

			armed_count[i] += on;
			armed += on;
		}
		cr_assert_eq(armed, K, "turn %d: %d armed", t, armed);
	}
	for (int i = 0; i < N; i++) {
		double d = armed_count[i] - expect;
		struct hwbp_watch_stats st = stats_of(w[i]);

		chi2 += d * d / expect;
		cr_assert_gt(st.armed_ns, 0, "watch %d never armed", i);
		cr_assert_lt(st.armed_ns, st.total_ns, "watch %d never off", i);
		/* 5 sd: sqrt(4000 * 1/2 * 1/2) = 31.6 */
		cr_assert(d < 158 && d > -158, "watch %d armed in %d of %d "
			  "turns, expected %.0f", i, armed_count[i], TURNS,
			  expect);
	}
	/* 7 degrees of freedom: P(chi2 > 24.3) = 0.001 */
	cr_assert_lt(chi2, 24.3, "chi-square %.1f: not uniform", chi2);
	hwbp_sched_close(s);
}

/* The reservoir's timer re-draws by itself (the default: no manual). */
Test(sched, reservoir_timer_rotates)
{
	HWBP_OPTS(hwbp_sched_opts, o, .policy = HWBP_POLICY_RESERVOIR,
		  .quantum_us = 1000);
	struct hwbp_sched *s;
	struct hwbp_watch *w[8];

	TU_REQUIRE_BREAKPOINTS();
	cr_assert_eq(hwbp_sched_create(&s, &o), 0, "%s", hwbp_last_error());
	for (int i = 0; i < 8; i++)
		w[i] = must_add(s, &vars[i], 8, HWBP_WRITE);
	usleep(300 * 1000);
	for (int i = 0; i < 8; i++) {
		struct hwbp_watch_stats st = stats_of(w[i]);

		cr_assert_gt(st.armed_ns, 0, "watch %d never armed", i);
		cr_assert_lt(st.armed_ns, st.total_ns, "watch %d never off", i);
	}
	hwbp_sched_close(s);
}

/*
 * A watch wider than the registers (40 bytes: 5 registers of 4) works
 * under round-robin and reservoir: its pieces take turns, each piece's
 * time armed is kept, and the watch is never armed whole.
 */
static void wide_watch_takes_turns(enum hwbp_policy policy)
{
	HWBP_OPTS(hwbp_piece_stats, ps);
	struct hwbp_sched *s = make_sched(policy, 0, 3, NULL);
	struct hwbp_watch *w = must_add(s, &vars[8], 40, HWBP_WRITE);
	struct hwbp_watch *narrow = must_add(s, &vars[20], 8, HWBP_WRITE);
	int turns[5] = { 0 }, narrow_turns = 0;
	uint64_t sum_ns = 0;
	struct hwbp_watch_stats st;

	st = stats_of(w);
	cr_assert_eq(st.registers, 5);
	for (int t = 0; t < 600; t++) {
		cr_assert_eq(hwbp_sched_rotate(s), 0, "%s", hwbp_last_error());
		st = stats_of(w);
		cr_assert(!st.armed, "5 pieces on 4 registers: never whole");
		cr_assert_leq(st.pieces_armed, 4);
		narrow_turns += stats_of(narrow).armed;
		cr_assert_eq(st.pieces_armed + stats_of(narrow).armed, 4,
			     "turn %d: every register busy", t);
		for (uint32_t p = 0; p < 5; p++) {
			cr_assert_eq(hwbp_watch_get_piece_stats(w, p, &ps), 0,
				     "%s", hwbp_last_error());
			turns[p] += ps.armed;
		}
	}
	for (uint32_t p = 0; p < 5; p++) {
		cr_assert_eq(hwbp_watch_get_piece_stats(w, p, &ps), 0);
		cr_assert_eq(ps.addr, (uintptr_t)&vars[8] + 8 * p);
		cr_assert_eq(ps.len, 8);
		cr_assert_gt(ps.armed_ns, 0, "piece %u never armed", p);
		cr_assert_lt(ps.armed_ns, ps.total_ns, "piece %u never off", p);
		/* 6 units share 4 registers: each ~2/3 of the turns */
		cr_assert(turns[p] > 300 && turns[p] < 500, "piece %u armed in "
			  "%d of 600 turns", p, turns[p]);
		sum_ns += ps.armed_ns;
	}
	cr_assert(narrow_turns > 300 && narrow_turns < 500, "the 8-byte watch "
		  "armed in %d of 600 turns", narrow_turns);
	st = stats_of(w);
	cr_assert_eq(st.armed_ns, 0, "never armed whole");
	cr_assert_gt(st.any_ns, 0);
	cr_assert_leq(st.any_ns, st.total_ns);
	cr_assert_geq(st.any_ns * 5, sum_ns / 4, "any-piece time %llu vs the "
		      "pieces' %llu", (unsigned long long)st.any_ns,
		      (unsigned long long)sum_ns);
	TU_ASSERT_ERR(hwbp_watch_get_piece_stats(w, 5, &ps), -EINVAL);
	hwbp_sched_close(s);
}

Test(sched, wide_watch_round_robin)
{
	TU_REQUIRE_BREAKPOINTS();
	wide_watch_takes_turns(HWBP_POLICY_RR);
}

Test(sched, wide_watch_reservoir)
{
	TU_REQUIRE_BREAKPOINTS();
	wide_watch_takes_turns(HWBP_POLICY_RESERVOIR);
}

static int count_armed(struct hwbp_watch **w, int n)
{
	int armed = 0;

	for (int i = 0; i < n; i++)
		armed += stats_of(w[i]).armed;
	return armed;
}

/* A removal frees registers for the watches waiting, at once. */
Test(sched, removal_refills_registers)
{
	for (int policy = HWBP_POLICY_RR; policy <= HWBP_POLICY_RESERVOIR;
	     policy++) {
		struct hwbp_sched *s = make_sched((enum hwbp_policy)policy, 0,
						  7, NULL);
		struct hwbp_watch *w[10], *gone = NULL;
		struct hwbp_watch_stats a, b;

		TU_REQUIRE_BREAKPOINTS();
		for (int i = 0; i < 10; i++)
			w[i] = must_add(s, &vars[i], 8, HWBP_WRITE);
		cr_assert_eq(count_armed(w, 10), 4);
		for (int i = 0; i < 10 && !gone; i++)
			if (stats_of(w[i]).armed)
				gone = w[i];
		cr_assert_eq(hwbp_sched_remove(s, gone), 0, "%s",
			     hwbp_last_error());
		cr_assert_eq(count_armed(w, 10) - stats_of(gone).armed, 4,
			     "policy %d: a waiting watch took the register",
			     policy);
		a = stats_of(gone);
		usleep(2000);
		b = stats_of(gone);
		cr_assert(!a.armed);
		cr_assert_eq(a.total_ns, b.total_ns, "stopped at removal");
		hwbp_sched_close(s);
	}
}

Test(sched, bad_arguments)
{
	HWBP_OPTS(hwbp_sched_opts, o);
	HWBP_OPTS(hwbp_opts, ring, .delivery = HWBP_DELIVER_RING);
	HWBP_OPTS(hwbp_opts, other, .scope = HWBP_SCOPE_PROCESS, .pid = 1);
	HWBP_OPTS(hwbp_opts, cpus, .scope = HWBP_SCOPE_CPUS);
	HWBP_OPTS(hwbp_watch_stats, st);
	struct hwbp_sched *s = (void *)1;

	TU_REQUIRE_BREAKPOINTS();
	TU_ASSERT_ERR(hwbp_sched_create(NULL, &o), -EINVAL);
	o.policy = (enum hwbp_policy)7;
	TU_ASSERT_ERR(hwbp_sched_create(&s, &o), -EINVAL);
	cr_assert_null(s);
	o.policy = HWBP_POLICY_PINNED;
	o.registers = 5;
	TU_ASSERT_ERR(hwbp_sched_create(&s, &o), -EINVAL);
	cr_assert(strstr(hwbp_last_error(), "4 per thread"));
	o.registers = 0;
	o.split = 0x10;
	TU_ASSERT_ERR(hwbp_sched_create(&s, &o), -EINVAL);
	o.split = 0;
	o.bp_opts = &ring;
	TU_ASSERT_ERR(hwbp_sched_create(&s, &o), -EINVAL);
	cr_assert(strstr(hwbp_last_error(), "on_record"));
	o.bp_opts = &cpus;
	TU_ASSERT_ERR(hwbp_sched_create(&s, &o), -EOPNOTSUPP);
	o.bp_opts = &other;
	TU_ASSERT_ERR(hwbp_sched_create(&s, &o), -EOPNOTSUPP);
	o.bp_opts = NULL;
	o.sz = 3;
	TU_ASSERT_ERR(hwbp_sched_create(&s, &o), -EINVAL);
	s = make_sched(HWBP_POLICY_PINNED, 2, 0, NULL);
	TU_ASSERT_ERR(hwbp_sched_add(NULL, (uintptr_t)&vars[0], 8, HWBP_WRITE,
				     NULL, NULL), -EINVAL);
	TU_ASSERT_ERR(hwbp_sched_add(s, (uintptr_t)&vars[0], 0, HWBP_WRITE,
				     NULL, NULL), -EINVAL);
	TU_ASSERT_ERR(hwbp_sched_add(s, (uintptr_t)&vars[0], 8,
				     (enum hwbp_access)9, NULL, NULL), -EINVAL);
	TU_ASSERT_ERR(hwbp_sched_add(s, 0, 8, HWBP_WRITE, NULL, NULL), -EINVAL);
	TU_ASSERT_ERR(hwbp_sched_add(s, 0xffffffff81000000ull, 8, HWBP_WRITE,
				     NULL, NULL), -EINVAL);
	TU_ASSERT_ERR(hwbp_sched_remove(s, NULL), -EINVAL);
	TU_ASSERT_ERR(hwbp_sched_rotate(NULL), -EINVAL);
	TU_ASSERT_ERR(hwbp_sched_fd(s), -EINVAL); /* a signal scheduler */
	TU_ASSERT_ERR(hwbp_sched_poll(s, 0), -EINVAL);
	TU_ASSERT_ERR(hwbp_sched_consume(NULL), -EINVAL);
	TU_ASSERT_ERR(hwbp_watch_get_stats(NULL, &st), -EINVAL);
	cr_assert_eq(hwbp_sched_close(NULL), 0);
	hwbp_sched_close(s);
}

Test(sched, no_leaks)
{
	int fds = 0, maps = 0;

	TU_REQUIRE_BREAKPOINTS();
	/* A first round of each policy: what is set up once (the sanitizer's
	 * allocator maps a region per size class at first use). */
	for (int i = 0; i < 300; i++) {
		struct hwbp_sched *s = make_sched(
			(enum hwbp_policy)(i % 3), 0, 1, NULL);

		if (i == 3) {
			fds = tu_open_fds();
			maps = tu_mappings();
		}
		for (int j = 0; j < 6; j++)
			(void)hwbp_sched_add(s, (uintptr_t)&vars[j], 8,
					     HWBP_WRITE, NULL, NULL);
		hwbp_sched_rotate(s);
		hwbp_sched_close(s);
	}
	tu_assert_nothing_left(fds, maps);
}

/* ---- with traps ---- */

static atomic_int seen_touch[8];
static atomic_int seen_hits;

static void note_hit(const struct hwbp_hit *hit, void *uc)
{
	(void)uc;
	if (hit->watch && hit->touch >= 0 && hit->touch < 8)
		atomic_fetch_add(&seen_touch[hit->touch], 1);
	atomic_fetch_add(&seen_hits, 1);
}

Test(sched, pinned_exact_counts)
{
	struct hwbp_sched *s;
	struct hwbp_watch *w[3];

	TU_REQUIRE_SIGTRAP();
	s = make_sched(HWBP_POLICY_PINNED, 0, 0, note_hit);
	w[0] = must_add(s, &vars[0], 8, HWBP_WRITE);
	w[1] = must_add(s, &vars[2], 16, HWBP_WRITE); /* 2 registers */
	w[2] = must_add(s, &vars[5], 4, HWBP_WRITE);
	TU_REQUIRE_HITS();
	for (int i = 0; i < 100; i++) {
		TU_WRITE(vars[0], (uint64_t)i);
		TU_WRITE(vars[3], (uint64_t)i); /* second register of w[1] */
		TU_WRITE(vars[2], (uint64_t)i);
		TU_WRITE(vars[6], (uint64_t)i); /* not watched */
	}
	cr_assert_eq(stats_of(w[0]).hits, 100);
	cr_assert_eq(stats_of(w[1]).hits, 200);
	cr_assert_eq(stats_of(w[2]).hits, 0);
	cr_assert_eq(atomic_load(&seen_hits), 300);
	cr_assert_eq(atomic_load(&seen_touch[HWBP_TOUCH_WRITE]), 300,
		     "every hit decoded as a write");
	hwbp_sched_close(s);
}

Test(sched, strays_dropped_and_counted)
{
	volatile uint8_t *bytes = (volatile uint8_t *)&vars[0];
	struct hwbp_sched *s;
	struct hwbp_watch *w;
	struct hwbp_watch_stats st;

	TU_REQUIRE_SIGTRAP();
	s = make_sched(HWBP_POLICY_PINNED, 0, 0, note_hit);
	w = must_add(s, bytes + 1, 3, HWBP_WRITE); /* register: 4 at +0 */
	cr_assert_eq(stats_of(w).registers, 1);
	TU_REQUIRE_HITS();
	for (int i = 0; i < 50; i++) {
		bytes[0] = (uint8_t)i;  /* in the register, not the watch */
		bytes[2] = (uint8_t)i;  /* in the watch */
		bytes[4] = (uint8_t)i;  /* outside the register */
	}
	st = stats_of(w);
	cr_assert_eq(st.hits, 50);
	cr_assert_eq(st.strays, 50);
	cr_assert_eq(st.unsure, 0);
	hwbp_sched_close(s);
}

Test(sched, read_only_emulated)
{
	struct hwbp_sched *s;
	struct hwbp_watch *w;
	struct hwbp_watch_stats st;
	uint64_t sum = 0;

	TU_REQUIRE_SIGTRAP();
	s = make_sched(HWBP_POLICY_PINNED, 0, 0, note_hit);
	w = must_add(s, &vars[0], 8, HWBP_READ);
	TU_REQUIRE_HITS();
	for (int i = 0; i < 40; i++) {
		sum += TU_READ(vars[0]);                         /* read */
		TU_WRITE(vars[0], (uint64_t)i);                  /* write */
		TU_WRITE(vars[0], (uint64_t)i);                  /* same value */
		__atomic_fetch_add(&vars[0], 1, __ATOMIC_SEQ_CST); /* rmw */
	}
	st = stats_of(w);
	cr_assert_eq(st.hits, 80, "40 reads + 40 read-modify-writes (sum %llu)",
		     (unsigned long long)sum);
	cr_assert_eq(st.filtered, 80, "80 plain writes dropped");
	cr_assert_eq(atomic_load(&seen_touch[HWBP_TOUCH_READ]), 40);
	cr_assert_eq(atomic_load(&seen_touch[HWBP_TOUCH_READ |
					     HWBP_TOUCH_WRITE]), 40);
	hwbp_sched_close(s);
}

/* ---- ring delivery: another process, decoded from its memory ---- */

struct ring_seen {
	int hits[4], touch[8], other;
};
static struct ring_seen ring_seen;

static void note_record(const struct hwbp_record *rec, void *cookie)
{
	struct ring_seen *seen = &ring_seen;

	if (rec->kind != HWBP_REC_HIT)
		return;
	if (rec->watch && cookie >= (void *)&vars[0] &&
	    cookie < (void *)&vars[4])
		seen->hits[(volatile uint64_t *)cookie - vars]++;
	else
		seen->other++;
	if (rec->touch >= 0 && rec->touch < 8)
		seen->touch[rec->touch]++;
}

/* The child: for each phase, wait for go, run that phase's accesses, say
 * done.  One watch is armed per phase (see below). */
static void ring_child(int go, int done)
{
	volatile uint8_t *bytes = (volatile uint8_t *)&vars[2];
	uint64_t sum = 0;
	char c;

	for (int phase = 0; phase < 3; phase++) {
		if (read(go, &c, 1) != 1)
			_exit(2);
		for (int i = 0; i < 30; i++) {
			if (phase == 0) {
				TU_WRITE(vars[0], (uint64_t)i);
			} else if (phase == 1) {
				sum += TU_READ(vars[1]);   /* read */
				TU_WRITE(vars[1], (uint64_t)i); /* dropped */
				__atomic_fetch_add(&vars[1], 1,
						   __ATOMIC_SEQ_CST); /* rmw */
			} else {
				bytes[0] = (uint8_t)i; /* stray */
				bytes[2] = (uint8_t)i; /* in the watch */
			}
		}
		if (write(done, "d", 1) != 1)
			_exit(3);
	}
	if (read(go, &c, 1) != 1) /* stay until the last phase is decoded */
		_exit(2);
	_exit(sum == 12345 ? 4 : 0);
}

/* Run one phase of the child with one watch armed, consuming its records
 * while the child lives (its code is read to decode them). */
static struct hwbp_watch_stats ring_phase(struct hwbp_sched *s, int go,
					  int done, volatile void *at,
					  uint64_t len, enum hwbp_access access)
{
	struct hwbp_watch *w = must_add(s, at, len, access);
	struct hwbp_watch_stats st;
	char c;

	cr_assert_eq(write(go, "g", 1), 1);
	cr_assert_eq(read(done, &c, 1), 1);
	while (hwbp_sched_consume(s) > 0)
		;
	st = stats_of(w);
	/* One armed watch at a time: QEMU's emulated DR6 keeps stale bits of
	 * other registers that hit before, which real CPUs do not. */
	cr_assert_eq(hwbp_sched_remove(s, w), 0);
	return st;
}

Test(sched, ring_another_process_filtered)
{
	HWBP_OPTS(hwbp_opts, bo, .scope = HWBP_SCOPE_PROCESS,
		  .delivery = HWBP_DELIVER_RING);
	HWBP_OPTS(hwbp_sched_opts, o, .policy = HWBP_POLICY_PINNED,
		  .bp_opts = &bo, .on_record = note_record);
	struct hwbp_watch_stats st[3];
	struct hwbp_sched *s;
	int go[2], done[2], status;
	pid_t pid;

	TU_REQUIRE_BREAKPOINTS();
	cr_assert_eq(pipe(go), 0);
	cr_assert_eq(pipe(done), 0);
	pid = fork();
	if (pid == 0)
		ring_child(go[0], done[1]);
	bo.pid = pid;
	cr_assert_eq(hwbp_sched_create(&s, &o), 0, "%s", hwbp_last_error());
	cr_assert_geq(hwbp_sched_fd(s), 0);
	cr_assert_eq(hwbp_sched_poll(s, 0), 0, "nothing yet");
	st[0] = ring_phase(s, go[1], done[0], &vars[0], 8, HWBP_WRITE);
	st[1] = ring_phase(s, go[1], done[0], &vars[1], 8, HWBP_READ);
	st[2] = ring_phase(s, go[1], done[0], (volatile uint8_t *)&vars[2] + 1,
			   3, HWBP_WRITE);
	cr_assert_eq(write(go[1], "x", 1), 1);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "0x%x",
		  status);
	TU_REQUIRE_HITS();
	cr_assert_eq(ring_seen.hits[0], 30, "write watch");
	cr_assert_eq(st[0].hits, 30);
	cr_assert_eq(ring_seen.hits[1], 60, "read watch: reads + rmws");
	cr_assert_eq(st[1].filtered, 30, "plain writes dropped");
	cr_assert_eq(ring_seen.hits[2], 30, "byte range: %d hits, %llu strays, "
		     "%llu unsure", ring_seen.hits[2],
		     (unsigned long long)st[2].strays,
		     (unsigned long long)st[2].unsure);
	cr_assert_eq(st[2].strays, 30, "neighbour byte dropped");
	cr_assert_eq(ring_seen.other, 0);
	cr_assert_eq(ring_seen.touch[HWBP_TOUCH_WRITE], 60);
	cr_assert_eq(ring_seen.touch[HWBP_TOUCH_READ], 30);
	cr_assert_eq(ring_seen.touch[HWBP_TOUCH_READ | HWBP_TOUCH_WRITE], 30);
	hwbp_sched_close(s);
}

/*
 * Overlapping watches, one access: the one SIGTRAP it gives serves every
 * watch whose bytes it touched, once each (a watch over two registers
 * both fired is one hit), and the scheduler's counts show no loss.
 */
typedef uint64_t u64_any __attribute__((aligned(1)));
static atomic_int ov_hits[4];

/* async-signal-safe: an atomic per watch (its cookie is the index) */
static void ov_hit(const struct hwbp_hit *hit, void *uc)
{
	(void)uc;
	atomic_fetch_add(&ov_hits[(intptr_t)hit->cookie], 1);
}

/* Watch 1 is [4, 12) on two registers (wide) or [4, 8) on one. */
static void overlapping_watches(int k, bool wide)
{
	struct {
		uint32_t off, len;
		enum hwbp_access access;
		int regs;
	} set[4] = {
		{ 0, 8, HWBP_WRITE, 1 }, { 4, wide ? 8 : 4, HWBP_WRITE, wide ? 2 : 1 },
		{ 4, 2, HWBP_WRITE, 1 }, { 0, 8, HWBP_RW, 1 },
	};
	volatile uint8_t *x = (volatile uint8_t *)&vars[16];
	struct hwbp_watch *w[4];
	struct hwbp_sched *s;
	HWBP_OPTS(hwbp_sched_stats, ss);
	uint64_t want_counted = 0, sum = 0;
	int want[4];

	s = make_sched(HWBP_POLICY_PINNED, 0, 0, ov_hit);
	for (int i = 0; i < k; i++) {
		cr_assert_eq(hwbp_sched_add(s, (uintptr_t)x + set[i].off,
					    set[i].len, set[i].access,
					    (void *)(intptr_t)i, &w[i]), 0,
			     "watch %d: %s", i, hwbp_last_error());
		atomic_store(&ov_hits[i], 0);
	}
	for (int i = 0; i < 200; i++) {
		*(volatile uint32_t *)(x + 4) = (uint32_t)i; /* bytes 4..7: all */
		*(volatile u64_any *)(x + 4) = (uint64_t)i;  /* 4..11: all */
		*(volatile uint32_t *)x = (uint32_t)i;       /* 0..3: not 1, 2 */
		sum += *(volatile uint64_t *)x;              /* read: 3 only */
	}
	for (int i = 0; i < k; i++) {
		want[i] = i == 3 ? 800 : i == 0 ? 600 : 400;
		/* the kernel counts each register: the 8-byte store fires
		 * both of watch 1's */
		want_counted += (uint64_t)want[i] + (i == 1 && wide ? 200 : 0);
	}
	for (int i = 0; i < k; i++) {
		struct hwbp_watch_stats st = stats_of(w[i]);

		cr_assert_eq(st.registers, (uint32_t)set[i].regs);
		cr_assert_eq(atomic_load(&ov_hits[i]), want[i], "%d watches, "
			     "watch %d: %d callbacks, want %d (sum %llu)", k, i,
			     atomic_load(&ov_hits[i]), want[i],
			     (unsigned long long)sum);
		cr_assert_eq(st.hits, (uint64_t)want[i]);
		cr_assert_eq(st.strays + st.filtered + st.unsure, 0);
	}
	cr_assert_eq(hwbp_sched_get_stats(s, &ss), 0);
	cr_assert_eq(ss.counted, want_counted, "counted %llu",
		     (unsigned long long)ss.counted);
	cr_assert_eq(ss.lost, 0, "%llu hits no callback served",
		     (unsigned long long)ss.lost);
	hwbp_sched_close(s);
}

Test(sched, two_overlapping_watches_each_hit)
{
	TU_REQUIRE_SIGTRAP();
	TU_REQUIRE_HITS();
	TU_REQUIRE_EXACT_DEBUG_STATUS();
	overlapping_watches(2, true);
}

Test(sched, three_overlapping_watches_each_hit)
{
	TU_REQUIRE_SIGTRAP();
	TU_REQUIRE_HITS();
	TU_REQUIRE_EXACT_DEBUG_STATUS();
	overlapping_watches(3, true);
}

Test(sched, four_overlapping_watches_each_hit)
{
	TU_REQUIRE_SIGTRAP();
	TU_REQUIRE_HITS();
	TU_REQUIRE_EXACT_DEBUG_STATUS();
	overlapping_watches(4, false);
}

/* With traps: the wide watch's hits come from whichever pieces are armed,
 * each exactly once, and its stats add up. */
Test(sched, wide_watch_hits_exact_while_armed)
{
	struct hwbp_sched *s;
	struct hwbp_watch *w;
	int want = 0;

	TU_REQUIRE_SIGTRAP();
	TU_REQUIRE_HITS();
	s = make_sched(HWBP_POLICY_RR, 0, 0, note_hit);
	w = must_add(s, &vars[8], 40, HWBP_WRITE);
	for (int t = 0; t < 10; t++) {
		HWBP_OPTS(hwbp_piece_stats, ps);

		for (uint32_t p = 0; p < 5; p++) {
			cr_assert_eq(hwbp_watch_get_piece_stats(w, p, &ps), 0);
			TU_WRITE(vars[8 + p], (uint64_t)t);
			want += ps.armed;
		}
		cr_assert_eq(hwbp_sched_rotate(s), 0, "%s", hwbp_last_error());
	}
	cr_assert_eq(stats_of(w).hits, (uint64_t)want, "%llu hits, %d writes "
		     "to armed pieces", (unsigned long long)stats_of(w).hits,
		     want);
	cr_assert_eq(want, 40, "4 of 5 pieces armed each turn");
	cr_assert_eq(atomic_load(&seen_hits), want);
	hwbp_sched_close(s);
}
