/* SPDX-License-Identifier: MIT */
/*
 * unwind.c - backtraces from a sampled user stack, without frame pointers
 * (what `perf record --call-graph dwarf` does, faster): the hit's registers
 * and a copy of the stack from its SP are walked with the modules' CFI
 * (.eh_frame, else .debug_frame, through libdw).
 *
 * libdwfl's generic walker (dwfl_getthread_frames, perf's unwind-libdw.c)
 * parses the CFI again for every frame of every sample and allocates per
 * frame.  Here the rules that give a frame's caller (the CFA, where the
 * return address and the saved registers are) are looked up once per
 * (layout, PC), compiled to a compact form and cached; the common forms
 * (CFA = reg + offset, register at CFA + offset, same value, undefined) are
 * applied directly and the rest by a small DWARF expression evaluator with
 * the operations libdwfl's own evaluator takes.  Only RA, RBP and RSP are
 * restored in every frame, other registers once a cached rule reads them.
 * Code without CFI is walked by its frame-pointer chain where RBP looks like
 * one.  Every memory read is checked against the stack copy: nothing
 * outside it is ever read.
 *
 * Also, for naming frames: the inlined frames at a PC (the
 * DW_TAG_inlined_subroutine scopes, as eu-addr2line -i), cached per PC, and
 * the ELF symbol at a PC by binary search in a per-module index.  x86-64
 * only; elsewhere unwind_sample says -EOPNOTSUPP.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

/* DWARF register numbers (x86-64 psABI): 0-15 the general registers in
 * DWARF order (rax rdx rcx rbx rsi rdi rbp rsp r8..r15), 16 the return
 * address (the caller's PC). */
#define NREGS 17
#define DW_RBP 6
#define DW_RSP 7
#define DW_RA 16
/* Callee-saved: a rule "undefined" for them is libdw's default for a
 * register the CFI does not mention (x86_64_abi_cfi marks only some same
 * value); the ABI says the caller still has them. */
#define CALLEE_SAVED ((1u << 3) | (1u << DW_RBP) | (0xfu << 12))
/* Restored in every frame: what the walk itself and the frame-pointer
 * fallback read.  Other registers only once a cached rule reads them. */
#define ALWAYS (1u << DW_RA | 1u << DW_RBP | 1u << DW_RSP)

/* perf's x86-64 register index (PERF_REG_X86_*) -> DWARF number, -1: none. */
static const signed char perf_to_dwarf[24] = {
	[0] = 0,   /* AX */
	[1] = 3,   /* BX */
	[2] = 2,   /* CX */
	[3] = 1,   /* DX */
	[4] = 4,   /* SI */
	[5] = 5,   /* DI */
	[6] = 6,   /* BP */
	[7] = 7,   /* SP */
	[8] = DW_RA, /* IP */
	[9] = -1, [10] = -1, [11] = -1, [12] = -1, [13] = -1, [14] = -1,
	[15] = -1, /* FLAGS, segment registers */
	[16] = 8, [17] = 9, [18] = 10, [19] = 11,
	[20] = 12, [21] = 13, [22] = 14, [23] = 15, /* R8..R15 */
};
#define PERF_SP 7
#define PERF_IP 8

/* How a register of the caller is found (rules with RK_SAME are not
 * stored: the register keeps its value). */
enum rkind {
	RK_OFFSET = 1, /* saved at CFA + off */
	RK_VAL_OFFSET, /* is CFA + off */
	RK_REG,        /* is the value of register off */
	RK_EXPR,       /* a DWARF expression (ops in the pool) */
};

struct reg_rule {
	uint8_t reg;
	uint8_t kind;
	uint16_t nops;
	uint32_t ops;   /* RK_EXPR: first op in u->ops */
	int64_t off;
};

enum rule_kind {
	RULE_EMPTY = 0,
	RULE_CFI,       /* the CFI's rules */
	RULE_NO_CFI,    /* no module or no CFI here: frame pointers */
	RULE_BAD,       /* CFI here that we cannot use (say why: BAD_FRAME) */
};

/* Everything needed to go from a frame at `pc` to its caller. */
struct rule {
	uint64_t layout, pc; /* key: the layout and the PC looked up */
	uint8_t kind;
	uint8_t signal;      /* a signal frame: the caller's PC is exact */
	uint8_t direct;      /* every rule is at/is CFA + off: one pass */
	uint8_t cfa_reg;     /* CFA = cfa_reg + cfa_off ... */
	uint8_t nrules;
	uint16_t cfa_nops;   /* ... or, if nonzero, an expression */
	uint32_t cfa_ops;
	int64_t cfa_off;
	uint32_t undef;      /* registers unknown in the caller (RA: outermost) */
	uint32_t first;      /* its reg_rules in u->rules: first those of */
	uint8_t nalways;     /* ALWAYS (RA, RBP, RSP), then the */
	uint32_t others;     /* rest, these registers */
};

/* A module's symbols sorted by address (libdwfl's dwfl_module_addrinfo
 * scans the whole table for every lookup). */
struct sym {
	uint64_t addr, size;
	const char *name;      /* libdwfl's string: valid while the module is */
	uint32_t index;        /* in the symbol table */
	uint8_t bind;          /* 3 global, 2 weak, 1 local (libdwfl's order) */
};
struct symindex {
	uint64_t layout;
	Dwfl_Module *mod;
	struct sym *s;
	uint64_t *maxend;      /* [i]: the highest end of s[0..i] */
	uint64_t min_sizeless; /* the lowest size-less symbol (UINT64_MAX) */
	uint32_t n;
};
#define SYMINDEX_MAX 256       /* modules indexed before starting over */
#define SYM_WINDOW 64          /* symbols looked at below a PC */

/* A PC's inline chain (frames and strings in one block). */
struct inline_entry {
	uint64_t layout, pc; /* key */
	int n;
	struct unwind_inline *frames;
};

#define RULES_MAX (1u << 20)   /* cached PCs before the cache starts over */
#define INLINES_MAX (1u << 18)
#define EXPR_STEPS_MAX 1000    /* as libdwfl's DWARF_EXPR_STEPS_MAX */
#define EXPR_STACK 64

