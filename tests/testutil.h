/* SPDX-License-Identifier: MIT */
/*
 * testutil.h - helpers shared by the Criterion tests: skip with the
 * machine's reason when a feature is missing, count open fds and mappings
 * (leak checks), and the watched variables' storage.
 */
#ifndef HWBP_TESTUTIL_H
#define HWBP_TESTUTIL_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <hwbp.h>

static inline struct hwbp_probe tu_probe(void)
{
	HWBP_OPTS(hwbp_probe, p);
	cr_assert_eq(hwbp_probe(&p), 0, "hwbp_probe: %s", hwbp_last_error());
	return p;
}

/* Skip (printing why) unless the machine has `what`. */
#define TU_REQUIRE(cond, why)                                                  \
	do {                                                                   \
		if (!(cond)) {                                                 \
			cr_skip_test("skipped: %s", why);                      \
		}                                                              \
	} while (0)

#define TU_REQUIRE_BREAKPOINTS()                                               \
	TU_REQUIRE(tu_probe().breakpoints,                                     \
		   "perf_event_open(PERF_TYPE_BREAKPOINT) does not work here")
/* Tests that count or receive hits: the kernel may accept breakpoints on a
 * machine whose CPU never traps (a hypervisor without debug registers). */
#define TU_REQUIRE_HITS()                                                      \
	do {                                                                   \
		TU_REQUIRE_BREAKPOINTS();                                      \
		TU_REQUIRE(tu_probe().fires,                                   \
			   "debug registers do not fire on this machine: the " \
			   "kernel arms breakpoints but the hypervisor never " \
			   "delivers a trap (hwbp probe: 'hits fire no'; "     \
			   "perf test Watchpoint fails too)");                 \
	} while (0)
/*
 * Does each access report exactly the registers it touched?  Real x86 sets
 * one DR6 bit per matching register.  QEMU's TCG (7.2, scripts/qemu-check)
 * does not when a thread has two or more data registers armed: an access
 * reports only the first register that matches it (two registers on one
 * variable: the second counts nothing), and it repeats the stale hit of
 * another register that matched an earlier access (a write to x after a
 * write to y also counts a hit on y's register).  Three rounds of both,
 * counted by the kernel.  Call it after TU_REQUIRE_HITS.
 */
static inline bool tu_debug_status_exact(void)
{
	static volatile uint64_t w[4] __attribute__((aligned(32)));
	static int known = -1;
	struct hwbp *bp[4] = { 0 };
	uint64_t n[4] = { 0 };
	/* x, y, and two registers on z */
	const int on[4] = { 0, 1, 2, 2 };
	int ok = 1;

	if (known >= 0)
		return known;
	for (int i = 0; i < 4; i++)
		cr_assert_eq(hwbp_create(&bp[i], (uintptr_t)&w[on[i]], 8,
					 HWBP_WRITE, NULL), 0, "register %d: %s",
			     i, hwbp_last_error());
	for (int r = 0; r < 3; r++) {
		w[1] = (uint64_t)r; /* y, then x: y's hit goes stale */
		w[0] = (uint64_t)r;
		w[2] = (uint64_t)r;
	}
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(hwbp_read_count(bp[i], &n[i]), 0);
		ok &= n[i] == 3;
		hwbp_close(bp[i]);
	}
	known = ok;
	return ok;
}

/* Tests whose exact counts need each register's own hits (overlapping
 * registers, several registers hit in turn by one thread and counted
 * raw). */
#define TU_INEXACT_DEBUG_STATUS_WHY                                            \
	"this CPU does not report each debug register an access touched "     \
	"(QEMU TCG: an access sets the DR6 bit of the first matching "        \
	"register only, plus stale bits of registers hit before); real x86 "  \
	"does"
#define TU_REQUIRE_EXACT_DEBUG_STATUS()                                        \
	TU_REQUIRE(tu_debug_status_exact(), TU_INEXACT_DEBUG_STATUS_WHY)
#define TU_REQUIRE_SIGTRAP()                                                   \
	TU_REQUIRE(tu_probe().sigtrap,                                         \
		   "attr.sigtrap needs kernel >= 5.13")
#define TU_REQUIRE_MODIFY()                                                    \
	TU_REQUIRE(tu_probe().modify,                                          \
		   "PERF_EVENT_IOC_MODIFY_ATTRIBUTES needs kernel >= 4.17")
#define TU_REQUIRE_CPU_WIDE()                                                  \
	TU_REQUIRE(tu_probe().cpu_wide,                                        \
		   "CPU-wide events need CAP_PERFMON or perf_event_paranoid <= 0")

static inline int tu_count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	cr_assert(d, "opendir %s", path);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static inline int tu_open_fds(void)
{
	return tu_count_dir("/proc/self/fd") - 1; /* minus the dir's own fd */
}

static inline int tu_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0, c;

	cr_assert(f);
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* A size from the environment (load tests: HWBP_LOAD_*), or def when it
 * is unset; a value that is not a positive number fails the test. */
static inline long tu_env_size(const char *name, long def)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return def;
	errno = 0;
	n = strtol(v, &end, 10);
	cr_assert(!errno && !*end && n > 0, "%s='%s': not a number > 0", name,
		  v);
	return n;
}

static inline pid_t tu_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* After create/close cycles: the fds and mappings are as before, and all
 * 4 debug registers of this thread are free again. */
static inline void tu_assert_nothing_left(int fds, int maps)
{
	static volatile uint64_t words[4];
	struct hwbp *all[4];

	cr_assert_eq(tu_open_fds(), fds, "fds: %d before, %d after", fds,
		     tu_open_fds());
	cr_assert_eq(tu_mappings(), maps, "mappings: %d before, %d after",
		     maps, tu_mappings());
	for (int i = 0; i < 4; i++)
		cr_assert_eq(hwbp_create(&all[i], (uintptr_t)&words[i], 8,
					 HWBP_WRITE, NULL), 0, "register %d: %s",
			     i, hwbp_last_error());
	for (int i = 0; i < 4; i++)
		hwbp_close(all[i]);
}

/* The symbols src/libhwbp.map exports (test_docs.c; at most 256). */
int tu_map_symbols(char syms[][64]);

/* Assert a call failed with `err` and left a message. */
#define TU_ASSERT_ERR(call, err)                                               \
	do {                                                                   \
		int tu_rc_ = (call);                                           \
		cr_assert_eq(tu_rc_, (err), "%s: got %d (%s), want %d (%s): %s", \
			     #call, tu_rc_, strerror(-tu_rc_), (err),          \
			     strerror(-(err)), hwbp_last_error());             \
		cr_assert_neq(hwbp_last_error()[0], '\0',                      \
			      "%s: no message", #call);                        \
	} while (0)

/* Write through a volatile pointer so the compiler emits each store. */
#define TU_WRITE(var, val) (*(volatile __typeof__(var) *)&(var) = (val))
#define TU_READ(var) (*(volatile __typeof__(var) *)&(var))

#endif
