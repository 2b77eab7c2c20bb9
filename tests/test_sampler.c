/* SPDX-License-Identifier: MIT */
/*
 * test_sampler.c - the sampling API: bad input and its messages; the
 * reservoir (free registers first, then each of the window's samples
 * equally likely to be armed: fixed seeds, a chi-square bound a wrong
 * policy fails); values read at arming; offers from a signal handler;
 * no fd left behind; with traps: the hit carries the sample that armed
 * the register, release frees it for the next sample, keep re-reads the
 * value, read samples drop writes, and rings from another process.
 */
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "testutil.h"

static volatile uint64_t vars[64] __attribute__((aligned(64)));

struct seen {
	_Atomic int hits;
	uint64_t addr[16];
	uint64_t old_value[16], new_value[16], seq[16];
	void *cookie[16];
	int touch[16];
	bool early[16];
};
static struct seen seen;
static int verdict = HWBP_SAMPLER_RELEASE;

/* In the SIGTRAP handler (signal delivery): async-signal-safe. */
static int record_hit(const struct hwbp_sampler_hit *h, void *cookie)
{
	int i = atomic_fetch_add(&seen.hits, 1);

	(void)cookie;
	if (i < 16) {
		seen.addr[i] = h->sample->addr;
		seen.old_value[i] = h->sample->value;
		seen.new_value[i] = h->value;
		seen.seq[i] = h->sample->seq;
		seen.cookie[i] = h->sample->cookie;
		seen.touch[i] = h->touch;
		seen.early[i] = h->early;
	}
	return verdict;
}

static struct hwbp_sampler *make_sampler(uint32_t regs, uint64_t seed,
					 const struct hwbp_opts *bo)
{
	HWBP_OPTS(hwbp_sampler_opts, o, .registers = regs, .seed = seed,
		  .bp_opts = bo, .on_hit = record_hit);
	struct hwbp_sampler *s;

	cr_assert_eq(hwbp_sampler_create(&s, &o), 0, "%s", hwbp_last_error());
	return s;
}

static struct hwbp_sample sample_of(volatile void *at, uint32_t len,
				    enum hwbp_access access)
{
	return (struct hwbp_sample){ .addr = (uintptr_t)at, .len = len,
				     .access = access, .cookie = (void *)at };
}

static struct hwbp_sampler_stats stats_of(struct hwbp_sampler *s)
{
	HWBP_OPTS(hwbp_sampler_stats, st);

	cr_assert_eq(hwbp_sampler_get_stats(s, &st), 0, "%s",
		     hwbp_last_error());
	return st;
}

