/* SPDX-License-Identifier: MIT */
/*
 * test_values.c - tools/values.c on recorded hits: for each kind of store,
 * a hit recorded on real debug registers (values_samples.h, written by
 * tests/unit/record/values.c: the IP, the registers sampled in perf order,
 * the code bytes, the buffer before and after) goes through values_apply
 * with a code source over those bytes, and the old and new values and
 * their qualities must be exactly the truth.  Synthetic cases add what a
 * recording cannot pin down: approximate chains, ambiguous flags, no
 * function start, the decode cache's address-space key.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../tools/tool.h"

#define NREGS 18

struct sample {
	const char *name;
	uint64_t a, b, fn, addr, konst, buf;
	uint32_t len;
	int nhits;
	uint8_t code[160], before[64], after[64];
	struct {
		uint64_t ip, regs[NREGS];
	} hits[16];
};

#include "values_samples.h"

#define NSAMPLES (int)(sizeof(samples) / sizeof(samples[0]))

/* ---- a code source over a sample's bytes ---- */

struct src {
	const uint8_t *code;
	uint64_t base;
	size_t size;
	uint64_t fstart;           /* 0: no symbols (decode backward) */
	uint64_t konst;            /* read-only data */
	const uint8_t *mem;        /* the target's memory now (NULL: gone) */
	uint64_t mem_base;
};

static size_t copy_from(const uint8_t *bytes, uint64_t base, size_t size,
			uint64_t addr, void *buf, size_t len)
{
	if (addr < base || addr >= base + size)
		return 0;
	if (len > base + size - addr)
		len = base + size - addr;
	memcpy(buf, bytes + (addr - base), len);
	return len;
}

static size_t read_code(void *ctx, uint64_t addr, void *buf, size_t len)
{
	const struct src *s = ctx;

	return copy_from(s->code, s->base, s->size, addr, buf, len);
}

static uint64_t function_start(void *ctx, uint64_t addr)
{
	const struct src *s = ctx;

	return addr >= s->fstart && s->fstart ? s->fstart : 0;
}

static size_t read_const(void *ctx, uint64_t addr, void *buf, size_t len)
{
	const struct src *s = ctx;

	return copy_from(konst_bytes, s->konst, sizeof(konst_bytes), addr, buf,
			 len);
}

static bool read_mem(uint64_t addr, void *buf, size_t len, void *ctx)
{
	const struct src *s = ctx;

	return s->mem && copy_from(s->mem, s->mem_base, 64, addr, buf, len) ==
			 len;
}

static struct src source_of(const struct sample *m)
{
	return (struct src){ .code = m->code, .base = m->fn,
			     .size = sizeof(m->code), .fstart = m->fn,
			     .konst = m->konst, .mem = m->after,
			     .mem_base = m->buf };
}

static struct code_source cs_of(struct src *s, uint64_t id)
{
	return (struct code_source){ .read = read_code,
				     .function_start = function_start,
				     .read_const = read_const, .ctx = s,
				     .id = id };
}

static const struct sample *find(const char *name, uint64_t a)
{
	for (int i = 0; i < NSAMPLES; i++)
		if (!strcmp(samples[i]->name, name) && samples[i]->a == a)
			return samples[i];
	cr_assert_fail("no recorded sample %s (a = 0x%llx)", name,
		       (unsigned long long)a);
	return NULL;
}

static uint64_t bytes_at(const uint8_t *buf, uint64_t off, uint32_t len)
{
	uint64_t v = 0;

	memcpy(&v, buf + off, len);
	return v;
}

/* The chain as it stood before the sample's first hit: exact. */
static struct value_chain chain_before(const struct sample *m)
{
	struct value_chain c = { .quality = VQ_EXACT };

	memcpy(c.bytes, m->before + (m->addr - m->buf), m->len);
	return c;
}

static const char *qname(enum vquality q)
{
	return q == VQ_EXACT ? "exact" : q == VQ_APPROX ? "approx" : "none";
}

/* ---- every recorded store: the truth, with the quality it deserves ---- */

