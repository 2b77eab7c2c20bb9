/* SPDX-License-Identifier: MIT */
/*
 * decode_x86_64.c - what an instruction did to memory, for the scheduler's
 * stray-hit filter and read-only emulation: which bytes it accessed and
 * whether it read, wrote or both (Zydis decodes; it allocates nothing, so
 * all of this is async-signal-safe and runs in the SIGTRAP handler).
 *
 * A data watchpoint traps after the access, so the registers we get are the
 * ones the instruction left.  An address built from a register the
 * instruction changed is reported unknown, except the stack pointer of
 * push/pop/call/ret, which we undo.
 */
#if defined(__x86_64__)

#include <errno.h>
#include <signal.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include <Zydis/Decoder.h>

#include "internal.h"

enum { R_AX, R_BX, R_CX, R_DX, R_SI, R_DI, R_BP, R_SP, R_IP, R_FLAGS,
       R_R8 = 16 };

/* A Zydis general-purpose register as a PERF_REG_X86_* index, or -1. */
static int reg_index(ZydisRegister r)
{
	static const ZydisRegister low[] = {
		ZYDIS_REGISTER_RAX, ZYDIS_REGISTER_RBX, ZYDIS_REGISTER_RCX,
		ZYDIS_REGISTER_RDX, ZYDIS_REGISTER_RSI, ZYDIS_REGISTER_RDI,
		ZYDIS_REGISTER_RBP, ZYDIS_REGISTER_RSP, ZYDIS_REGISTER_RIP,
	};
	ZydisRegister big;

	if (r == ZYDIS_REGISTER_NONE)
		return -1;
	if (r == ZYDIS_REGISTER_RIP || r == ZYDIS_REGISTER_EIP)
		return R_IP; /* Zydis has no enclosing register for these */
	big = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r);
	for (int i = 0; i < (int)(sizeof(low) / sizeof(low[0])); i++)
		if (big == low[i])
			return i;
	if (big >= ZYDIS_REGISTER_R8 && big <= ZYDIS_REGISTER_R15)
		return R_R8 + (int)(big - ZYDIS_REGISTER_R8);
	return -1;
}

/* Does the instruction write the register `idx` (explicitly or not)? */
static bool writes_reg(const ZydisDecodedOperand *ops, int n, int idx)
{
	for (int i = 0; i < n; i++)
		if (ops[i].type == ZYDIS_OPERAND_TYPE_REGISTER &&
		    (ops[i].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) &&
		    reg_index(ops[i].reg.value) == idx)
			return true;
	return false;
}

static bool is_stack_op(ZydisMnemonic m, bool *pops)
{
	*pops = m == ZYDIS_MNEMONIC_POP || m == ZYDIS_MNEMONIC_RET;
	return *pops || m == ZYDIS_MNEMONIC_PUSH || m == ZYDIS_MNEMONIC_CALL;
}

/* The address of memory operand `op`, from the registers after the
 * instruction; false when they no longer tell. */
static bool mem_address(const ZydisDecodedInstruction *insn,
			const ZydisDecodedOperand *ops, const ZydisDecodedOperand *op,
			uint64_t insn_addr, const uint64_t *regs, uint64_t *out)
{
	int base = reg_index(op->mem.base), index = reg_index(op->mem.index);
	uint64_t a = (uint64_t)op->mem.disp.value;
	bool pops;

	if (op->mem.segment == ZYDIS_REGISTER_FS ||
	    op->mem.segment == ZYDIS_REGISTER_GS)
		return false; /* fs/gs base: not in the registers we get */
	if ((op->mem.base != ZYDIS_REGISTER_NONE && base < 0) ||
	    (op->mem.index != ZYDIS_REGISTER_NONE && index < 0))
		return false;
	if (base == R_IP) {
		*out = insn_addr + insn->length + a;
		return index < 0;
	}
	if (!regs)
		return false;
	if (base == R_SP && is_stack_op(insn->mnemonic, &pops)) {
		/* push/call wrote at the new rsp; pop/ret read below it */
		*out = regs[R_SP] + a - (pops ? op->size / 8 : 0);
		return index < 0;
	}
	if ((base >= 0 && writes_reg(ops, insn->operand_count, base)) ||
	    (index >= 0 && writes_reg(ops, insn->operand_count, index)))
		return false;
	if (base >= 0)
		a += regs[base];
	if (index >= 0)
		a += regs[index] * op->mem.scale;
	if (insn->address_width == 32)
		a &= 0xffffffffull;
	*out = a;
	return true;
}

