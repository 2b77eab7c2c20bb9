/* SPDX-License-Identifier: MIT */
/*
 * values.c - the value a write stored, exactly, without racing the target.
 *
 * A data watchpoint traps after the instruction, so the sampled IP is the
 * next one.  We find the instruction that ends at the IP (decoded forward
 * from its function's start; without one, backward from the IP, where
 * several starting points must agree), with code bytes and function starts
 * from the caller's code_source (the ELF files of the address space that
 * hit: it works after the process has gone).  The stored value then comes
 * from the registers sampled at the trap (a store does not change its
 * source register), the immediate, the flags (setcc, cmpxchg), the value
 * the instruction leaves in a register (xadd, xchg, cmpxchg: the old one),
 * the previous value in the location's chain (inc, add, shl, bts ...), or
 * the register's value before the instruction, found in the few
 * instructions before it (`mov $1, %eax; xchg %eax, lock`, `pxor %xmm0,
 * %xmm0; movups %xmm0, buf`).  The kernel does not sample vector registers
 * on breakpoint events, so other vector stores, x87 stores and `movs` of
 * writable memory are read from memory after the fact and approximate.
 * Other CPUs (arm64): nothing is decoded, every new value is read from
 * memory after the hit and marked approximate (the #else at the end).
 */
#include <stdlib.h>
#include <string.h>

#include "tool.h"

static uint64_t chain_value(const struct value_chain *c, uint32_t off,
			    uint32_t size)
{
	uint64_t v = 0;

	memcpy(&v, c->bytes + off, size > 8 ? 8 : size);
	return v;
}

#if defined(__x86_64__)
#include <Zydis/Zydis.h>

/* A chain's quality after combining two (the weaker). */
static enum vquality weaker(enum vquality a, enum vquality b)
{
	return a < b ? a : b;
}

#define CACHE 4096       /* decoded instructions, by (address space, ip) */
#define MAX_SCAN 65536   /* bytes of a function decoded at most */
#define AFTER_SCAN 4096  /* bytes after the store searched for jumps */
#define PRED 16          /* instructions kept before the store */
#define MAX_TARGETS 8192 /* jump targets remembered while decoding */
#define BACK_WINDOW 128  /* bytes decoded backward without a start */
#define MAX_STORE 64     /* widest store (AVX-512) */

/* perf's x86 register numbers (PERF_REG_X86_*) */
enum { R_AX, R_BX, R_CX, R_DX, R_SI, R_DI, R_BP, R_SP, R_IP, R_FLAGS,
       R_R8 = 16 };

#define F_CF 0x1ull
#define F_PF 0x4ull
#define F_AF 0x10ull
#define F_ZF 0x40ull
#define F_SF 0x80ull
#define F_DF 0x400ull
#define F_OF 0x800ull
#define ARITH_FLAGS (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)

/* An input of a register's value before the store: bytes [0, vwidth)
 * are a constant, a sampled register or memory (at disp + base + index *
 * scale, registers as sampled), [vwidth, width) are zero, the rest
 * unknown. */
enum { SD_NONE, SD_CONST, SD_REG, SD_MEM };
struct leaf {
	uint8_t kind;
	uint8_t width, vwidth;
	uint8_t shift;       /* SD_REG: ah..dh are bits 8..15 */
	int reg;             /* SD_REG: perf register; SD_MEM: base, -1 */
	int index;           /* SD_MEM: index register, -1 */
	uint8_t scale;
	uint64_t value;      /* SD_CONST: the value; SD_MEM: disp */
};

/* A register's value before the store: a leaf, or a scalar floating-point
 * operation on two (a load and `addsd %xmm0, %xmm0`: ratio *= 2). */
enum { FP_NONE, FP_ADD, FP_SUB, FP_MUL, FP_DIV };
struct srcdef {
	struct leaf a, b;
	uint8_t fp;          /* FP_*: a op b in the low fp_size bytes */
	uint8_t fp_size;
};

struct insn {
	uint64_t addr;
	ZydisDecodedInstruction in;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
};

struct decoded {
	uint64_t id, ip;     /* key */
	bool used;
	struct access acc;
	struct insn i;
	int wmem;            /* the written memory operand, -1 */
	int rmem;            /* another memory operand it reads (movs), -1 */
	int data;            /* the register operand stored (or xadd's), -1 */
	struct srcdef src;   /* that register's value before the instruction */
	ZydisMnemonic rep;   /* a rep string store starting at ip, or NONE */
	uint8_t rep_size;
};

struct values {
	ZydisDecoder dec;
	struct decoded *cache;
	uint8_t *code;
	struct insn pred[PRED];  /* ring: the store and the ones before */
	int npred;               /* instructions decoded into the ring */
	uint64_t *targets;
	int ntargets;
	bool targets_full;
};

struct values *values_new(void)
{
	struct values *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->cache = calloc(CACHE, sizeof(*v->cache));
	v->code = malloc(MAX_SCAN + AFTER_SCAN + 16);
	v->targets = malloc(MAX_TARGETS * sizeof(*v->targets));
	if (!v->cache || !v->code || !v->targets) {
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
	free(v->targets);
	free(v);
}

/* ---- registers ---- */

/* Index of a perf register in the sampled array (bit order). */
static int perf_index(int bit)
{
	return __builtin_popcountll(SAMPLED_REGS_MASK & ((1ull << bit) - 1));
}

static ZydisRegister enclosing(ZydisRegister r)
{
	if (r == ZYDIS_REGISTER_RIP || r == ZYDIS_REGISTER_EIP)
		return ZYDIS_REGISTER_RIP;
	if (r == ZYDIS_REGISTER_RFLAGS || r == ZYDIS_REGISTER_EFLAGS ||
	    r == ZYDIS_REGISTER_FLAGS)
		return ZYDIS_REGISTER_RFLAGS;
	return ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r);
}

/* A Zydis general-purpose register as (perf number, shift), or -1. */
static int perf_reg(ZydisRegister r, int *shift)
{
	static const ZydisRegister gpr64[] = {
		ZYDIS_REGISTER_RAX, ZYDIS_REGISTER_RBX, ZYDIS_REGISTER_RCX,
		ZYDIS_REGISTER_RDX, ZYDIS_REGISTER_RSI, ZYDIS_REGISTER_RDI,
		ZYDIS_REGISTER_RBP, ZYDIS_REGISTER_RSP,
	};
	ZydisRegister big = enclosing(r);

	*shift = (r == ZYDIS_REGISTER_AH || r == ZYDIS_REGISTER_BH ||
		  r == ZYDIS_REGISTER_CH || r == ZYDIS_REGISTER_DH) ? 8 : 0;
	for (int i = 0; i < 8; i++)
		if (big == gpr64[i])
			return i;
	if (big == ZYDIS_REGISTER_RIP)
		return R_IP;
	if (big == ZYDIS_REGISTER_RFLAGS)
		return R_FLAGS;
	if (big >= ZYDIS_REGISTER_R8 && big <= ZYDIS_REGISTER_R15)
		return R_R8 + (int)(big - ZYDIS_REGISTER_R8);
	return -1;
}

static bool sampled(const uint64_t *regs, int reg, uint64_t *out)
{
	if (!regs || reg < 0)
		return false;
	*out = regs[perf_index(reg)];
	return true;
}

/* The register's value at the trap, shifted and masked to its width. */
static bool reg_value(const uint64_t *regs, ZydisRegister r, uint64_t *out)
{
	int shift, reg = perf_reg(r, &shift);
	uint32_t bits = ZydisRegisterGetWidth(ZYDIS_MACHINE_MODE_LONG_64, r);

	if (!sampled(regs, reg, out))
		return false;
	*out >>= shift;
	if (bits < 64)
		*out &= (1ull << bits) - 1;
	return true;
}

static bool is_gpr(ZydisRegister r)
{
	ZydisRegisterClass c = ZydisRegisterGetClass(r);

	return c == ZYDIS_REGCLASS_GPR8 || c == ZYDIS_REGCLASS_GPR16 ||
	       c == ZYDIS_REGCLASS_GPR32 || c == ZYDIS_REGCLASS_GPR64;
}

static bool is_vector(ZydisRegister r)
{
	ZydisRegisterClass c = ZydisRegisterGetClass(r);

	return c == ZYDIS_REGCLASS_XMM || c == ZYDIS_REGCLASS_YMM ||
	       c == ZYDIS_REGCLASS_ZMM;
}

static uint32_t reg_bytes(ZydisRegister r)
{
	return ZydisRegisterGetWidth(ZYDIS_MACHINE_MODE_LONG_64, r) / 8;
}

