/* SPDX-License-Identifier: MIT */
/*
 * record/values.c - records the hits behind tests/unit/test_values.c on a
 * machine whose debug registers fire: for each kind of store (written in
 * assembly below, so the compiler cannot choose another), a ring-delivered
 * hit on the buffer it writes, with the registers the command samples
 * (SAMPLED_REGS_MASK), the code bytes of the storing function, and the
 * buffer before and after.  Prints tests/unit/values_samples.h:
 *
 *   make && cc -O1 -Iinclude tests/unit/record/values.c -o /tmp/rec \
 *       -Lbuild -Wl,-rpath,$PWD/build -lhwbp && /tmp/rec > tests/unit/values_samples.h
 *
 * Not built by `make` (it needs traps that fire, and its output is data).
 */
#define _GNU_SOURCE
#include <hwbp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLED_REGS_MASK (0x3ffull | (0xffull << 16)) /* tools/tool.h */
#define NREGS 18
#define CODE 160   /* bytes of code kept from the function's start */
#define BUF 64
#define MAX_HITS 16

uint8_t tgt[BUF] __attribute__((aligned(64)));
const uint64_t konst[4] = { 0x0123456789abcdefull, 0x1111111111111111ull,
			    0x2222222222222222ull, 0x3333333333333333ull };