Test(sampler, bad_input_is_refused_with_a_reason)
{
	HWBP_OPTS(hwbp_sampler_opts, no_cb);
	HWBP_OPTS(hwbp_sampler_opts, too_many, .registers = 99,
		  .on_hit = record_hit);
	HWBP_OPTS(hwbp_opts, other, .scope = HWBP_SCOPE_PROCESS, .pid = 1,
		  .delivery = HWBP_DELIVER_SIGNAL);
	HWBP_OPTS(hwbp_opts, cpus, .scope = HWBP_SCOPE_CPUS);
	HWBP_OPTS(hwbp_sampler_opts, other_opts, .on_hit = record_hit,
		  .bp_opts = &other);
	HWBP_OPTS(hwbp_sampler_opts, cpu_opts, .on_hit = record_hit,
		  .bp_opts = &cpus);
	HWBP_OPTS(hwbp_sampler_opts, small, .on_hit = record_hit);
	struct hwbp_sampler *s = (void *)1;
	struct hwbp_sample m = sample_of(&vars[0], 8, HWBP_WRITE);

	TU_REQUIRE_BREAKPOINTS();
	small.sz = 4;
	TU_ASSERT_ERR(hwbp_sampler_create(NULL, &too_many), -EINVAL);
	TU_ASSERT_ERR(hwbp_sampler_create(&s, NULL), -EINVAL);
	cr_assert_null(s);
	TU_ASSERT_ERR(hwbp_sampler_create(&s, &no_cb), -EINVAL);
	TU_ASSERT_ERR(hwbp_sampler_create(&s, &too_many), -EINVAL);
	cr_assert(strstr(hwbp_last_error(), "per thread"), "%s",
		  hwbp_last_error());
	/* signals cannot reach another process */
	cr_assert_lt(hwbp_sampler_create(&s, &other_opts), 0);
	cr_assert_null(s);
	TU_ASSERT_ERR(hwbp_sampler_create(&s, &cpu_opts), -EOPNOTSUPP);
	TU_ASSERT_ERR(hwbp_sampler_create(&s, &small), -EINVAL);

	s = make_sampler(0, 1, NULL);
	TU_ASSERT_ERR(hwbp_sampler_offer(NULL, &m), -EINVAL);
	TU_ASSERT_ERR(hwbp_sampler_offer(s, NULL), -EINVAL);
	m.len = 0;
	TU_ASSERT_ERR(hwbp_sampler_offer(s, &m), -EINVAL);
	m.len = 9;
	TU_ASSERT_ERR(hwbp_sampler_offer(s, &m), -EINVAL);
	m.len = 8;
	m.access = 0;
	TU_ASSERT_ERR(hwbp_sampler_offer(s, &m), -EINVAL);
	/* As hwbp_create and hwbp_sched_add: address 0, a kernel address. */
	m = sample_of(NULL, 8, HWBP_WRITE);
	TU_ASSERT_ERR(hwbp_sampler_offer(s, &m), -EINVAL);
	cr_assert(strstr(hwbp_last_error(), "address 0"), "%s",
		  hwbp_last_error());
	m.addr = 0xffffffff81000000ull;
	TU_ASSERT_ERR(hwbp_sampler_offer(s, &m), -EINVAL);
	cr_assert(strstr(hwbp_last_error(), "kernel address"), "%s",
		  hwbp_last_error());
	cr_assert_eq(stats_of(s).unfit, 0, "bad samples are not 'unfit'");
	m = sample_of(&vars[0], 8, HWBP_WRITE);
	/* Bytes 6..9 span two 8-byte blocks: no single register. */
	m = sample_of((volatile char *)&vars[0] + 6, 4, HWBP_WRITE);
	cr_assert_eq(hwbp_sampler_offer(s, &m), 0);
	cr_assert_eq(stats_of(s).unfit, 1);
	cr_assert_eq(hwbp_sampler_armed(s, NULL, 0), 0);
	TU_ASSERT_ERR(hwbp_sampler_fd(s), -EINVAL); /* signal delivery */
	TU_ASSERT_ERR(hwbp_sampler_poll(s, 0), -EINVAL);
	TU_ASSERT_ERR(hwbp_sampler_armed(s, NULL, 3), -EINVAL);
	TU_ASSERT_ERR(hwbp_sampler_get_stats(s, NULL), -EINVAL);
	cr_assert_eq(hwbp_sampler_close(s), 0);
	cr_assert_eq(hwbp_sampler_close(NULL), 0);
}

Test(sampler, pmu_source_works_or_says_why)
{
	HWBP_OPTS(hwbp_sampler_opts, o, .on_hit = record_hit,
		  .source = HWBP_SOURCE_PMU_STORES);
	struct hwbp_sampler *s = NULL;
	int err;

	TU_REQUIRE_BREAKPOINTS();
	err = hwbp_sampler_create(&s, &o);
	if (err == 0) {
		cr_assert_geq(hwbp_sampler_fd(s), 0);
		hwbp_sampler_close(s);
		return;
	}
	cr_assert_eq(err, -EOPNOTSUPP, "%s", hwbp_last_error());
	cr_assert(strstr(hwbp_last_error(), "PMU"), "%s", hwbp_last_error());
	cr_assert(strstr(hwbp_last_error(), "hwbp_sampler_offer"), "%s",
		  hwbp_last_error());
	cr_assert_null(s);
}

