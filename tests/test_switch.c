/* SPDX-License-Identifier: MIT */
/*
 * test_switch.c - opts.switch_events: SWITCH records of the watched tasks
 * getting and leaving a CPU (no hit needed: a sleep switches out).  A
 * thread scope sees its own switches; a process scope those of threads
 * that ran before the handle (their own events) and after it (inherited);
 * a scheduler delivers each switch once, not once per register; a CPU
 * scope names the task on the other side; bad combinations are refused.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/sysinfo.h>
#include <time.h>

#include "testutil.h"

#define SLEEPS 20
#define MAX_SW 20000

static uint64_t var, var2;

struct sw {
	enum hwbp_record_kind kind;
	uint32_t pid, tid, cpu, np_pid, np_tid;
	uint64_t time_ns;
	bool out, preempted;
	void *cookie;
};

static struct sw sws[MAX_SW];
static int nsw;

static void keep(const struct hwbp_record *r, void *arg)
{
	(void)arg;
	if (nsw == MAX_SW)
		return;
	sws[nsw++] = (struct sw){
		.kind = r->kind, .pid = r->pid, .tid = r->tid, .cpu = r->cpu,
		.np_pid = r->next_prev_pid, .np_tid = r->next_prev_tid,
		.time_ns = r->time_ns, .out = r->switch_out,
		.preempted = r->preempted, .cookie = r->cookie,
	};
}

/* Switch records of tid: out (true) or in; `waited`: outs to wait only.
 * (A sleep is a switch-out, but not always one to wait: a task woken
 * between going to sleep and the switch leaves runnable, as preempted.) */
static int count_sw(pid_t tid, bool out, bool waited)
{
	int n = 0;

	for (int i = 0; i < nsw; i++)
		n += sws[i].kind == HWBP_REC_SWITCH &&
		     sws[i].tid == (uint32_t)tid && sws[i].out == out &&
		     (!waited || !sws[i].preempted);
	return n;
}