static uint64_t mask_of(uint32_t size)
{
	return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

/* ---- finding the instruction ---- */

static bool decode_at(struct values *v, const uint8_t *code, size_t n,
		      uint64_t addr, struct insn *out)
{
	out->addr = addr;
	return ZYAN_SUCCESS(ZydisDecoderDecodeFull(&v->dec, code, n, &out->in,
						   out->ops));
}

static bool is_jump(const struct insn *i)
{
	return i->in.meta.category == ZYDIS_CATEGORY_COND_BR ||
	       i->in.meta.category == ZYDIS_CATEGORY_UNCOND_BR;
}

/* Control does not fall through to the next instruction, or comes back
 * from elsewhere with registers changed (a call). */
static bool is_barrier(const struct insn *i)
{
	switch (i->in.meta.category) {
	case ZYDIS_CATEGORY_CALL: case ZYDIS_CATEGORY_RET:
	case ZYDIS_CATEGORY_UNCOND_BR: case ZYDIS_CATEGORY_SYSCALL:
	case ZYDIS_CATEGORY_INTERRUPT: case ZYDIS_CATEGORY_SYSTEM:
		return true;
	default:
		break;
	}
	switch (i->in.mnemonic) {
	case ZYDIS_MNEMONIC_VZEROALL: case ZYDIS_MNEMONIC_VZEROUPPER:
	case ZYDIS_MNEMONIC_FXRSTOR: case ZYDIS_MNEMONIC_FXRSTOR64:
	case ZYDIS_MNEMONIC_XRSTOR: case ZYDIS_MNEMONIC_XRSTOR64:
	case ZYDIS_MNEMONIC_XRSTORS: case ZYDIS_MNEMONIC_XRSTORS64:
		return true;
	default:
		return false;
	}
}

/* A direct jump's target, remembered: an instruction jumped to may run
 * without the ones before it. */
static void note_target(struct values *v, const struct insn *i)
{
	ZyanU64 to;

	if (!is_jump(i) || i->ops[0].type != ZYDIS_OPERAND_TYPE_IMMEDIATE ||
	    !ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&i->in, &i->ops[0], i->addr,
						   &to)))
		return;
	if (v->ntargets == MAX_TARGETS)
		v->targets_full = true;
	else
		v->targets[v->ntargets++] = to;
}

static bool is_target(const struct values *v, uint64_t addr)
{
	if (v->targets_full)
		return true;
	for (int i = 0; i < v->ntargets; i++)
		if (v->targets[i] == addr)
			return true;
	return false;
}

/* The instruction `back` before the store in the ring (0: the store). */
static const struct insn *pred_at(const struct values *v, int back)
{
	return &v->pred[(v->npred - 1 - back) % PRED];
}

static int preds_kept(const struct values *v)
{
	return (v->npred < PRED ? v->npred : PRED) - 1;
}

/* Does the instruction write register `big` (any part of it)? */
static bool writes_reg(const struct insn *i, ZydisRegister big)
{
	for (int k = 0; k < i->in.operand_count; k++)
		if (i->ops[k].type == ZYDIS_OPERAND_TYPE_REGISTER &&
		    (i->ops[k].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) &&
		    enclosing(i->ops[k].reg.value) == big)
			return true;
	return false;
}

static void value_at(const struct values *v, int back, ZydisRegister r,
		     int depth, struct srcdef *out);

/* Restrict a value to a destination of dw bytes whose bytes up to
 * zext_to are zeroed (a 32-bit GPR write zeroes the upper half). */
static void restrict_leaf(struct leaf *d, uint32_t dw, uint32_t zext_to)
{
	if (d->kind == SD_NONE)
		return;
	if (d->width < dw) {
		if (d->vwidth > d->width)
			d->vwidth = d->width;
		return;
	}
	d->width = (uint8_t)(zext_to > dw ? zext_to : dw);
	if (d->vwidth > dw)
		d->vwidth = (uint8_t)dw;
	if (d->kind == SD_CONST)
		d->value &= mask_of(d->vwidth);
}

static void leaf_const(struct leaf *d, uint64_t value, uint32_t vwidth,
		       uint32_t width)
{
	*d = (struct leaf){ .kind = SD_CONST, .value = value & mask_of(vwidth),
			    .vwidth = (uint8_t)vwidth, .width = (uint8_t)width };
}

/* Bytes a write to register r defines, zero-extension included. */
static void dest_widths(const struct insn *i, ZydisRegister r, uint32_t *dw,
			uint32_t *zext_to)
{
	*dw = reg_bytes(r);
	*zext_to = *dw;
	if (ZydisRegisterGetClass(r) == ZYDIS_REGCLASS_GPR32)
		*zext_to = 8;
	else if (is_vector(r) && (i->in.encoding == ZYDIS_INSTRUCTION_ENCODING_VEX ||
				  i->in.encoding == ZYDIS_INSTRUCTION_ENCODING_EVEX))
		*zext_to = MAX_STORE; /* VEX/EVEX zero up to the widest */
}

/* Is register `big` written by an instruction after `back` (up to and
 * including the store)? */
static bool written_after(const struct values *v, int back, ZydisRegister big)
{
	for (int k = back - 1; k >= 0; k--)
		if (writes_reg(pred_at(v, k), big))
			return true;
	return false;
}

/* A load's memory operand as a leaf: rip-relative, or from registers the
 * instructions after it leave as they were (the sample has them). */
static void leaf_mem(const struct values *v, int back, const ZydisDecodedOperand *m,
		     uint32_t size, struct leaf *out)
{
	const struct insn *i = pred_at(v, back);
	int shift;

	*out = (struct leaf){ .kind = SD_NONE };
	if (m->mem.type != ZYDIS_MEMOP_TYPE_MEM ||
	    m->mem.segment == ZYDIS_REGISTER_FS ||
	    m->mem.segment == ZYDIS_REGISTER_GS || size > MAX_STORE ||
	    i->in.address_width != 64)
		return;
	out->reg = out->index = -1;
	out->value = (uint64_t)m->mem.disp.value;
	if (m->mem.base == ZYDIS_REGISTER_RIP) {
		if (m->mem.index != ZYDIS_REGISTER_NONE)
			return;
		out->value += i->addr + i->in.length;
	} else if (m->mem.base != ZYDIS_REGISTER_NONE) {
		if (written_after(v, back + 1, enclosing(m->mem.base)) ||
		    (out->reg = perf_reg(m->mem.base, &shift)) < 0)
			return;
	}
	if (m->mem.index != ZYDIS_REGISTER_NONE) {
		if (written_after(v, back + 1, enclosing(m->mem.index)) ||
		    (out->index = perf_reg(m->mem.index, &shift)) < 0)
			return;
		out->scale = m->mem.scale;
	}
	out->kind = SD_MEM;
	out->vwidth = out->width = (uint8_t)size;
}

static bool is_load_move(ZydisMnemonic m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_MOV: case ZYDIS_MNEMONIC_MOVQ:
	case ZYDIS_MNEMONIC_MOVD: case ZYDIS_MNEMONIC_VMOVQ:
	case ZYDIS_MNEMONIC_VMOVD: case ZYDIS_MNEMONIC_MOVZX:
	case ZYDIS_MNEMONIC_MOVSS: case ZYDIS_MNEMONIC_MOVSD:
	case ZYDIS_MNEMONIC_VMOVSS: case ZYDIS_MNEMONIC_VMOVSD:
	case ZYDIS_MNEMONIC_MOVAPS: case ZYDIS_MNEMONIC_MOVUPS:
	case ZYDIS_MNEMONIC_MOVAPD: case ZYDIS_MNEMONIC_MOVUPD:
	case ZYDIS_MNEMONIC_MOVDQA: case ZYDIS_MNEMONIC_MOVDQU:
	case ZYDIS_MNEMONIC_VMOVAPS: case ZYDIS_MNEMONIC_VMOVUPS:
	case ZYDIS_MNEMONIC_VMOVAPD: case ZYDIS_MNEMONIC_VMOVUPD:
	case ZYDIS_MNEMONIC_VMOVDQA: case ZYDIS_MNEMONIC_VMOVDQU:
		return true;
	default:
		return false;
	}
}

/* Moves that zero-extend their source into the destination. */
static bool zero_extends(ZydisMnemonic m, const ZydisDecodedOperand *src)
{
	return m == ZYDIS_MNEMONIC_MOVQ || m == ZYDIS_MNEMONIC_MOVD ||
	       m == ZYDIS_MNEMONIC_VMOVQ || m == ZYDIS_MNEMONIC_VMOVD ||
	       m == ZYDIS_MNEMONIC_MOVZX ||
	       (src->type == ZYDIS_OPERAND_TYPE_MEMORY &&
		(m == ZYDIS_MNEMONIC_MOVSS || m == ZYDIS_MNEMONIC_MOVSD ||
		 m == ZYDIS_MNEMONIC_VMOVSS || m == ZYDIS_MNEMONIC_VMOVSD));
}

/* mov/movq/movaps ... reg, reg|mem: the source's value, in the
 * destination's width. */
static void def_move(const struct values *v, int back, int depth,
		     uint32_t dw, uint32_t zext_to, struct leaf *out)
{
	const struct insn *i = pred_at(v, back);
	const ZydisDecodedOperand *o = i->ops;
	uint32_t sw = o[1].size / 8;
	struct srcdef s;

	*out = (struct leaf){ .kind = SD_NONE };
	if (i->in.operand_count_visible != 2 || depth > 4)
		return;
	if (o[1].type == ZYDIS_OPERAND_TYPE_MEMORY) {
		leaf_mem(v, back, &o[1], sw, out);
	} else if (o[1].type == ZYDIS_OPERAND_TYPE_REGISTER) {
		value_at(v, back, o[1].reg.value, depth + 1, &s);
		if (s.fp)
			return;
		*out = s.a;
	} else {
		return;
	}
	if (zero_extends(i->in.mnemonic, &o[1])) {
		restrict_leaf(out, sw, sw);
		if (out->kind != SD_NONE && out->width >= sw)
			out->width = (uint8_t)(is_vector(o[0].reg.value) &&
					       zext_to < 16 ? 16 : zext_to);
		return;
	}
	restrict_leaf(out, dw, zext_to);
}