struct unwinder {
	struct rule *table;      /* open addressing, size a power of 2 */
	uint32_t mask, used;
	struct reg_rule *rules;  /* pool of register rules */
	uint32_t nrules, cap_rules;
	Dwarf_Op *ops;           /* pool of expression ops */
	uint32_t nops, cap_ops;
	struct inline_entry *inl; /* inline chains, open addressing */
	uint32_t inl_mask, inl_used;
	struct symindex *syms;   /* per module: its symbols by address */
	int nsyms;
	uint32_t needed;         /* registers some cached rule reads (and
				  * RSP, RBP, RA): the only ones restored */
	struct unwind_stats stats;
};

/* The sample being walked: the stack copy and the current frame. */
struct walk {
	const uint8_t *stack;
	uint64_t base, size;     /* the copy holds [base, base + size) */
	uint64_t span;           /* offsets a word can start at: size - 7 */
	uint64_t r[NREGS];
	uint32_t known;          /* bit per register with a value */
	bool exact_pc;           /* look up the PC itself, not PC - 1 */
};

/* ---- the cache ---- */

static inline uint32_t hash_key(uint64_t layout, uint64_t pc)
{
	uint64_t k = (pc ^ (layout * 0x9e3779b97f4a7c15ull)) *
		     0xff51afd7ed558ccdull;

	return (uint32_t)(k >> 32);
}

static int table_alloc(struct unwinder *u, uint32_t size)
{
	u->table = calloc(size, sizeof(*u->table));
	if (!u->table)
		return -ENOMEM;
	u->mask = size - 1;
	u->used = 0;
	return 0;
}

static void free_inlines(struct unwinder *u)
{
	if (!u->inl)
		return;
	for (uint32_t i = 0; i <= u->inl_mask; i++)
		free(u->inl[i].frames);
	memset(u->inl, 0, (u->inl_mask + 1) * sizeof(*u->inl));
	u->inl_used = 0;
}

struct unwinder *unwind_new(void)
{
	struct unwinder *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	if (table_alloc(u, 256) < 0) {
		free(u);
		return NULL;
	}
	u->needed = ALWAYS;
	return u;
}

static void free_syms(struct unwinder *u)
{
	for (int i = 0; i < u->nsyms; i++) {
		free(u->syms[i].s);
		free(u->syms[i].maxend);
	}
	u->nsyms = 0;
}

void unwind_free(struct unwinder *u)
{
	if (!u)
		return;
	free_syms(u);
	free(u->syms);
	free_inlines(u);
	free(u->inl);
	free(u->table);
	free(u->rules);
	free(u->ops);
	free(u);
}

void unwind_get_stats(const struct unwinder *u, struct unwind_stats *s)
{
	*s = u->stats;
}

/* Forget every rule (the pools with them). */
static void cache_reset(struct unwinder *u)
{
	memset(u->table, 0, (u->mask + 1) * sizeof(*u->table));
	u->used = 0;
	u->nrules = 0;
	u->nops = 0;
	u->stats.resets++;
}

/* Double the table, keeping its rules. */
static int table_grow(struct unwinder *u)
{
	struct rule *old = u->table;
	uint32_t old_size = u->mask + 1;

	if (table_alloc(u, old_size * 2) < 0) {
		u->table = old;
		u->mask = old_size - 1;
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < old_size; i++) {
		uint32_t h;

		if (old[i].kind == RULE_EMPTY)
			continue;
		h = hash_key(old[i].layout, old[i].pc) & u->mask;
		while (u->table[h].kind != RULE_EMPTY)
			h = (h + 1) & u->mask;
		u->table[h] = old[i];
		u->used++;
	}
	free(old);
	return 0;
}

static int pool_reserve(void **pool, uint32_t *cap, uint32_t need,
			size_t elem)
{
	uint32_t n = *cap ? *cap : 256;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*pool, (size_t)n * elem);
	if (!p)
		return -ENOMEM;
	*pool = p;
	*cap = n;
	return 0;
}

/* ---- compiling the CFI at a PC ---- */

/* Copy ops into the pool; returns the index, or -1 (no memory). */
static int64_t keep_ops(struct unwinder *u, const Dwarf_Op *ops, size_t n)
{
	uint32_t at = u->nops;

	if (n > 0xffff || pool_reserve((void **)&u->ops, &u->cap_ops,
				       u->nops + (uint32_t)n,
				       sizeof(*u->ops)) < 0)
		return -1;
	memcpy(&u->ops[at], ops, n * sizeof(*ops));
	u->nops += (uint32_t)n;
	return at;
}

/* The caller's `reg` per libdw's description of it (ops/nops as
 * dwarf_frame_register gives them), as a reg_rule; false: same value. */
static bool compile_reg(struct unwinder *u, struct rule *ru, int reg,
			const Dwarf_Op *ops, size_t nops, bool undefined,
			struct reg_rule *out)
{
	int64_t at;

	out->reg = (uint8_t)reg;
	out->nops = 0;
	out->off = 0;
	if (undefined) {
		if (!(CALLEE_SAVED & (1u << reg)))
			ru->undef |= 1u << reg;
		return false;
	}
	if (nops == 0) /* same value */
		return false;
	if (ops[0].atom == DW_OP_call_frame_cfa) {
		/* CFA [plus_uconst N] [stack_value]: at / is CFA + N */
		size_t i = 1;
		int64_t off = 0;
		bool value = false;

		if (i < nops && ops[i].atom == DW_OP_plus_uconst)
			off = (int64_t)ops[i++].number;
		if (i < nops && ops[i].atom == DW_OP_stack_value) {
			value = true;
			i++;
		}
		if (i == nops) {
			out->kind = value ? RK_VAL_OFFSET : RK_OFFSET;
			out->off = off;
			return true;
		}
	}
	if (nops == 1 && ops[0].atom == DW_OP_regx && ops[0].number < NREGS) {
		out->kind = RK_REG;
		out->off = (int64_t)ops[0].number;
		return true;
	}
	at = keep_ops(u, ops, nops);
	if (at < 0) {
		ru->undef |= 1u << reg;
		return false;
	}
	out->kind = RK_EXPR;
	out->ops = (uint32_t)at;
	out->nops = (uint16_t)nops;
	return true;
}

