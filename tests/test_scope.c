/* SPDX-License-Identifier: MIT */
/*
 * test_scope.c - who a breakpoint watches: the calling thread, one sibling
 * thread, a whole process (threads before and after create, forked children,
 * another process), CPUs.  Also the events behind each scope, the errors for
 * targets that do not exist, and what an unprivileged user is refused.
 * Everything runs up to TU_REQUIRE_HITS(); only the hit counts after it need
 * debug registers that trap.
 */
#include <limits.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>

#include "testutil.h"

/* One variable per test: CPU-wide events see every process on the CPU, and
 * the suite runs tests in parallel processes of this same binary. */
static volatile uint64_t self_var, thread_var, proc_var, nofollow_var;
static volatile uint64_t other_var, cpu_var, sig_var, priv_var, stat_var;

static void write_n(volatile uint64_t *var, int n)
{
	for (int i = 0; i < n; i++)
		*var = (uint64_t)i;
}

/* ---- helpers ---- */

static struct hwbp *must_create(volatile uint64_t *var,
				const struct hwbp_opts *opts)
{
	struct hwbp *bp = NULL;
	int err = hwbp_create(&bp, (uintptr_t)var, 8, HWBP_WRITE, opts);

	cr_assert_eq(err, 0, "hwbp_create: %d (%s): %s", err, strerror(-err),
		     hwbp_last_error());
	return bp;
}

static uint64_t count_of(struct hwbp *bp)
{
	uint64_t n = 0;

	cr_assert_eq(hwbp_read_count(bp, &n), 0, "%s", hwbp_last_error());
	return n;
}

static struct hwbp_stats stats_of(struct hwbp *bp)
{
	HWBP_OPTS(hwbp_stats, st);

	cr_assert_eq(hwbp_get_stats(bp, &st), 0, "%s", hwbp_last_error());
	return st;
}

static void close_checked(struct hwbp *bp, int fds_before)
{
	cr_assert_eq(hwbp_close(bp), 0, "%s", hwbp_last_error());
	cr_assert_eq(tu_open_fds(), fds_before, "fds: %d before create, %d "
		     "after close", fds_before, tu_open_fds());
}

/* Live threads.  A thread just joined (the probe's, say) can stay in
 * /proc/self/task for a moment after pthread_join returns (the kernel
 * wakes the joiner before the task is gone): wait until the count holds
 * still, so it matches what the library enumerates. */
static int nthreads(void)
{
	int n = tu_count_dir("/proc/self/task");

	for (int i = 0; i < 200; i++) {
		int again;

		usleep(1000);
		again = tu_count_dir("/proc/self/task");
		if (again == n)
			break;
		n = again;
	}
	return n;
}

/* A pid no task can have: pids are below kernel.pid_max. */
static pid_t no_such_pid(void)
{
	FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
	int max = 0;

	cr_assert(f);
	cr_assert_eq(fscanf(f, "%d", &max), 1);
	fclose(f);
	return (pid_t)max;
}

static void assert_msg_has(const char *piece)
{
	cr_assert(strstr(hwbp_last_error(), piece), "message '%s' lacks '%s'",
		  hwbp_last_error(), piece);
}

/* ---- writer threads ---- */

struct worker {
	pthread_t thread;
	pthread_barrier_t *gate; /* ready + go; NULL: write at once */
	volatile uint64_t *var;
	int writes;
	int cpu;                 /* pin to this CPU first (-1: no) */
	pid_t tid;
	int pin_err;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->tid = tu_gettid();
	if (w->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		w->pin_err = sched_setaffinity(0, sizeof(set), &set) ? errno : 0;
	}
	if (w->gate) {
		pthread_barrier_wait(w->gate); /* ready: tid set, pinned */
		pthread_barrier_wait(w->gate); /* go */
	}
	write_n(w->var, w->writes);
	return NULL;
}

static void start(struct worker *w)
{
	cr_assert_eq(pthread_create(&w->thread, NULL, worker_main, w), 0);
}

static void join(struct worker *w)
{
	cr_assert_eq(pthread_join(w->thread, NULL), 0);
}

/* Start n gated workers and wait until each is ready (and exists). */
static void start_gated(struct worker *w, int n, pthread_barrier_t *gate)
{
	cr_assert_eq(pthread_barrier_init(gate, NULL, (unsigned)n + 1), 0);
	for (int i = 0; i < n; i++) {
		w[i].gate = gate;
		start(&w[i]);
	}
	pthread_barrier_wait(gate);
}