struct want {
	const char *name;
	uint64_t a;
	enum vquality new_q;
	enum vquality old_q;  /* of the last hit */
};

#define E VQ_EXACT
#define A VQ_APPROX
static const struct want wants[] = {
	{ "mov_reg64", 0x1122334455667788, E, E },
	{ "mov_reg32", 0xdeadbeef, E, E },
	{ "mov_ah", 0xab00, E, E },
	{ "mov_imm", 0, E, E },
	{ "movnti", 0x55, E, E },
	{ "movbe", 0x0102030405060708, E, E },
	{ "mov_indexed", 0x99, E, E },
	{ "stosq", 0x4242, E, E },
	{ "rep_stosb", 0x5a, E, E },        /* the PC on the rep itself */
	{ "rep_movsq", 0, A, E },           /* from writable memory */
	{ "movsq_const", 0, E, E },         /* from read-only data */
	{ "movsq_down", 0, E, E },          /* DF set: rsi moved down */
	{ "xchg_imm", 0, E, E },
	{ "xchg_arg", 0x31, A, E },         /* the stored register: gone */
	{ "xchg_target", 1, A, E },         /* mov $2 may be jumped over */
	{ "xadd_imm", 0, E, E },
	{ "xadd_reg", 0x10, E, E },
	{ "cmpxchg", 0x700, E, E },         /* ZF=1: stored the source */
	{ "cmpxchg", 0x123, E, E },         /* ZF=0: wrote the old back */
	{ "cmpxchg16b", 0x700, E, E },
	{ "cmpxchg16b", 0x701, E, E },
	{ "cmpxchg8b", 0x700, E, E },
	{ "cmpxchg8b", 0x701, E, E },
	{ "sete", 4, E, E },
	{ "setl", -3ull, E, E },
	{ "push_reg", 0x5151, E, E },
	{ "push_imm", 0, E, E },
	{ "pop_mem", 0x6161, A, E },
	{ "bts_imm", 0, E, E },
	{ "bts_far", 0, E, E },             /* bit 70 of tgt: tgt+8 */
	{ "btr_imm", 0, E, E },
	{ "btc_reg", 3, E, E },
	{ "adc", 0x10, E, E },              /* the flags tell the carry in */
	{ "sbb", 0x10, E, E },
	{ "shl_imm", 0, E, E },
	{ "shr_cl", 0, E, E },
	{ "sar_imm", 0, E, E },
	{ "rol_imm", 0, E, E },
	{ "ror_cl", 0, E, E },
	{ "shld", 0xf00000000000000f, E, E },
	{ "inc", 0, E, E },
	{ "dec", 0, E, E },
	{ "not", 0, E, E },
	{ "neg", 0, E, E },
	{ "add_imm", 0, E, E },
	{ "lock_add", 7, E, E },
	{ "sub_reg", 0x21, E, E },
	{ "and", 0xff00ff00ff00ff00, E, E },
	{ "or", 0, E, E },
	{ "xor", 0x8000000000000001, E, E },
	{ "movsd_fp", 0, A, E },            /* 2 * the chain's value */
	{ "mulsd_const", 0, A, E },         /* the chain's value * konst[1] */
	{ "movaps_zero", 0, E, E },         /* pxor before it */
	{ "movq_gpr", 0x7766554433221100, E, E },
	{ "movups_unknown", 0, A, E },      /* xmm2: not sampled */
	{ "vmovdqu_zero", 0, E, E },
	{ "zmm_zero", 0, E, E },
	{ "pextrd", 0x12345678, E, E },
	{ "fstp", 0, A, E },                /* x87 */
	{ "mov_via_reg", 0xabcdef, E, E },  /* rax <- rdx <- rdi, sampled */
};
#undef E
#undef A

/* Each hit's true new value: rep stosb fills one byte a hit, pextrd
 * writes one dword a hit; the others hit once. */
