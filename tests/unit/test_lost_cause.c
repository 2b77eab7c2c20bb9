/* SPDX-License-Identifier: MIT */
/*
 * test_lost_cause.c - a debug trap whose cause the hypervisor lost, fed to
 * the library's SIGTRAP handler as recorded data (a siginfo and a
 * ucontext over real code bytes), since no machine makes one on demand.
 * KVM on Intel before Linux 6.14 (CVE-2025-21839) can hand the guest a
 * #DB with DR6 empty: the kernel counts nothing and sends SIGTRAP with
 * TRAP_BRKPT, as for an icebp, at the instruction after the store.  The
 * handler must give that hit to the handles the instruction touched (the
 * count stays exact, a signal handle gets its callback), pass a real
 * icebp and any trap of a thread without our handles to the program's
 * own handler, and never kill the process.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "../../src/internal.h"

static volatile uint64_t watched, other;
static int chained, callbacks;

/* The program's own SIGTRAP handler, installed before the library's. */
static void program_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)si, (void)uc;
	chained++;
}

static void on_hit(const struct hwbp_hit *hit, void *uc)
{
	(void)uc;
	callbacks += hit->bp_addr == (uintptr_t)&other;
}

/* 13 nops, then "mov %rax,(%rbx)" (48 89 03) or "nop; icebp" (90 f1). */
static uint8_t code_store[16] = { 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,
				  0x90, 0x90, 0x90, 0x90, 0x90, 0x90,
				  0x48, 0x89, 0x03 };
static uint8_t code_icebp[16] = { 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,
				  0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,
				  0x90, 0xf1 };

/* The recorded trap: PC after the code, rbx = the address stored to. */
static void trap_after(const uint8_t *code, volatile uint64_t *at)
{
	ucontext_t uc;
	siginfo_t si;

	memset(&uc, 0, sizeof(uc));
	memset(&si, 0, sizeof(si));
	uc.uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)(code + 16);
	uc.uc_mcontext.gregs[REG_RBX] = (greg_t)(uintptr_t)at;
	uc.uc_mcontext.gregs[REG_RAX] = 42;
	si.si_signo = SIGTRAP;
	si.si_code = TRAP_BRKPT;
	si.si_addr = (void *)(code + 16);
	hwbp_on_sigtrap(SIGTRAP, &si, &uc);
}

static struct hwbp *must_create(volatile uint64_t *at,
				const struct hwbp_opts *o)
{
	struct hwbp *bp;
	int err = hwbp_create(&bp, (uintptr_t)at, 8, HWBP_WRITE, o);

	if (err == -ENOSYS || err == -EACCES || err == -EPERM)
		cr_skip_test("skipped: no breakpoints here: %s",
			     hwbp_last_error());
	cr_assert_eq(err, 0, "%s", hwbp_last_error());
	return bp;
}

Test(lost_cause, recovered_for_the_handles_the_store_touched)
{
	struct sigaction sa = { .sa_sigaction = program_handler,
				.sa_flags = SA_SIGINFO };
	HWBP_OPTS(hwbp_opts, sig, .delivery = HWBP_DELIVER_SIGNAL,
		  .on_hit = on_hit);
	HWBP_OPTS(hwbp_stats, st);
	struct hwbp *count, *signal;
	uint64_t n = 0, before = hwbp_lost_cause_traps();

	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGTRAP, &sa, NULL), 0);
	hwbp_set_print(NULL);
	count = must_create(&watched, NULL);
	signal = must_create(&other, &sig);

	/* A store to `watched`: the count handle's hit, not the other's. */
	trap_after(code_store, &watched);
	cr_assert_eq(hwbp_read_count(count, &n), 0);
	cr_assert_eq(n, 1, "the kernel counted nothing; the library adds the "
		     "recovered hit (got %llu)", (unsigned long long)n);
	cr_assert_eq(hwbp_get_stats(count, &st), 0);
	cr_assert_eq(st.recovered, 1);
	cr_assert_eq(callbacks, 0);
	cr_assert_eq(chained, 0, "taken by the library, not passed on");

	/* A store to `other`: its callback runs, count == callbacks. */
	trap_after(code_store, &other);
	cr_assert_eq(callbacks, 1);
	cr_assert_eq(hwbp_read_count(signal, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(hwbp_get_stats(signal, &st), 0);
	cr_assert_eq(st.signals, 1);
	cr_assert_eq(st.recovered, 1);
	cr_assert_eq(st.lost, 0);

	/* A store to neither: still ours (handles armed here), nothing
	 * recovered, the process lives. */
	trap_after(code_store, (volatile uint64_t *)&n);
	cr_assert_eq(chained, 0);
	cr_assert_eq(hwbp_lost_cause_traps(), before + 3);

	/* An icebp is the program's own. */
	trap_after(code_icebp, &watched);
	cr_assert_eq(chained, 1, "an icebp goes to the program's handler");
	cr_assert_eq(hwbp_read_count(count, &n), 0);
	cr_assert_eq(n, 1);

	/* Disabled handles fire nothing: the trap is not ours. */
	cr_assert_eq(hwbp_disable(count), 0);
	cr_assert_eq(hwbp_disable(signal), 0);
	trap_after(code_store, &watched);
	cr_assert_eq(chained, 2);
	hwbp_close(count);
	hwbp_close(signal);
	/* No handle at all: not ours either. */
	trap_after(code_store, &watched);
	cr_assert_eq(chained, 3);
}

static int sched_hits;
static void on_sched_hit(const struct hwbp_hit *hit, void *uc)
{
	(void)uc;
	sched_hits += hit->watch != NULL;
}

/* A scheduler's watch: every recovered trap is its own access (a watch
 * is served once per SIGTRAP: two traps are two hits). */
Test(lost_cause, each_trap_a_hit_of_a_scheduler_watch)
{
	HWBP_OPTS(hwbp_sched_opts, so, .on_hit = on_sched_hit);
	HWBP_OPTS(hwbp_watch_stats, ws);
	struct hwbp_sched *s;
	struct hwbp_watch *w;
	int err;

	hwbp_set_print(NULL);
	err = hwbp_sched_create(&s, &so);
	if (err == -ENOSYS || err == -EACCES || err == -EPERM)
		cr_skip_test("skipped: no breakpoints here: %s",
			     hwbp_last_error());
	cr_assert_eq(err, 0, "%s", hwbp_last_error());
	err = hwbp_sched_add(s, (uintptr_t)&watched, 8, HWBP_WRITE, NULL, &w);
	cr_assert_eq(err, 0, "%s", hwbp_last_error());
	trap_after(code_store, &watched);
	trap_after(code_store, &watched);
	cr_assert_eq(sched_hits, 2, "%d callbacks for 2 traps", sched_hits);
	cr_assert_eq(hwbp_watch_get_stats(w, &ws), 0);
	cr_assert_eq(ws.hits, 2);
	hwbp_sched_close(s);
}