/* Each store_* takes rdi, rsi and writes tgt; `ret` ends it. */
#define FN(name) ".globl " #name "\n.type " #name ",@function\n" #name ":\n"
__asm__(".text\n.p2align 4\n"
FN(store_mov_reg64)   "mov %rdi, tgt+8(%rip)\n ret\n"
FN(store_mov_reg32)   "mov %edi, tgt+8(%rip)\n ret\n"
FN(store_mov_ah)      "mov %rdi, %rax\n mov %ah, tgt+8(%rip)\n ret\n"
FN(store_mov_imm)     "movq $-5, tgt+8(%rip)\n ret\n"
FN(store_movnti)      "movnti %rdi, tgt+8(%rip)\n ret\n"
FN(store_movbe)       "movbe %rdi, tgt+8(%rip)\n ret\n"
FN(store_mov_indexed) "lea tgt(%rip), %rax\n mov %rdi, 8(%rax,%rsi,8)\n ret\n"
FN(store_stosq)       "mov %rdi, %rax\n lea tgt+8(%rip), %rdi\n stosq\n ret\n"
FN(store_rep_stosb)   "mov %rdi, %rax\n lea tgt+4(%rip), %rdi\n mov $20, %ecx\n"
		      " rep stosb\n ret\n"
FN(store_rep_movsq)   "lea tgt+32(%rip), %rsi\n lea tgt(%rip), %rdi\n mov $3, %ecx\n"
		      " rep movsq\n ret\n"
FN(store_movsq_const) "lea konst(%rip), %rsi\n lea tgt+8(%rip), %rdi\n movsq\n ret\n"
FN(store_movsq_down)  "lea konst+16(%rip), %rsi\n lea tgt+8(%rip), %rdi\n std\n"
		      " movsq\n cld\n ret\n"
FN(store_xchg_imm)    "mov $0x77, %eax\n xchg %eax, tgt+8(%rip)\n ret\n"
FN(store_xchg_arg)    "xchg %rdi, tgt+8(%rip)\n ret\n"
FN(store_xchg_target) "mov $1, %eax\n test %rdi, %rdi\n jz 1f\n mov $2, %eax\n"
		      "1: xchg %eax, tgt+8(%rip)\n ret\n"
FN(store_xadd_imm)    "mov $3, %eax\n lock xadd %eax, tgt+8(%rip)\n ret\n"
FN(store_xadd_reg)    "mov %rdi, %rax\n lock xadd %rax, tgt+8(%rip)\n ret\n"
FN(store_cmpxchg)     "mov %rdi, %rax\n lock cmpxchg %rsi, tgt+8(%rip)\n ret\n"
FN(store_cmpxchg16b)  "push %rbx\n mov %rdi, %rax\n mov %rsi, %rdx\n mov $1, %ebx\n"
		      " mov $2, %ecx\n lock cmpxchg16b tgt(%rip)\n pop %rbx\n ret\n"
FN(store_cmpxchg8b)   "push %rbx\n mov %edi, %eax\n mov %esi, %edx\n mov $5, %ebx\n"
		      " mov $6, %ecx\n lock cmpxchg8b tgt+8(%rip)\n pop %rbx\n ret\n"
FN(store_sete)        "cmp %rdi, %rsi\n sete tgt+8(%rip)\n ret\n"
FN(store_setl)        "cmp %rsi, %rdi\n setl tgt+8(%rip)\n ret\n"
FN(store_push_reg)    "mov %rsp, %rax\n lea tgt+16(%rip), %rsp\n push %rdi\n"
		      " mov %rax, %rsp\n ret\n"
FN(store_push_imm)    "mov %rsp, %rax\n lea tgt+16(%rip), %rsp\n push $-2\n"
		      " mov %rax, %rsp\n ret\n"
FN(store_pop_mem)     "push %rdi\n pop tgt+8(%rip)\n ret\n"
FN(store_bts_imm)     "btsq $5, tgt+8(%rip)\n ret\n"
FN(store_bts_far)     "mov $70, %eax\n btsq %rax, tgt(%rip)\n ret\n"
FN(store_btr_imm)     "btrq $1, tgt+8(%rip)\n ret\n"
FN(store_btc_reg)     "btcq %rdi, tgt+8(%rip)\n ret\n"
FN(store_adc)         "stc\n adcq %rdi, tgt+8(%rip)\n ret\n"
FN(store_sbb)         "stc\n sbbq %rdi, tgt+8(%rip)\n ret\n"
FN(store_shl_imm)     "shlq $4, tgt+8(%rip)\n ret\n"
FN(store_shr_cl)      "mov %esi, %ecx\n shrq %cl, tgt+8(%rip)\n ret\n"
FN(store_sar_imm)     "sarl $3, tgt+8(%rip)\n ret\n"
FN(store_rol_imm)     "rolq $8, tgt+8(%rip)\n ret\n"
FN(store_ror_cl)      "mov %esi, %ecx\n rorw %cl, tgt+8(%rip)\n ret\n"
FN(store_shld)        "shldq $12, %rdi, tgt+8(%rip)\n ret\n"
FN(store_inc)         "incq tgt+8(%rip)\n ret\n"
FN(store_dec)         "decl tgt+8(%rip)\n ret\n"
FN(store_not)         "notq tgt+8(%rip)\n ret\n"
FN(store_neg)         "negq tgt+8(%rip)\n ret\n"
FN(store_add_imm)     "addq $1, tgt+8(%rip)\n ret\n"
FN(store_lock_add)    "lock addq %rdi, tgt+8(%rip)\n ret\n"
FN(store_sub_reg)     "subq %rdi, tgt+8(%rip)\n ret\n"
FN(store_and)         "andq %rdi, tgt+8(%rip)\n ret\n"
FN(store_or)          "orq $0x100, tgt+8(%rip)\n ret\n"
FN(store_xor)         "xorq %rdi, tgt+8(%rip)\n ret\n"
FN(store_movsd_fp)    "movsd tgt+8(%rip), %xmm0\n addsd %xmm0, %xmm0\n"
		      " movsd %xmm0, tgt+8(%rip)\n ret\n"
FN(store_mulsd_const) "movsd tgt+8(%rip), %xmm0\n mulsd konst+8(%rip), %xmm0\n"
		      " movsd %xmm0, tgt+8(%rip)\n ret\n"
FN(store_movaps_zero) "pxor %xmm0, %xmm0\n movaps %xmm0, tgt(%rip)\n ret\n"
FN(store_movq_gpr)    "movq %rdi, %xmm1\n movq %xmm1, tgt+8(%rip)\n ret\n"
FN(store_movups_unknown) "movups %xmm2, tgt(%rip)\n ret\n"
FN(store_vmovdqu_zero) "vpxor %xmm3, %xmm3, %xmm3\n vmovdqu %ymm3, tgt(%rip)\n"
		      " vzeroupper\n ret\n"
FN(store_zmm_zero)    "vpxord %zmm5, %zmm5, %zmm5\n vmovdqu64 %zmm5, tgt(%rip)\n"
		      " vzeroupper\n ret\n"
FN(store_pextrd)      "movd %edi, %xmm4\n pextrd $1, %xmm4, tgt+8(%rip)\n"
		      " pextrd $0, %xmm4, tgt+12(%rip)\n ret\n"
FN(store_fstp)        "fld1\n fstpl tgt+8(%rip)\n ret\n"
FN(store_mov_via_reg) "mov %rdi, %rdx\n mov $9, %edi\n mov %rdx, %rax\n"
		      " xchg %rax, tgt+8(%rip)\n ret\n"
FN(store_end)         "ret\n");

