/* SPDX-License-Identifier: MIT */
/*
 * values.c - the value a write stored, exactly, without racing the target.
 *
 * A data watchpoint traps after the instruction, so the sampled IP is the
 * next one.  We decode forward from the function's start (from the ELF file,
 * with Zydis) to the instruction that ends at the IP, then take the stored
 * value from the registers sampled at the trap (a store does not change its
 * source register), from the immediate, or, for a read-modify-write, from
 * the previous value in this location's chain of hits (`inc`, `add`, ...),
 * the register it leaves (`xadd`, `cmpxchg` with ZF), or the constant loaded
 * just before it.  Only where none applies (vector stores, string ops, ...)
 * do we read the memory now, and the value is marked approximate.
 * Other CPUs (arm64): nothing is decoded, every new value is read from
 * memory after the hit and marked approximate (the #else at the end).
 */
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#if defined(__x86_64__)
#include <Zydis/Zydis.h>

#define CACHE 4096
#define MAX_SCAN 65536 /* bytes of a function we decode at most */

struct decoded {
	uint64_t ip; /* key: the sampled IP (0: empty) ... */
	uint64_t code_id; /* ... in this code (code_source.id) */
	struct access acc;
	ZydisDecodedInstruction insn;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	/* `mov reg, imm` right before it: reg (ZYDIS_REGISTER_NONE if none) */
	ZydisRegister const_reg;
	uint64_t const_value;
};

struct values {
	ZydisDecoder dec;
	struct decoded *cache;
	uint8_t *code;
};

struct values *values_new(void)
{
	struct values *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->cache = calloc(CACHE, sizeof(*v->cache));
	v->code = malloc(MAX_SCAN + 16);
	if (!v->cache || !v->code) {
		values_free(v);
		return NULL;
	}
	ZydisDecoderInit(&v->dec, ZYDIS_MACHINE_MODE_LONG_64,
			 ZYDIS_STACK_WIDTH_64);
	return v;
}

void values_free(struct values *v)
{
	if (!v)
		return;
	free(v->cache);
	free(v->code);
	free(v);
}

/* Index of a perf register in the sampled array (bit order). */
static int perf_index(int bit)
{
	return __builtin_popcountll(SAMPLED_REGS_MASK & ((1ull << bit) - 1));
}

/* A Zydis general-purpose register as (perf bit, shift), or -1. */
static int perf_bit(ZydisRegister r, int *shift)
{
	static const ZydisRegister gpr64[] = {
		ZYDIS_REGISTER_RAX, ZYDIS_REGISTER_RBX, ZYDIS_REGISTER_RCX,
		ZYDIS_REGISTER_RDX, ZYDIS_REGISTER_RSI, ZYDIS_REGISTER_RDI,
		ZYDIS_REGISTER_RBP, ZYDIS_REGISTER_RSP,
	};
	ZydisRegister big;

	*shift = (r == ZYDIS_REGISTER_AH || r == ZYDIS_REGISTER_BH ||
		  r == ZYDIS_REGISTER_CH || r == ZYDIS_REGISTER_DH) ? 8 : 0;
	big = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r);
	for (int i = 0; i < 8; i++)
		if (big == gpr64[i])
			return i;
	if (big == ZYDIS_REGISTER_RIP)
		return 8;
	if (big >= ZYDIS_REGISTER_R8 && big <= ZYDIS_REGISTER_R15)
		return 16 + (int)(big - ZYDIS_REGISTER_R8);
	return -1;
}

static bool reg_value(const uint64_t *regs, ZydisRegister r, uint64_t *out)
{
	int shift, bit = regs ? perf_bit(r, &shift) : -1;

	if (bit < 0)
		return false;
	*out = regs[perf_index(bit)] >> shift;
	return true;
}