static int fp_op(ZydisMnemonic m, uint8_t *size)
{
	*size = 8;
	switch (m) {
	case ZYDIS_MNEMONIC_ADDSS: case ZYDIS_MNEMONIC_VADDSS: *size = 4;
		/* fall through */
	case ZYDIS_MNEMONIC_ADDSD: case ZYDIS_MNEMONIC_VADDSD: return FP_ADD;
	case ZYDIS_MNEMONIC_SUBSS: case ZYDIS_MNEMONIC_VSUBSS: *size = 4;
		/* fall through */
	case ZYDIS_MNEMONIC_SUBSD: case ZYDIS_MNEMONIC_VSUBSD: return FP_SUB;
	case ZYDIS_MNEMONIC_MULSS: case ZYDIS_MNEMONIC_VMULSS: *size = 4;
		/* fall through */
	case ZYDIS_MNEMONIC_MULSD: case ZYDIS_MNEMONIC_VMULSD: return FP_MUL;
	case ZYDIS_MNEMONIC_DIVSS: case ZYDIS_MNEMONIC_VDIVSS: *size = 4;
		/* fall through */
	case ZYDIS_MNEMONIC_DIVSD: case ZYDIS_MNEMONIC_VDIVSD: return FP_DIV;
	default: return FP_NONE;
	}
}

/* One input of a scalar operation: a leaf (not itself an operation). */
static bool fp_input(const struct values *v, int back, const ZydisDecodedOperand *o,
		     int depth, uint8_t size, struct leaf *out)
{
	struct srcdef s;

	if (o->type == ZYDIS_OPERAND_TYPE_MEMORY) {
		leaf_mem(v, back, o, size, out);
		return out->kind != SD_NONE;
	}
	if (o->type != ZYDIS_OPERAND_TYPE_REGISTER)
		return false;
	value_at(v, back, o->reg.value, depth + 1, &s);
	*out = s.a;
	return !s.fp && s.a.kind != SD_NONE && s.a.width >= size;
}

/* addsd/mulsd ... (and the VEX forms): a op b in the low lane. */
static void def_fp(const struct values *v, int back, int depth,
		   struct srcdef *out)
{
	const struct insn *i = pred_at(v, back);
	const ZydisDecodedOperand *o = i->ops;
	bool vex = i->in.operand_count_visible == 3;
	uint8_t size;
	int op = fp_op(i->in.mnemonic, &size);

	*out = (struct srcdef){ .a.kind = SD_NONE };
	if (!op || depth > 4 || i->in.avx.mask.mode == ZYDIS_MASK_MODE_MERGING ||
	    i->in.avx.mask.mode == ZYDIS_MASK_MODE_ZEROING ||
	    !fp_input(v, back, &o[vex ? 1 : 0], depth, size, &out->a) ||
	    !fp_input(v, back, &o[vex ? 2 : 1], depth, size, &out->b)) {
		out->a.kind = SD_NONE;
		return;
	}
	out->fp = (uint8_t)op;
	out->fp_size = size;
	if (vex && out->a.width > 16)
		out->a.width = 16; /* VEX zeroes above, so do not claim more */
}

/* vpxor x, y, y (an EVEX mask register aside): the two sources are one. */
static bool same_sources(const struct insn *i)
{
	ZydisRegister src[2];
	int n = 0;

	for (int k = 1; k < i->in.operand_count_visible && n < 3; k++) {
		if (i->ops[k].type != ZYDIS_OPERAND_TYPE_REGISTER)
			return false;
		if (ZydisRegisterGetClass(i->ops[k].reg.value) == ZYDIS_REGCLASS_MASK)
			continue;
		if (n == 2)
			return false;
		src[n++] = i->ops[k].reg.value;
	}
	return n == 2 && src[0] == src[1];
}

/* The value the instruction `back` before the store gives register r, if
 * it is one of the few definitions we follow. */
static void def_of(const struct values *v, int back, ZydisRegister r,
		   int depth, struct srcdef *out)
{
	const struct insn *i = pred_at(v, back);
	const ZydisDecodedOperand *o = i->ops;
	uint32_t dw, zext_to;
	bool same01, same12;

	*out = (struct srcdef){ .a.kind = SD_NONE };
	if (o[0].type != ZYDIS_OPERAND_TYPE_REGISTER ||
	    enclosing(o[0].reg.value) != enclosing(r) ||
	    o[0].reg.value == ZYDIS_REGISTER_AH || o[0].reg.value == ZYDIS_REGISTER_BH ||
	    o[0].reg.value == ZYDIS_REGISTER_CH || o[0].reg.value == ZYDIS_REGISTER_DH)
		return;
	dest_widths(i, o[0].reg.value, &dw, &zext_to);
	same01 = o[1].type == ZYDIS_OPERAND_TYPE_REGISTER &&
		 o[1].reg.value == o[0].reg.value;
	same12 = same_sources(i);
	if (i->in.mnemonic == ZYDIS_MNEMONIC_MOV &&
	    o[1].type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
		leaf_const(&out->a, o[1].imm.value.u, dw, zext_to);
		return;
	}
	if (is_load_move(i->in.mnemonic)) {
		def_move(v, back, depth, dw, zext_to, &out->a);
		return;
	}
	switch (i->in.mnemonic) {
	case ZYDIS_MNEMONIC_XOR: case ZYDIS_MNEMONIC_SUB:
	case ZYDIS_MNEMONIC_PXOR: case ZYDIS_MNEMONIC_XORPS:
	case ZYDIS_MNEMONIC_XORPD:
		if (same01)
			leaf_const(&out->a, 0, dw, zext_to);
		return;
	case ZYDIS_MNEMONIC_VPXOR: case ZYDIS_MNEMONIC_VXORPS:
	case ZYDIS_MNEMONIC_VXORPD: case ZYDIS_MNEMONIC_VPXORD:
	case ZYDIS_MNEMONIC_VPXORQ:
		if (same12 && i->in.avx.mask.mode != ZYDIS_MASK_MODE_MERGING)
			leaf_const(&out->a, 0, dw, zext_to);
		return;
	default:
		def_fp(v, back, depth, out);
		return;
	}
}

/*
 * Register r's value just before the instruction `back` before the store
 * (0: the store itself).  Unchanged from there to the trap, a general
 * register is the sampled one; otherwise the latest instruction before
 * that writes it must define it, with nothing between that control can
 * enter or leave by (a jump's target, a call, a return).  An indirect
 * jump into those few instructions (a switch's case label) is not seen.
 */
static void value_at(const struct values *v, int back, ZydisRegister r,
		     int depth, struct srcdef *out)
{
	ZydisRegister big = enclosing(r);
	int kept = preds_kept(v), shift;

	*out = (struct srcdef){ .a.kind = SD_NONE };
	if (!written_after(v, back + 1, big) && is_gpr(r)) {
		out->a.kind = SD_REG;
		out->a.reg = perf_reg(r, &shift);
		out->a.shift = (uint8_t)shift;
		out->a.vwidth = out->a.width = (uint8_t)reg_bytes(r);
		return;
	}
	for (int k = back + 1; k <= kept; k++) {
		const struct insn *i = pred_at(v, k);

		if (is_target(v, pred_at(v, k - 1)->addr) || is_barrier(i))
			return;
		if (writes_reg(i, big)) {
			def_of(v, k, r, depth, out);
			return;
		}
	}
}

/* Shifts and rotates: their register operand (cl) is a count. */
static bool is_shift(ZydisMnemonic m)
{
	return m == ZYDIS_MNEMONIC_SHL || m == ZYDIS_MNEMONIC_SHR ||
	       m == ZYDIS_MNEMONIC_SAR || m == ZYDIS_MNEMONIC_ROL ||
	       m == ZYDIS_MNEMONIC_ROR || m == ZYDIS_MNEMONIC_RCL ||
	       m == ZYDIS_MNEMONIC_RCR;
}

/* The operands that matter: the memory written (else read), another one
 * read, and the register whose bytes are stored. */
static void find_operands(struct decoded *d)
{
	const struct insn *i = &d->i;

	d->wmem = d->rmem = d->data = -1;
	for (int k = 0; k < i->in.operand_count; k++) {
		const ZydisDecodedOperand *o = &i->ops[k];

		if (o->type == ZYDIS_OPERAND_TYPE_MEMORY &&
		    o->mem.type == ZYDIS_MEMOP_TYPE_MEM && o->size) {
			if ((o->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) &&
			    d->wmem < 0)
				d->wmem = k;
			else if (d->rmem < 0)
				d->rmem = k;
		}
	}
	if (d->wmem < 0 && d->rmem >= 0) {
		d->wmem = d->rmem; /* a read only: describe it */
		d->rmem = -1;
	}
	for (int k = 0; k < i->in.operand_count_visible; k++) {
		const ZydisDecodedOperand *o = &i->ops[k];

		if (o->type == ZYDIS_OPERAND_TYPE_REGISTER &&
		    (o->actions & ZYDIS_OPERAND_ACTION_MASK_READ) &&
		    (is_gpr(o->reg.value) || is_vector(o->reg.value)) &&
		    !is_shift(i->in.mnemonic) && d->data < 0)
			d->data = k;
	}
}

static void describe_access(struct decoded *d, uint64_t ip)
{
	struct access *a = &d->acc;
	const ZydisDecodedOperand *op;

	snprintf(a->mnemonic, sizeof(a->mnemonic), "%s",
		 ZydisMnemonicGetString(d->i.in.mnemonic));
	a->reads_other = d->rmem >= 0;
	if (d->wmem < 0)
		return;
	op = &d->i.ops[d->wmem];
	a->mem_size = op->size / 8;
	a->reads = op->actions & ZYDIS_OPERAND_ACTION_MASK_READ;
	a->writes = op->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE;
	if (op->mem.base == ZYDIS_REGISTER_RIP &&
	    op->mem.index == ZYDIS_REGISTER_NONE) {
		a->mem_known = true;
		a->mem_addr = ip + (uint64_t)op->mem.disp.value;
	}
}

/* Forward from the function's start to the instruction ending at ip; the
 * jumps of the function (up to AFTER_SCAN bytes past ip) are noted. */