Test(sampler, free_registers_first_then_the_reservoir)
{
	struct hwbp_sampler *s;
	struct hwbp_sample got[4], m;
	struct hwbp_sampler_stats st;

	TU_REQUIRE_BREAKPOINTS();
	s = make_sampler(4, 7, NULL);
	for (int i = 0; i < 4; i++) {
		vars[i] = 100 + (uint64_t)i;
		m = sample_of(&vars[i], 8, HWBP_WRITE);
		cr_assert_eq(hwbp_sampler_offer(s, &m), 1, "%s",
			     hwbp_last_error());
	}
	cr_assert_eq(hwbp_sampler_armed(s, got, 4), 4);
	for (int i = 0; i < 4; i++) {
		/* the value was read at arming */
		cr_assert(got[i].value_known);
		cr_assert_eq(got[i].value, 100 + (got[i].addr -
						  (uintptr_t)&vars[0]) / 8);
		cr_assert_geq(got[i].seq, 1);
		cr_assert_leq(got[i].seq, 4);
	}
	m = sample_of(&vars[0], 8, HWBP_WRITE); /* armed already */
	cr_assert_eq(hwbp_sampler_offer(s, &m), 0);
	cr_assert_eq(stats_of(s).duplicates, 1);
	for (int i = 5; i < 1004; i++) {
		m = sample_of(&vars[i % 64], 8, HWBP_WRITE);
		cr_assert_geq(hwbp_sampler_offer(s, &m), 0);
	}
	st = stats_of(s);
	cr_assert_eq(st.offered, 1004);
	cr_assert_eq(st.armed, 4 + st.replaced);
	cr_assert_eq(st.armed + st.passed + st.busy + st.unfit + st.duplicates,
		     st.offered);
	/* E[replaced] = sum over n = 5..1004 of 4/n = 21.6 (sd ~4.5) */
	cr_assert(st.replaced >= 5 && st.replaced <= 45, "replaced %llu",
		  (unsigned long long)st.replaced);
	cr_assert_eq(hwbp_sampler_release_all(s), 0);
	cr_assert_eq(hwbp_sampler_armed(s, NULL, 0), 0);
	hwbp_sampler_close(s);
}

Test(sampler, every_sample_of_the_window_equally_likely)
{
	enum { N = 20, K = 4, TRIALS = 1500 };
	int armed_count[N] = { 0 };
	double expect = (double)TRIALS * K / N, chi2 = 0;
	struct hwbp_sampler *s;

	TU_REQUIRE_BREAKPOINTS();
	s = make_sampler(K, 12345, NULL);
	for (int t = 0; t < TRIALS; t++) {
		struct hwbp_sample got[K], m;

		hwbp_sampler_release_all(s);
		for (int i = 0; i < N; i++) {
			m = sample_of(&vars[i], 8, HWBP_WRITE);
			cr_assert_geq(hwbp_sampler_offer(s, &m), 0);
		}
		cr_assert_eq(hwbp_sampler_armed(s, got, K), K);
		for (int k = 0; k < K; k++)
			armed_count[(got[k].addr - (uintptr_t)&vars[0]) / 8]++;
	}
	for (int i = 0; i < N; i++)
		chi2 += (armed_count[i] - expect) * (armed_count[i] - expect) /
			expect;
	/* 19 degrees of freedom: P(chi2 > 43.8) = 0.001.  Keeping the first
	 * K (no reservoir) or always replacing gives chi2 in the thousands. */
	cr_assert_lt(chi2, 43.8, "chi2 %.1f: first %d last %d of %d", chi2,
		     armed_count[0], armed_count[N - 1], (int)expect);
	hwbp_sampler_close(s);
}

static struct hwbp_sampler *sig_sampler;
static _Atomic int sig_armed;