static uint64_t mask_of(uint32_t size)
{
	return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

/* Forward from the function start to the instruction ending at ip. */
static bool find_insn(struct values *v, const struct code_source *cs,
		      uint64_t ip, struct decoded *d)
{
	uint64_t start = cs->function_start(cs->ctx, ip - 1), pc;
	size_t n, off = 0;

	d->const_reg = ZYDIS_REGISTER_NONE;
	if (!start || ip - start > MAX_SCAN)
		return false;
	n = cs->read(cs->ctx, start, v->code, ip - start);
	if (n != ip - start)
		return false;
	for (pc = start; pc < ip;) {
		ZydisDecodedInstruction prev = d->insn;
		ZydisDecodedOperand prev_ops[2] = { d->ops[0], d->ops[1] };

		if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&v->dec, v->code + off,
							 n - off, &d->insn,
							 d->ops)))
			return false;
		if (pc + d->insn.length == ip) {
			/* Remember `mov reg, imm` just before (for xadd). */
			if (pc > start && prev.mnemonic == ZYDIS_MNEMONIC_MOV &&
			    prev_ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
			    prev_ops[1].type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
				d->const_reg = prev_ops[0].reg.value;
				d->const_value = prev_ops[1].imm.value.u;
			}
			d->acc.insn_addr = pc;
			d->acc.insn_len = d->insn.length;
			return true;
		}
		pc += d->insn.length;
		off += d->insn.length;
	}
	return false;
}

static void describe_access(struct decoded *d, uint64_t ip)
{
	struct access *a = &d->acc;

	snprintf(a->mnemonic, sizeof(a->mnemonic), "%s",
		 ZydisMnemonicGetString(d->insn.mnemonic));
	for (int i = 0; i < d->insn.operand_count_visible; i++) {
		ZydisDecodedOperand *op = &d->ops[i];

		if (op->type != ZYDIS_OPERAND_TYPE_MEMORY ||
		    op->mem.type != ZYDIS_MEMOP_TYPE_MEM)
			continue;
		a->mem_size = op->size / 8;
		a->reads = op->actions & ZYDIS_OPERAND_ACTION_MASK_READ;
		a->writes = op->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE;
		if (op->mem.base == ZYDIS_REGISTER_RIP &&
		    op->mem.index == ZYDIS_REGISTER_NONE) {
			a->mem_known = true;
			a->mem_addr = ip + (uint64_t)op->mem.disp.value;
		}
		return;
	}
}

static struct decoded *decode_cached(struct values *v,
				     const struct code_source *cs, uint64_t ip)
{
	struct decoded *d = &v->cache[(ip ^ (ip >> 12) ^ cs->id * 31) % CACHE];

	if (d->ip == ip && d->code_id == cs->id)
		return d;
	memset(d, 0, sizeof(*d));
	d->ip = ip;
	d->code_id = cs->id;
	d->acc.decoded = find_insn(v, cs, ip, d);
	if (d->acc.decoded)
		describe_access(d, ip);
	return d;
}

void values_decode(struct values *v, const struct code_source *cs,
		   uint64_t ip, struct access *out)
{
	*out = decode_cached(v, cs, ip)->acc;
}

/* The memory operand's address from the sampled registers. */
static bool mem_address(const struct decoded *d, const uint64_t *regs,
			uint64_t ip, uint64_t *addr)
{
	for (int i = 0; i < d->insn.operand_count_visible; i++) {
		const ZydisDecodedOperand *op = &d->ops[i];
		uint64_t base = 0, index = 0;

		if (op->type != ZYDIS_OPERAND_TYPE_MEMORY)
			continue;
		if (op->mem.segment == ZYDIS_REGISTER_FS ||
		    op->mem.segment == ZYDIS_REGISTER_GS)
			return false;
		if (op->mem.base == ZYDIS_REGISTER_RIP)
			base = ip;
		else if (op->mem.base != ZYDIS_REGISTER_NONE &&
			 !reg_value(regs, op->mem.base, &base))
			return false;
		if (op->mem.index != ZYDIS_REGISTER_NONE &&
		    !reg_value(regs, op->mem.index, &index))
			return false;
		*addr = base + index * op->mem.scale + (uint64_t)op->mem.disp.value;
		return true;
	}
	return false;
}

/* The source operand's value: a register or an immediate. */
static bool source_value(const struct decoded *d, const uint64_t *regs,
			 uint64_t *out)
{
	const ZydisDecodedOperand *src = &d->ops[1];

	if (d->insn.operand_count_visible < 2)
		return false;
	if (src->type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
		*out = src->imm.value.u;
		return true;
	}
	return src->type == ZYDIS_OPERAND_TYPE_REGISTER &&
	       reg_value(regs, src->reg.value, out);
}