/* The CFA rule: reg + offset, or an expression. */
static int compile_cfa(struct unwinder *u, Dwarf_Frame *frame,
		       struct rule *ru)
{
	Dwarf_Op *ops;
	size_t nops;
	int64_t at;

	if (dwarf_frame_cfa(frame, &ops, &nops) != 0 || nops == 0)
		return -EINVAL;
	if (nops == 1 && ops[0].atom == DW_OP_bregx && ops[0].number < 16) {
		ru->cfa_reg = (uint8_t)ops[0].number;
		ru->cfa_off = (int64_t)ops[0].number2;
		return 0;
	}
	at = keep_ops(u, ops, nops);
	if (at < 0)
		return -ENOMEM;
	ru->cfa_ops = (uint32_t)at;
	ru->cfa_nops = (uint16_t)nops;
	return 0;
}

/* The registers an expression reads (all of them if one is out of
 * range: the evaluator then fails the frame anyway). */
static uint32_t ops_regs(const Dwarf_Op *ops, size_t n)
{
	uint32_t m = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t at = ops[i].atom;
		uint64_t reg = NREGS;

		if (at >= DW_OP_breg0 && at <= DW_OP_breg31)
			reg = at - DW_OP_breg0;
		else if (at >= DW_OP_reg0 && at <= DW_OP_reg31)
			reg = at - DW_OP_reg0;
		else if (at == DW_OP_bregx || at == DW_OP_regx)
			reg = ops[i].number;
		else
			continue;
		m |= reg < NREGS ? 1u << reg : (1u << NREGS) - 1;
	}
	return m;
}

/* A frame's rules are kept in this order: ALWAYS's registers first. */
static const uint8_t rule_order[NREGS] = {
	DW_RA, DW_RBP, DW_RSP, 0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15,
};

/* Rules from one CFI section; -ENOENT if it has no FDE for the PC. */
static int compile_cfi(struct unwinder *u, Dwarf_CFI *cfi, Dwarf_Addr bias,
		       struct rule *ru)
{
	Dwarf_Frame *frame;
	bool signal = false;
	int err;

	if (dwarf_cfi_addrframe(cfi, ru->pc - bias, &frame) != 0)
		return -ENOENT;
	dwarf_frame_info(frame, NULL, NULL, &signal);
	ru->signal = signal;
	err = compile_cfa(u, frame, ru);
	if (err == 0)
		err = pool_reserve((void **)&u->rules, &u->cap_rules,
				   u->nrules + NREGS, sizeof(*u->rules));
	if (err) {
		free(frame);
		return err;
	}
	ru->first = u->nrules;
	for (int k = 0; k < NREGS; k++) {
		int reg = rule_order[k];
		Dwarf_Op mem[3], *ops;
		size_t nops;
		struct reg_rule *rr = &u->rules[u->nrules];

		if (dwarf_frame_register(frame, reg, mem, &ops, &nops) != 0) {
			ru->undef |= 1u << reg;
			continue;
		}
		if (compile_reg(u, ru, reg, ops, nops,
				nops == 0 && ops == mem, rr) &&
		    !(reg == DW_RSP && rr->kind == RK_VAL_OFFSET &&
		      rr->off == 0)) { /* RSP = CFA: applied anyway */
			u->nrules++;
			ru->nrules++;
			if (k < 3)
				ru->nalways++;
			else
				ru->others |= 1u << reg;
		}
	}
	free(frame);
	ru->kind = RULE_CFI;
	ru->direct = 1;
	u->needed |= ru->cfa_nops ? ops_regs(&u->ops[ru->cfa_ops], ru->cfa_nops)
				  : 1u << ru->cfa_reg;
	for (uint32_t i = 0; i < ru->nrules; i++) {
		const struct reg_rule *rr = &u->rules[ru->first + i];

		if (rr->kind == RK_REG)
			u->needed |= 1u << rr->off;
		else if (rr->kind == RK_EXPR)
			u->needed |= ops_regs(&u->ops[rr->ops], rr->nops);
		if (rr->kind != RK_OFFSET && rr->kind != RK_VAL_OFFSET)
			ru->direct = 0;
	}
	return 0;
}

/* Fill ru (key set) from the module at ru->pc. */
static void compile_rule(struct unwinder *u, Dwfl *dwfl, struct rule *ru)
{
	Dwfl_Module *mod = dwfl_addrmodule(dwfl, ru->pc);
	Dwarf_Addr bias;
	Dwarf_CFI *cfi;
	int err = -ENOENT;

	ru->kind = RULE_NO_CFI;
	if (!mod)
		return;
	if ((cfi = dwfl_module_eh_cfi(mod, &bias)))
		err = compile_cfi(u, cfi, bias, ru);
	if (err == -ENOENT && (cfi = dwfl_module_dwarf_cfi(mod, &bias))) {
		ru->undef = 0;
		ru->nrules = 0;
		err = compile_cfi(u, cfi, bias, ru);
	}
	if (err == -ENOENT)
		ru->kind = RULE_NO_CFI;
	else if (err)
		ru->kind = RULE_BAD;
}

/* The cached rule for pc, compiled on a miss; NULL: out of memory. */
static const struct rule *rule_at(struct unwinder *u, Dwfl *dwfl,
				  uint64_t layout, uint64_t pc)
{
	uint32_t h = hash_key(layout, pc) & u->mask;
	struct rule *ru;

	for (;;) {
		ru = &u->table[h];
		if (ru->kind == RULE_EMPTY)
			break;
		if (ru->pc == pc && ru->layout == layout) {
			u->stats.rule_hits++;
			return ru;
		}
		h = (h + 1) & u->mask;
	}
	u->stats.rule_misses++;
	if (u->used >= RULES_MAX || u->nrules > (1u << 26) ||
	    u->nops > (1u << 26))
		cache_reset(u);
	else if ((u->used + 1) * 2 > u->mask + 1 && table_grow(u) < 0)
		cache_reset(u);
	h = hash_key(layout, pc) & u->mask;
	while (u->table[h].kind != RULE_EMPTY)
		h = (h + 1) & u->mask;
	ru = &u->table[h];
	memset(ru, 0, sizeof(*ru));
	ru->layout = layout;
	ru->pc = pc;
	compile_rule(u, dwfl, ru);
	u->used++;
	return ru;
}