static void release_and_join(struct worker *w, int n, pthread_barrier_t *gate)
{
	pthread_barrier_wait(gate);
	for (int i = 0; i < n; i++)
		join(&w[i]);
	pthread_barrier_destroy(gate);
}

/* A forked child writes n times and exits; the parent reaps it. */
static void child_writes(volatile uint64_t *var, int n)
{
	pid_t pid = fork();
	int status;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		write_n(var, n);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---- 1. self ---- */

Test(scope, self_counts_only_the_creating_thread)
{
	struct worker b = { .var = &self_var, .writes = 70, .cpu = -1 };
	pthread_barrier_t gate;
	struct hwbp *bp;
	uint64_t n;
	int fds;

	TU_REQUIRE_BREAKPOINTS();
	fds = tu_open_fds();
	start_gated(&b, 1, &gate);
	bp = must_create(&self_var, NULL);
	cr_assert_eq(stats_of(bp).events, 1);
	write_n(&self_var, 50);
	release_and_join(&b, 1, &gate); /* B writes 70: not ours */
	n = count_of(bp);
	close_checked(bp, fds);

	TU_REQUIRE_HITS();
	cr_assert_eq(n, 50, "self: %llu hits for 50 own writes (+70 by a "
		     "sibling)", (unsigned long long)n);
}

/* ---- 2. thread ---- */

Test(scope, thread_counts_only_that_thread)
{
	struct worker w[2] = {
		{ .var = &thread_var, .writes = 40, .cpu = -1 }, /* target */
		{ .var = &thread_var, .writes = 30, .cpu = -1 },
	};
	pthread_barrier_t gate;
	struct hwbp *bp;
	uint64_t n;
	int fds;

	TU_REQUIRE_BREAKPOINTS();
	fds = tu_open_fds();
	start_gated(w, 2, &gate);
	{
		HWBP_OPTS(hwbp_opts, opts, .scope = HWBP_SCOPE_THREAD,
			  .pid = w[0].tid);

		bp = must_create(&thread_var, &opts);
	}
	cr_assert_eq(stats_of(bp).events, 1);
	write_n(&thread_var, 20); /* the creator: not watched */
	release_and_join(w, 2, &gate);
	n = count_of(bp);
	close_checked(bp, fds);

	TU_REQUIRE_HITS();
	cr_assert_eq(n, 40, "thread: %llu hits for 40 writes of the target "
		     "(+50 by others)", (unsigned long long)n);
}

Test(scope, thread_that_does_not_exist)
{
	pid_t tid = no_such_pid();
	HWBP_OPTS(hwbp_opts, opts, .scope = HWBP_SCOPE_THREAD, .pid = tid);
	char num[32];
	struct hwbp *bp = (struct hwbp *)1;
	int fds = tu_open_fds();

	TU_REQUIRE_BREAKPOINTS();
	TU_ASSERT_ERR(hwbp_create(&bp, (uintptr_t)&thread_var, 8, HWBP_WRITE,
				  &opts), -ESRCH);
	cr_assert_null(bp);
	snprintf(num, sizeof(num), "%d", (int)tid);
	assert_msg_has(num);
	assert_msg_has("thread");
	cr_assert_eq(tu_open_fds(), fds);
}

/* ---- 3. process: threads before and after create, children ---- */

Test(scope, process_counts_old_new_threads_and_children)
{
	struct worker pre[2] = {
		{ .var = &proc_var, .writes = 11, .cpu = -1 },
		{ .var = &proc_var, .writes = 12, .cpu = -1 },
	};
	struct worker post[2] = {
		{ .var = &proc_var, .writes = 14, .cpu = -1 },
		{ .var = &proc_var, .writes = 15, .cpu = -1 },
	};
	HWBP_OPTS(hwbp_opts, opts, .scope = HWBP_SCOPE_PROCESS);
	pthread_barrier_t gate;
	int fds, base;
	struct hwbp *bp;
	uint64_t n;

	TU_REQUIRE_BREAKPOINTS();
	fds = tu_open_fds();
	base = nthreads();
	start_gated(pre, 2, &gate);
	bp = must_create(&proc_var, &opts);
	/* One event per thread alive at create; later ones inherit them. */
	cr_assert_eq(stats_of(bp).events, (uint32_t)(base + 2),
		     "events %u, threads %d", stats_of(bp).events, base + 2);
	write_n(&proc_var, 13);
	release_and_join(pre, 2, &gate);
	for (int i = 0; i < 2; i++)
		start(&post[i]);
	for (int i = 0; i < 2; i++)
		join(&post[i]);
	child_writes(&proc_var, 16);
	cr_assert_eq(stats_of(bp).events, (uint32_t)(base + 2),
		     "inherited copies are the kernel's, not the handle's");
	/* hwbp_read_count reads the parent events; the kernel's read adds
	 * the inherited copies: live ones, and those of exited threads and
	 * children (folded into the parent at exit). */
	n = count_of(bp);
	close_checked(bp, fds);

	TU_REQUIRE_HITS();
	cr_assert_eq(n, 11 + 12 + 13 + 14 + 15 + 16, "process: %llu hits; "
		     "want 23 (threads before create) + 13 (creator) + 29 "
		     "(threads after) + 16 (forked child)",
		     (unsigned long long)n);
}

/* Per-thread hits seen by the callback: async-signal-safe atomics only. */
#define TID_SLOTS 32
static atomic_int hit_tid[TID_SLOTS], hit_n[TID_SLOTS], hit_bad;

static void record_tid(const struct hwbp_hit *hit, void *uc)
{
	(void)uc;
	if (hit->addr != (uintptr_t)&sig_var || hit->cookie != &hit_tid) {
		atomic_fetch_add(&hit_bad, 1);
		return;
	}
	for (int i = 0; i < TID_SLOTS; i++) {
		int t = atomic_load(&hit_tid[i]);

		if (!t && atomic_compare_exchange_strong(&hit_tid[i], &t,
							 hit->tid))
			t = hit->tid;
		if (t == hit->tid) {
			atomic_fetch_add(&hit_n[i], 1);
			return;
		}
	}
	atomic_fetch_add(&hit_bad, 1);
}

static int hits_of(pid_t tid)
{
	for (int i = 0; i < TID_SLOTS; i++)
		if (atomic_load(&hit_tid[i]) == tid)
			return atomic_load(&hit_n[i]);
	return 0;
}

static int tids_seen(void)
{
	int n = 0;

	for (int i = 0; i < TID_SLOTS; i++)
		n += atomic_load(&hit_tid[i]) != 0;
	return n;
}

Test(scope, process_signal_reports_the_writing_thread)
{
	struct worker w[4] = {
		{ .var = &sig_var, .writes = 21, .cpu = -1 }, /* before */
		{ .var = &sig_var, .writes = 22, .cpu = -1 }, /* before */
		{ .var = &sig_var, .writes = 24, .cpu = -1 }, /* after */
		{ .var = &sig_var, .writes = 25, .cpu = -1 }, /* after */
	};
	HWBP_OPTS(hwbp_opts, opts, .scope = HWBP_SCOPE_PROCESS,
		  .delivery = HWBP_DELIVER_SIGNAL, .on_hit = record_tid,
		  .cookie = &hit_tid);
	pthread_barrier_t gate;
	int fds, base;
	struct hwbp_stats st;
	struct hwbp *bp;
	uint64_t n;

	TU_REQUIRE_BREAKPOINTS();
	TU_REQUIRE_SIGTRAP();
	fds = tu_open_fds();
	base = nthreads();
	start_gated(w, 2, &gate);
	bp = must_create(&sig_var, &opts);
	cr_assert_eq(stats_of(bp).events, (uint32_t)(base + 2));
	write_n(&sig_var, 23);
	release_and_join(w, 2, &gate);
	for (int i = 2; i < 4; i++)
		start(&w[i]);
	for (int i = 2; i < 4; i++)
		join(&w[i]);
	n = count_of(bp);
	st = stats_of(bp);
	close_checked(bp, fds);

	TU_REQUIRE_HITS();
	cr_assert_eq(atomic_load(&hit_bad), 0, "hits with a wrong address or "
		     "cookie, or too many threads");
	cr_assert_eq(hits_of(tu_gettid()), 23, "creator: %d",
		     hits_of(tu_gettid()));
	for (int i = 0; i < 4; i++)
		cr_assert_eq(hits_of(w[i].tid), w[i].writes, "thread %d (tid "
			     "%d): %d callbacks for %d writes", i,
			     (int)w[i].tid, hits_of(w[i].tid), w[i].writes);
	cr_assert_eq(tids_seen(), 5, "callbacks named %d threads, 5 wrote",
		     tids_seen());
	cr_assert_eq(n, 23 + 21 + 22 + 24 + 25);
	cr_assert_eq(st.signals, n);
}

/* ---- 4. process without following ---- */

Test(scope, process_no_follow_counts_existing_threads_only)
{
	struct worker pre[2] = {
		{ .var = &nofollow_var, .writes = 11, .cpu = -1 },
		{ .var = &nofollow_var, .writes = 12, .cpu = -1 },
	};
	struct worker post = { .var = &nofollow_var, .writes = 14, .cpu = -1 };
	HWBP_OPTS(hwbp_opts, opts, .scope = HWBP_SCOPE_PROCESS,
		  .no_follow = true);
	pthread_barrier_t gate;
	int fds, base;
	struct hwbp *bp;
	uint64_t n;

	TU_REQUIRE_BREAKPOINTS();
	fds = tu_open_fds();
	base = nthreads();
	start_gated(pre, 2, &gate);
	bp = must_create(&nofollow_var, &opts);
	cr_assert_eq(stats_of(bp).events, (uint32_t)(base + 2));
	write_n(&nofollow_var, 13);
	release_and_join(pre, 2, &gate);
	start(&post);
	join(&post);
	child_writes(&nofollow_var, 16);
	n = count_of(bp);
	close_checked(bp, fds);

	TU_REQUIRE_HITS();
	cr_assert_eq(n, 11 + 12 + 13, "no_follow: %llu hits; want 36 from the "
		     "threads alive at create, none of the new thread's 14 or "
		     "the child's 16", (unsigned long long)n);
}

/* ---- 5. another process ---- */

/* Blocks until the parent writes a byte, writes n times, says so, and
 * exits when the parent closes the pipe. */
static void other_child(int go_fd, int done_fd, int n)
{
	char c;

	if (read(go_fd, &c, 1) != 1)
		_exit(2);
	write_n(&other_var, n);
	if (write(done_fd, "d", 1) != 1)
		_exit(3);
	while (read(go_fd, &c, 1) > 0)
		;
	_exit(0);
}

/* Fork a child that writes n times when told (go), says so (done), and
 * exits when go closes; the parent keeps go[1] and done[0]. */
static pid_t start_other(int go[2], int done[2], int n)
{
	pid_t pid;

	cr_assert_eq(pipe(go), 0);
	cr_assert_eq(pipe(done), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(go[1]);
		close(done[0]);
		other_child(go[0], done[1], n);
	}
	close(go[0]);
	close(done[1]);
	return pid;
}

Test(scope, process_of_another_process)
{
	int go[2], done[2], fds, status;
	struct hwbp *bp;
	uint64_t alive, reaped;
	pid_t pid;
	char c;

	TU_REQUIRE_BREAKPOINTS();
	fds = tu_open_fds();
	pid = start_other(go, done, 90);
	{
		HWBP_OPTS(hwbp_opts, opts, .scope = HWBP_SCOPE_PROCESS,
			  .pid = pid);

		bp = must_create(&other_var, &opts);
	}
	cr_assert_eq(stats_of(bp).events, 1, "the child has one thread");
	write_n(&other_var, 33); /* same address, our process: not counted */
	cr_assert_eq(write(go[1], "g", 1), 1);
	cr_assert_eq(read(done[0], &c, 1), 1, "the child wrote");
	alive = count_of(bp);
	close(go[1]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "child status 0x%x", status);
	reaped = count_of(bp);
	close(done[0]);
	close_checked(bp, fds);

	TU_REQUIRE_HITS();
	cr_assert_eq(alive, 90, "other process, alive: %llu hits for 90",
		     (unsigned long long)alive);
	cr_assert_eq(reaped, 90, "other process, exited: %llu hits for 90",
		     (unsigned long long)reaped);
}

Test(scope, process_that_does_not_exist)
{
	pid_t pid = no_such_pid();
	HWBP_OPTS(hwbp_opts, opts, .scope = HWBP_SCOPE_PROCESS, .pid = pid);
	struct hwbp *bp = (struct hwbp *)1;
	char num[32];
	int fds = tu_open_fds();

	TU_REQUIRE_BREAKPOINTS();
	TU_ASSERT_ERR(hwbp_create(&bp, (uintptr_t)&other_var, 8, HWBP_WRITE,
				  &opts), -ESRCH);
	cr_assert_null(bp);
	snprintf(num, sizeof(num), "%d", (int)pid);
	assert_msg_has(num);
	cr_assert_eq(tu_open_fds(), fds);
}

/* ---- 6. CPUs ---- */

static int create_on_cpus(const cpu_set_t *set, size_t size, struct hwbp **bp)
{
	HWBP_OPTS(hwbp_opts, opts, .scope = HWBP_SCOPE_CPUS, .cpus = set,
		  .cpus_size = size);

	*bp = (struct hwbp *)1;
	return hwbp_create(bp, (uintptr_t)&cpu_var, 8, HWBP_WRITE, &opts);
}

Test(cpuwide, bad_cpu_sets)
{
	cpu_set_t empty, beyond, cpu0;
	int fds = tu_open_fds(), last = get_nprocs_conf();
	char num[32];
	struct hwbp *bp;

	CPU_ZERO(&empty);
	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	CPU_ZERO(&beyond);
	CPU_SET(last, &beyond);
	TU_ASSERT_ERR(create_on_cpus(NULL, sizeof(cpu0), &bp), -EINVAL);
	assert_msg_has("opts.cpus");
	TU_ASSERT_ERR(create_on_cpus(&cpu0, 0, &bp), -EINVAL);
	assert_msg_has("cpus_size");
	TU_ASSERT_ERR(create_on_cpus(&empty, sizeof(empty), &bp), -EINVAL);
	assert_msg_has("empty");
	TU_ASSERT_ERR(create_on_cpus(&beyond, sizeof(beyond), &bp), -EINVAL);
	snprintf(num, sizeof(num), "CPU %d", last);
	assert_msg_has(num);
	cr_assert_null(bp);
	cr_assert_eq(tu_open_fds(), fds);
}

Test(cpuwide, counts_what_runs_there)
{
	struct worker w[2] = {
		{ .var = &cpu_var, .writes = 25, .cpu = 0 },
		{ .var = &cpu_var, .writes = 35, .cpu = 1 },
	};
	int fds, ncpu = get_nprocs(), nw = ncpu >= 2 ? 2 : 1;
	pthread_barrier_t gate;
	cpu_set_t set;
	struct hwbp *bp;
	uint64_t n;

	TU_REQUIRE_BREAKPOINTS();
	TU_REQUIRE_CPU_WIDE();
	fds = tu_open_fds();
	CPU_ZERO(&set);
	for (int c = 0; c < ncpu; c++)
		CPU_SET(c, &set);
	cr_assert_eq(create_on_cpus(&set, sizeof(set), &bp), 0, "%s",
		     hwbp_last_error());
	cr_assert_eq(stats_of(bp).events, (uint32_t)ncpu, "one event per CPU");
	close_checked(bp, fds);

	start_gated(w, nw, &gate);
	for (int i = 0; i < nw; i++)
		cr_assert_eq(w[i].pin_err, 0, "pin to CPU %d: %s", w[i].cpu,
			     strerror(w[i].pin_err));
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	cr_assert_eq(create_on_cpus(&set, sizeof(set), &bp), 0, "%s",
		     hwbp_last_error());
	cr_assert_eq(stats_of(bp).events, 1);
	write_n(&cpu_var, 0); /* the main thread never writes cpu_var */
	release_and_join(w, nw, &gate);
	n = count_of(bp);
	close_checked(bp, fds);

	TU_REQUIRE_HITS();
	cr_assert_eq(n, 25, "CPU 0: %llu hits for the 25 writes made there%s",
		     (unsigned long long)n, nw == 2 ? " (+35 on CPU 1)" : "");
}

/* ---- 7. (cpuwide suite: the kernel reserves the registers of a CPU-wide
 * breakpoint before it checks permission, so a parallel test holding 4
 * registers turns EACCES into ENOSPC) what an unprivileged user may do ---- */

enum { P_CPUS, P_KERNEL, P_KADDR, P_KADDR_KERNEL, P_FOREIGN, P_SELF, P_N };

struct priv_result {
	int rc[P_N];
	char msg[P_N][240];
	uint32_t self_events;
	int self_close;
};

static void priv_try(struct priv_result *r, int i, uint64_t addr,
		     const struct hwbp_opts *opts)
{
	struct hwbp *bp = NULL;

	r->rc[i] = hwbp_create(&bp, addr, 8, HWBP_WRITE, opts);
	snprintf(r->msg[i], sizeof(r->msg[i]), "%s", hwbp_last_error());
	if (!r->rc[i] && i == P_SELF) {
		HWBP_OPTS(hwbp_stats, st);

		hwbp_get_stats(bp, &st);
		r->self_events = st.events;
	}
	if (!r->rc[i])
		r->self_close = hwbp_close(bp);
}

/* In the child, as nobody: every attempt, its result into the pipe. */
static void priv_child(int out, pid_t parent)
{
	struct priv_result r;
	uint64_t v = (uintptr_t)&priv_var, kaddr = 0xffffffff81000000ull;
	cpu_set_t cpu0;

	memset(&r, 0, sizeof(r));
	if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
		_exit(2);
	if (getuid() != 65534 || geteuid() != 65534)
		_exit(3);
	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	{
		HWBP_OPTS(hwbp_opts, cpus, .scope = HWBP_SCOPE_CPUS,
			  .cpus = &cpu0, .cpus_size = sizeof(cpu0));
		HWBP_OPTS(hwbp_opts, kernel, .kernel = true);
		HWBP_OPTS(hwbp_opts, foreign, .scope = HWBP_SCOPE_PROCESS,
			  .pid = parent);

		priv_try(&r, P_CPUS, v, &cpus);
		priv_try(&r, P_KERNEL, v, &kernel);
		priv_try(&r, P_KADDR, kaddr, NULL);
		priv_try(&r, P_KADDR_KERNEL, kaddr, &kernel);
		priv_try(&r, P_FOREIGN, v, &foreign);
		priv_try(&r, P_SELF, v, NULL);
	}
	if (write(out, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(4);
	_exit(0);
}

static int read_paranoid(void)
{
	FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "r");
	int v = -99;

	cr_assert(f);
	cr_assert_eq(fscanf(f, "%d", &v), 1);
	fclose(f);
	return v;
}

static struct priv_result run_as_nobody(void)
{
	struct priv_result r;
	int p[2], status;
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		priv_child(p[1], getppid());
	}
	close(p[1]);
	cr_assert_eq(read(p[0], &r, sizeof(r)), (ssize_t)sizeof(r),
		     "no result from the child");
	close(p[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "child status 0x%x (2: cannot become nobody)", status);
	return r;
}

#define PRIV_ASSERT(r, i, err, piece1, piece2)                                \
	do {                                                                   \
		cr_assert_eq((r).rc[i], (err), #i ": got %d (%s), want %d: %s", \
			     (r).rc[i], strerror(-(r).rc[i]), (err),           \
			     (r).msg[i]);                                      \
		cr_assert(strstr((r).msg[i], piece1) &&                        \
			  strstr((r).msg[i], piece2),                          \
			  #i ": message '%s' lacks '%s' or '%s'", (r).msg[i],  \
			  piece1, piece2);                                     \
	} while (0)

Test(cpuwide, unprivileged_user_refusals)
{
	int par = read_paranoid(), fds = tu_open_fds();
	struct priv_result r;

	TU_REQUIRE_BREAKPOINTS();
	TU_REQUIRE(getuid() == 0, "needs root to drop to user nobody");
	r = run_as_nobody();
	cr_assert_eq(tu_open_fds(), fds);
	/* perf_allow_cpu / perf_allow_kernel: EACCES, at paranoid 3 too. */
	PRIV_ASSERT(r, P_CPUS, -EACCES, "perf_event_paranoid", "CAP_PERFMON");
	PRIV_ASSERT(r, P_KERNEL, -EACCES, "perf_event_paranoid",
		    "CAP_PERFMON");
	/* Refused before any syscall: opts.kernel is not set. */
	PRIV_ASSERT(r, P_KADDR, -EINVAL, "kernel address", "opts.kernel");
	PRIV_ASSERT(r, P_KADDR_KERNEL, -EACCES, "perf_event_paranoid",
		    "CAP_PERFMON");
	if (par <= 2) {
		/* root's process: ptrace_may_access says no. */
		PRIV_ASSERT(r, P_FOREIGN, -EACCES, "no permission", "ptrace");
		cr_assert_eq(r.rc[P_SELF], 0, "paranoid %d allows user-space "
			     "breakpoints on oneself: %s", par, r.msg[P_SELF]);
		cr_assert_eq(r.self_events, 1);
		cr_assert_eq(r.self_close, 0);
	} else {
		PRIV_ASSERT(r, P_SELF, -EACCES, "perf_event_paranoid",
			    "CAP_PERFMON");
	}
}

/* ---- 8. the events behind each scope, and nothing left after close ---- */

static void noop_record(const struct hwbp_record *rec, void *cookie)
{
	(void)rec, (void)cookie;
}

static void expect_events(const struct hwbp_opts *opts, uint32_t events,
			  uint32_t rings, const char *what)
{
	int fds = tu_open_fds(), maps = tu_mappings();
	struct hwbp_stats st;
	struct hwbp *bp;

	bp = must_create(&stat_var, opts);
	st = stats_of(bp);
	cr_assert_eq(st.events, events, "%s: %u events, want %u", what,
		     st.events, events);
	cr_assert_eq(st.rings, rings, "%s: %u rings, want %u", what, st.rings,
		     rings);
	close_checked(bp, fds);
	cr_assert_eq(tu_mappings(), maps, "%s: a ring is still mapped", what);
}

Test(scope, events_per_scope)
{
	struct worker w[3] = {
		{ .var = &stat_var, .cpu = -1 },
		{ .var = &stat_var, .cpu = -1 },
		{ .var = &stat_var, .cpu = -1 },
	};
	uint32_t cpus = (uint32_t)get_nprocs(), threads;
	pthread_barrier_t gate;

	TU_REQUIRE_BREAKPOINTS();
	start_gated(w, 3, &gate);
	threads = (uint32_t)nthreads();
	{
		HWBP_OPTS(hwbp_opts, self);
		HWBP_OPTS(hwbp_opts, self_ring, .delivery = HWBP_DELIVER_RING,
			  .on_record = noop_record, .ring_pages = 1);
		HWBP_OPTS(hwbp_opts, thread, .scope = HWBP_SCOPE_THREAD,
			  .pid = w[1].tid);
		HWBP_OPTS(hwbp_opts, proc, .scope = HWBP_SCOPE_PROCESS);
		HWBP_OPTS(hwbp_opts, proc_nf, .scope = HWBP_SCOPE_PROCESS,
			  .no_follow = true);
		HWBP_OPTS(hwbp_opts, proc_ring, .scope = HWBP_SCOPE_PROCESS,
			  .delivery = HWBP_DELIVER_RING,
			  .on_record = noop_record, .ring_pages = 1);

		expect_events(&self, 1, 0, "self");
		expect_events(&self_ring, 1, 1, "self ring");
		expect_events(&thread, 1, 0, "thread");
		expect_events(&proc, threads, 0, "process");
		expect_events(&proc_nf, threads, 0, "process no_follow");
		/* an inherited event is mmapped per CPU: thread x CPU */
		expect_events(&proc_ring, threads * cpus, cpus, "process ring");
	}
	release_and_join(w, 3, &gate);
}

/* CPU-wide events take a register from every thread on the machine, so
 * the suite runs the "cpuwide" tests alone (tests/run). */
Test(cpuwide, events_per_cpu_scope)
{
	uint32_t cpus = (uint32_t)get_nprocs();
	cpu_set_t set;

	TU_REQUIRE_BREAKPOINTS();
	TU_REQUIRE_CPU_WIDE();
	CPU_ZERO(&set);
	for (uint32_t c = 0; c < cpus; c++)
		CPU_SET(c, &set);
	{
		HWBP_OPTS(hwbp_opts, on_cpus, .scope = HWBP_SCOPE_CPUS,
			  .cpus = &set, .cpus_size = sizeof(set));
		HWBP_OPTS(hwbp_opts, cpus_ring, .scope = HWBP_SCOPE_CPUS,
			  .cpus = &set, .cpus_size = sizeof(set),
			  .delivery = HWBP_DELIVER_RING,
			  .on_record = noop_record, .ring_pages = 1);

		expect_events(&on_cpus, cpus, 0, "cpus");
		expect_events(&cpus_ring, cpus, cpus, "cpus ring");
	}
}

/* ---- signal delivery is for this process only ---- */

static void noop_hit(const struct hwbp_hit *hit, void *uc)
{
	(void)hit, (void)uc;
}

/* The callback runs in the thread that hit: another process has no handler
 * and a SIGTRAP would kill it, so such a target is refused up front. */
Test(scope, signal_delivery_refuses_another_process)
{
	static const enum hwbp_signal_mode modes[] = { HWBP_SIGNAL_AUTO,
						       HWBP_SIGNAL_ASYNC };
	int go[2], done[2], fds, status;
	struct hwbp *bp;
	pid_t pid;

	TU_REQUIRE_BREAKPOINTS();
	TU_REQUIRE_SIGTRAP();
	fds = tu_open_fds();
	pid = start_other(go, done, 0);
	{
		HWBP_OPTS(hwbp_opts, opts, .scope = HWBP_SCOPE_PROCESS,
			  .pid = pid, .delivery = HWBP_DELIVER_SIGNAL,
			  .on_hit = noop_hit);

		TU_ASSERT_ERR(hwbp_create(&bp, (uintptr_t)&other_var, 8,
					  HWBP_WRITE, &opts), -EINVAL);
		assert_msg_has("this process");
	}
	for (int i = 0; i < 2; i++) {
		HWBP_OPTS(hwbp_opts, opts, .scope = HWBP_SCOPE_THREAD,
			  .pid = pid, .delivery = HWBP_DELIVER_SIGNAL,
			  .on_hit = noop_hit, .signal_mode = modes[i]);

		TU_ASSERT_ERR(hwbp_create(&bp, (uintptr_t)&other_var, 8,
					  HWBP_WRITE, &opts), -EINVAL);
		assert_msg_has("this process");
	}
	cr_assert_eq(write(go[1], "g", 1), 1);
	close(go[1]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "child status 0x%x", status);
	close(done[0]);
	cr_assert_eq(tu_open_fds(), fds);
}

/* ---- a process whose main thread has exited ---- */

struct zl_pipes {
	int go, done;
};

static void *zl_worker(void *arg)
{
	struct zl_pipes *p = arg;

	other_child(p->go, p->done, 60); /* exits the process */
	return NULL;
}

/* The leader calls pthread_exit; a worker writes when told. */
static void zombie_leader_child(int go, int done)
{
	static struct zl_pipes p;
	pthread_t t;

	p = (struct zl_pipes){ go, done };
	if (pthread_create(&t, NULL, zl_worker, &p))
		_exit(5);
	pthread_exit(NULL);
}

static bool leader_is_zombie(pid_t pid)
{
	char path[64], buf[256], *s;
	FILE *f;
	bool z = false;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f && fgets(buf, sizeof(buf), f) && (s = strrchr(buf, ')')))
		z = s[1] == ' ' && s[2] == 'Z';
	if (f)
		fclose(f);
	return z;
}

Test(scope, process_whose_main_thread_exited)
{
	int go[2], done[2], fds, status;
	struct hwbp *bp;
	uint64_t n;
	pid_t pid;
	char c;

	TU_REQUIRE_BREAKPOINTS();
	fds = tu_open_fds();
	cr_assert_eq(pipe(go), 0);
	cr_assert_eq(pipe(done), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(go[1]);
		close(done[0]);
		zombie_leader_child(go[0], done[1]);
	}
	close(go[0]);
	close(done[1]);
	for (int i = 0; i < 2000 && !leader_is_zombie(pid); i++)
		usleep(1000);
	cr_assert(leader_is_zombie(pid), "the child's main thread exited");
	{
		HWBP_OPTS(hwbp_opts, opts, .scope = HWBP_SCOPE_PROCESS,
			  .pid = pid);

		bp = must_create(&other_var, &opts);
	}
	cr_assert_eq(stats_of(bp).events, 1, "the live thread; not the "
		     "zombie leader");
	cr_assert_eq(write(go[1], "g", 1), 1);
	cr_assert_eq(read(done[0], &c, 1), 1, "the child wrote");
	n = count_of(bp);
	close(go[1]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "child status 0x%x", status);
	close(done[0]);
	close_checked(bp, fds);

	TU_REQUIRE_HITS();
	cr_assert_eq(n, 60, "%llu hits for 60 writes of the live thread",
		     (unsigned long long)n);
}