static bool scan_forward(struct values *v, const struct code_source *cs,
			 uint64_t ip, struct decoded *d)
{
	uint64_t start = cs->function_start ? cs->function_start(cs->ctx, ip - 1)
					    : 0;
	size_t n, off = 0;

	if (!start || start >= ip || ip - start > MAX_SCAN)
		return false;
	n = cs->read(cs->ctx, start, v->code, ip - start + AFTER_SCAN);
	if (n < ip - start)
		return false;
	v->npred = 0;
	v->ntargets = 0;
	v->targets_full = false;
	while (start + off < ip) {
		struct insn *i = &v->pred[v->npred % PRED];

		if (!decode_at(v, v->code + off, n - off, start + off, i))
			return false;
		note_target(v, i);
		off += i->in.length;
		v->npred++;
	}
	if (start + off != ip)
		return false;
	d->i = *pred_at(v, 0);
	while (off < n) {
		struct insn after;

		if (!decode_at(v, v->code + off, n - off, start + off, &after))
			break;
		note_target(v, &after);
		off += after.in.length;
	}
	return true;
}

/* Forward from a known instruction boundary to the one ending at ip. */
static bool land_on(struct values *v, const uint8_t *code, uint64_t from,
		    uint64_t ip, struct insn *last)
{
	uint64_t pc = from;

	while (pc < ip && decode_at(v, code + (pc - from), ip - pc, pc, last))
		pc += last->in.length;
	return pc == ip && pc > from;
}

/* The first readable byte after ip - BACK_WINDOW (a section's start, an
 * instruction boundary), or ip when none is. */
static uint64_t first_readable(const struct code_source *cs, uint64_t ip)
{
	uint64_t lo = ip > BACK_WINDOW ? ip - BACK_WINDOW : 0, hi = ip;
	uint8_t byte;

	while (lo < hi) { /* readable bytes run up to ip: search the edge */
		uint64_t mid = lo + (hi - lo) / 2;

		if (cs->read(cs->ctx, mid, &byte, 1) == 1)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/*
 * No function start (stripped code, JIT): decode forward from every byte
 * of a window before ip; x86 decoding falls into step within a few
 * instructions, so the starts that land exactly on ip agree on the last
 * instruction.  Accept it when at least 3 do and 3 in 4 of them agree
 * (over the .text of libc and perl, 128 or 64 bytes decoded from 16 or
 * more bytes back never chose a wrong instruction; 32 did).  Where the
 * window starts before the code's section, decode forward from the
 * section's start.
 */
static bool scan_backward(struct values *v, const struct code_source *cs,
			  uint64_t ip, struct decoded *d)
{
	uint8_t votes[BACK_WINDOW] = { 0 };
	size_t win = 0;
	int landed = 0, best = -1;
	struct insn last;

	v->npred = 1; /* no instruction before it is known */
	v->ntargets = 0;
	v->targets_full = false;
	for (size_t want = BACK_WINDOW; want >= 64 && !win; want /= 2)
		if (ip > want && cs->read(cs->ctx, ip - want, v->code, want) ==
				 want)
			win = want;
	if (!win) {
		uint64_t from = first_readable(cs, ip);

		if (from >= ip || cs->read(cs->ctx, from, v->code, ip - from) !=
				  ip - from ||
		    !land_on(v, v->code, from, ip, &last))
			return false;
		d->i = v->pred[0] = last;
		return true;
	}
	for (size_t s = 0; s + 16 <= win; s++) {
		if (!land_on(v, v->code + s, ip - win + s, ip, &last))
			continue;
		votes[last.addr - (ip - win)]++;
		landed++;
	}
	for (size_t s = 0; s < win; s++)
		if (votes[s] && (best < 0 || votes[s] > votes[best]))
			best = (int)s;
	if (best < 0 || votes[best] < 3 || 4 * votes[best] < 3 * landed)
		return false;
	if (!decode_at(v, v->code + best, win - (size_t)best,
		       ip - win + (uint64_t)best, &v->pred[0]))
		return false;
	d->i = v->pred[0];
	return true;
}

static bool is_rep_store(const ZydisDecodedInstruction *in)
{
	if (!(in->attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE |
				ZYDIS_ATTRIB_HAS_REPNE)))
		return false;
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_STOSB: case ZYDIS_MNEMONIC_STOSW:
	case ZYDIS_MNEMONIC_STOSD: case ZYDIS_MNEMONIC_STOSQ:
	case ZYDIS_MNEMONIC_MOVSB: case ZYDIS_MNEMONIC_MOVSW:
	case ZYDIS_MNEMONIC_MOVSQ:
		return true;
	case ZYDIS_MNEMONIC_MOVSD:
		return in->operand_count_visible == 0; /* the string one */
	default:
		return false;
	}
}

/* A rep string store at ip traps between its iterations with the PC still
 * on it: note it, the hit may be its own.  When the instruction ending at
 * ip touched no memory (or none was found), it is: describe that one. */
static void rep_at(struct values *v, const struct code_source *cs,
		   uint64_t ip, struct decoded *d)
{
	uint8_t code[16];
	size_t n = cs->read(cs->ctx, ip, code, sizeof(code));
	struct insn i;

	d->rep = ZYDIS_MNEMONIC_INVALID;
	if (!n || !decode_at(v, code, n, ip, &i) || !is_rep_store(&i.in))
		return;
	d->rep = i.in.mnemonic;
	d->rep_size = (uint8_t)(i.in.operand_width / 8);
	if (d->acc.decoded && (d->wmem >= 0 || d->rmem >= 0))
		return;
	d->i = i;
	d->acc.decoded = true;
	find_operands(d);
}

static struct decoded *decode_cached(struct values *v,
				     const struct code_source *cs, uint64_t ip)
{
	uint64_t id = cs ? cs->id : 0;
	struct decoded *d = &v->cache[(ip ^ (ip >> 12) ^ (id * 0x9e3779b97f4a7c15ull))
				      % CACHE];

	if (d->used && d->ip == ip && d->id == id)
		return d;
	memset(d, 0, sizeof(*d));
	d->used = true;
	d->ip = ip;
	d->id = id;
	d->wmem = d->rmem = d->data = -1;
	if (!cs || !cs->read || ip < 16)
		return d;
	d->acc.decoded = scan_forward(v, cs, ip, d) ||
			 scan_backward(v, cs, ip, d);
	if (d->acc.decoded)
		find_operands(d);
	rep_at(v, cs, ip, d);
	if (!d->acc.decoded)
		return d;
	d->acc.insn_addr = d->i.addr;
	d->acc.insn_len = d->i.in.length;
	describe_access(d, ip);
	if (d->data >= 0)
		value_at(v, 0, d->i.ops[d->data].reg.value, 0, &d->src);
	return d;
}

void values_decode(struct values *v, const struct code_source *cs,
		   uint64_t ip, struct access *out)
{
	*out = decode_cached(v, cs, ip)->acc;
}

/* ---- what the instruction did ---- */

/* The write, worked out: its bytes and what they are known from. */
struct effect {
	uint64_t addr;
	bool addr_known;
	uint32_t size;
	uint8_t bytes[MAX_STORE];
	enum vquality q;            /* of bytes (VQ_NONE: unknown) */
	bool from_old;              /* computed from the old value */
	bool old_known;             /* the instruction revealed the old bytes */
	uint8_t old[MAX_STORE];
	enum vchange change;
	bool src_mem;               /* movs: the bytes came from src_addr */
	uint64_t src_addr;
	int invert;                 /* how to undo it (derive the old value) */
	uint64_t operand;
};

enum { INV_NONE, INV_ADD, INV_XOR, INV_NOT, INV_NEG };

/* Does a change of the operand's byte k (from the low end) change the
 * watched bytes?  (add $0x100 leaves a watched low byte as it was.) */
static bool byte_watched(const struct effect *e, uint64_t addr, uint32_t len,
			 uint32_t k)
{
	return e->addr + k >= addr && e->addr + k < addr + len;
}

/* The address of memory operand op from the registers after the
 * instruction; false when they no longer tell. */
static bool operand_address(const struct insn *i, const ZydisDecodedOperand *op,
			    const uint64_t *regs, uint64_t *out)
{
	uint64_t base = 0, index = 0;
	int shift, b = perf_reg(op->mem.base, &shift);

	if (op->mem.segment == ZYDIS_REGISTER_FS ||
	    op->mem.segment == ZYDIS_REGISTER_GS)
		return false; /* fs/gs base: not in the registers we get */
	if (op->mem.base == ZYDIS_REGISTER_RIP) {
		*out = i->addr + i->in.length + (uint64_t)op->mem.disp.value;
		return op->mem.index == ZYDIS_REGISTER_NONE;
	}
	if ((op->mem.base != ZYDIS_REGISTER_NONE &&
	     (writes_reg(i, enclosing(op->mem.base)) ||
	      !sampled(regs, b, &base))) ||
	    (op->mem.index != ZYDIS_REGISTER_NONE &&
	     (writes_reg(i, enclosing(op->mem.index)) ||
	      !reg_value(regs, op->mem.index, &index))))
		return false;
	*out = base + index * op->mem.scale + (uint64_t)op->mem.disp.value;
	if (i->in.address_width == 32)
		*out &= 0xffffffffull;
	return true;
}

static bool flag(const uint64_t *regs, uint64_t f, bool *out)
{
	uint64_t fl;

	if (!sampled(regs, R_FLAGS, &fl))
		return false;
	*out = fl & f;
	return true;
}

/* String instructions: rdi/rsi moved past the element, up or down by DF. */
static bool string_address(const uint64_t *regs, int reg, uint32_t size,
			   uint64_t *out)
{
	uint64_t fl, r;

	if (!sampled(regs, R_FLAGS, &fl) || !sampled(regs, reg, &r))
		return false;
	*out = fl & F_DF ? r + size : r - size;
	return true;
}

