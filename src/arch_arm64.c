/* SPDX-License-Identifier: MIT */
/*
 * arch_arm64.c - the arm64 rules: a watchpoint selects any 1..8 bytes of an
 * aligned 8-byte window (BAS, the byte-address select), loads alone can be
 * watched, execute breakpoints take a 4-byte aligned instruction, the PC is
 * uc_mcontext.pc and every A64 instruction is 4 bytes.  What an instruction
 * accessed is not decoded here (x86-64 only): those functions return
 * -EOPNOTSUPP.  Cross-compiled in CI, never run on arm64 hardware
 * (docs/ARCHITECTURE.md, "Porting").
 */
#if defined(__aarch64__)

#include <errno.h>
#include <signal.h>
#include <ucontext.h>

#include "internal.h"

#define A64_INSN_LEN 4

const struct hwbp_arch hwbp_arch = {
	.name = "arm64",
	.max_len = 8,
	.exec_len = A64_INSN_LEN,
	/* TASK_SIZE with 52-bit virtual addresses; kernel ones are 0xffff... */
	.user_top = 1ull << 52,
	.has_read_only = true,
	.byte_select = true,
	/* PERF_REG_ARM64_X0..X30, SP, PC */
	.sample_regs = (1ull << 33) - 1,
};

int hwbp_arch_check(const struct hwbp_place *p)
{
	unsigned long long a = p->addr;

	if (p->access == HWBP_EXEC) {
		if (p->len != A64_INSN_LEN || (a & (A64_INSN_LEN - 1)))
			return hwbp_fail(EINVAL, "execute breakpoint at 0x%llx "
					 "len %u: arm64 needs a 4-byte aligned "
					 "address and len 4 (or 0)", a, p->len);
		return 0;
	}
	if (p->len < 1 || p->len > 8)
		return hwbp_fail(EINVAL, "len %u at 0x%llx: an arm64 watchpoint "
				 "covers 1 to 8 bytes", p->len, a);
	if ((a & 7) + p->len > 8)
		return hwbp_fail(EINVAL, "len %u at 0x%llx crosses an 8-byte "
				 "boundary (arm64 watchpoints select bytes "
				 "of one aligned 8-byte window)", p->len, a);
	return 0;
}

/* async-signal-safe */
HWBP_API uint64_t hwbp_uc_pc(const void *ucontext)
{
	const ucontext_t *uc = ucontext;

	return uc ? (uint64_t)uc->uc_mcontext.pc : 0;
}

/* async-signal-safe */
HWBP_API void hwbp_uc_set_pc(void *ucontext, uint64_t pc)
{
	ucontext_t *uc = ucontext;

	if (uc)
		uc->uc_mcontext.pc = pc;
}

/* async-signal-safe: every A64 instruction is 4 bytes. */
HWBP_API int hwbp_insn_len(const void *code, size_t avail)
{
	if (!code || avail < A64_INSN_LEN)
		return -EINVAL;
	return A64_INSN_LEN;
}

/* async-signal-safe */
HWBP_API int hwbp_uc_skip_insn(void *ucontext)
{
	uint64_t pc = hwbp_uc_pc(ucontext);

	if (!ucontext || !pc)
		return -EINVAL;
	hwbp_uc_set_pc(ucontext, pc + A64_INSN_LEN);
	return A64_INSN_LEN;
}

/* async-signal-safe: X0..X23 at their PERF_REG_ARM64_* index. */
HWBP_API void hwbp_uc_regs(const void *ucontext, uint64_t regs[HWBP_NREGS])
{
	const ucontext_t *uc = ucontext;

	if (!regs)
		return;
	for (int i = 0; i < HWBP_NREGS; i++)
		regs[i] = uc ? (uint64_t)uc->uc_mcontext.regs[i] : 0;
}

/* ---- decoding: x86-64 only ---- */

#define NO_DECODE(fn) \
	hwbp_fail(EOPNOTSUPP, fn ": decoding what an instruction accessed " \
		  "is implemented for x86-64 only (arm64: not yet)")

/* async-signal-safe (hwbp_fail formats nothing inside a hit callback) */
HWBP_API int hwbp_insn_decode(const void *code, size_t avail, uint64_t insn_addr,
			      const uint64_t *regs, struct hwbp_insn_info *out)
{
	(void)code, (void)avail, (void)insn_addr, (void)regs;
	if (out) {
		out->insn_addr = insn_addr;
		out->insn_len = 0;
		out->nmem = 0;
	}
	return NO_DECODE("hwbp_insn_decode");
}

/* The scheduler asks on every hit: no message (it counts them unsure). */
int hwbp_insn_before_in(pid_t pid, uint64_t pc, uint64_t addr, uint64_t len,
			const uint64_t *regs, struct hwbp_insn_info *out)
{
	(void)pid, (void)pc, (void)addr, (void)len, (void)regs;
	if (out)
		out->nmem = 0;
	return -EOPNOTSUPP;
}

HWBP_API int hwbp_insn_before_pid(pid_t pid, uint64_t pc, uint64_t addr,
				  uint64_t len, const uint64_t *regs,
				  struct hwbp_insn_info *out)
{
	hwbp_insn_before_in(pid, pc, addr, len, regs, out);
	return NO_DECODE("hwbp_insn_before_pid");
}

/* async-signal-safe */
HWBP_API int hwbp_insn_before(uint64_t pc, uint64_t addr, uint64_t len,
			      const uint64_t *regs, struct hwbp_insn_info *out)
{
	hwbp_insn_before_in(0, pc, addr, len, regs, out);
	return NO_DECODE("hwbp_insn_before");
}
#endif
