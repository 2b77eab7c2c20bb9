/* SPDX-License-Identifier: MIT */
/*
 * test_guard.c - the guard's decision (tools/target.c, trap_without_cause)
 * on recorded stops: which SIGTRAP is the one a hit whose DR6 the host lost
 * produces, and which is the program's own.  The real one cannot be made
 * on demand (the host bug is rare), so its stop is recorded here: Redis
 * 7.0.15 (Debian 12) killed by SIGTRAP after `addq $0x1,
 * server.stat_numcommands(%rip)` in call(), si_code 1 at the next
 * instruction, no cause in DR6.  target.c is compiled in (its functions
 * are static).
 */
#include <criterion/criterion.h>

#include "../../tools/arch.c"
#include "../../tools/target.c"

#if defined(__x86_64__)

/* Redis' call(): `subq $0x1,0x1d8d18(%rip)` then `addq $0x1,
 * 0x1d8ec8(%rip)` (server.stat_numcommands), then `call ...`: the 16
 * bytes ending with the first byte of the call, where the PC is. */
static const unsigned char redis_code[16] = {
	0x83, 0x2d, 0x18, 0x8d, 0x1d, 0x00, 0x01,       /* ..subq */
	0x48, 0x83, 0x05, 0xc8, 0x8e, 0x1d, 0x00, 0x01, /* addq $1 */
	0xe8,                                           /* call (pc) */
};
/* base 0x5644bf0bb000 + 0x6ea98 */
#define REDIS_PC 0x5644bf129a98ull

Test(guard_rule, the_recorded_redis_death_is_a_trap_without_cause)
{
	cr_assert(trap_without_cause(TRAP_BRKPT, REDIS_PC, REDIS_PC, 0,
				     redis_code, 16));
	/* only 2 bytes readable (a mapping's first bytes): still no icebp */
	cr_assert(trap_without_cause(TRAP_BRKPT, REDIS_PC, REDIS_PC, 0,
				     redis_code, 2));
}

Test(guard_rule, anything_else_is_the_programs)
{
	/* a hardware breakpoint with its cause (TRAP_HWBKPT), a single step,
	 * a perf sigtrap, int3 (SI_KERNEL), a signal sent by a process */
	static const int codes[] = { TRAP_HWBKPT, TRAP_TRACE, 6 /* TRAP_PERF */,
				     SI_KERNEL, SI_USER, SI_TKILL, SI_QUEUE };

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		cr_assert(!trap_without_cause(codes[i], REDIS_PC, REDIS_PC, 0,
					      redis_code, 16), "si_code %d",
			  codes[i]);
	/* si_addr not the PC: not the kernel's send_sigtrap */
	cr_assert(!trap_without_cause(TRAP_BRKPT, REDIS_PC - 8, REDIS_PC, 0,
				      redis_code, 16));
	/* a cause in DR6: B0..B3 (a ptrace watchpoint), BS (a step) */
	for (unsigned long bit = 1; bit <= 8; bit <<= 1)
		cr_assert(!trap_without_cause(TRAP_BRKPT, REDIS_PC, REDIS_PC,
					      bit, redis_code, 16), "B%lu", bit);
	cr_assert(!trap_without_cause(TRAP_BRKPT, REDIS_PC, REDIS_PC, 0x4000,
				      redis_code, 16));
	/* the code unreadable: no way to rule out an icebp */
	cr_assert(!trap_without_cause(TRAP_BRKPT, REDIS_PC, REDIS_PC, 0,
				      redis_code, 0));
}

/* icebp (0xf1) gives TRAP_BRKPT with no DR6 cause too: the program's own,
 * reported at the icebp (as a fault: this KVM does) or after it (a trap:
 * the CPU does).  A 0xf1 that is the last byte of the store is not one. */
Test(guard_rule, an_icebp_is_the_programs_own)
{
	unsigned char at_pc[16], after[16], disp[16];

	memset(at_pc, 0x90, sizeof(at_pc)); /* nops */
	at_pc[15] = 0xf1;
	cr_assert(!trap_without_cause(TRAP_BRKPT, 0x401000, 0x401000, 0,
				      at_pc, 16));
	memset(after, 0x90, sizeof(after));
	after[14] = 0xf1;
	after[15] = 0xc3;
	cr_assert(!trap_without_cause(TRAP_BRKPT, 0x401001, 0x401001, 0,
				      after, 16));
	/* mov %esi,-0xf(%rcx) ends in 0xf1: the watched store, not icebp */
	memset(disp, 0x90, sizeof(disp));
	disp[12] = 0x89;
	disp[13] = 0x71;
	disp[14] = 0xf1;
	disp[15] = 0xc3;
	cr_assert(trap_without_cause(TRAP_BRKPT, 0x401003, 0x401003, 0, disp,
				     16));
}

#endif

/* What says "this program ptraces" in its symbols and needed libraries. */
Test(guard_rule, programs_that_ptrace_are_known_by_their_imports)
{
	static const char *const yes[] = { "ptrace", "__asan_init",
		"__lsan_do_leak_check", "libasan.so.8", "liblsan.so.0",
		"libhwasan.so" };
	static const char *const no[] = { "ptraces", "ptrace_scope",
		"__asan", "libc.so.6", "main", "" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		cr_assert_not_null(ptrace_user(yes[i]), "%s", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		cr_assert_null(ptrace_user(no[i]), "%s", no[i]);
}

#if !defined(__x86_64__)

Test(guard_rule, not_on_this_cpu)
{
	cr_assert(!trap_without_cause(1, 0x1000, 0x1000, 0, NULL, 0));
	cr_skip_test("skipped: the guard drops nothing off x86-64");
}

#endif