static uint64_t truth(const struct sample *m, int hit, uint8_t *now)
{
	uint64_t off = m->addr - m->buf;

	if (hit == m->nhits - 1)
		return bytes_at(m->after, off, m->len);
	memcpy(now, m->before, 64);
	if (!strcmp(m->name, "rep_stosb"))
		memset(now + off, (int)m->a, (size_t)hit + 1);
	else if (!strcmp(m->name, "pextrd"))
		memcpy(now + off, m->after + off, 4);
	else
		cr_assert_fail("%s: %d hits", m->name, m->nhits);
	return bytes_at(now, off, m->len);
}

static void check_sample(const struct sample *m, const struct want *w)
{
	struct src s = source_of(m);
	struct code_source cs = cs_of(&s, 1);
	struct value_chain chain = chain_before(m);
	struct values *v = values_new();
	uint8_t now[64];
	uint64_t old = bytes_at(m->before, m->addr - m->buf, m->len);

	cr_assert(v);
	cr_assert_gt(m->nhits, 0, "%s: no hit recorded", m->name);
	for (int h = 0; h < m->nhits; h++) {
		struct hit_values hv;
		uint64_t want = truth(m, h, now);

		values_apply(v, &cs, m->hits[h].ip, m->hits[h].regs, m->addr,
			     m->len, &chain, read_mem, &s, &hv);
		cr_assert_eq(hv.new_value, want, "%s (a=0x%llx) hit %d: new "
			     "0x%llx, truth 0x%llx", m->name,
			     (unsigned long long)m->a, h,
			     (unsigned long long)hv.new_value,
			     (unsigned long long)want);
		cr_assert_eq(hv.new_q, w->new_q, "%s (a=0x%llx) hit %d: new "
			     "%s, want %s", m->name, (unsigned long long)m->a,
			     h, qname(hv.new_q), qname(w->new_q));
		cr_assert_eq(hv.old_value, old, "%s hit %d: old 0x%llx, truth "
			     "0x%llx", m->name, h,
			     (unsigned long long)hv.old_value,
			     (unsigned long long)old);
		if (h == 0)
			cr_assert_eq(hv.old_q, w->old_q, "%s: old %s, want %s",
				     m->name, qname(hv.old_q),
				     qname(w->old_q));
		old = want;
	}
	values_free(v);
}

Test(values_recorded, every_store_kind_gives_the_truth)
{
	int checked = 0;

	for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
		check_sample(find(wants[i].name, wants[i].a), &wants[i]);
		checked++;
	}
	cr_assert_eq(checked, NSAMPLES, "a recorded sample has no want");
}

/* ---- what the instruction itself says ---- */

static struct hit_values apply_once(const struct sample *m, struct value_chain *c,
				    bool with_mem)
{
	struct src s = source_of(m);
	struct code_source cs = cs_of(&s, 1);
	struct values *v = values_new();
	struct hit_values hv;

	if (!with_mem)
		s.mem = NULL;
	values_apply(v, &cs, m->hits[0].ip, m->hits[0].regs, m->addr, m->len,
		     c, read_mem, &s, &hv);
	values_free(v);
	return hv;
}

Test(values_recorded, xchg_and_xadd_reveal_the_old_value_exactly)
{
	const char *names[] = { "xchg_imm", "xchg_arg", "xadd_imm", "cmpxchg" };
	const uint64_t as[] = { 0, 0x31, 0, 0x123 };

	for (int i = 0; i < 4; i++) {
		const struct sample *m = find(names[i], as[i]);
		/* the chain knows nothing (attached, or after a loss) */
		struct value_chain c = { .quality = VQ_NONE };
		struct hit_values hv = apply_once(m, &c, true);

		cr_assert_eq(hv.old_q, VQ_EXACT, "%s", names[i]);
		cr_assert_eq(hv.old_value,
			     bytes_at(m->before, m->addr - m->buf, m->len), "%s",
			     names[i]);
	}
}