static void put_bytes(struct effect *e, uint64_t value, uint32_t size)
{
	memset(e->bytes, 0, sizeof(e->bytes));
	memcpy(e->bytes, &value, size > 8 ? 8 : size);
}

/* What the values of a hit are worked out from. */
struct eval_ctx {
	const uint64_t *regs;
	const struct value_chain *chain; /* the watched bytes before */
	uint64_t addr;
	uint32_t len;
	const struct code_source *cs;
	bool (*mem)(uint64_t, void *, size_t, void *);
	void *mem_ctx;
};

/* A leaf's bytes [0, width): exact from a constant or a register;
 * memory read from the chain (the watched bytes: approximate, another
 * thread may have written between the load and the store), a read-only
 * file mapping (exact) or the target now (approximate). */
static enum vquality eval_leaf(const struct eval_ctx *x, const struct leaf *l,
			       uint8_t *out)
{
	uint64_t val = 0, base = 0, index = 0, at;
	enum vquality q = VQ_EXACT;

	memset(out, 0, MAX_STORE);
	switch (l->kind) {
	case SD_CONST:
		val = l->value;
		break;
	case SD_REG:
		if (!sampled(x->regs, l->reg, &val))
			return VQ_NONE;
		val = (val >> l->shift) & mask_of(l->vwidth);
		break;
	case SD_MEM:
		if ((l->reg >= 0 && !sampled(x->regs, l->reg, &base)) ||
		    (l->index >= 0 && !sampled(x->regs, l->index, &index)))
			return VQ_NONE;
		at = l->value + base + index * l->scale;
		if (at >= x->addr && at + l->vwidth <= x->addr + x->len) {
			memcpy(out, x->chain->bytes + (at - x->addr), l->vwidth);
			return weaker(x->chain->quality, VQ_APPROX);
		}
		if (x->cs && x->cs->read_const &&
		    x->cs->read_const(x->cs->ctx, at, out, l->vwidth) == l->vwidth)
			return VQ_EXACT;
		if (x->mem && x->mem(at, out, l->vwidth, x->mem_ctx))
			return VQ_APPROX;
		return VQ_NONE;
	default:
		return VQ_NONE;
	}
	memcpy(out, &val, l->vwidth > 8 ? 8 : l->vwidth);
	return q;
}

/* a op b on scalars of size bytes, into a. */
static void fp_apply(int op, uint8_t size, uint8_t *a, const uint8_t *b)
{
	if (size == 4) {
		float x, y;

		memcpy(&x, a, 4);
		memcpy(&y, b, 4);
		x = op == FP_ADD ? x + y : op == FP_SUB ? x - y :
		    op == FP_MUL ? x * y : x / y;
		memcpy(a, &x, 4);
	} else {
		double x, y;

		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		x = op == FP_ADD ? x + y : op == FP_SUB ? x - y :
		    op == FP_MUL ? x * y : x / y;
		memcpy(a, &x, 8);
	}
}

/*
 * The stored register's bytes [off, off + size) before the instruction,
 * and their quality.  A floating-point result is approximate at best: the
 * target's rounding mode (MXCSR) is not sampled.
 */
static enum vquality data_bytes(const struct decoded *d,
				const struct eval_ctx *x, uint32_t off,
				uint32_t size, uint8_t *out)
{
	const struct srcdef *s = &d->src;
	uint8_t a[MAX_STORE], b[MAX_STORE];
	enum vquality q;

	if (s->a.kind == SD_NONE || off + size > s->a.width ||
	    off + size > MAX_STORE)
		return VQ_NONE;
	q = eval_leaf(x, &s->a, a);
	if (s->fp) {
		q = weaker(weaker(q, eval_leaf(x, &s->b, b)), VQ_APPROX);
		fp_apply(s->fp, s->fp_size, a, b);
	}
	if (q != VQ_NONE)
		memcpy(out, a + off, size);
	return q;
}

static bool condition(ZydisMnemonic m, uint64_t fl, bool *out)
{
	bool cf = fl & F_CF, zf = fl & F_ZF, sf = fl & F_SF, of = fl & F_OF,
	     pf = fl & F_PF;

	switch (m) {
	case ZYDIS_MNEMONIC_SETO: *out = of; return true;
	case ZYDIS_MNEMONIC_SETNO: *out = !of; return true;
	case ZYDIS_MNEMONIC_SETB: *out = cf; return true;
	case ZYDIS_MNEMONIC_SETNB: *out = !cf; return true;
	case ZYDIS_MNEMONIC_SETZ: *out = zf; return true;
	case ZYDIS_MNEMONIC_SETNZ: *out = !zf; return true;
	case ZYDIS_MNEMONIC_SETBE: *out = cf || zf; return true;
	case ZYDIS_MNEMONIC_SETNBE: *out = !cf && !zf; return true;
	case ZYDIS_MNEMONIC_SETS: *out = sf; return true;
	case ZYDIS_MNEMONIC_SETNS: *out = !sf; return true;
	case ZYDIS_MNEMONIC_SETP: *out = pf; return true;
	case ZYDIS_MNEMONIC_SETNP: *out = !pf; return true;
	case ZYDIS_MNEMONIC_SETL: *out = sf != of; return true;
	case ZYDIS_MNEMONIC_SETNL: *out = sf == of; return true;
	case ZYDIS_MNEMONIC_SETLE: *out = zf || sf != of; return true;
	case ZYDIS_MNEMONIC_SETNLE: *out = !zf && sf == of; return true;
	default: return false;
	}
}

/* The arithmetic flags of r = a + b + c (sub: a - b - c) at `bits`. */
static uint64_t add_flags(uint64_t a, uint64_t b, uint64_t c, bool sub,
			  uint32_t bits)
{
	uint64_t m = bits >= 64 ? ~0ull : (1ull << bits) - 1, top = 1ull << (bits - 1);
	uint64_t r = (sub ? a - b - c : a + b + c) & m, f = 0;
	unsigned __int128 wide = sub ? (unsigned __int128)b + c
				     : (unsigned __int128)a + b + c;

	a &= m;
	b &= m;
	if (sub ? wide > a : wide > m)
		f |= F_CF;
	if (!r)
		f |= F_ZF;
	if (r & top)
		f |= F_SF;
	if (!(__builtin_popcountll(r & 0xff) & 1))
		f |= F_PF;
	if ((a ^ b ^ r) & 0x10)
		f |= F_AF;
	if (sub ? ((a ^ b) & (a ^ r) & top) : ((a ^ r) & (b ^ r) & top))
		f |= F_OF;
	return f;
}

/*
 * A read-modify-write of old (the operand's bytes) by src: the result, or
 * false when the instruction needs what we do not have (adc's carry in,
 * when the flags it left cannot tell).
 */
static bool rmw(const struct insn *i, uint64_t old, uint64_t src,
		bool have_src, const uint64_t *regs, uint32_t size,
		struct effect *e)
{
	uint32_t bits = size * 8;
	uint64_t m = mask_of(size), r, fl, cnt = src;

	old &= m;
	e->from_old = true;
	e->operand = src;
	switch (i->in.mnemonic) {
	case ZYDIS_MNEMONIC_INC: r = old + 1; e->invert = INV_ADD; e->operand = 1; break;
	case ZYDIS_MNEMONIC_DEC: r = old - 1; e->invert = INV_ADD; e->operand = -1ull; break;
	case ZYDIS_MNEMONIC_NOT: r = ~old; e->invert = INV_NOT; break;
	case ZYDIS_MNEMONIC_NEG: r = -old; e->invert = INV_NEG; break;
	case ZYDIS_MNEMONIC_ADD: if (!have_src) return false;
		r = old + src; e->invert = INV_ADD; break;
	case ZYDIS_MNEMONIC_SUB: if (!have_src) return false;
		r = old - src; e->invert = INV_ADD; e->operand = -src; break;
	case ZYDIS_MNEMONIC_AND: if (!have_src) return false; r = old & src; break;
	case ZYDIS_MNEMONIC_OR: if (!have_src) return false; r = old | src; break;
	case ZYDIS_MNEMONIC_XOR: if (!have_src) return false;
		r = old ^ src; e->invert = INV_XOR; break;
	case ZYDIS_MNEMONIC_ADC: case ZYDIS_MNEMONIC_SBB: {
		bool sub = i->in.mnemonic == ZYDIS_MNEMONIC_SBB;
		uint64_t f0, f1;

		/* the carry in is gone: the flags it left must tell */
		if (!have_src || !sampled(regs, R_FLAGS, &fl))
			return false;
		f0 = add_flags(old, src, 0, sub, bits);
		f1 = add_flags(old, src, 1, sub, bits);
		fl &= ARITH_FLAGS;
		if ((f0 == fl) == (f1 == fl))
			return false;
		r = sub ? old - src - (f1 == fl) : old + src + (f1 == fl);
		break;
	}
	case ZYDIS_MNEMONIC_SHL: case ZYDIS_MNEMONIC_SHR:
	case ZYDIS_MNEMONIC_SAR: case ZYDIS_MNEMONIC_ROL:
	case ZYDIS_MNEMONIC_ROR:
		if (!have_src)
			return false;
		cnt &= bits == 64 ? 63 : 31;
		if (i->in.mnemonic == ZYDIS_MNEMONIC_ROL ||
		    i->in.mnemonic == ZYDIS_MNEMONIC_ROR)
			cnt %= bits;
		if (!cnt) {
			r = old;
			break;
		}
		if (cnt >= bits && i->in.mnemonic != ZYDIS_MNEMONIC_SAR)
			r = 0; /* 8/16-bit operands: everything shifted out */
		else if (i->in.mnemonic == ZYDIS_MNEMONIC_SHL)
			r = old << cnt;
		else if (i->in.mnemonic == ZYDIS_MNEMONIC_SHR)
			r = old >> cnt;
		else if (i->in.mnemonic == ZYDIS_MNEMONIC_SAR)
			r = (uint64_t)(((int64_t)(old << (64 - bits))) >>
				       (64 - bits + (cnt >= bits ? bits - 1 : cnt)));
		else if (i->in.mnemonic == ZYDIS_MNEMONIC_ROL)
			r = (old << cnt) | (old >> (bits - cnt));
		else
			r = (old >> cnt) | (old << (bits - cnt));
		break;
	default:
		return false;
	}
	put_bytes(e, r & m, size);
	return true;
}