/* ---- reading the stack copy ---- */

/* The 8 bytes at addr, only from inside the copy. */
static inline bool read_word(const struct walk *w, uint64_t addr,
			     uint64_t *out)
{
	uint64_t off = addr - w->base; /* below base: wraps, too big */

	if (off >= w->span)
		return false;
	memcpy(out, w->stack + off, 8);
	return true;
}

/* ---- DWARF expressions (the operations libdwfl's expr_eval takes) ---- */

enum eval_err { EV_OK = 0, EV_STACK, EV_BAD };

struct eval_ctx {
	const struct walk *w;  /* registers of the callee frame, memory */
	uint64_t cfa;
	bool have_cfa;
};

static int op_index(const Dwarf_Op *ops, size_t n, Dwarf_Word offset)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (ops[mid].offset < offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && ops[lo].offset == offset ? (int)lo : -1;
}

/* Binary and comparison operators; false: not one of them. */
static bool binop(uint8_t atom, uint64_t a, uint64_t b, uint64_t *out)
{
	int64_t sa = (int64_t)a, sb = (int64_t)b;

	switch (atom) {
	case DW_OP_and: *out = a & b; return true;
	case DW_OP_or: *out = a | b; return true;
	case DW_OP_xor: *out = a ^ b; return true;
	case DW_OP_plus: *out = a + b; return true;
	case DW_OP_minus: *out = a - b; return true;
	case DW_OP_mul: *out = a * b; return true;
	case DW_OP_shl: *out = b < 64 ? a << b : 0; return true;
	case DW_OP_shr: *out = b < 64 ? a >> b : 0; return true;
	case DW_OP_shra: *out = (uint64_t)(sa >> (b < 64 ? b : 63));
		return true;
	case DW_OP_le: *out = sa <= sb; return true;
	case DW_OP_ge: *out = sa >= sb; return true;
	case DW_OP_eq: *out = sa == sb; return true;
	case DW_OP_lt: *out = sa < sb; return true;
	case DW_OP_gt: *out = sa > sb; return true;
	case DW_OP_ne: *out = sa != sb; return true;
	default: return false;
	}
}

/* Evaluate ops; *is_loc says the result is an address to read (a register
 * rule starting at the CFA, without DW_OP_stack_value). */
static enum eval_err eval(const struct eval_ctx *c, const Dwarf_Op *ops,
			  size_t n, uint64_t *result, bool *is_loc)
{
	uint64_t st[EXPR_STACK], a, b;
	int sp = 0, steps = 0;

	*is_loc = false;
#define NEED(k) do { if (sp < (k)) return EV_BAD; } while (0)
#define PUSH(v) do { uint64_t v_ = (v); if (sp == EXPR_STACK) return EV_BAD; \
	st[sp++] = v_; } while (0)
	for (size_t i = 0; i < n; i++) {
		const Dwarf_Op *op = &ops[i];
		uint8_t at = op->atom;

		if (++steps > EXPR_STEPS_MAX)
			return EV_BAD;
		if (at >= DW_OP_lit0 && at <= DW_OP_lit31) {
			PUSH(at - DW_OP_lit0);
		} else if ((at >= DW_OP_breg0 && at <= DW_OP_breg31) ||
			   at == DW_OP_bregx || (at >= DW_OP_reg0 &&
			   at <= DW_OP_reg31) || at == DW_OP_regx) {
			bool based = at == DW_OP_bregx ||
				     (at >= DW_OP_breg0 && at <= DW_OP_breg31);
			uint64_t reg = at == DW_OP_bregx || at == DW_OP_regx ?
				       op->number : based ?
				       (uint64_t)(at - DW_OP_breg0) :
				       (uint64_t)(at - DW_OP_reg0);
			int64_t off = at == DW_OP_bregx ? (int64_t)op->number2 :
				      based ? (int64_t)op->number : 0;

			if (reg >= NREGS || !(c->w->known & (1u << reg)))
				return EV_BAD;
			PUSH(c->w->r[reg] + (uint64_t)off);
		} else if (binop(at, 0, 0, &a)) {
			NEED(2);
			b = st[--sp];
			a = st[--sp];
			binop(at, a, b, &st[sp++]);
		} else {
			switch (at) {
			case DW_OP_const1u: case DW_OP_const1s:
			case DW_OP_const2u: case DW_OP_const2s:
			case DW_OP_const4u: case DW_OP_const4s:
			case DW_OP_const8u: case DW_OP_const8s:
			case DW_OP_constu: case DW_OP_consts:
				PUSH(op->number);
				break;
			case DW_OP_dup:
				NEED(1);
				PUSH(st[sp - 1]);
				break;
			case DW_OP_drop:
				NEED(1);
				sp--;
				break;
			case DW_OP_pick:
				if (op->number >= (uint64_t)sp)
					return EV_BAD;
				PUSH(st[sp - 1 - (int)op->number]);
				break;
			case DW_OP_over:
				NEED(2);
				PUSH(st[sp - 2]);
				break;
			case DW_OP_swap:
				NEED(2);
				a = st[sp - 1];
				st[sp - 1] = st[sp - 2];
				st[sp - 2] = a;
				break;
			case DW_OP_rot:
				NEED(3);
				a = st[sp - 1];
				st[sp - 1] = st[sp - 2];
				st[sp - 2] = st[sp - 3];
				st[sp - 3] = a;
				break;
			case DW_OP_deref:
			case DW_OP_deref_size:
				NEED(1);
				if (!read_word(c->w, st[sp - 1], &a))
					return EV_STACK;
				if (at == DW_OP_deref_size) {
					if (op->number > 8)
						return EV_BAD;
					if (op->number < 8)
						a &= (1ull << (op->number * 8)) - 1;
				}
				st[sp - 1] = a;
				break;
			case DW_OP_abs:
				NEED(1);
				if ((int64_t)st[sp - 1] < 0)
					st[sp - 1] = -st[sp - 1];
				break;
			case DW_OP_neg:
				NEED(1);
				st[sp - 1] = -st[sp - 1];
				break;
			case DW_OP_not:
				NEED(1);
				st[sp - 1] = ~st[sp - 1];
				break;
			case DW_OP_plus_uconst:
				NEED(1);
				st[sp - 1] += op->number;
				break;
			case DW_OP_div:
			case DW_OP_mod:
				NEED(2);
				b = st[--sp];
				a = st[sp - 1];
				if (b == 0)
					return EV_BAD;
				st[sp - 1] = at == DW_OP_mod ? a % b :
					(uint64_t)((int64_t)a / (int64_t)b);
				break;
			case DW_OP_bra:
				NEED(1);
				if (st[--sp] == 0)
					break;
				/* fall through */
			case DW_OP_skip: {
				int to = op_index(ops, n, op->offset + 3 +
						  (int16_t)op->number);

				if (to < 0)
					return EV_BAD;
				i = (size_t)to - 1;
				break;
			}
			case DW_OP_nop:
				break;
			case DW_OP_call_frame_cfa:
				if (!c->have_cfa)
					return EV_BAD;
				PUSH(c->cfa);
				*is_loc = true;
				break;
			case DW_OP_stack_value:
				*is_loc = false;
				break;
			default: /* DW_OP_addr and friends: not in
				  * x86-64 CFI as compilers emit it */
				return EV_BAD;
			}
		}
	}