#define STORES(X) \
	X(mov_reg64, 8, 8, 0x1122334455667788, 0) \
	X(mov_reg32, 8, 4, 0xdeadbeef, 0) \
	X(mov_ah, 8, 1, 0xab00, 0) \
	X(mov_imm, 8, 8, 0, 0) \
	X(movnti, 8, 8, 0x55, 0) \
	X(movbe, 8, 8, 0x0102030405060708, 0) \
	X(mov_indexed, 8, 8, 0x99, 0) \
	X(stosq, 8, 8, 0x4242, 0) \
	X(rep_stosb, 8, 8, 0x5a, 0) \
	X(rep_movsq, 8, 8, 0, 0) \
	X(movsq_const, 8, 8, 0, 0) \
	X(movsq_down, 8, 8, 0, 0) \
	X(xchg_imm, 8, 4, 0, 0) \
	X(xchg_arg, 8, 8, 0x31, 0) \
	X(xchg_target, 8, 4, 1, 0) \
	X(xadd_imm, 8, 4, 0, 0) \
	X(xadd_reg, 8, 8, 0x10, 0) \
	X(cmpxchg, 8, 8, 0x700, 0x800) \
	X(cmpxchg, 8, 8, 0x123, 0x800) \
	X(cmpxchg16b, 8, 8, 0x700, 0x700) \
	X(cmpxchg16b, 8, 8, 0x701, 0x700) \
	X(cmpxchg8b, 8, 8, 0x700, 0) \
	X(cmpxchg8b, 8, 8, 0x701, 0) \
	X(sete, 8, 1, 4, 4) \
	X(setl, 8, 1, -3, 2) \
	X(push_reg, 8, 8, 0x5151, 0) \
	X(push_imm, 8, 8, 0, 0) \
	X(pop_mem, 8, 8, 0x6161, 0) \
	X(bts_imm, 8, 8, 0, 0) \
	X(bts_far, 8, 8, 0, 0) \
	X(btr_imm, 8, 8, 0, 0) \
	X(btc_reg, 8, 8, 3, 0) \
	X(adc, 8, 8, 0x10, 0) \
	X(sbb, 8, 8, 0x10, 0) \
	X(shl_imm, 8, 8, 0, 0) \
	X(shr_cl, 8, 8, 0, 5) \
	X(sar_imm, 8, 4, 0, 0) \
	X(rol_imm, 8, 8, 0, 0) \
	X(ror_cl, 8, 2, 0, 3) \
	X(shld, 8, 8, 0xf00000000000000f, 0) \
	X(inc, 8, 8, 0, 0) \
	X(dec, 8, 4, 0, 0) \
	X(not, 8, 8, 0, 0) \
	X(neg, 8, 8, 0, 0) \
	X(add_imm, 8, 8, 0, 0) \
	X(lock_add, 8, 8, 7, 0) \
	X(sub_reg, 8, 8, 0x21, 0) \
	X(and, 8, 8, 0xff00ff00ff00ff00, 0) \
	X(or, 8, 8, 0, 0) \
	X(xor, 8, 8, 0x8000000000000001, 0) \
	X(movsd_fp, 8, 8, 0, 0) \
	X(mulsd_const, 8, 8, 0, 0) \
	X(movaps_zero, 8, 8, 0, 0) \
	X(movq_gpr, 8, 8, 0x7766554433221100, 0) \
	X(movups_unknown, 8, 8, 0, 0) \
	X(vmovdqu_zero, 8, 8, 0, 0) \
	X(zmm_zero, 8, 8, 0, 0) \
	X(pextrd, 8, 8, 0x12345678, 0) \
	X(fstp, 8, 8, 0, 0) \
	X(mov_via_reg, 8, 8, 0xabcdef, 0)

#define DECLARE(name, off, len, a, b) void store_##name(uint64_t, uint64_t);
STORES(DECLARE)

struct hitrec {
	uint64_t ip, addr, regs[NREGS];
};

static struct hitrec hits[MAX_HITS];
static int nhits;

static void on_record(const struct hwbp_record *r, void *cookie)
{
	(void)cookie;
	if (r->kind != HWBP_REC_HIT || nhits == MAX_HITS)
		return;
	hits[nhits].ip = r->ip;
	hits[nhits].addr = r->addr;
	if (r->regs && r->regs_mask == SAMPLED_REGS_MASK)
		memcpy(hits[nhits].regs, r->regs, sizeof(hits[nhits].regs));
	nhits++;
}

