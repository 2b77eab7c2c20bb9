/* SPDX-License-Identifier: MIT */
/*
 * test_decode.c - what an instruction did to memory: reads, writes and
 * read-modify-writes, their bytes and addresses from the registers a data
 * watchpoint sees (after the access), unknown addresses where the
 * instruction changed its own base register, the stack ops whose rsp we
 * undo, and finding the instruction that ended at a PC by decoding
 * backwards.  The instructions below are real code in .text, never run.
 */
#include <asm/perf_regs.h>

#include "testutil.h"

__asm__(".text\n"
	".globl dc_store, dc_load, dc_add, dc_xadd, dc_cmpb, dc_self\n"
	".globl dc_push, dc_pop, dc_rip, dc_movs, dc_lea, dc_fs, dc_end\n"
	"dc_store: movq %rax, 0x10(%rbx)\n"
	"dc_load:  movl 0x10(%rbx), %eax\n"
	"dc_add:   addl $1, (%rbx,%rcx,4)\n"
	"dc_xadd:  lock xaddq %rdx, (%rbx)\n"
	"dc_cmpb:  cmpb %al, -1(%rbx)\n"
	"dc_self:  movq (%rax), %rax\n"
	"dc_push:  pushq %rax\n"
	"dc_pop:   popq %rcx\n"
	"dc_rip:   movl %eax, 0x100(%rip)\n"
	"dc_movs:  movsq\n"
	"dc_lea:   leaq 8(%rbx), %rdx\n"
	"dc_fs:    movq %fs:0x28, %rax\n"
	"dc_end:   nop\n");
extern const uint8_t dc_store[], dc_load[], dc_add[], dc_xadd[], dc_cmpb[],
	dc_self[], dc_push[], dc_pop[], dc_rip[], dc_movs[], dc_lea[], dc_fs[],
	dc_end[];

static uint64_t regs[HWBP_NREGS];

static void set_regs(void)
{
	memset(regs, 0, sizeof(regs));
	regs[PERF_REG_X86_AX] = 0x1000;
	regs[PERF_REG_X86_BX] = 0x2000;
	regs[PERF_REG_X86_CX] = 3;
	regs[PERF_REG_X86_SP] = 0x7ff0;
}

static struct hwbp_insn_info decode(const uint8_t *at, const uint8_t *next)
{
	struct hwbp_insn_info info;

	cr_assert_eq(hwbp_insn_decode(at, 15, (uintptr_t)at, regs, &info), 0);
	cr_assert_eq(info.insn_len, (uint32_t)(next - at));
	return info;
}

static void assert_mem(const struct hwbp_insn_info *in, int i, uint64_t addr,
		       uint32_t len, bool r, bool w)
{
	const struct hwbp_mem_access *m = &in->mem[i];

	cr_assert(m->addr_known, "operand %d: address unknown", i);
	cr_assert_eq(m->addr, addr, "operand %d: 0x%llx", i,
		     (unsigned long long)m->addr);
	cr_assert_eq(m->len, len);
	cr_assert_eq(m->reads, r, "operand %d reads", i);
	cr_assert_eq(m->writes, w, "operand %d writes", i);
}

Test(decode, reads_writes_and_rmw)
{
	struct hwbp_insn_info in;

	set_regs();
	in = decode(dc_store, dc_load);
	cr_assert_eq(in.nmem, 1);
	assert_mem(&in, 0, 0x2010, 8, false, true);
	in = decode(dc_load, dc_add);
	assert_mem(&in, 0, 0x2010, 4, true, false);
	in = decode(dc_add, dc_xadd);
	assert_mem(&in, 0, 0x2000 + 3 * 4, 4, true, true);
	in = decode(dc_xadd, dc_cmpb);
	assert_mem(&in, 0, 0x2000, 8, true, true);
	in = decode(dc_cmpb, dc_self);
	assert_mem(&in, 0, 0x1fff, 1, true, false);
	in = decode(dc_lea, dc_fs);
	cr_assert_eq(in.nmem, 0, "lea computes an address, touches nothing");
}