#undef NEED
#undef PUSH
	if (sp == 0)
		return EV_BAD;
	*result = st[sp - 1];
	return EV_OK;
}

/* ---- one step: the frame at w to its caller ---- */

static enum unwind_end ev_end(enum eval_err e)
{
	return e == EV_STACK ? UNWIND_END_STACK : UNWIND_END_BAD_FRAME;
}

/* The common case: every rule depends on the CFA alone (saved at CFA +
 * off, or is CFA + off), so the registers are written as they come. */
static enum unwind_end step_direct(struct unwinder *u, const struct rule *ru,
				   struct walk *w, uint64_t cfa)
{
	const struct reg_rule *rr = &u->rules[ru->first];
	uint32_t known = (w->known & ~ru->undef) | (1u << DW_RSP);
	uint32_t n = ru->nrules;
	uint64_t ahead = cfa - w->base + 128;

	/* The walk goes up the copy: fetch the lines the next frames read. */
	if (ahead < w->size) {
		__builtin_prefetch(w->stack + ahead);
		__builtin_prefetch(w->stack + ahead + 64);
	}
	w->r[DW_RSP] = cfa;
	if (u->needed == ALWAYS) { /* the others are not restored */
		known &= ~ru->others;
		n = ru->nalways;
	}
	for (uint32_t i = 0; i < n; i++, rr++) {
		if (!(u->needed & (1u << rr->reg))) {
			/* No rule reads it: not restored (unknown).  A rule
			 * compiled later that does restarts the walk. */
			known &= ~(1u << rr->reg);
			continue;
		}
		if (rr->kind == RK_VAL_OFFSET) {
			w->r[rr->reg] = cfa + (uint64_t)rr->off;
		} else if (!read_word(w, cfa + (uint64_t)rr->off,
				      &w->r[rr->reg])) {
			if (rr->reg == DW_RA)
				return UNWIND_END_STACK;
			known &= ~(1u << rr->reg);
			continue;
		}
		known |= 1u << rr->reg;
	}
	w->known = known;
	if (!(known & (1u << DW_RA)))
		return UNWIND_END_BAD_FRAME;
	w->exact_pc = ru->signal;
	return UNWIND_END_MAX;
}

static enum unwind_end step_cfi(struct unwinder *u, const struct rule *ru,
				struct walk *w)
{
	struct eval_ctx c = { .w = w };
	uint64_t vals[NREGS];
	uint32_t set = 0, unset = ru->undef;
	enum eval_err e;
	bool loc;

	if (ru->cfa_nops) {
		u->stats.exprs++;
		e = eval(&c, &u->ops[ru->cfa_ops], ru->cfa_nops, &c.cfa, &loc);
		if (e)
			return ev_end(e);
	} else {
		if (!(w->known & (1u << ru->cfa_reg)))
			return UNWIND_END_BAD_FRAME;
		c.cfa = w->r[ru->cfa_reg] + (uint64_t)ru->cfa_off;
	}
	c.have_cfa = true;
	if (ru->undef & (1u << DW_RA))
		return UNWIND_END_OUTERMOST;
	if (c.cfa <= w->r[DW_RSP])
		return UNWIND_END_BAD_FRAME; /* no progress: a loop */
	if (ru->direct)
		return step_direct(u, ru, w, c.cfa);
	/* Every rule reads the callee's registers: compute them all, then
	 * write them. */
	for (uint32_t i = 0; i < ru->nrules; i++) {
		const struct reg_rule *rr = &u->rules[ru->first + i];
		uint64_t *v = &vals[i];
		bool ok = true;

		e = EV_STACK; /* what a failed plain read means */
		switch (rr->kind) {
		case RK_OFFSET:
			ok = read_word(w, c.cfa + (uint64_t)rr->off, v);
			break;
		case RK_VAL_OFFSET:
			*v = c.cfa + (uint64_t)rr->off;
			break;
		case RK_REG:
			ok = w->known & (1u << rr->off);
			*v = w->r[rr->off];
			break;
		default:
			u->stats.exprs++;
			e = eval(&c, &u->ops[rr->ops], rr->nops, v, &loc);
			ok = e == EV_OK && (!loc || read_word(w, *v, v));
			break;
		}
		if (ok)
			set |= 1u << i;
		else if (rr->reg == DW_RA)
			return e == EV_BAD ? UNWIND_END_BAD_FRAME :
					     UNWIND_END_STACK;
		else
			unset |= 1u << rr->reg; /* as libdwfl: unknown */
	}
	/* The caller's SP is the CFA (the ABI's rule) unless a rule says. */
	w->r[DW_RSP] = c.cfa;
	w->known = (w->known & ~unset) | (1u << DW_RSP);
	for (uint32_t i = 0; i < ru->nrules; i++) {
		if (set & (1u << i)) {
			uint8_t reg = u->rules[ru->first + i].reg;

			w->r[reg] = vals[i];
			w->known |= 1u << reg;
		}
	}
	if (!(w->known & (1u << DW_RA)))
		return UNWIND_END_BAD_FRAME;
	w->exact_pc = ru->signal;
	return UNWIND_END_MAX; /* "go on" */
}