HWBP_API int hwbp_insn_decode(const void *code, size_t avail, uint64_t insn_addr,
			      const uint64_t *regs, struct hwbp_insn_info *out)
{
	ZydisDecoder dec;
	ZydisDecodedInstruction insn;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];

	if (!code || !out)
		return -EINVAL; /* no message: may run in a signal handler */
	out->insn_addr = insn_addr;
	out->insn_len = 0;
	out->nmem = 0;
	if (!ZYAN_SUCCESS(ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64,
					   ZYDIS_STACK_WIDTH_64)) ||
	    !ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, code, avail, &insn, ops)))
		return -EINVAL;
	out->insn_len = insn.length;
	for (int i = 0; i < insn.operand_count && out->nmem < 2; i++) {
		const ZydisDecodedOperand *op = &ops[i];
		struct hwbp_mem_access *m = &out->mem[out->nmem];

		if (op->type != ZYDIS_OPERAND_TYPE_MEMORY ||
		    op->mem.type != ZYDIS_MEMOP_TYPE_MEM || !op->size)
			continue;
		m->len = op->size / 8;
		m->reads = op->actions & ZYDIS_OPERAND_ACTION_MASK_READ;
		m->writes = op->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE;
		m->addr_known = mem_address(&insn, ops, op, insn_addr, regs,
					    &m->addr);
		if (!m->addr_known)
			m->addr = 0;
		out->nmem++;
	}
	return 0;
}

/* Read code of process pid (0: this one) without faulting on an
 * unmapped page. */
static size_t read_code(pid_t pid, uint64_t addr, void *buf, size_t n)
{
	struct iovec local = { buf, n }, remote = { (void *)(uintptr_t)addr, n };
	ssize_t got = process_vm_readv(pid ? pid : getpid(), &local, 1,
				       &remote, 1, 0);

	return got < 0 ? 0 : (size_t)got;
}

/*
 * The instruction that ended at pc and touched [addr, addr+len), in this
 * process: x86 cannot be decoded backwards, so try every start 1..15 bytes
 * before pc and keep those that decode to exactly that length and touch
 * the watched bytes.  async-signal-safe.
 */
/* A rep-prefixed string instruction at pc traps between iterations with
 * the PC still on it: then the access was its own, not the one before. */
static bool rep_string_at(pid_t pid, uint64_t pc)
{
	ZydisDecoder dec;
	ZydisDecodedInstruction insn;
	uint8_t code[15];
	size_t n = read_code(pid, pc, code, sizeof(code));

	if (!n || !ZYAN_SUCCESS(ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64,
						 ZYDIS_STACK_WIDTH_64)) ||
	    !ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&dec, NULL, code, n,
							 &insn)))
		return !n; /* unreadable: say nothing for sure */
	return insn.attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE |
				  ZYDIS_ATTRIB_HAS_REPNE);
}

/* The readings so far of the instruction before pc: the longest that
 * touches the watched bytes for sure, and the longest that may. */
struct readings {
	struct hwbp_insn_info sure, maybe;
	int sure_how, maybe_how;
	bool sure_differ, maybe_differ;
};

static void add_reading(struct readings *r, const struct hwbp_insn_info *in,
			int how)
{
	bool unsure = how & HWBP_TOUCH_UNSURE;
	struct hwbp_insn_info *keep = unsure ? &r->maybe : &r->sure;
	int *kept = unsure ? &r->maybe_how : &r->sure_how;
	bool *differ = unsure ? &r->maybe_differ : &r->sure_differ;

	if (!*kept) {
		*keep = *in; /* longer readings come first */
		*kept = how;
	} else if ((how & ~HWBP_TOUCH_UNSURE) != (*kept & ~HWBP_TOUCH_UNSURE)) {
		*differ = true;
	}
}