/* The value written to memory, or VQ_NONE if this instruction needs more
 * than the registers, the immediate and the old value. */
static enum vquality stored(const struct decoded *d, const uint64_t *regs,
			    uint64_t old, enum vquality old_q, uint64_t *out)
{
	uint64_t src = 0, flags = 0, rax = 0;
	bool have_src = source_value(d, regs, &src);
	enum vquality rmw = old_q == VQ_EXACT && have_src ? VQ_EXACT : VQ_NONE;

	switch (d->insn.mnemonic) {
	case ZYDIS_MNEMONIC_MOV:
	case ZYDIS_MNEMONIC_MOVNTI:
		*out = src;
		return have_src ? VQ_EXACT : VQ_NONE;
	case ZYDIS_MNEMONIC_STOSB: case ZYDIS_MNEMONIC_STOSW:
	case ZYDIS_MNEMONIC_STOSD: case ZYDIS_MNEMONIC_STOSQ:
		return reg_value(regs, ZYDIS_REGISTER_RAX, out) ? VQ_EXACT
								 : VQ_NONE;
	case ZYDIS_MNEMONIC_INC:
		*out = old + 1;
		return old_q == VQ_EXACT ? VQ_EXACT : VQ_NONE;
	case ZYDIS_MNEMONIC_DEC:
		*out = old - 1;
		return old_q == VQ_EXACT ? VQ_EXACT : VQ_NONE;
	case ZYDIS_MNEMONIC_NOT:
		*out = ~old;
		return old_q == VQ_EXACT ? VQ_EXACT : VQ_NONE;
	case ZYDIS_MNEMONIC_NEG:
		*out = -old;
		return old_q == VQ_EXACT ? VQ_EXACT : VQ_NONE;
	case ZYDIS_MNEMONIC_ADD: *out = old + src; return rmw;
	case ZYDIS_MNEMONIC_SUB: *out = old - src; return rmw;
	case ZYDIS_MNEMONIC_AND: *out = old & src; return rmw;
	case ZYDIS_MNEMONIC_OR:  *out = old | src; return rmw;
	case ZYDIS_MNEMONIC_XOR: *out = old ^ src; return rmw;
	case ZYDIS_MNEMONIC_XADD:
		/* The register now holds the old value; the addend is the
		 * constant loaded into it just before, if any. */
		if (d->const_reg != ZYDIS_REGISTER_NONE &&
		    d->ops[1].type == ZYDIS_OPERAND_TYPE_REGISTER &&
		    ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64,
						     d->const_reg) ==
		    ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64,
						     d->ops[1].reg.value)) {
			*out = src + d->const_value; /* src: old value now */
			return have_src ? VQ_EXACT : VQ_NONE;
		}
		return VQ_NONE;
	case ZYDIS_MNEMONIC_CMPXCHG:
		/* ZF set: it stored the source; clear: it rewrote the old
		 * value, which is now in rAX. */
		if (!reg_value(regs, ZYDIS_REGISTER_EFLAGS, &flags) &&
		    !(regs && (flags = regs[perf_index(9)], true)))
			return VQ_NONE;
		if (flags & 0x40) {
			*out = src;
			return have_src ? VQ_EXACT : VQ_NONE;
		}
		if (!reg_value(regs, ZYDIS_REGISTER_RAX, &rax))
			return VQ_NONE;
		*out = rax;
		return VQ_EXACT;
	default:
		return VQ_NONE;
	}
}

/* The old value as the instruction itself reveals it (xadd, cmpxchg). */
static bool revealed_old(const struct decoded *d, const uint64_t *regs,
			 uint64_t *old)
{
	uint64_t flags;

	if (!regs)
		return false;
	if (d->insn.mnemonic == ZYDIS_MNEMONIC_XADD)
		return source_value(d, regs, old);
	if (d->insn.mnemonic == ZYDIS_MNEMONIC_CMPXCHG) {
		flags = regs[perf_index(9)];
		/* Either way rAX holds the old value afterwards. */
		(void)flags;
		return reg_value(regs, ZYDIS_REGISTER_RAX, old);
	}
	return false;
}