Test(values_recorded, a_known_change_without_the_old_value)
{
	struct { const char *name; uint64_t a; enum vchange want; } cases[] = {
		{ "add_imm", 0, VC_CHANGED }, { "inc", 0, VC_CHANGED },
		{ "not", 0, VC_CHANGED }, { "xadd_imm", 0, VC_CHANGED },
		{ "bts_imm", 0, VC_SAME },   /* bit 5 of 0xf0 was set: CF=1 */
		{ "btr_imm", 0, VC_SAME },   /* bit 1 was clear */
		{ "btc_reg", 3, VC_CHANGED }, { "cmpxchg", 0x123, VC_SAME },
		{ "or", 0, VC_UNKNOWN },     /* depends on the old value */
		{ "mov_reg64", 0x1122334455667788, VC_UNKNOWN },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct value_chain c = { .quality = VQ_NONE };
		struct hit_values hv = apply_once(find(cases[i].name, cases[i].a),
						  &c, false);

		cr_assert_eq(hv.change, cases[i].want, "%s: change %d, want %d",
			     cases[i].name, hv.change, cases[i].want);
	}
}

Test(values_recorded, read_modify_writes_say_they_use_the_old_value)
{
	struct value_chain c;
	const struct sample *m = find("add_imm", 0);

	c = chain_before(m);
	cr_assert(apply_once(m, &c, true).new_from_old);
	m = find("mov_reg64", 0x1122334455667788);
	c = chain_before(m);
	cr_assert_not(apply_once(m, &c, true).new_from_old);
}

/* ---- approximate values stay consistent with the instruction ---- */

Test(values_approx, a_plus_one_stays_plus_one_from_the_last_value)
{
	const struct sample *m = find("add_imm", 0);
	struct src s = source_of(m);
	struct code_source cs = cs_of(&s, 1);
	struct values *v = values_new();
	/* attached: the value read at arming, approximate */
	struct value_chain c = { .quality = VQ_APPROX };
	uint64_t start = 6727911, mem_now = 6728254;
	uint8_t mem[64];
	struct hit_values hv;

	memcpy(c.bytes, &start, 8);
	/* memory has moved on (records read late): it must not be shown */
	memcpy(mem, m->after, 64);
	memcpy(mem + (m->addr - m->buf), &mem_now, 8);
	s.mem = mem;
	for (uint64_t k = 0; k < 5; k++) {
		values_apply(v, &cs, m->hits[0].ip, m->hits[0].regs, m->addr,
			     8, &c, read_mem, &s, &hv);
		cr_assert_eq(hv.old_value, start + k);
		cr_assert_eq(hv.new_value, start + k + 1);
		cr_assert_eq(hv.old_q, VQ_APPROX);
		cr_assert_eq(hv.new_q, VQ_APPROX);
	}
	values_free(v);
}

Test(values_approx, an_unknown_old_value_is_undone_from_memory)
{
	const struct sample *m = find("add_imm", 0);
	struct value_chain c = { .quality = VQ_NONE };
	struct hit_values hv = apply_once(m, &c, true);
	uint64_t now = bytes_at(m->after, m->addr - m->buf, 8);

	cr_assert_eq(hv.new_value, now);
	cr_assert_eq(hv.new_q, VQ_APPROX);
	cr_assert_eq(hv.old_value, now - 1, "add $1: old shown as new - 1");
	cr_assert_eq(hv.old_q, VQ_APPROX);
}

Test(values_approx, a_mov_makes_the_chain_exact_again)
{
	const struct sample *m = find("mov_reg64", 0x1122334455667788);
	struct value_chain c = { .quality = VQ_APPROX };
	struct hit_values hv = apply_once(m, &c, false);

	cr_assert_eq(hv.old_q, VQ_APPROX);
	cr_assert_eq(hv.new_q, VQ_EXACT);
	cr_assert_eq(hv.new_value, 0x1122334455667788ull);
	cr_assert_eq(c.quality, VQ_EXACT);
}

Test(values_approx, a_floating_point_store_is_approximate_not_unknown)
{
	/* the process has exited (no memory): the value still follows from
	 * the load and the addsd before the store */
	const struct sample *m = find("movsd_fp", 0);
	struct value_chain c = chain_before(m);
	struct hit_values hv = apply_once(m, &c, false);
	double oldv, newv;

	memcpy(&oldv, &hv.old_value, 8);
	memcpy(&newv, &hv.new_value, 8);
	cr_assert_eq(hv.new_q, VQ_APPROX);
	cr_assert(oldv == 1.5 && newv == 3.0, "%g -> %g", oldv, newv);
}