Test(decode, addresses_the_registers_no_longer_tell)
{
	struct hwbp_insn_info in;

	set_regs();
	in = decode(dc_self, dc_push); /* rax was the base, now the value */
	cr_assert_eq(in.nmem, 1);
	cr_assert(!in.mem[0].addr_known);
	cr_assert(in.mem[0].reads && !in.mem[0].writes);
	in = decode(dc_fs, dc_end);
	cr_assert(!in.mem[0].addr_known, "fs base is not in the registers");
	in = decode(dc_movs, dc_lea); /* rsi and rdi moved on */
	cr_assert_eq(in.nmem, 2);
	cr_assert(!in.mem[0].addr_known && !in.mem[1].addr_known);
	cr_assert((in.mem[0].reads && in.mem[1].writes) ||
		  (in.mem[1].reads && in.mem[0].writes));
	cr_assert_eq(hwbp_insn_decode(dc_store, 15, (uintptr_t)dc_store, NULL,
				      &in), 0);
	cr_assert(!in.mem[0].addr_known, "no registers given");
}

Test(decode, stack_and_rip_relative)
{
	struct hwbp_insn_info in;

	set_regs();
	in = decode(dc_push, dc_pop); /* rsp is already the slot */
	assert_mem(&in, 0, 0x7ff0, 8, false, true);
	in = decode(dc_pop, dc_rip); /* the slot is below the new rsp */
	assert_mem(&in, 0, 0x7ff0 - 8, 8, true, false);
	in = decode(dc_rip, dc_movs);
	assert_mem(&in, 0, (uintptr_t)dc_movs + 0x100, 4, false, true);
}

Test(decode, touches_classifies_and_filters_strays)
{
	struct hwbp_insn_info in;

	set_regs();
	in = decode(dc_store, dc_load); /* writes 0x2010..0x2017 */
	cr_assert_eq(hwbp_insn_touches(&in, 0x2014, 2), HWBP_TOUCH_WRITE);
	cr_assert_eq(hwbp_insn_touches(&in, 0x2018, 8), 0, "a stray");
	cr_assert_eq(hwbp_insn_touches(&in, 0x2008, 8), 0, "a stray");
	in = decode(dc_xadd, dc_cmpb);
	cr_assert_eq(hwbp_insn_touches(&in, 0x2000, 1),
		     HWBP_TOUCH_READ | HWBP_TOUCH_WRITE);
	in = decode(dc_self, dc_push);
	cr_assert_eq(hwbp_insn_touches(&in, 0x5000, 8),
		     HWBP_TOUCH_READ | HWBP_TOUCH_UNSURE);
	cr_assert_eq(hwbp_insn_touches(NULL, 0, 1), -EINVAL);
}

Test(decode, instruction_before_pc)
{
	struct hwbp_insn_info in;

	set_regs();
	/* The store ends where the load starts: a watchpoint on 0x2010. */
	cr_assert_eq(hwbp_insn_before((uintptr_t)dc_load, 0x2010, 8, regs,
				      &in), 0);
	cr_assert_eq(in.insn_addr, (uintptr_t)dc_store);
	assert_mem(&in, 0, 0x2010, 8, false, true);
	cr_assert_eq(hwbp_insn_before((uintptr_t)dc_cmpb, 0x2000, 8, regs,
				      &in), 0);
	cr_assert_eq(in.insn_addr, (uintptr_t)dc_xadd);
	cr_assert_eq(hwbp_insn_before((uintptr_t)dc_movs, (uintptr_t)dc_movs +
				      0x100, 4, regs, &in), 0);
	cr_assert_eq(in.insn_addr, (uintptr_t)dc_rip);
	/* Nothing ending at dc_load touches 0x9000. */
	cr_assert_eq(hwbp_insn_before((uintptr_t)dc_load, 0x9000, 8, regs,
				      &in), -ENOENT);
	cr_assert_eq(hwbp_insn_before(8, 0x2010, 8, regs, &in), -EINVAL);
	cr_assert_eq(hwbp_insn_before((uintptr_t)dc_load, 0x2010, 0, regs,
				      &in), -EINVAL);
}

