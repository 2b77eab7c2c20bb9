/* SPDX-License-Identifier: MIT */
/*
 * arch_x86_64.c - the x86-64 rules: breakpoint lengths and alignment, where
 * user space ends, the PC in a ucontext, and instruction lengths (Zydis,
 * whose decoder allocates nothing and so may run in a signal handler).
 */
#if defined(__x86_64__)

#include <errno.h>
#include <signal.h>
#include <ucontext.h>

#include <Zydis/Decoder.h>

#include <linux/bpf_perf_event.h>
#include <stddef.h>

#include "internal.h"

/* perf's x86-64 register numbers (PERF_REG_X86_*) in the BPF context's
 * pt_regs; DS..GS have no slot there and perf samples 0 for them. */
#define PT(f) ((int16_t)offsetof(struct bpf_perf_event_data, regs.f))
static const int16_t bpf_reg_off[HWBP_BPF_NREGS] = {
	PT(rax), PT(rbx), PT(rcx), PT(rdx), PT(rsi), PT(rdi), PT(rbp),
	PT(rsp), PT(rip), PT(eflags), PT(cs), PT(ss),
	HWBP_BPF_REG_ZERO, HWBP_BPF_REG_ZERO, HWBP_BPF_REG_ZERO,
	HWBP_BPF_REG_ZERO,
	PT(r8), PT(r9), PT(r10), PT(r11), PT(r12), PT(r13), PT(r14), PT(r15),
};

const struct hwbp_arch hwbp_arch = {
	.name = "x86-64",
	.max_len = 8,
	.exec_len = sizeof(long),
	.user_top = 0x0000800000000000ull,
	.has_read_only = false,
	.byte_select = false,
	/* AX..FLAGS and R8..R15 (perf refuses the segment registers). */
	.sample_regs = 0x3ffull | (0xffull << 16),
	.bpf_reg_off = bpf_reg_off,
	.bpf_ip_off = PT(rip),
};

int hwbp_arch_check(const struct hwbp_place *p)
{
	if (p->access == HWBP_READ)
		return hwbp_fail(EOPNOTSUPP, "read-only breakpoint at 0x%llx: "
				 "x86 hardware has no read-only watchpoint "
				 "(use HWBP_RW)", (unsigned long long)p->addr);
	if (p->access == HWBP_EXEC) {
		if (p->len != hwbp_arch.exec_len)
			return hwbp_fail(EINVAL, "execute breakpoint at 0x%llx: "
					 "len %u, x86-64 needs len %u (or 0)",
					 (unsigned long long)p->addr, p->len,
					 hwbp_arch.exec_len);
		return 0;
	}
	if (p->len != 1 && p->len != 2 && p->len != 4 && p->len != 8)
		return hwbp_fail(EINVAL, "len %u at 0x%llx: a debug register "
				 "covers 1, 2, 4 or 8 bytes", p->len,
				 (unsigned long long)p->addr);
	if (p->addr & (p->len - 1))
		return hwbp_fail(EINVAL, "len %u at 0x%llx is not %u-byte "
				 "aligned (x86 debug registers need addr %% len "
				 "== 0)", p->len, (unsigned long long)p->addr,
				 p->len);
	return 0;
}

/* async-signal-safe */
HWBP_API uint64_t hwbp_uc_pc(const void *ucontext)
{
	const ucontext_t *uc = ucontext;

	return uc ? (uint64_t)uc->uc_mcontext.gregs[REG_RIP] : 0;
}

/* async-signal-safe */
HWBP_API void hwbp_uc_set_pc(void *ucontext, uint64_t pc)
{
	ucontext_t *uc = ucontext;

	if (uc)
		uc->uc_mcontext.gregs[REG_RIP] = (greg_t)pc;
}

/* async-signal-safe: Zydis decodes into caller memory, allocates nothing. */
HWBP_API int hwbp_insn_len(const void *code, size_t avail)
{
	ZydisDecoder dec;
	ZydisDecodedInstruction insn;

	if (!code || !avail)
		return -EINVAL;
	if (!ZYAN_SUCCESS(ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64,
					   ZYDIS_STACK_WIDTH_64)))
		return -EINVAL;
	if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&dec, NULL, code,
							 avail, &insn)))
		return -EINVAL;
	return insn.length;
}

/* async-signal-safe */
HWBP_API int hwbp_uc_skip_insn(void *ucontext)
{
	uint64_t pc = hwbp_uc_pc(ucontext);
	int len;

	if (!ucontext || !pc)
		return -EINVAL;
	/* An instruction is at most 15 bytes; code is readable where it runs. */
	len = hwbp_insn_len((const void *)(uintptr_t)pc, 15);
	if (len > 0)
		hwbp_uc_set_pc(ucontext, pc + (uint64_t)len);
	return len;
}
#endif