/* No CFI: follow RBP if it points at a frame record {saved RBP, RA}
 * above SP. */
static enum unwind_end step_fp(struct unwinder *u, struct walk *w)
{
	uint64_t fp = w->r[DW_RBP], sp = w->r[DW_RSP], saved, ra;

	if (!(w->known & (1u << DW_RBP)) || fp < sp || (fp & 7))
		return UNWIND_END_NO_CFI;
	if (!read_word(w, fp, &saved) || !read_word(w, fp + 8, &ra))
		return fp - sp < (1u << 20) ? UNWIND_END_STACK :
					      UNWIND_END_NO_CFI;
	u->stats.fp_frames++;
	w->r[DW_RBP] = saved;
	w->r[DW_RSP] = fp + 16;
	w->r[DW_RA] = ra;
	/* Nothing else is known in the caller but the callee-saved
	 * registers, which code without CFI is trusted to keep. */
	w->known &= CALLEE_SAVED | (1u << DW_RSP) | (1u << DW_RA);
	w->exact_pc = false;
	return UNWIND_END_MAX;
}

static int load_regs(struct walk *w, const uint64_t *regs, uint64_t mask)
{
	uint64_t m = mask & ((1ull << 24) - 1);

	if ((mask & (1ull << PERF_SP | 1ull << PERF_IP)) !=
	    (1ull << PERF_SP | 1ull << PERF_IP))
		return -EINVAL;
	w->known = 0;
	/* regs[] holds one value per bit of mask, in bit order */
	for (int i = 0; m; m &= m - 1, i++) {
		int bit = __builtin_ctzll(m);

		if (perf_to_dwarf[bit] >= 0) {
			w->r[perf_to_dwarf[bit]] = regs[i];
			w->known |= 1u << perf_to_dwarf[bit];
		}
	}
	return 0;
}

int unwind_sample(struct unwinder *u, Dwfl *dwfl, uint64_t layout_id,
		  const uint64_t *regs, uint64_t regs_mask, const void *stack,
		  uint64_t stack_size, uint64_t *pcs, uint8_t *exact, int max,
		  enum unwind_end *end)
{
	struct walk w; /* registers: only those in `known` are read */
	enum unwind_end e = UNWIND_END_MAX;
	uint32_t needed;
	int n = 0;

	*end = UNWIND_END_BAD_FRAME;
#if !defined(__x86_64__)
	(void)u; (void)dwfl; (void)layout_id; (void)regs; (void)regs_mask;
	(void)pcs; (void)exact; (void)max; (void)w;
	return -EOPNOTSUPP;
#endif
	if (!u || !dwfl || !regs || max < 0)
		return -EINVAL;
	u->stats.samples++;
	if (u->inl_used >= INLINES_MAX)
		free_inlines(u);
restart:
	if (load_regs(&w, regs, regs_mask))
		return -EINVAL;
	w.stack = stack;
	w.size = stack ? stack_size : 0;
	w.span = w.size >= 8 ? w.size - 7 : 0;
	w.exact_pc = true;
	if (w.size >= 128) {
		__builtin_prefetch(w.stack);
		__builtin_prefetch(w.stack + 64);
	}
	w.base = w.r[DW_RSP];
	needed = u->needed;
	n = 0;
	while (n < max) {
		uint64_t pc = w.r[DW_RA] - (w.exact_pc ? 0 : 1);
		const struct rule *ru = rule_at(u, dwfl, layout_id, pc);

		if (u->needed != needed) { /* grows at most NREGS times */
			u->stats.restarts++;
			goto restart;
		}

		if (ru->kind == RULE_CFI)
			e = step_cfi(u, ru, &w);
		else if (ru->kind == RULE_NO_CFI)
			e = step_fp(u, &w);
		else
			e = UNWIND_END_BAD_FRAME;
		if (e != UNWIND_END_MAX)
			break;
		if (w.r[DW_RA] == 0) { /* outermost by convention */
			e = UNWIND_END_OUTERMOST;
			break;
		}
		if (exact)
			exact[n] = w.exact_pc;
		pcs[n++] = w.r[DW_RA];
	}
	u->stats.frames += (uint64_t)n;
	*end = e;
	return n;
}

const char *unwind_end_name(enum unwind_end e)
{
	switch (e) {
	case UNWIND_END_OUTERMOST: return "outermost";
	case UNWIND_END_MAX: return "max frames";
	case UNWIND_END_STACK: return "end of the stack copy";
	case UNWIND_END_NO_CFI: return "no CFI";
	case UNWIND_END_BAD_FRAME: return "bad frame";
	}
	return "?";
}

/* ---- inlined frames at a PC ---- */

/* A DIE's name through DW_AT_abstract_origin / DW_AT_specification. */
static const char *die_name(Dwarf_Die *die, unsigned int at)
{
	Dwarf_Attribute attr;

	if (!dwarf_attr_integrate(die, at, &attr))
		return NULL;
	return dwarf_formstring(&attr);
}

static const char *linkage_name(Dwarf_Die *die)
{
	const char *s = die_name(die, DW_AT_linkage_name);

	return s ? s : die_name(die, DW_AT_MIPS_linkage_name);
}

/* Where `inl` (a DW_TAG_inlined_subroutine) was called from. */
static void call_site(Dwarf_Die *inl, const char **file, int *line,
		      int *column)
{
	Dwarf_Attribute attr;
	Dwarf_Word v;
	Dwarf_Die cu;
	Dwarf_Files *files;
	size_t nfiles;

	*file = NULL;
	*line = *column = 0;
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &attr), &v) == 0)
		*line = (int)v;
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_column, &attr),
			    &v) == 0)
		*column = (int)v;
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &attr), &v) == 0 &&
	    dwarf_diecu(inl, &cu, NULL, NULL) &&
	    dwarf_getsrcfiles(&cu, &files, &nfiles) == 0 && v < nfiles)
		*file = dwarf_filesrc(files, v, NULL, NULL);
}