/* ---- synthetic: what recordings do not pin down ---- */

/* adc $0, mem with flags that fit both a carry in of 0 and of 1: no exact
 * value; the memory read instead. */
Test(values_synthetic, adc_with_flags_that_cannot_tell_reads_memory)
{
	/* 48 83 15 00 00 00 00 00: adcq $0, 0(%rip) at 0x1000 */
	static const uint8_t code[] = { 0x48, 0x83, 0x15, 0x00, 0x00, 0x00, 0x00,
					0x00, 0xc3 };
	uint8_t mem[64] = { 0 };
	struct src s = { .code = code, .base = 0x1000, .size = sizeof(code),
			 .fstart = 0x1000, .mem = mem, .mem_base = 0x1008 };
	struct code_source cs = cs_of(&s, 7);
	struct values *v = values_new();
	struct value_chain c = { .bytes = { 0x01 }, .quality = VQ_EXACT };
	uint64_t regs[NREGS] = { 0 };
	struct hit_values hv;

	/* old 1: 1 + 0 + 0 = 1 and 1 + 0 + 1 = 2 have equal flags (no CF,
	 * ZF, SF, OF, AF; PF odd) */
	regs[9] = 0x202;
	mem[0] = 2;
	values_apply(v, &cs, 0x1008, regs, 0x1008, 8, &c, read_mem, &s, &hv);
	cr_assert_eq(hv.new_q, VQ_APPROX);
	cr_assert_eq(hv.new_value, 2);
	/* old 0xff..ff: + 0 + 0 = 0xff..ff (SF, PF), + 1 = 0 (ZF, CF): exact */
	memset(c.bytes, 0xff, 8);
	c.quality = VQ_EXACT;
	regs[9] = 0x202 | 0x1 | 0x40 | 0x4 | 0x10;
	values_apply(v, &cs, 0x1008, regs, 0x1008, 8, &c, read_mem, &s, &hv);
	cr_assert_eq(hv.new_q, VQ_EXACT);
	cr_assert_eq(hv.new_value, 0);
	values_free(v);
}

/* Stripped code: no function start.  The recorded functions lie one after
 * the other in the first sample's bytes: decoded backward, each store is
 * the instruction decoded forward, and gives the same value (where that
 * did not come from the instructions before it, which backward decoding
 * does not know). */
Test(values_synthetic, without_a_function_start_decode_backward)
{
	const struct sample *all = samples[0];
	int tried = 0, valued = 0;

	for (int i = 0; i < NSAMPLES; i++) {
		const struct sample *m = samples[i];
		uint64_t ip = m->hits[0].ip;
		struct src fwd = source_of(m), back = fwd;
		struct code_source cf = cs_of(&fwd, 4), cb = cs_of(&back, 5);
		struct value_chain c1 = chain_before(m), c2 = c1;
		struct hit_values h1, h2;
		struct access a1, a2;
		struct values *v;

		if (ip >= all->fn + sizeof(all->code) - 16 || m->nhits != 1)
			continue;
		back.code = all->code;
		back.base = all->fn;
		back.fstart = 0;
		v = values_new();
		values_decode(v, &cf, ip, &a1);
		values_decode(v, &cb, ip, &a2);
		cr_assert(a2.decoded, "%s: not decoded backward", m->name);
		cr_assert_eq(a1.insn_addr, a2.insn_addr, "%s", m->name);
		cr_assert_str_eq(a1.mnemonic, a2.mnemonic, "%s", m->name);
		values_apply(v, &cf, ip, m->hits[0].regs, m->addr, m->len, &c1,
			     read_mem, &fwd, &h1);
		values_apply(v, &cb, ip, m->hits[0].regs, m->addr, m->len, &c2,
			     read_mem, &back, &h2);
		if (h2.new_q == VQ_EXACT) {
			cr_assert_eq(h1.new_q, VQ_EXACT, "%s", m->name);
			cr_assert_eq(h1.new_value, h2.new_value, "%s", m->name);
			valued++;
		}
		values_free(v);
		tried++;
	}
	cr_assert_geq(tried, 10, "only %d samples within the first's bytes",
		      tried);
	cr_assert_geq(valued, 8, "only %d valued exactly", valued);
}