/* shld/shrd mem, reg, count: the register fills the vacated bits. */
static bool double_shift(const struct insn *i, uint64_t old, const uint64_t *regs,
			 uint32_t size, struct effect *e)
{
	uint32_t bits = size * 8;
	uint64_t src, cnt, m = mask_of(size), r;

	if (!reg_value(regs, i->ops[1].reg.value, &src))
		return false;
	if (i->ops[2].type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
		cnt = i->ops[2].imm.value.u;
	else if (!reg_value(regs, ZYDIS_REGISTER_CL, &cnt))
		return false;
	cnt &= bits == 64 ? 63 : 31;
	if (cnt >= bits)
		return false; /* undefined for 16-bit operands */
	old &= m;
	if (!cnt)
		r = old;
	else if (i->in.mnemonic == ZYDIS_MNEMONIC_SHLD)
		r = (old << cnt) | (src >> (bits - cnt));
	else
		r = (old >> cnt) | (src << (bits - cnt));
	e->from_old = true;
	put_bytes(e, r & m, size);
	return true;
}

/* bts/btr/btc: the operand the bit is in, and the bit. */
static bool bit_operand(const struct insn *i, const uint64_t *regs,
			uint32_t size, uint64_t *addr, bool addr_known,
			uint32_t *bit)
{
	uint32_t bits = size * 8;
	uint64_t off;

	if (i->ops[1].type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
		*bit = (uint32_t)(i->ops[1].imm.value.u & (bits - 1));
		return true;
	}
	if (!reg_value(regs, i->ops[1].reg.value, &off))
		return false;
	/* a register offset is signed and may leave the operand */
	if (bits < 64 && (off & (1ull << (bits - 1))))
		off |= ~mask_of(size);
	if (addr_known)
		*addr += (uint64_t)(((int64_t)off >> __builtin_ctz(bits)) *
				    (int64_t)size);
	else if ((int64_t)off < 0 || off >= bits)
		return false;
	*bit = (uint32_t)(off & (bits - 1));
	return true;
}

static bool bit_op(const struct insn *i, uint64_t old, bool old_ok,
		   const uint64_t *regs, uint32_t bit, uint64_t addr,
		   uint32_t len, struct effect *e)
{
	bool cf;
	uint64_t r, b = 1ull << bit;

	/* CF is the bit before: whether the write changed it, always (and
	 * a bit outside the watched bytes leaves them as they were) */
	if ((e->addr_known || e->size == len) && flag(regs, F_CF, &cf)) {
		if (!byte_watched(e, addr, len, bit / 8))
			e->change = VC_SAME;
		else if (i->in.mnemonic == ZYDIS_MNEMONIC_BTC)
			e->change = VC_CHANGED;
		else
			e->change = (i->in.mnemonic == ZYDIS_MNEMONIC_BTS) == cf
				    ? VC_SAME : VC_CHANGED;
	}
	if (!old_ok)
		return false;
	switch (i->in.mnemonic) {
	case ZYDIS_MNEMONIC_BTS: r = old | b; break;
	case ZYDIS_MNEMONIC_BTR: r = old & ~b; break;
	default: r = old ^ b; e->invert = INV_XOR; e->operand = b; break;
	}
	e->from_old = true;
	put_bytes(e, r & mask_of(e->size), e->size);
	return true;
}

/* The operand's old bytes from the chain, when all lie in the watched
 * range: (value, quality). */
static enum vquality chain_operand(const struct value_chain *c, uint64_t addr,
				   uint32_t len, uint64_t maddr, uint32_t msize,
				   uint64_t *old)
{
	*old = 0;
	if (maddr < addr || maddr + msize > addr + len || msize > 8)
		return VQ_NONE;
	*old = chain_value(c, (uint32_t)(maddr - addr), msize);
	return c->quality;
}

/* cmpxchg: ZF set, it stored the source; clear, it wrote the old value
 * back (a locked cmpxchg always writes), which is now in rAX. */
static void compare_exchange(const struct decoded *d, const uint64_t *regs,
			     uint32_t size, struct effect *e)
{
	const struct insn *i = &d->i;
	bool zf;
	uint64_t lo, hi, src_lo, src_hi;
	bool wide = i->in.mnemonic != ZYDIS_MNEMONIC_CMPXCHG;
	uint32_t half = wide ? size / 2 : size;

	if (!flag(regs, F_ZF, &zf))
		return;
	if (!reg_value(regs, wide ? (half == 8 ? ZYDIS_REGISTER_RAX : ZYDIS_REGISTER_EAX)
				  : (size == 8 ? ZYDIS_REGISTER_RAX : size == 4 ?
				     ZYDIS_REGISTER_EAX : size == 2 ? ZYDIS_REGISTER_AX :
				     ZYDIS_REGISTER_AL), &lo) ||
	    (wide && !reg_value(regs, half == 8 ? ZYDIS_REGISTER_RDX
					       : ZYDIS_REGISTER_EDX, &hi)))
		return;
	/* either way rAX (rDX:rAX) holds the old value now */
	memset(e->old, 0, sizeof(e->old));
	memcpy(e->old, &lo, half);
	if (wide)
		memcpy(e->old + half, &hi, half);
	e->old_known = true;
	if (!zf) {
		memcpy(e->bytes, e->old, size);
		e->change = VC_SAME;
		e->q = VQ_EXACT;
		return;
	}
	if (wide ? !reg_value(regs, half == 8 ? ZYDIS_REGISTER_RBX : ZYDIS_REGISTER_EBX,
			      &src_lo) ||
		   !reg_value(regs, half == 8 ? ZYDIS_REGISTER_RCX : ZYDIS_REGISTER_ECX,
			      &src_hi)
		 : !reg_value(regs, i->ops[1].reg.value, &src_lo))
		return;
	memset(e->bytes, 0, sizeof(e->bytes));
	memcpy(e->bytes, &src_lo, half);
	if (wide)
		memcpy(e->bytes + half, &src_hi, half);
	e->q = VQ_EXACT;
}

/* The source operand's value: a register (sampled, unchanged by the
 * instruction) or an immediate, sign-extended to the operand. */
static bool plain_source(const struct insn *i, int k, const uint64_t *regs,
			 uint64_t *out)
{
	const ZydisDecodedOperand *o = &i->ops[k];

	if (k >= i->in.operand_count_visible)
		return false;
	if (o->type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
		*out = o->imm.value.u;
		return true;
	}
	return o->type == ZYDIS_OPERAND_TYPE_REGISTER &&
	       !writes_reg(i, enclosing(o->reg.value)) &&
	       reg_value(regs, o->reg.value, out);
}

/* Where in the vector register the stored bytes start. */
static uint32_t lane_offset(const struct insn *i, uint32_t size)
{
	uint64_t imm = 0;

	for (int k = 0; k < i->in.operand_count_visible; k++)
		if (i->ops[k].type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
			imm = i->ops[k].imm.value.u;
	switch (i->in.mnemonic) {
	case ZYDIS_MNEMONIC_MOVHPS: case ZYDIS_MNEMONIC_MOVHPD:
	case ZYDIS_MNEMONIC_VMOVHPS: case ZYDIS_MNEMONIC_VMOVHPD:
		return 8;
	case ZYDIS_MNEMONIC_PEXTRB: case ZYDIS_MNEMONIC_PEXTRW:
	case ZYDIS_MNEMONIC_PEXTRD: case ZYDIS_MNEMONIC_PEXTRQ:
	case ZYDIS_MNEMONIC_EXTRACTPS:
	case ZYDIS_MNEMONIC_VPEXTRB: case ZYDIS_MNEMONIC_VPEXTRW:
	case ZYDIS_MNEMONIC_VPEXTRD: case ZYDIS_MNEMONIC_VPEXTRQ:
	case ZYDIS_MNEMONIC_VEXTRACTPS:
		return (uint32_t)(imm % (16 / size)) * size;
	case ZYDIS_MNEMONIC_VEXTRACTF128: case ZYDIS_MNEMONIC_VEXTRACTI128:
	case ZYDIS_MNEMONIC_VEXTRACTF32X4: case ZYDIS_MNEMONIC_VEXTRACTI32X4:
	case ZYDIS_MNEMONIC_VEXTRACTF64X2: case ZYDIS_MNEMONIC_VEXTRACTI64X2:
	case ZYDIS_MNEMONIC_VEXTRACTF32X8: case ZYDIS_MNEMONIC_VEXTRACTI32X8:
	case ZYDIS_MNEMONIC_VEXTRACTF64X4: case ZYDIS_MNEMONIC_VEXTRACTI64X4:
		return (uint32_t)imm * size;
	default:
		return 0;
	}
}

/* A plain vector store of the register's bytes (not masked, not
 * converted): those we can copy when the register's value is known. */
static bool vector_copy(const struct insn *i)
{
	if (i->in.avx.mask.mode == ZYDIS_MASK_MODE_MERGING ||
	    i->in.avx.mask.mode == ZYDIS_MASK_MODE_ZEROING)
		return false;
	switch (i->in.mnemonic) {
	case ZYDIS_MNEMONIC_MOVAPS: case ZYDIS_MNEMONIC_MOVUPS:
	case ZYDIS_MNEMONIC_MOVAPD: case ZYDIS_MNEMONIC_MOVUPD:
	case ZYDIS_MNEMONIC_MOVDQA: case ZYDIS_MNEMONIC_MOVDQU:
	case ZYDIS_MNEMONIC_MOVNTPS: case ZYDIS_MNEMONIC_MOVNTPD:
	case ZYDIS_MNEMONIC_MOVNTDQ: case ZYDIS_MNEMONIC_MOVSS:
	case ZYDIS_MNEMONIC_MOVSD: case ZYDIS_MNEMONIC_MOVQ:
	case ZYDIS_MNEMONIC_MOVD: case ZYDIS_MNEMONIC_MOVLPS:
	case ZYDIS_MNEMONIC_MOVLPD: case ZYDIS_MNEMONIC_MOVHPS:
	case ZYDIS_MNEMONIC_MOVHPD: case ZYDIS_MNEMONIC_PEXTRB:
	case ZYDIS_MNEMONIC_PEXTRW: case ZYDIS_MNEMONIC_PEXTRD:
	case ZYDIS_MNEMONIC_PEXTRQ: case ZYDIS_MNEMONIC_EXTRACTPS:
	case ZYDIS_MNEMONIC_VMOVAPS: case ZYDIS_MNEMONIC_VMOVUPS:
	case ZYDIS_MNEMONIC_VMOVAPD: case ZYDIS_MNEMONIC_VMOVUPD:
	case ZYDIS_MNEMONIC_VMOVDQA: case ZYDIS_MNEMONIC_VMOVDQU:
	case ZYDIS_MNEMONIC_VMOVDQA32: case ZYDIS_MNEMONIC_VMOVDQA64:
	case ZYDIS_MNEMONIC_VMOVDQU8: case ZYDIS_MNEMONIC_VMOVDQU16:
	case ZYDIS_MNEMONIC_VMOVDQU32: case ZYDIS_MNEMONIC_VMOVDQU64:
	case ZYDIS_MNEMONIC_VMOVNTPS: case ZYDIS_MNEMONIC_VMOVNTPD:
	case ZYDIS_MNEMONIC_VMOVNTDQ: case ZYDIS_MNEMONIC_VMOVSS:
	case ZYDIS_MNEMONIC_VMOVSD: case ZYDIS_MNEMONIC_VMOVQ:
	case ZYDIS_MNEMONIC_VMOVD: case ZYDIS_MNEMONIC_VMOVLPS:
	case ZYDIS_MNEMONIC_VMOVLPD: case ZYDIS_MNEMONIC_VMOVHPS:
	case ZYDIS_MNEMONIC_VMOVHPD: case ZYDIS_MNEMONIC_VPEXTRB:
	case ZYDIS_MNEMONIC_VPEXTRW: case ZYDIS_MNEMONIC_VPEXTRD:
	case ZYDIS_MNEMONIC_VPEXTRQ: case ZYDIS_MNEMONIC_VEXTRACTPS:
	case ZYDIS_MNEMONIC_VEXTRACTF128: case ZYDIS_MNEMONIC_VEXTRACTI128:
	case ZYDIS_MNEMONIC_VEXTRACTF32X4: case ZYDIS_MNEMONIC_VEXTRACTI32X4:
	case ZYDIS_MNEMONIC_VEXTRACTF64X2: case ZYDIS_MNEMONIC_VEXTRACTI64X2:
	case ZYDIS_MNEMONIC_VEXTRACTF32X8: case ZYDIS_MNEMONIC_VEXTRACTI32X8:
	case ZYDIS_MNEMONIC_VEXTRACTF64X4: case ZYDIS_MNEMONIC_VEXTRACTI64X4:
		return true;
	default:
		return false;
	}
}

static bool is_setcc(ZydisMnemonic m)
{
	bool unused;

	return condition(m, 0, &unused);
}

/* Writes that change the watched bytes whatever the old value: inc and
 * dec (byte 0 moves), not, add/sub/xor of a non-zero operand whose lowest
 * non-zero byte (xor: any) is watched. */
static void known_change(struct effect *e, ZydisMnemonic mn, uint64_t src,
			 bool have_src, uint64_t addr, uint32_t len)
{
	uint32_t low = src ? (uint32_t)__builtin_ctzll(src) / 8 : 0;

	if (!e->addr_known && e->size != len)
		return;
	switch (mn) {
	case ZYDIS_MNEMONIC_INC: case ZYDIS_MNEMONIC_DEC:
		if (byte_watched(e, addr, len, 0))
			e->change = VC_CHANGED;
		return;
	case ZYDIS_MNEMONIC_NOT:
		e->change = VC_CHANGED;
		return;
	case ZYDIS_MNEMONIC_ADD: case ZYDIS_MNEMONIC_SUB:
		if (have_src && src && byte_watched(e, addr, len, low))
			e->change = VC_CHANGED;
		return;
	case ZYDIS_MNEMONIC_XOR:
		for (uint32_t k = 0; have_src && k < e->size; k++)
			if (((src >> (8 * k)) & 0xff) &&
			    byte_watched(e, addr, len, k))
				e->change = VC_CHANGED;
		return;
	default:
		return;
	}
}

/* xchg: the register holds the old value now; what it held before (the
 * stored value) only its definition tells.  xadd: the register holds the
 * old value, and held the addend. */
static void exchange(const struct decoded *d, const struct eval_ctx *x,
		     struct effect *e)
{
	uint64_t old, add = 0;

	if (d->data < 0 ||
	    !reg_value(x->regs, d->i.ops[d->data].reg.value, &old))
		return;
	memset(e->old, 0, sizeof(e->old));
	memcpy(e->old, &old, e->size > 8 ? 8 : e->size);
	e->old_known = true;
	if (d->i.in.mnemonic == ZYDIS_MNEMONIC_XCHG) {
		e->q = data_bytes(d, x, 0, e->size, e->bytes);
		return;
	}
	if (e->size > 8 ||
	    data_bytes(d, x, 0, e->size, (uint8_t *)&add) != VQ_EXACT)
		return;
	add &= mask_of(e->size);
	e->change = add ? VC_CHANGED : VC_SAME;
	put_bytes(e, (old + add) & mask_of(e->size), e->size);
	e->q = VQ_EXACT;
}

/* Stores of a value the instruction holds: a register, an immediate, the
 * flags.  False when the instruction is not one of these. */
static bool plain_store(const struct decoded *d, const struct eval_ctx *x,
			struct effect *e)
{
	const struct insn *i = &d->i;
	ZydisMnemonic mn = i->in.mnemonic;
	uint64_t src = 0;
	bool set;

	switch (mn) {
	case ZYDIS_MNEMONIC_MOV: case ZYDIS_MNEMONIC_MOVNTI:
	case ZYDIS_MNEMONIC_MOVBE:
		if (!plain_source(i, 1, x->regs, &src))
			return true;
		if (mn == ZYDIS_MNEMONIC_MOVBE)
			src = __builtin_bswap64(src) >> (64 - 8 * e->size);
		break;
	case ZYDIS_MNEMONIC_PUSH:
		if (i->ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
		    enclosing(i->ops[0].reg.value) == ZYDIS_REGISTER_RSP) {
			/* push %rsp stores the rsp before */
			if (!sampled(x->regs, R_SP, &src))
				return true;
			src += e->size;
		} else if (!plain_source(i, 0, x->regs, &src)) {
			return true;
		}
		break;
	default:
		if (!is_setcc(mn))
			return false;
		if (!sampled(x->regs, R_FLAGS, &src) ||
		    !condition(mn, src, &set))
			return true;
		src = set;
		break;
	}
	put_bytes(e, src, e->size);
	e->q = VQ_EXACT;
	return true;
}

/* The count or source operand of a read-modify-write. */
static bool rmw_source(const struct insn *i, const uint64_t *regs,
		       uint64_t *src)
{
	if (!is_shift(i->in.mnemonic))
		return plain_source(i, 1, regs, src);
	if (i->ops[1].type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
		*src = i->ops[1].imm.value.u;
		return true;
	}
	return reg_value(regs, ZYDIS_REGISTER_CL, src);
}

/* A read-modify-write of the old value (inc, add, shl, bts ...): exact
 * from an exact old value, approximate from an approximate one (+1 stays
 * +1), else unknown but with the way to undo it. */
static void read_modify_write(const struct decoded *d,
			      const struct eval_ctx *x, struct effect *e)
{
	const struct insn *i = &d->i;
	ZydisMnemonic mn = i->in.mnemonic;
	uint64_t src = 0, old;
	enum vquality old_q = chain_operand(x->chain, x->addr, x->len, e->addr,
					    e->size, &old);
	bool have_src = rmw_source(i, x->regs, &src);
	uint32_t bit;

	if (mn == ZYDIS_MNEMONIC_BTS || mn == ZYDIS_MNEMONIC_BTR ||
	    mn == ZYDIS_MNEMONIC_BTC) {
		if (!bit_operand(i, x->regs, e->size, &e->addr, e->addr_known,
				 &bit))
			return;
		old_q = chain_operand(x->chain, x->addr, x->len, e->addr,
				      e->size, &old);
		if (bit_op(i, old, old_q != VQ_NONE, x->regs, bit, x->addr,
			   x->len, e))
			e->q = old_q;
		return;
	}
	if (mn == ZYDIS_MNEMONIC_SHLD || mn == ZYDIS_MNEMONIC_SHRD) {
		if (old_q != VQ_NONE &&
		    double_shift(i, old, x->regs, e->size, e))
			e->q = old_q;
		return;
	}
	if (e->size > 8)
		return;
	known_change(e, mn, have_src ? src & mask_of(e->size) : 0, have_src,
		     x->addr, x->len);
	if (old_q == VQ_NONE) {
		/* still say how to undo it, for an old value from memory */
		struct effect probe = *e;

		if (rmw(i, 0, src, have_src, NULL, e->size, &probe)) {
			e->invert = probe.invert;
			e->operand = probe.operand;
			e->from_old = true;
		}
		return;
	}
	if (rmw(i, old, src, have_src, x->regs, e->size, e))
		e->q = old_q;
}

/* The stored value of a write at e->addr (size e->size), whatever it
 * depends on; e->q stays VQ_NONE when unknown. */
static void effect_of(const struct decoded *d, const struct eval_ctx *x,
		      struct effect *e)
{
	const struct insn *i = &d->i;

	switch (i->in.mnemonic) {
	case ZYDIS_MNEMONIC_XCHG: case ZYDIS_MNEMONIC_XADD:
		exchange(d, x, e);
		return;
	case ZYDIS_MNEMONIC_CMPXCHG: case ZYDIS_MNEMONIC_CMPXCHG8B:
	case ZYDIS_MNEMONIC_CMPXCHG16B:
		compare_exchange(d, x->regs, e->size, e);
		return;
	default:
		break;
	}
	if (plain_store(d, x, e))
		return;
	if (d->data >= 0 && is_vector(i->ops[d->data].reg.value)) {
		if (vector_copy(i))
			e->q = data_bytes(d, x, lane_offset(i, e->size), e->size,
					  e->bytes);
		return;
	}
	read_modify_write(d, x, e);
}

/* Which instruction made the hit: the one ending at the IP, or a rep
 * string store at the IP between two of its iterations (then its own
 * address, from rdi, is in the watched bytes and the other's is not). */
static bool use_rep_at_ip(const struct decoded *d, const uint64_t *regs,
			  uint64_t addr, uint32_t len)
{
	uint64_t a;

	if (d->rep == ZYDIS_MNEMONIC_INVALID ||
	    !string_address(regs, R_DI, d->rep_size, &a) ||
	    !(a < addr + len && a + d->rep_size > addr))
		return false;
	if (!d->acc.decoded || d->wmem < 0 || !d->acc.writes)
		return true;
	return !operand_address(&d->i, &d->i.ops[d->wmem], regs, &a) ||
	       !(a < addr + len &&
		 a + d->i.ops[d->wmem].size / 8 > addr);
}

static bool is_string_move(ZydisMnemonic mn, const ZydisDecodedInstruction *in)
{
	return mn == ZYDIS_MNEMONIC_MOVSB || mn == ZYDIS_MNEMONIC_MOVSW ||
	       mn == ZYDIS_MNEMONIC_MOVSQ ||
	       (mn == ZYDIS_MNEMONIC_MOVSD && (!in || in->operand_count_visible == 0));
}

static bool is_string_store(ZydisMnemonic mn)
{
	return mn == ZYDIS_MNEMONIC_STOSB || mn == ZYDIS_MNEMONIC_STOSW ||
	       mn == ZYDIS_MNEMONIC_STOSD || mn == ZYDIS_MNEMONIC_STOSQ;
}

/* The write the hit reports: its address, size and effect. */
static bool work_out(const struct decoded *d, const struct eval_ctx *x,
		     struct effect *e)
{
	bool at_ip = use_rep_at_ip(d, x->regs, x->addr, x->len);
	ZydisMnemonic mn = at_ip ? d->rep : d->i.in.mnemonic;
	uint32_t size;

	memset(e, 0, sizeof(*e));
	e->q = VQ_NONE;
	if (at_ip)
		size = d->rep_size;
	else if (d->acc.decoded && d->wmem >= 0 && d->acc.writes)
		size = d->i.ops[d->wmem].size / 8;
	else
		return false;
	e->size = size > MAX_STORE ? MAX_STORE : size;
	if (is_string_store(mn) || is_string_move(mn, at_ip ? NULL : &d->i.in)) {
		e->addr_known = string_address(x->regs, R_DI, size, &e->addr);
		if (!e->addr_known)
			e->addr = x->addr;
		if (!is_string_store(mn)) /* movs: the bytes at rsi */
			e->src_mem = string_address(x->regs, R_SI, size,
						    &e->src_addr);
		else if (sampled(x->regs, R_AX, &e->operand)) {
			put_bytes(e, e->operand, size);
			e->q = VQ_EXACT;
		}
		return true;
	}
	if (mn == ZYDIS_MNEMONIC_PUSH)
		e->addr_known = sampled(x->regs, R_SP, &e->addr);
	else
		e->addr_known = operand_address(&d->i, &d->i.ops[d->wmem],
						x->regs, &e->addr);
	if (!e->addr_known)
		e->addr = x->addr;
	effect_of(d, x, e);
	return true;
}

/* Undo an invertible read-modify-write: the old value from the new. */
static uint64_t undo(const struct effect *e, uint64_t now, uint32_t size)
{
	uint64_t m = mask_of(size);

	switch (e->invert) {
	case INV_ADD: return (now - e->operand) & m;
	case INV_XOR: return (now ^ e->operand) & m;
	case INV_NOT: return ~now & m;
	case INV_NEG: return -now & m;
	default: return now;
	}
}

/* Read the stored bytes where they came from (movs): exact from a
 * read-only file mapping, else approximate from the target's memory. */
static void read_source(const struct code_source *cs, struct effect *e,
			bool (*mem)(uint64_t, void *, size_t, void *),
			void *mem_ctx)
{
	if (!e->src_mem || e->size > 8)
		return;
	memset(e->bytes, 0, sizeof(e->bytes));
	if (cs && cs->read_const &&
	    cs->read_const(cs->ctx, e->src_addr, e->bytes, e->size) == e->size)
		e->q = VQ_EXACT;
	else if (mem && mem(e->src_addr, e->bytes, e->size, mem_ctx))
		e->q = VQ_APPROX;
}

/* The bytes the write gave the watched range, onto the chain. */
static void overlay(const struct effect *e, uint64_t addr, uint32_t len,
		    struct value_chain *chain)
{
	uint64_t lo = e->addr > addr ? e->addr : addr;
	uint64_t hi = e->addr + e->size < addr + len ? e->addr + e->size
						     : addr + len;
	bool covers = e->addr <= addr && e->addr + e->size >= addr + len;

	memcpy(chain->bytes + (lo - addr), e->bytes + (lo - e->addr), hi - lo);
	chain->quality = covers ? e->q : weaker(e->q, chain->quality);
}

void values_apply(struct values *v, const struct code_source *cs, uint64_t ip,
		  const uint64_t *regs, uint64_t addr, uint32_t len,
		  struct value_chain *chain,
		  bool (*mem)(uint64_t, void *, size_t, void *), void *mem_ctx,
		  struct hit_values *out)
{
	struct decoded *d = decode_cached(v, cs, ip);
	struct value_chain before = *chain;
	struct eval_ctx x = { .regs = regs, .chain = &before, .addr = addr,
			      .len = len, .cs = cs, .mem = mem,
			      .mem_ctx = mem_ctx };
	struct effect e;
	bool wrote, covers;

	if (len > sizeof(chain->bytes))
		len = sizeof(chain->bytes); /* a chain holds 8 bytes */
	x.len = len;
	memset(out, 0, sizeof(*out));
	out->old_value = chain_value(chain, 0, len);
	out->old_q = chain->quality;
	wrote = work_out(d, &x, &e) &&
		e.addr < addr + len && e.addr + e.size > addr;
	covers = wrote && e.addr <= addr && e.addr + e.size >= addr + len;
	if (wrote && e.q == VQ_NONE)
		read_source(cs, &e, mem, mem_ctx);
	if (wrote) {
		out->change = e.change;
		out->new_from_old = e.from_old;
		if (e.old_known && covers) {
			/* the instruction showed the old value itself */
			out->old_value = 0;
			memcpy(&out->old_value, e.old + (addr - e.addr),
			       len > 8 ? 8 : len);
			out->old_q = VQ_EXACT;
		}
		if (e.q != VQ_NONE)
			overlay(&e, addr, len, chain);
	}
	if (!wrote || e.q == VQ_NONE || chain->quality == VQ_NONE) {
		/* Read the memory now: approximate. */
		if (mem && mem(addr, chain->bytes, len, mem_ctx)) {
			chain->quality = VQ_APPROX;
			/* an old value we never knew: undo the operation on
			 * what we read, so that the pair stays consistent */
			if (wrote && out->old_q == VQ_NONE && e.invert &&
			    covers && e.size == len) {
				out->old_value = undo(&e, chain_value(chain, 0,
								      len), len);
				out->old_q = VQ_APPROX;
			}
		} else {
			chain->quality = VQ_NONE;
		}
	}
	out->new_value = chain_value(chain, 0, len);
	out->new_q = chain->quality;
	if (out->old_q == VQ_EXACT && out->new_q == VQ_EXACT)
		out->change = out->old_value == out->new_value ? VC_SAME
							       : VC_CHANGED;
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
	(void)v, (void)cs, (void)ip, (void)regs;
	if (len > sizeof(chain->bytes))
		len = sizeof(chain->bytes);
	memset(out, 0, sizeof(*out));
	out->old_value = chain_value(chain, 0, len);
	out->old_q = chain->quality;
	chain->quality = mem && mem(addr, chain->bytes, len, mem_ctx)
			 ? VQ_APPROX : VQ_NONE;
	out->new_value = chain_value(chain, 0, len);
	out->new_q = chain->quality;
}
#endif