static void offer_in_handler(int sig)
{
	struct hwbp_sample m = sample_of(&vars[9], 4, HWBP_WRITE);

	(void)sig;
	atomic_store(&sig_armed, hwbp_sampler_offer(sig_sampler, &m));
}

Test(sampler, offer_from_a_signal_handler)
{
	struct sigaction sa = { .sa_handler = offer_in_handler };
	struct hwbp_sample got;

	TU_REQUIRE_BREAKPOINTS();
	sig_sampler = make_sampler(1, 1, NULL);
	vars[9] = 0x55667788;
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	cr_assert_eq(atomic_load(&sig_armed), 1, "%s", hwbp_last_error());
	cr_assert_eq(hwbp_sampler_armed(sig_sampler, &got, 1), 1);
	cr_assert_eq(got.addr, (uintptr_t)&vars[9]);
	cr_assert_eq(got.value, 0x55667788);
	hwbp_sampler_close(sig_sampler);
}

Test(sampler, create_close_leaves_nothing)
{
	HWBP_OPTS(hwbp_opts, ring, .delivery = HWBP_DELIVER_RING,
		  .ring_pages = 1);
	int fds, maps;

	TU_REQUIRE_BREAKPOINTS();
	/* The first of each kind sets up what stays for the process (the
	 * signal handler's stack): counted after it. */
	for (int i = 0; i < 2; i++)
		hwbp_sampler_close(make_sampler(0, 1, i ? &ring : NULL));
	fds = tu_open_fds();
	maps = tu_mappings();
	for (int i = 0; i < 300; i++) {
		struct hwbp_sampler *s = make_sampler(0, 1, i & 1 ? &ring : NULL);
		struct hwbp_sample m = sample_of(&vars[i % 8], 8, HWBP_RW);

		cr_assert_eq(hwbp_sampler_offer(s, &m), 1, "%s",
			     hwbp_last_error());
		hwbp_sampler_close(s);
	}
	tu_assert_nothing_left(fds, maps);
}

/* ---- with traps ---- */

Test(sampler, hit_carries_its_sample_and_release_frees_the_register)
{
	struct hwbp_sampler *s;
	struct hwbp_sample m;
	struct hwbp_sampler_stats st;

	TU_REQUIRE_HITS();
	verdict = HWBP_SAMPLER_RELEASE;
	s = make_sampler(1, 1, NULL);
	vars[0] = 41;
	m = sample_of(&vars[0], 8, HWBP_WRITE);
	cr_assert_eq(hwbp_sampler_offer(s, &m), 1);
	TU_WRITE(vars[1], 1); /* not watched */
	TU_WRITE(vars[0], 42);
	TU_WRITE(vars[0], 43); /* released: not seen */
	cr_assert_eq(atomic_load(&seen.hits), 1);
	cr_assert_eq(seen.addr[0], (uintptr_t)&vars[0]);
	cr_assert_eq(seen.cookie[0], (void *)&vars[0]);
	cr_assert_eq(seen.old_value[0], 41);
	cr_assert_eq(seen.new_value[0], 42);
	cr_assert_eq(seen.seq[0], 1);
	/* decoded as the scheduler does: an aligned 8-byte store */
	cr_assert_eq(seen.touch[0], HWBP_TOUCH_WRITE, "touch %d",
		     seen.touch[0]);
	cr_assert_eq(hwbp_sampler_armed(s, NULL, 0), 0);
	/* The freed register takes the next sample at once. */
	m = sample_of(&vars[2], 4, HWBP_WRITE);
	cr_assert_eq(hwbp_sampler_offer(s, &m), 1);
	TU_WRITE(vars[2], 7);
	cr_assert_eq(atomic_load(&seen.hits), 2);
	cr_assert_eq(seen.addr[1], (uintptr_t)&vars[2]);
	cr_assert_eq(seen.seq[1], 2);
	cr_assert_eq(seen.touch[1], HWBP_TOUCH_WRITE, "touch %d",
		     seen.touch[1]);
	st = stats_of(s);
	cr_assert_eq(st.hits, 2);
	cr_assert_eq(st.released, 2);
	hwbp_sampler_close(s);
}