Test(decode, bad_arguments)
{
	struct hwbp_insn_info in;
	static const uint8_t junk[2] = { 0x0f, 0xff };

	cr_assert_eq(hwbp_insn_decode(NULL, 15, 0, NULL, &in), -EINVAL);
	cr_assert_eq(hwbp_insn_decode(dc_store, 15, 0, NULL, NULL), -EINVAL);
	cr_assert_eq(hwbp_insn_decode(dc_store, 2, 0, NULL, &in), -EINVAL,
		     "truncated");
	cr_assert_eq(hwbp_insn_decode(junk, 1, 0, NULL, &in), -EINVAL);
	hwbp_uc_regs(NULL, regs);
	cr_assert_eq(regs[PERF_REG_X86_AX], 0);
	hwbp_uc_regs(NULL, NULL); /* no crash */
}

/* ---- real compiled accesses, found again from the PC after them ---- */

static volatile uint64_t dvars[4];

__attribute__((noinline)) static void st8(void) { TU_WRITE(dvars[1], 7); }
__attribute__((noinline)) static void st4(void)
{
	*(volatile uint32_t *)&dvars[1] = 7;
}
__attribute__((noinline)) static void st1(void)
{
	*((volatile uint8_t *)&dvars[1] + 3) = 7;
}
__attribute__((noinline)) static uint64_t ld8(void) { return TU_READ(dvars[1]); }
__attribute__((noinline)) static void rmw(void)
{
	__atomic_fetch_add(&dvars[1], 1, __ATOMIC_SEQ_CST);
}
__attribute__((noinline)) static void st_arg(uint64_t v, int i)
{
	dvars[i & 3] = v; /* a base register, not rip-relative */
}
static void call_st_arg(void) { st_arg(9, 1); }

/* The first instruction of fn touching dvars[1], decoded forward. */
static const uint8_t *find_access(const void *fn, struct hwbp_insn_info *in,
				  const uint64_t *r)
{
	const uint8_t *p = fn;

	for (int n = 0; n < 32; n++, p += in->insn_len) {
		cr_assert_eq(hwbp_insn_decode(p, 15, (uintptr_t)p, r, in), 0);
		int how = hwbp_insn_touches(in, (uintptr_t)&dvars[1], 8);

		/* (sanitizer checks before it read shadow memory through a
		 * register they overwrite: those only "may" touch) */
		if (how > 0 && !(how & HWBP_TOUCH_UNSURE))
			return p;
	}
	cr_assert_fail("no access to dvars[1] in the first 32 instructions");
	return NULL;
}

static void check_found_again(const void *fn, const uint64_t *r, int how)
{
	struct hwbp_insn_info fwd, back;
	const uint8_t *at = find_access(fn, &fwd, r);
	uint64_t pc = (uintptr_t)at + fwd.insn_len;

	cr_assert_eq(hwbp_insn_before(pc, (uintptr_t)&dvars[1], 8, r, &back),
		     0, "instruction at %p not found back from its end", at);
	cr_assert_eq(back.insn_addr, (uintptr_t)at, "found %#llx, not %p",
		     (unsigned long long)back.insn_addr, at);
	cr_assert_eq(hwbp_insn_touches(&back, (uintptr_t)&dvars[1], 8), how,
		     "instruction at %p: touch %d, want %d", at,
		     hwbp_insn_touches(&back, (uintptr_t)&dvars[1], 8), how);
}

Test(decode, compiled_accesses_found_back_from_pc)
{
	uint64_t zero[HWBP_NREGS] = { 0 };

	check_found_again((const void *)st8, zero, HWBP_TOUCH_WRITE);
	check_found_again((const void *)st4, zero, HWBP_TOUCH_WRITE);
	check_found_again((const void *)st1, zero, HWBP_TOUCH_WRITE);
	check_found_again((const void *)ld8, zero, HWBP_TOUCH_READ);
	check_found_again((const void *)rmw, zero,
			  HWBP_TOUCH_READ | HWBP_TOUCH_WRITE);
	(void)call_st_arg;
}