static void bytes(const char *field, const uint8_t *b, size_t n)
{
	printf("\t  .%s = {", field);
	for (size_t i = 0; i < n; i++)
		printf("%s0x%02x", !i ? "\n\t\t" : i % 12 ? ", " : ",\n\t\t",
		       b[i]);
	printf(" },\n");
}

/* The buffer's initial contents: a pattern, the watched word a value the
 * store can change (a float for the floating-point cases). */
static void fill(const char *name)
{
	double d = 1.5;
	uint64_t w = 0x00000000000000f0ull;

	for (int i = 0; i < BUF; i++)
		tgt[i] = (uint8_t)(0x80 + i);
	if (!strcmp(name, "movsd_fp") || !strcmp(name, "mulsd_const"))
		memcpy(&w, &d, 8);
	if (!strncmp(name, "cmpxchg", 7))
		w = 0x700;
	memcpy(tgt + 8, &w, 8);
	if (!strcmp(name, "cmpxchg16b"))
		memcpy(tgt, &w, 8);
}

static char names[128][64];
static int nnames;

static int record(const char *name, void (*fn)(uint64_t, uint64_t),
		  uint32_t off, uint32_t len, uint64_t a, uint64_t b)
{
	HWBP_OPTS(hwbp_opts, o, .delivery = HWBP_DELIVER_RING,
		  .on_record = on_record, .sample = HWBP_SAMPLE_REGS,
		  .regs_mask = SAMPLED_REGS_MASK);
	uint8_t before[BUF];
	struct hwbp *bp;
	static int n;

	fill(name);
	memcpy(before, tgt, BUF);
	nhits = 0;
	if (hwbp_create(&bp, (uint64_t)(uintptr_t)(tgt + off), len, HWBP_WRITE,
			&o)) {
		fprintf(stderr, "%s: %s\n", name, hwbp_last_error());
		return -1;
	}
	fn(a, b);
	hwbp_ring_consume(bp);
	hwbp_close(bp);
	snprintf(names[nnames++], sizeof(names[0]), "s%d_%s", n, name);
	printf("static const struct sample s%d_%s = {\n", n++, name);
	printf("\t.name = \"%s\", .a = 0x%llx, .b = 0x%llx,\n", name,
	       (unsigned long long)a, (unsigned long long)b);
	printf("\t.fn = 0x%llx, .addr = 0x%llx, .len = %u, .konst = 0x%llx,\n",
	       (unsigned long long)(uintptr_t)fn,
	       (unsigned long long)(uintptr_t)(tgt + off), len,
	       (unsigned long long)(uintptr_t)konst);
	printf("\t.buf = 0x%llx, .nhits = %d,\n",
	       (unsigned long long)(uintptr_t)tgt, nhits);
	bytes("code", (const uint8_t *)fn, CODE);
	bytes("before", before, BUF);
	bytes("after", tgt, BUF);
	printf("\t.hits = {\n");
	for (int i = 0; i < nhits; i++) {
		printf("\t\t{ .ip = 0x%llx, .regs = {",
		       (unsigned long long)hits[i].ip);
		for (int r = 0; r < NREGS; r++)
			printf("%s0x%llx", r ? ", " : " ",
			       (unsigned long long)hits[i].regs[r]);
		printf(" } },\n");
	}
	printf("\t},\n};\n");
	return nhits ? 0 : -1;
}

int main(void)
{
	int bad = 0;

	printf("/* Recorded by tests/unit/record/values.c: hits on real debug "
	       "registers,\n * sampled registers in perf order "
	       "(SAMPLED_REGS_MASK).  Regenerate, do not edit. */\n");
#define RECORD(name, off, len, a, b) \
	bad |= record(#name, store_##name, off, len, (uint64_t)(a), (uint64_t)(b));
	STORES(RECORD)
	printf("static const uint8_t konst_bytes[] = {");
	for (size_t i = 0; i < sizeof(konst); i++)
		printf("%s0x%02x", !i ? "\n\t" : i % 12 ? ", " : ",\n\t",
		       ((const uint8_t *)konst)[i]);
	printf(" };\n");
	printf("static const struct sample *const samples[] = {\n");
	for (int i = 0; i < nnames; i++)
		printf("\t&%s,\n", names[i]);
	printf("};\n");
	return bad ? 1 : 0;
}