Test(values_synthetic, bytes_that_decode_no_single_way_are_not_decoded)
{
	/* the same byte everywhere: every start lands elsewhere */
	uint8_t code[64];
	struct src s = { .code = code, .base = 0x2000, .size = sizeof(code) };
	struct code_source cs = cs_of(&s, 3);
	struct values *v = values_new();
	struct access acc;

	memset(code, 0x0f, sizeof(code)); /* 0f 0f: 3DNow!, needs more bytes */
	values_decode(v, &cs, 0x2000 + 40, &acc);
	cr_assert_not(acc.decoded);
	values_free(v);
}

Test(values_synthetic, the_cache_is_per_address_space)
{
	/* the same IP in two address spaces: mov $1 in one, mov $2 in the
	 * other (c7 05 disp32 imm32: movl $imm, disp(%rip)) */
	static const uint8_t one[] = { 0xc7, 0x05, 0x00, 0x00, 0x00, 0x00,
				       0x01, 0x00, 0x00, 0x00, 0xc3 };
	static const uint8_t two[] = { 0xc7, 0x05, 0x00, 0x00, 0x00, 0x00,
				       0x02, 0x00, 0x00, 0x00, 0xc3 };
	struct src s1 = { .code = one, .base = 0x3000, .size = sizeof(one),
			  .fstart = 0x3000 };
	struct src s2 = s1;
	struct code_source c1 = cs_of(&s1, 10), c2 = cs_of(&s2, 11);
	struct values *v = values_new();
	struct value_chain c = { .quality = VQ_EXACT };
	struct hit_values hv;

	s2.code = two;
	values_apply(v, &c1, 0x300a, NULL, 0x300a, 4, &c, NULL, NULL, &hv);
	cr_assert_eq(hv.new_value, 1);
	values_apply(v, &c2, 0x300a, NULL, 0x300a, 4, &c, NULL, NULL, &hv);
	cr_assert_eq(hv.new_value, 2, "decoded from the other space's code");
	cr_assert_eq(hv.new_q, VQ_EXACT);
	values_free(v);
}

Test(values_synthetic, no_registers_then_memory)
{
	const struct sample *m = find("mov_reg64", 0x1122334455667788);
	struct src s = source_of(m);
	struct code_source cs = cs_of(&s, 1);
	struct values *v = values_new();
	struct value_chain c = chain_before(m);
	struct hit_values hv;

	values_apply(v, &cs, m->hits[0].ip, NULL, m->addr, m->len, &c,
		     read_mem, &s, &hv);
	cr_assert_eq(hv.new_q, VQ_APPROX);
	cr_assert_eq(hv.new_value, 0x1122334455667788ull);
	s.mem = NULL; /* and nothing at all when the memory is gone too */
	values_apply(v, &cs, m->hits[0].ip, NULL, m->addr, m->len, &c,
		     read_mem, &s, &hv);
	cr_assert_eq(hv.new_q, VQ_NONE);
	values_free(v);
}

Test(values_synthetic, a_write_next_to_the_watched_bytes_is_not_theirs)
{
	/* the recorded mov to tgt+8, applied to a watch on tgt+16: the
	 * value comes from memory, not from the register */
	const struct sample *m = find("mov_reg64", 0x1122334455667788);
	struct src s = source_of(m);
	struct code_source cs = cs_of(&s, 1);
	struct values *v = values_new();
	struct value_chain c = { .quality = VQ_EXACT };
	struct hit_values hv;

	values_apply(v, &cs, m->hits[0].ip, m->hits[0].regs, m->buf + 16, 8,
		     &c, read_mem, &s, &hv);
	cr_assert_eq(hv.new_q, VQ_APPROX);
	cr_assert_eq(hv.new_value, bytes_at(m->after, 16, 8));
	values_free(v);
}