#define INLINE_DEPTH 32

/* What a chain is built from before it is packed into one block. */
struct raw_inline {
	const char *function, *linkage, *file;
	int line, column;
	uint64_t offset;
};

/* The chain at pc from the DWARF scopes (0: no DWARF there).  As
 * eu-addr2line -i: dwarf_getscopes gives the innermost scope at pc (past an
 * inlined instance it continues with the abstract origin's scopes), then
 * dwarf_getscopes_die the concrete scopes around it, callers included. */
static int scopes_chain(Dwfl_Module *mod, uint64_t pc, struct raw_inline *r)
{
	Dwarf_Addr bias;
	Dwarf_Die *cu = dwfl_module_addrdie(mod, pc, &bias);
	Dwarf_Die *scopes = NULL, inner;
	int nscopes, n = 0;

	if (!cu || (nscopes = dwarf_getscopes(cu, pc - bias, &scopes)) <= 0)
		return 0;
	inner = scopes[0];
	free(scopes);
	scopes = NULL;
	nscopes = dwarf_getscopes_die(&inner, &scopes);
	for (int i = 0; i < nscopes && n < INLINE_DEPTH; i++) {
		int tag = dwarf_tag(&scopes[i]);

		if (tag != DW_TAG_inlined_subroutine &&
		    tag != DW_TAG_subprogram && tag != DW_TAG_entry_point)
			continue;
		r[n].function = die_name(&scopes[i], DW_AT_name);
		r[n].linkage = linkage_name(&scopes[i]);
		/* The next frame (the caller) is at this one's call site. */
		if (tag == DW_TAG_inlined_subroutine && n + 1 < INLINE_DEPTH)
			call_site(&scopes[i], &r[n + 1].file, &r[n + 1].line,
				  &r[n + 1].column);
		n++;
		if (tag != DW_TAG_inlined_subroutine)
			break;
	}
	free(scopes);
	return n;
}

static int sym_cmp(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return (x->index > y->index) - (x->index < y->index);
}

/* The symbols dwfl_module_addrinfo considers, sorted by address. */
static int build_index(Dwfl_Module *mod, struct symindex *ix)
{
	int n = dwfl_module_getsymtab(mod);

	ix->s = NULL;
	ix->maxend = NULL;
	ix->n = 0;
	ix->min_sizeless = UINT64_MAX;
	if (n <= 0)
		return 0;
	ix->s = malloc((size_t)n * sizeof(*ix->s));
	ix->maxend = malloc((size_t)n * sizeof(*ix->maxend));
	if (!ix->s || !ix->maxend) {
		free(ix->s);
		free(ix->maxend);
		ix->s = NULL;
		ix->maxend = NULL;
		return -ENOMEM;
	}
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		const char *name = dwfl_module_getsym_info(mod, i, &sym, &addr,
							   NULL, NULL, NULL);
		int type = GELF_ST_TYPE(sym.st_info);
		int bind = GELF_ST_BIND(sym.st_info);

		if (!name || !*name || sym.st_shndx == SHN_UNDEF ||
		    type == STT_SECTION || type == STT_FILE || type == STT_TLS)
			continue;
		ix->s[ix->n++] = (struct sym){
			.addr = addr, .size = sym.st_size, .name = name,
			.index = (uint32_t)i,
			.bind = bind == STB_GLOBAL ? 3 : bind == STB_WEAK ? 2 :
				bind == STB_LOCAL ? 1 : 0,
		};
	}
	qsort(ix->s, ix->n, sizeof(*ix->s), sym_cmp);
	for (uint32_t i = 0; i < ix->n; i++) {
		uint64_t end = ix->s[i].addr + ix->s[i].size;

		ix->maxend[i] = i && ix->maxend[i - 1] > end ?
				ix->maxend[i - 1] : end;
		if (!ix->s[i].size && ix->s[i].addr < ix->min_sizeless)
			ix->min_sizeless = ix->s[i].addr;
	}
	return 0;
}

static struct symindex *index_of(struct unwinder *u, Dwfl_Module *mod,
				 uint64_t layout)
{
	struct symindex *ix;

	for (int i = 0; i < u->nsyms; i++)
		if (u->syms[i].mod == mod && u->syms[i].layout == layout)
			return &u->syms[i];
	if (u->nsyms == SYMINDEX_MAX)
		free_syms(u);
	if (!u->syms && !(u->syms = calloc(SYMINDEX_MAX, sizeof(*u->syms))))
		return NULL;
	ix = &u->syms[u->nsyms];
	ix->mod = mod;
	ix->layout = layout;
	if (build_index(mod, ix) < 0)
		return NULL;
	u->nsyms++;
	return ix;
}

/* b is a better choice than a at the same address (libdwfl's order: the
 * stronger binding, then the smaller size, then the first in the table). */
static bool better(const struct sym *a, const struct sym *b)
{
	if (a->bind != b->bind)
		return b->bind > a->bind;
	if (a->size != b->size)
		return b->size < a->size;
	return b->index < a->index;
}

/* The sized symbol containing pc with the highest address, by binary
 * search: *known says whether the answer (NULL too) is libdwfl's.  It is
 * not when the containing symbol lies more than SYM_WINDOW symbols below
 * pc, or when none contains pc and a size-less one (an assembly label)
 * lies below it, which libdwfl may answer: then ask libdwfl. */