Test(sampler, keep_goes_on_watching_with_the_value_reread)
{
	struct hwbp_sampler *s;
	struct hwbp_sample m, got;

	TU_REQUIRE_HITS();
	verdict = HWBP_SAMPLER_KEEP;
	s = make_sampler(1, 1, NULL);
	vars[3] = 0;
	m = sample_of(&vars[3], 8, HWBP_WRITE);
	cr_assert_eq(hwbp_sampler_offer(s, &m), 1);
	for (int i = 1; i <= 5; i++)
		TU_WRITE(vars[3], (uint64_t)i * 10);
	cr_assert_eq(atomic_load(&seen.hits), 5);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(seen.old_value[i], (uint64_t)i * 10);
		cr_assert_eq(seen.new_value[i], (uint64_t)(i + 1) * 10);
	}
	cr_assert_eq(hwbp_sampler_armed(s, &got, 1), 1);
	cr_assert_eq(got.value, 50);
	cr_assert_eq(stats_of(s).kept, 5);
	hwbp_sampler_close(s);
}

Test(sampler, read_sample_drops_writes)
{
	struct hwbp_sampler *s;
	struct hwbp_sample m;
	uint64_t sum = 0;

	TU_REQUIRE_HITS();
	verdict = HWBP_SAMPLER_KEEP;
	s = make_sampler(1, 1, NULL);
	m = sample_of(&vars[4], 8, HWBP_READ);
	cr_assert_eq(hwbp_sampler_offer(s, &m), 1);
	for (int i = 0; i < 3; i++) {
		TU_WRITE(vars[4], (uint64_t)i); /* dropped */
		sum += TU_READ(vars[4]);        /* a hit */
	}
	cr_assert_eq(sum, 3);
	cr_assert_eq(atomic_load(&seen.hits), 3);
	cr_assert_eq(seen.touch[0], HWBP_TOUCH_READ);
	cr_assert_eq(stats_of(s).filtered, 3);
	hwbp_sampler_close(s);
}

Test(sampler, ring_from_another_process)
{
	HWBP_OPTS(hwbp_opts, bo, .delivery = HWBP_DELIVER_RING,
		  .scope = HWBP_SCOPE_PROCESS);
	struct hwbp_sampler *s;
	struct hwbp_sample m;
	int go[2], status;
	pid_t child;
	char c;

	TU_REQUIRE_HITS();
	verdict = HWBP_SAMPLER_RELEASE;
	vars[5] = 9;
	cr_assert_eq(pipe(go), 0);
	child = fork();
	if (child == 0) {
		read(go[0], &c, 1);
		for (int i = 0; i < 10; i++)
			TU_WRITE(vars[5], (uint64_t)i + 100);
		_exit(0);
	}
	bo.pid = child;
	s = make_sampler(1, 1, &bo);
	m = sample_of(&vars[5], 8, HWBP_WRITE);
	cr_assert_eq(hwbp_sampler_offer(s, &m), 1, "%s", hwbp_last_error());
	cr_assert_eq(write(go[1], "x", 1), 1);
	waitpid(child, &status, 0);
	while (hwbp_sampler_poll(s, 100) > 0)
		;
	/* Released when its first record was read: the child had made all
	 * 10 writes by then, each a record of that sample. */
	cr_assert_eq(atomic_load(&seen.hits), 10);
	cr_assert_eq(seen.addr[0], (uintptr_t)&vars[5]);
	cr_assert_eq(seen.old_value[0], 9);
	cr_assert_eq(seen.early[0], false);
	cr_assert_eq(stats_of(s).lost, 0);
	hwbp_sampler_close(s);
}
