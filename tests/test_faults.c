/* SPDX-License-Identifier: MIT */
/*
 * test_faults.c - the library when the watched program does something
 * abrupt: it execs (the breakpoint ends with the old image: no hit at the
 * stale address, though the new image has its own variable there), or a
 * signal handler runs inside a hit callback and writes the watched
 * variable itself (its hit comes after the callback returns, as standard
 * signal semantics say: exact counts, no deadlock), or signals keep
 * arriving while callbacks run.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/personality.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <criterion/logging.h>

#include "testutil.h"

enum { EXEC_WRITES = 5, WRITES = 1000 };

static const char *helper(const char *name)
{
	static char path[4096];
	const char *dir = getenv("HWBP_TEST_HELPERS");

	if (!dir || !*dir)
		cr_skip_test("skipped: HWBP_TEST_HELPERS is not set (run the "
			     "suite with make check)");
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

/* A line from a stdio stream, or fail. */
static void get_line(FILE *f, char *line, int len, const char *what)
{
	cr_assert(fgets(line, len, f), "no %s line from cmd_vars", what);
}

/*
 * cmd_vars writes counter 5 times and execs itself, without address
 * randomization, so the new image's counter sits at the old address and is
 * written 5 times more: the breakpoint (remove_on_exec) counts 5.
 */
Test(faults, exec_ends_the_breakpoint_no_stale_hits, .timeout = 60)
{
	int in[2], out[2];
	char line[128];
	void *before = NULL, *after = NULL;
	struct hwbp *bp;
	uint64_t n = 0;
	int status;
	pid_t pid;
	FILE *from;

	TU_REQUIRE_BREAKPOINTS();
	TU_REQUIRE_SIGTRAP(); /* remove_on_exec: the same kernels (5.13+) */
	helper("cmd_vars");
	cr_assert(!pipe(in) && !pipe(out));
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		personality(ADDR_NO_RANDOMIZE);
		execl(helper("cmd_vars"), "cmd_vars", "exec", "5", "wait",
		      (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	from = fdopen(out[0], "r");
	get_line(from, line, sizeof(line), "&counter");
	cr_assert_eq(sscanf(line, "&counter=%p", &before), 1, "'%s'", line);
	HWBP_OPTS(hwbp_opts, o, .scope = HWBP_SCOPE_PROCESS, .pid = pid);
	cr_assert_eq(hwbp_create(&bp, (uintptr_t)before, 4, HWBP_WRITE, &o), 0,
		     "%s", hwbp_last_error());
	cr_assert_eq(write(in[1], "go\n", 3), 3);
	while (fgets(line, sizeof(line), from))
		sscanf(line, "after exec &counter=%p", &after);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d",
		  status);
	cr_assert_eq(hwbp_read_count(bp, &n), 0);
	hwbp_close(bp);
	fclose(from);
	close(in[1]);
	cr_assert_eq(after, before, "the new image's counter moved (%p, %p): "
		     "personality(ADDR_NO_RANDOMIZE) did not hold", before,
		     after);
	TU_REQUIRE_HITS();
	cr_assert_eq(n, EXEC_WRITES, "%llu hits: want the 5 before the exec "
		     "only", (unsigned long long)n);
}

/* ---- a signal handler inside the callback ---- */

static volatile uint64_t watched;
static atomic_int callbacks, nested_pending, nested_written;

/* async-signal-safe: atomics and a store.  Runs inside the callback. */
static void usr1_writes_watched(int sig)
{
	(void)sig;
	atomic_fetch_add(&nested_pending, 1);
	atomic_fetch_add(&nested_written, 1);
	TU_WRITE(watched, 0xdead);
}

/* async-signal-safe.  A hit of the program's own write raises SIGUSR1,
 * whose handler runs at once, inside this callback, and writes the
 * watched variable: SIGTRAP is blocked in its own handler, so that hit's
 * signal waits, and comes as the next callback once this one returns. */
static void raise_in_callback(const struct hwbp_hit *hit, void *uc)
{
	(void)hit, (void)uc;
	atomic_fetch_add(&callbacks, 1);
	if (atomic_load(&nested_pending) > 0) {
		atomic_fetch_sub(&nested_pending, 1);
		return;
	}
	raise(SIGUSR1);
}

Test(faults, signal_handler_writes_watched_inside_callback, .timeout = 60)
{
	HWBP_OPTS(hwbp_opts, o, .delivery = HWBP_DELIVER_SIGNAL,
		  .on_hit = raise_in_callback);
	HWBP_OPTS(hwbp_stats, st);
	struct hwbp *bp;
	uint64_t n = 0;

	TU_REQUIRE_SIGTRAP();
	signal(SIGUSR1, usr1_writes_watched);
	cr_assert_eq(hwbp_create(&bp, (uintptr_t)&watched, 8, HWBP_WRITE, &o),
		     0, "%s", hwbp_last_error());
	for (int i = 0; i < WRITES; i++)
		TU_WRITE(watched, (uint64_t)i);
	cr_assert_eq(hwbp_read_count(bp, &n), 0);
	cr_assert_eq(hwbp_get_stats(bp, &st), 0);
	hwbp_close(bp);
	TU_REQUIRE_HITS();
	cr_assert_eq(atomic_load(&nested_written), WRITES);
	cr_assert_eq(n, 2 * WRITES, "kernel count %llu",
		     (unsigned long long)n);
	cr_assert_eq(atomic_load(&callbacks), 2 * WRITES, "callbacks %d",
		     atomic_load(&callbacks));
	cr_assert_eq(st.signals, 2 * WRITES);
	cr_assert_eq(atomic_load(&nested_pending), 0);
}

/* ---- signals arriving while callbacks run ---- */

static atomic_int alarms, alarms_in_callback, in_callback;

/* async-signal-safe */
static void count_alarm(int sig)
{
	(void)sig;
	atomic_fetch_add(&alarms, 1);
	if (atomic_load(&in_callback))
		atomic_fetch_add(&alarms_in_callback, 1);
}

/* async-signal-safe: stays a while, so the timer's signals land inside */
static void slow_callback(const struct hwbp_hit *hit, void *uc)
{
	(void)hit, (void)uc;
	atomic_store(&in_callback, 1);
	for (volatile int i = 0; i < 20000; i++)
		;
	atomic_fetch_add(&callbacks, 1);
	atomic_store(&in_callback, 0);
}

Test(faults, timer_signals_during_callbacks, .timeout = 120)
{
	HWBP_OPTS(hwbp_opts, o, .delivery = HWBP_DELIVER_SIGNAL,
		  .on_hit = slow_callback);
	struct itimerval every = { { 0, 200 }, { 0, 200 } }, off = { 0 };
	struct sigaction sa = { .sa_handler = count_alarm };
	struct hwbp *bp;
	uint64_t n = 0;

	TU_REQUIRE_SIGTRAP();
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	cr_assert_eq(hwbp_create(&bp, (uintptr_t)&watched, 8, HWBP_WRITE, &o),
		     0, "%s", hwbp_last_error());
	setitimer(ITIMER_REAL, &every, NULL);
	for (int i = 0; i < WRITES; i++)
		TU_WRITE(watched, (uint64_t)i);
	setitimer(ITIMER_REAL, &off, NULL);
	cr_assert_eq(hwbp_read_count(bp, &n), 0);
	hwbp_close(bp);
	TU_REQUIRE_HITS();
	cr_log_info("%d SIGALRMs, %d inside a callback", atomic_load(&alarms),
		    atomic_load(&alarms_in_callback));
	cr_assert_eq(n, WRITES);
	cr_assert_eq(atomic_load(&callbacks), WRITES);
}