static uint64_t chain_value(const struct value_chain *c, uint32_t off,
			    uint32_t size)
{
	uint64_t v = 0;

	memcpy(&v, c->bytes + off, size);
	return v;
}

void values_apply(struct values *v, const struct code_source *cs, uint64_t ip,
		  const uint64_t *regs, uint64_t addr, uint32_t len,
		  struct value_chain *chain,
		  bool (*mem)(uint64_t, void *, size_t, void *), void *mem_ctx,
		  struct hit_values *out)
{
	struct decoded *d = decode_cached(v, cs, ip);
	uint64_t maddr = addr, old_w, val = 0, shown_old;
	uint32_t msize = len, off, n;
	enum vquality q = VQ_NONE, old_q = chain->quality;

	shown_old = chain_value(chain, 0, len);
	out->old_value = shown_old;
	out->old_q = old_q;
	out->old_revealed = false;
	if (d->acc.decoded && d->acc.writes) {
		msize = d->acc.mem_size ? d->acc.mem_size : len;
		if (!mem_address(d, regs, ip, &maddr))
			maddr = addr;
		/* The written bytes that overlap the watched ones. */
		if (maddr < addr + len && maddr + msize > addr && msize <= 8) {
			uint64_t lo = maddr > addr ? maddr : addr;

			off = (uint32_t)(lo - addr);
			n = (uint32_t)((maddr + msize < addr + len ? maddr + msize
								   : addr + len) - lo);
			old_w = 0;
			if (maddr >= addr && maddr + msize <= addr + len)
				old_w = chain_value(chain, (uint32_t)(maddr - addr),
						    msize);
			if (revealed_old(d, regs, &old_w) && maddr == addr &&
			    msize == len) {
				out->old_value = old_w & mask_of(len);
				out->old_q = old_q = VQ_EXACT;
				out->old_revealed = true;
			}
			q = stored(d, regs, old_w, maddr == addr && msize == len
					      ? old_q : VQ_NONE, &val);
			if (q == VQ_EXACT) {
				uint8_t bytes[8];

				memcpy(bytes, &val, 8);
				memcpy(chain->bytes + off,
				       bytes + (lo - maddr), n);
				if (chain->quality == VQ_NONE)
					chain->quality = VQ_APPROX;
				if (maddr <= addr && maddr + msize >= addr + len)
					chain->quality = VQ_EXACT;
			}
		}
	}
	if (q != VQ_EXACT) {
		/* Fall back to reading memory now: approximate. */
		if (mem && mem(addr, chain->bytes, len, mem_ctx))
			chain->quality = VQ_APPROX;
		else
			chain->quality = VQ_NONE;
	}
	out->new_value = chain_value(chain, 0, len);
	out->new_q = q == VQ_EXACT ? (chain->quality == VQ_EXACT ? VQ_EXACT
								 : VQ_APPROX)
				   : chain->quality;
	if (q != VQ_EXACT)
		chain->quality = chain->quality == VQ_NONE ? VQ_NONE : VQ_APPROX;
}

#else /* no decoder for this CPU: values read from memory, approximate */

struct values {
	int unused;
};

struct values *values_new(void)
{
	return calloc(1, sizeof(struct values));
}

void values_free(struct values *v)
{
	free(v);
}

void values_decode(struct values *v, const struct code_source *cs,
		   uint64_t ip, struct access *out)
{
	(void)v, (void)cs, (void)ip;
	memset(out, 0, sizeof(*out));
}

void values_apply(struct values *v, const struct code_source *cs, uint64_t ip,
		  const uint64_t *regs, uint64_t addr, uint32_t len,
		  struct value_chain *chain,
		  bool (*mem)(uint64_t, void *, size_t, void *), void *mem_ctx,
		  struct hit_values *out)
{
	uint64_t val = 0;

	(void)v, (void)cs, (void)ip, (void)regs;
	memcpy(&val, chain->bytes, len);
	out->old_value = val;
	out->old_q = chain->quality;
	out->old_revealed = false;
	chain->quality = mem && mem(addr, chain->bytes, len, mem_ctx)
			 ? VQ_APPROX : VQ_NONE;
	val = 0;
	memcpy(&val, chain->bytes, len);
	out->new_value = val;
	out->new_q = chain->quality;
}
#endif