HWBP_API int hwbp_insn_before(uint64_t pc, uint64_t addr, uint64_t len,
			      const uint64_t *regs, struct hwbp_insn_info *out)
{
	return hwbp_insn_before_in(0, pc, addr, len, regs, out);
}

/* Another process: one that cannot be read at all says why (a tracer
 * told ENODATA could not tell a gone thread from unreadable code). */
HWBP_API int hwbp_insn_before_pid(pid_t pid, uint64_t pc, uint64_t addr,
				  uint64_t len, const uint64_t *regs,
				  struct hwbp_insn_info *out)
{
	uint8_t byte;
	struct iovec local = { &byte, 1 },
		     remote = { (void *)(uintptr_t)(pc - 1), 1 };

	if (pid < 0 || !out || !len || pc < 15)
		return -EINVAL;
	if (pid && process_vm_readv(pid, &local, 1, &remote, 1, 0) < 0 &&
	    (errno == ESRCH || errno == EPERM))
		return -errno;
	return hwbp_insn_before_in(pid, pc, addr, len, regs, out);
}

int hwbp_insn_before_in(pid_t pid, uint64_t pc, uint64_t addr, uint64_t len,
			const uint64_t *regs, struct hwbp_insn_info *out)
{
	uint8_t code[15], window[15];
	struct hwbp_insn_info cand;
	struct readings r = { .sure_how = 0, .maybe_how = 0 };
	bool decoded = false, whole;
	int how;

	if (!out || !len || pc < sizeof(code))
		return -EINVAL;
	/* One read for all 15 starts (a system call each was most of a
	 * hit's decoding); byte by byte only where the window begins in an
	 * unreadable page. */
	whole = read_code(pid, pc - sizeof(window), window, sizeof(window)) ==
		sizeof(window);
	/* Longer first: a REX or other prefix before a shorter reading
	 * belongs to the instruction (48 89 43 10 is movq, not movl).  A
	 * reading whose address proves the touch beats any that only may:
	 * bytes of the instructions before can decode to a longer one with
	 * an address the registers no longer tell. */
	for (size_t back = sizeof(code); back >= 1; back--) {
		const uint8_t *at = window + sizeof(window) - back;

		if (!whole) {
			if (read_code(pid, pc - back, code, back) != back)
				continue;
			at = code;
		}
		if (hwbp_insn_decode(at, back, pc - back, regs, &cand) ||
		    cand.insn_len != back)
			continue;
		decoded = true;
		how = hwbp_insn_touches(&cand, addr, len);
		if (how)
			add_reading(&r, &cand, how);
	}
	if (r.sure_how) {
		*out = r.sure;
		return r.sure_differ ? -ENOTUNIQ : 0;
	}
	if (r.maybe_how) {
		*out = r.maybe;
		return r.maybe_differ ? -ENOTUNIQ : 0;
	}
	return decoded && !rep_string_at(pid, pc) ? -ENOENT : -ENODATA;
}

/* async-signal-safe */
HWBP_API void hwbp_uc_regs(const void *ucontext, uint64_t regs[HWBP_NREGS])
{
	static const int from[HWBP_NREGS] = {
		[R_AX] = REG_RAX, [R_BX] = REG_RBX, [R_CX] = REG_RCX,
		[R_DX] = REG_RDX, [R_SI] = REG_RSI, [R_DI] = REG_RDI,
		[R_BP] = REG_RBP, [R_SP] = REG_RSP, [R_IP] = REG_RIP,
		[R_FLAGS] = REG_EFL, [16] = REG_R8, [17] = REG_R9,
		[18] = REG_R10, [19] = REG_R11, [20] = REG_R12, [21] = REG_R13,
		[22] = REG_R14, [23] = REG_R15,
	};
	const ucontext_t *uc = ucontext;

	if (!regs)
		return;
	for (int i = 0; i < HWBP_NREGS; i++)
		regs[i] = uc && (i <= R_FLAGS || i >= R_R8) ?
			  (uint64_t)uc->uc_mcontext.gregs[from[i]] : 0;
}

#endif
