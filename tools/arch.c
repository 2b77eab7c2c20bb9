/* SPDX-License-Identifier: MIT */
/*
 * arch.c - the command's CPU specifics: the trap instruction it puts at a
 * launched program's entry point, the PC a thread stopped by it reports,
 * and that thread's PC through ptrace (NT_PRSTATUS, the same call on every
 * CPU).  The library's arch_*.c hold the debug-register rules.
 */
#include <elf.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>

#include "tool.h"

#if defined(__x86_64__)
static const unsigned char trap[] = { 0xcc }; /* int3 */
#define TRAP_PC_OFFSET 1 /* int3 traps after itself */
#define REGS_PC(r) ((r).rip)
#elif defined(__aarch64__)
static const unsigned char trap[] = { 0x00, 0x00, 0x20, 0xd4 }; /* brk #0 */
#define TRAP_PC_OFFSET 0 /* brk reports its own address */
#define REGS_PC(r) ((r).pc)
#else
#error "hwbp: no tools/arch.c rules for this CPU"
#endif

long arch_with_trap(long word)
{
	memcpy(&word, trap, sizeof(trap)); /* little-endian: the first bytes */
	return word;
}

uint64_t arch_trap_pc(uint64_t at)
{
	return at + TRAP_PC_OFFSET;
}

int arch_get_pc(pid_t tid, uint64_t *pc)
{
	struct user_regs_struct regs;
	struct iovec io = { &regs, sizeof(regs) };

	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &io))
		return -1;
	*pc = REGS_PC(regs);
	return 0;
}

int arch_set_pc(pid_t tid, uint64_t pc)
{
	struct user_regs_struct regs;
	struct iovec io = { &regs, sizeof(regs) };

	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &io))
		return -1;
	REGS_PC(regs) = pc;
	return ptrace(PTRACE_SETREGSET, tid, (void *)NT_PRSTATUS, &io) ? -1 : 0;
}

#if defined(__x86_64__)
int arch_get_regs(pid_t tid, uint64_t out[HWBP_NREGS])
{
	struct user_regs_struct r;
	struct iovec io = { &r, sizeof(r) };

	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &io))
		return -1;
	/* PERF_REG_X86_AX .. FLAGS, then R8 .. R15 at 16 .. 23 (the segment
	 * registers between are not sampled: 0, as perf gives them) */
	const uint64_t v[HWBP_NREGS] = {
		r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp,
		r.rip, r.eflags, 0, 0, 0, 0, 0, 0, r.r8, r.r9, r.r10, r.r11,
		r.r12, r.r13, r.r14, r.r15,
	};
	memcpy(out, v, sizeof(v));
	return 0;
}
#else
int arch_get_regs(pid_t tid, uint64_t out[HWBP_NREGS])
{
	(void)tid, (void)out;
	return -1;
}
#endif