static const struct sym *sym_at(const struct symindex *ix, uint64_t pc,
				bool *known)
{
	uint32_t lo = 0, hi = ix->n;
	const struct sym *best = NULL;

	while (lo < hi) { /* the first symbol above pc */
		uint32_t mid = (lo + hi) / 2;

		if (ix->s[mid].addr <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || ix->maxend[lo - 1] <= pc) { /* none contains pc */
		*known = pc < ix->min_sizeless;
		return NULL;
	}
	for (uint32_t j = lo, seen = 0; j > 0 && seen < SYM_WINDOW;
	     j--, seen++) {
		const struct sym *c = &ix->s[j - 1];

		if (best && c->addr != best->addr)
			break;
		if (c->size && pc - c->addr < c->size &&
		    (!best || better(best, c)))
			best = c;
	}
	*known = best != NULL;
	return best;
}

/* The ELF symbol at pc: its name, and pc's offset in it. */
static const char *symbol(struct unwinder *u, Dwfl_Module *mod,
			  uint64_t layout, uint64_t pc, uint64_t *off)
{
	struct symindex *ix = index_of(u, mod, layout);
	bool known = false;
	const struct sym *s = ix ? sym_at(ix, pc, &known) : NULL;
	GElf_Off o = 0;
	GElf_Sym sym;
	const char *name;

	if (known) {
		*off = s ? pc - s->addr : 0;
		return s ? s->name : NULL;
	}
	u->stats.slow_symbols++;
	name = dwfl_module_addrinfo(mod, pc, &o, &sym, NULL, NULL, NULL);
	*off = o;
	return name;
}

const char *unwind_symbol(struct unwinder *u, Dwfl *dwfl, uint64_t layout_id,
			  uint64_t pc, uint64_t *offset)
{
	Dwfl_Module *mod = dwfl_addrmodule(dwfl, pc);
	uint64_t off = 0;
	const char *name = mod ? symbol(u, mod, layout_id, pc, &off) : NULL;

	if (offset)
		*offset = name ? off : 0;
	return name;
}

static int raw_chain(struct unwinder *u, Dwfl *dwfl, uint64_t layout,
		     uint64_t pc, struct raw_inline *r)
{
	Dwfl_Module *mod = dwfl_addrmodule(dwfl, pc);
	Dwfl_Line *line;
	uint64_t off = 0;
	const char *symname;
	int n;

	memset(r, 0, INLINE_DEPTH * sizeof(*r));
	if (!mod)
		return 0;
	n = scopes_chain(mod, pc, r);
	symname = symbol(u, mod, layout, pc, &off);
	/* The byte before a signal trampoline (glibc's __restore_rt: its
	 * FDE starts there so that ra - 1 finds it), where the handler
	 * "returns" to: named after the symbol at pc + 1. */
	if (!symname && n == 0 &&
	    (symname = symbol(u, mod, layout, pc + 1, &off)) && off != 0)
		symname = NULL;
	if (n == 0) { /* no DWARF: the ELF symbol, mangled for C++ */
		if (!symname)
			return 0;
		r[0].function = symname;
		if (strncmp(symname, "_Z", 2) == 0)
			r[0].linkage = symname;
		n = 1;
	}
	if (!r[n - 1].function)
		r[n - 1].function = symname;
	if (symname)
		r[n - 1].offset = off;
	line = dwfl_module_getsrc(mod, pc);
	if (line)
		r[0].file = dwfl_lineinfo(line, NULL, &r[0].line,
					  &r[0].column, NULL, NULL);
	return n;
}

/* The chain in one malloc'd block: the frames, then their strings. */
static struct unwind_inline *pack_chain(const struct raw_inline *r, int n)
{
	size_t len = (size_t)n * sizeof(struct unwind_inline);
	struct unwind_inline *f;
	char *p;

	for (int i = 0; i < n; i++)
		len += strlen(r[i].function ? r[i].function : "") +
		       strlen(r[i].file ? r[i].file : "") +
		       (r[i].linkage ? strlen(r[i].linkage) + 1 : 0) + 2;
	f = malloc(len);
	if (!f)
		return NULL;
	p = (char *)&f[n];
	for (int i = 0; i < n; i++) {
		const char *s[3] = { r[i].function ? r[i].function : "",
				     r[i].file ? r[i].file : "", r[i].linkage };
		const char **dst[3] = { &f[i].function, &f[i].file,
					&f[i].linkage };

		for (int k = 0; k < 3; k++) {
			*dst[k] = NULL;
			if (!s[k])
				continue;
			*dst[k] = p;
			p = stpcpy(p, s[k]) + 1;
		}
		f[i].line = r[i].line;
		f[i].column = r[i].column;
		f[i].offset = r[i].offset;
	}
	return f;
}

/* Room for one more chain: the table grows (it is emptied only by
 * unwind_sample, so chains stay valid while one hit is printed). */
static int inl_table(struct unwinder *u)
{
	struct inline_entry *old = u->inl, *t;
	uint32_t old_size = u->inl ? u->inl_mask + 1 : 0;
	uint32_t size = old_size ? old_size * 2 : 1024;

	if (u->inl && (u->inl_used + 1) * 2 <= u->inl_mask + 1)
		return 0;
	t = calloc(size, sizeof(*t));
	if (!t)
		return -ENOMEM;
	u->inl = t;
	u->inl_mask = size - 1;
	for (uint32_t i = 0; i < old_size; i++) {
		uint32_t h;

		if (!old[i].frames)
			continue;
		h = hash_key(old[i].layout, old[i].pc) & u->inl_mask;
		while (t[h].frames)
			h = (h + 1) & u->inl_mask;
		t[h] = old[i];
	}
	free(old);
	return 0;
}

int unwind_inlines(struct unwinder *u, Dwfl *dwfl, uint64_t layout_id,
		   uint64_t pc, const struct unwind_inline **frames)
{
	struct raw_inline raw[INLINE_DEPTH];
	struct inline_entry *e;
	uint32_t h;
	int n;

	*frames = NULL;
	if (!u || !dwfl)
		return -EINVAL;
	if (inl_table(u) < 0)
		return -ENOMEM;
	h = hash_key(layout_id, pc) & u->inl_mask;
	for (e = &u->inl[h]; e->frames; e = &u->inl[h]) {
		if (e->pc == pc && e->layout == layout_id) {
			*frames = e->n ? e->frames : NULL;
			return e->n;
		}
		h = (h + 1) & u->inl_mask;
	}
	n = raw_chain(u, dwfl, layout_id, pc, raw);
	/* An empty chain is cached too: a block of 0 frames (not NULL). */
	e->frames = n ? pack_chain(raw, n) : malloc(1);
	if (!e->frames)
		return -ENOMEM;
	e->layout = layout_id;
	e->pc = pc;
	e->n = n;
	u->inl_used++;
	*frames = n ? e->frames : NULL;
	return n;
}