static void sleep_n(int n)
{
	for (int i = 0; i < n; i++)
		usleep(1000);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Every switch record is well formed: a real CPU, a time within the test,
 * the cookie; and never the same switch twice. */
static void assert_records_sane(uint64_t t0, void *cookie)
{
	uint64_t t1 = now_ns();

	for (int i = 0; i < nsw; i++) {
		if (sws[i].kind != HWBP_REC_SWITCH)
			continue;
		cr_assert_lt(sws[i].cpu, (uint32_t)get_nprocs_conf(),
			     "record %d: cpu %u", i, sws[i].cpu);
		cr_assert(sws[i].time_ns >= t0 && sws[i].time_ns <= t1,
			  "record %d: time %llu outside [%llu, %llu]", i,
			  (unsigned long long)sws[i].time_ns,
			  (unsigned long long)t0, (unsigned long long)t1);
		cr_assert_eq(sws[i].cookie, cookie, "record %d: cookie", i);
		cr_assert(!sws[i].preempted || sws[i].out,
			  "record %d: preempted on a switch-in", i);
		for (int j = i + 1; j < nsw; j++)
			cr_assert(!(sws[j].kind == HWBP_REC_SWITCH &&
				    sws[j].time_ns == sws[i].time_ns &&
				    sws[j].tid == sws[i].tid &&
				    sws[j].out == sws[i].out),
				  "records %d and %d: the same switch twice",
				  i, j);
	}
}

Test(switch, thread_sees_its_own_sleeps)
{
	static int cookie;
	HWBP_OPTS(hwbp_opts, o, .delivery = HWBP_DELIVER_RING,
		  .on_record = keep, .cookie = &cookie, .switch_events = true);
	uint64_t t0 = now_ns();
	struct hwbp *bp;

	TU_REQUIRE_BREAKPOINTS();
	nsw = 0;
	cr_assert_eq(hwbp_create(&bp, (uintptr_t)&var, 8, HWBP_WRITE, &o), 0,
		     "%s", hwbp_last_error());
	sleep_n(SLEEPS);
	cr_assert_geq(hwbp_ring_consume(bp), 0);
	cr_assert_geq(count_sw(tu_gettid(), true, false), SLEEPS,
		      "%d sleeps, %d switch-outs (%d to wait)", SLEEPS,
		      count_sw(tu_gettid(), true, false),
		      count_sw(tu_gettid(), true, true));
	cr_assert_geq(count_sw(tu_gettid(), false, false), SLEEPS);
	for (int i = 0; i < nsw; i++)
		cr_assert(sws[i].tid == (uint32_t)tu_gettid() &&
			  sws[i].pid == (uint32_t)getpid() && !sws[i].np_tid,
			  "a per-thread ring sees only its thread's switches, "
			  "without the other side: record %d is %u/%u (%u)", i,
			  sws[i].pid, sws[i].tid, sws[i].np_tid);
	assert_records_sane(t0, &cookie);
	hwbp_close(bp);
}

static atomic_int go, early_tid, late_tid;

static void *sleeper(void *arg)
{
	atomic_int *tid = arg;

	atomic_store(tid, tu_gettid());
	while (!atomic_load(&go))
		usleep(100);
	sleep_n(SLEEPS);
	return NULL;
}

Test(switch, process_sees_threads_before_and_after)
{
	HWBP_OPTS(hwbp_opts, o, .delivery = HWBP_DELIVER_RING,
		  .on_record = keep, .scope = HWBP_SCOPE_PROCESS,
		  .switch_events = true);
	pthread_t early, late;
	uint64_t t0 = now_ns();
	struct hwbp *bp;

	TU_REQUIRE_BREAKPOINTS();
	nsw = 0;
	cr_assert_eq(pthread_create(&early, NULL, sleeper, &early_tid), 0);
	while (!atomic_load(&early_tid))
		usleep(100);
	cr_assert_eq(hwbp_create(&bp, (uintptr_t)&var, 8, HWBP_WRITE, &o), 0,
		     "%s", hwbp_last_error());
	cr_assert_eq(pthread_create(&late, NULL, sleeper, &late_tid), 0);
	atomic_store(&go, 1);
	sleep_n(SLEEPS);
	pthread_join(early, NULL);
	pthread_join(late, NULL);
	cr_assert_geq(hwbp_ring_consume(bp), 0);
	cr_assert_geq(count_sw(tu_gettid(), true, false), SLEEPS);
	cr_assert_geq(count_sw(early_tid, true, false), SLEEPS,
		      "a thread running before hwbp_create: %d switch-outs",
		      count_sw(early_tid, true, false));
	cr_assert_geq(count_sw(late_tid, true, false), SLEEPS,
		      "a thread created after: %d switch-outs",
		      count_sw(late_tid, true, false));
	assert_records_sane(t0, NULL);
	hwbp_close(bp);
}

Test(switch, scheduler_delivers_each_switch_once)
{
	static int cookie;
	HWBP_OPTS(hwbp_opts, bo, .delivery = HWBP_DELIVER_RING,
		  .cookie = &cookie, .switch_events = true);
	HWBP_OPTS(hwbp_sched_opts, so, .bp_opts = &bo, .on_record = keep);
	uint64_t t0 = now_ns();
	struct hwbp_sched *s;

	TU_REQUIRE_BREAKPOINTS();
	nsw = 0;
	cr_assert_eq(hwbp_sched_create(&s, &so), 0, "%s", hwbp_last_error());
	cr_assert_eq(hwbp_sched_add(s, (uintptr_t)&var, 8, HWBP_WRITE, NULL,
				    NULL), 0, "%s", hwbp_last_error());
	cr_assert_eq(hwbp_sched_add(s, (uintptr_t)&var2, 8, HWBP_WRITE, NULL,
				    NULL), 0, "%s", hwbp_last_error());
	sleep_n(SLEEPS);
	cr_assert_geq(hwbp_sched_consume(s), 0);
	cr_assert_geq(count_sw(tu_gettid(), true, false), SLEEPS,
		      "%d switch-outs (%d to wait), %d records",
		      count_sw(tu_gettid(), true, false),
		      count_sw(tu_gettid(), true, true), nsw);
	assert_records_sane(t0, &cookie); /* 2 registers, no duplicates */
	hwbp_sched_close(s);
}

/* Suite cpuwide: tests/run runs it alone, after the others (a CPU-wide
 * breakpoint takes a debug register from every task on the machine). */
Test(cpuwide, switch_cpu_scope_names_the_other_side)
{
	HWBP_OPTS(hwbp_opts, o, .delivery = HWBP_DELIVER_RING,
		  .on_record = keep, .scope = HWBP_SCOPE_CPUS,
		  .switch_events = true);
	cpu_set_t set, old;
	int others = 0, mine = 0, err;
	struct hwbp *bp;

	TU_REQUIRE_BREAKPOINTS();
	TU_REQUIRE_CPU_WIDE();
	nsw = 0;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	o.cpus = &set;
	o.cpus_size = sizeof(set);
	sched_getaffinity(0, sizeof(old), &old);
	cr_assert_eq(sched_setaffinity(0, sizeof(set), &set), 0);
	/* A CPU-wide breakpoint needs a register free in every task: the
	 * suite's other tests (--jobs 2) may hold all 4 for a moment. */
	for (int tries = 0; tries < 200 &&
	     (err = hwbp_create(&bp, (uintptr_t)&var, 8, HWBP_WRITE, &o)) ==
	     -ENOSPC; tries++)
		usleep(10000);
	cr_assert_eq(err, 0, "%s", hwbp_last_error());
	sleep_n(SLEEPS);
	cr_assert_geq(hwbp_ring_consume(bp), 0);
	sched_setaffinity(0, sizeof(old), &old);
	for (int i = 0; i < nsw; i++) {
		cr_assert_eq(sws[i].cpu, 0, "record %d on cpu %u", i, sws[i].cpu);
		if (sws[i].tid == (uint32_t)tu_gettid() && sws[i].out) {
			mine++;
			/* the task that got the CPU: another (maybe idle, 0) */
			cr_assert_neq(sws[i].np_tid, (uint32_t)tu_gettid());
		}
		others += sws[i].tid != (uint32_t)tu_gettid();
	}
	cr_assert_geq(mine, SLEEPS, "%d switch-outs of this thread on cpu 0",
		      mine);
	cr_assert_gt(others, 0, "a CPU-wide ring sees other tasks' switches");
	hwbp_close(bp);
}

Test(switch, needs_ring_delivery)
{
	HWBP_OPTS(hwbp_opts, o, .switch_events = true);
	struct hwbp *bp = NULL;

	TU_REQUIRE_BREAKPOINTS();
	TU_ASSERT_ERR(hwbp_create(&bp, (uintptr_t)&var, 8, HWBP_WRITE, &o),
		      -EINVAL);
	cr_assert(strstr(hwbp_last_error(), "switch_events"), "%s",
		  hwbp_last_error());
	cr_assert_null(bp);
}

Test(switch, no_fd_left)
{
	HWBP_OPTS(hwbp_opts, o, .delivery = HWBP_DELIVER_RING,
		  .on_record = keep, .scope = HWBP_SCOPE_PROCESS,
		  .switch_events = true);
	pthread_t t;
	int fds, maps;
	struct hwbp *bp;

	TU_REQUIRE_BREAKPOINTS();
	atomic_store(&go, 1);
	/* Counted with no second thread, after a first one has come and
	 * gone: a thread's mappings (its stack, which glibc keeps for the
	 * next; ASan's own per-thread ones, unmapped at its exit) are the
	 * same at the end. */
	cr_assert_eq(pthread_create(&t, NULL, sleeper, &late_tid), 0);
	pthread_join(t, NULL);
	fds = tu_open_fds();
	maps = tu_mappings();
	cr_assert_eq(pthread_create(&t, NULL, sleeper, &early_tid), 0);
	for (int i = 0; i < 50; i++) {
		nsw = 0;
		cr_assert_eq(hwbp_create(&bp, (uintptr_t)&var, 8, HWBP_WRITE,
					 &o), 0, "%s", hwbp_last_error());
		hwbp_close(bp);
	}
	pthread_join(t, NULL);
	tu_assert_nothing_left(fds, maps);
}

/* ---- branch records: HWBP_SAMPLE_BRANCHES (an Intel PT AUX sample) ---- */

Test(branches, probe_says_why_not)
{
	struct hwbp_probe p = tu_probe();
	char text[4096], *line;

	cr_assert_gt(hwbp_probe_explain(text, sizeof(text)), 0);
	line = strstr(text, "\nbranch records    ");
	cr_assert_not_null(line, "%s", text);
	/* Linux refuses a branch stack on breakpoint events
	 * (hw_breakpoint_event_init); the PT path needs intel_pt. */
	cr_assert(!p.bp_branch_stack, "the kernel took a branch stack on a "
		  "breakpoint event: hwbp could use it");
	cr_assert_eq(p.branches, p.pt_aux_sample);
	cr_assert(!p.pt_aux_sample || p.intel_pt);
	if (p.branches) {
		cr_assert(!strncmp(line + 19, "yes (Intel PT", 13), "%s", line);
		return;
	}
	cr_assert(!strncmp(line + 19, "no (", 4), "%s", line);
	cr_assert(strstr(line, "EOPNOTSUPP"), "%s", line);
	cr_assert(strstr(line, p.intel_pt ? "refused a breakpoint with "
			 "PERF_SAMPLE_AUX" : "no intel_pt PMU here"), "%s", line);
	cr_assert(strstr(line, "PMUs here: "), "%s", line);
	cr_assert(strstr(line, "breakpoint"), "the breakpoint PMU is listed: "
		  "%s", line);
}

static void ignore(const struct hwbp_record *r, void *arg)
{
	(void)r, (void)arg;
}

static int create_branches(struct hwbp **bp, enum hwbp_delivery d,
			   enum hwbp_scope scope, uint32_t bytes)
{
	cpu_set_t set;
	HWBP_OPTS(hwbp_opts, o, .delivery = d, .on_record = ignore,
		  .sample = HWBP_SAMPLE_BRANCHES, .branch_bytes = bytes,
		  .scope = scope, .cpus = &set, .cpus_size = sizeof(set));

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	return hwbp_create(bp, (uint64_t)(uintptr_t)&var, 8, HWBP_WRITE, &o);
}

Test(branches, bad_combinations_are_refused)
{
	struct hwbp *bp = NULL;

	TU_REQUIRE_BREAKPOINTS();
	cr_assert_eq(create_branches(&bp, HWBP_DELIVER_COUNT,
				     HWBP_SCOPE_SELF, 0), -EINVAL);
	cr_assert(strstr(hwbp_last_error(), "HWBP_DELIVER_RING"), "%s",
		  hwbp_last_error());
	cr_assert_eq(create_branches(&bp, HWBP_DELIVER_RING,
				     HWBP_SCOPE_CPUS, 0), -EINVAL);
	cr_assert(strstr(hwbp_last_error(), "not cpus"), "%s",
		  hwbp_last_error());
	cr_assert_eq(create_branches(&bp, HWBP_DELIVER_RING,
				     HWBP_SCOPE_SELF, 12), -EINVAL);
	cr_assert_eq(create_branches(&bp, HWBP_DELIVER_RING,
				     HWBP_SCOPE_SELF, 65536), -EINVAL);
	cr_assert(strstr(hwbp_last_error(), "65528"), "%s",
		  hwbp_last_error());
	cr_assert_null(bp);
}

Test(branches, without_intel_pt_create_says_why)
{
	struct hwbp *bp = NULL;

	TU_REQUIRE_BREAKPOINTS();
	TU_REQUIRE(!tu_probe().branches, "branch records work here");
	cr_assert_eq(create_branches(&bp, HWBP_DELIVER_RING,
				     HWBP_SCOPE_SELF, 0), -EOPNOTSUPP);
	cr_assert(strstr(hwbp_last_error(), "HWBP_SAMPLE_BRANCHES: no branch "
			 "records here ("), "%s", hwbp_last_error());
	cr_assert(strstr(hwbp_last_error(), tu_probe().intel_pt ?
			 "PERF_SAMPLE_AUX" : "no intel_pt PMU here"), "%s",
		  hwbp_last_error());
	cr_assert_null(bp);
}

static uint64_t aux_bytes, aux_hits;
static uint32_t aux_fmt;

static void keep_aux(const struct hwbp_record *r, void *arg)
{
	(void)arg;
	if (r->kind != HWBP_REC_HIT)
		return;
	aux_hits++;
	aux_bytes = r->aux_size;
	aux_fmt = r->aux_format;
}

/* Where intel_pt is: each hit's record carries the trace before it. */
Test(branches, each_hit_carries_its_trace)
{
	struct hwbp *bp;
	HWBP_OPTS(hwbp_opts, o, .delivery = HWBP_DELIVER_RING,
		  .on_record = keep_aux, .sample = HWBP_SAMPLE_BRANCHES,
		  .branch_bytes = 4096);

	TU_REQUIRE_HITS();
	TU_REQUIRE(tu_probe().branches, "no branch records here (the "
		   "probe's reason: hwbp probe)");
	cr_assert_eq(hwbp_create(&bp, (uint64_t)(uintptr_t)&var, 8,
				 HWBP_WRITE, &o), 0, "%s", hwbp_last_error());
	for (int i = 0; i < 3; i++)
		__atomic_store_n(&var, (uint64_t)i, __ATOMIC_SEQ_CST);
	cr_assert_eq(hwbp_ring_consume(bp), 3);
	cr_assert_eq(aux_hits, 3);
	cr_assert_eq(aux_fmt, HWBP_AUX_INTEL_PT);
	cr_assert(aux_bytes > 0 && aux_bytes <= 4096, "%llu bytes",
		  (unsigned long long)aux_bytes);
	hwbp_close(bp);
}
