/* SPDX-License-Identifier: MIT */
/*
 * cmd_stores.c - a target for test_values.c: stores to `target` (a long)
 * through each kind of instruction hwbp decodes (in assembly, so the
 * compiler cannot pick another), and prints one line per hit it makes,
 * "KIND VALUE" with the value `target` holds after it, in the order made.
 *   cmd_stores            every kind, then 500 ms asleep (so that the
 *                         memory hwbp reads for approximate values is
 *                         still there), exit 0; 50 ms after each store
 *                         hwbp values by reading memory, so that it
 *                         reads (most likely) that store's value
 *   cmd_stores count MS   `lock addq $1` every millisecond for MS ms,
 *                         after printing "ready PID" (for attaching)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* 64-byte aligned: 16-, 32- and 64-byte stores cover it whole */
long target __attribute__((aligned(64)));
long beside[7];
const long konst[2] = { 0x0123456789abcdefL, 0x1111111111111111L };

#define FN(name) ".globl " #name "\n.type " #name ",@function\n" #name ":\n"
__asm__(".text\n"
FN(k_mov)        "mov %rdi, target(%rip)\n ret\n"
FN(k_mov_imm)    "movq $-77, target(%rip)\n ret\n"
FN(k_movnti)     "movnti %rdi, target(%rip)\n ret\n"
FN(k_movbe)      "movbe %rdi, target(%rip)\n ret\n"
FN(k_stosq)      "mov %rdi, %rax\n lea target(%rip), %rdi\n stosq\n ret\n"
FN(k_rep_stosb)  "mov %rdi, %rax\n lea target(%rip), %rdi\n mov $8, %ecx\n"
		 " rep stosb\n ret\n"
FN(k_rep_movsq)  "lea beside(%rip), %rsi\n lea target(%rip), %rdi\n mov $1, %ecx\n"
		 " rep movsq\n ret\n"
FN(k_xchg_imm)   "mov $0x77, %eax\n xchg %rax, target(%rip)\n ret\n"
FN(k_xchg_arg)   "xchg %rdi, target(%rip)\n ret\n"
FN(k_xadd)       "mov $5, %eax\n lock xadd %rax, target(%rip)\n ret\n"
FN(k_cmpxchg)    "mov %rdi, %rax\n lock cmpxchg %rsi, target(%rip)\n ret\n"
FN(k_cmpxchg16b) "push %rbx\n mov %rdi, %rax\n mov %rsi, %rdx\n mov $9, %ebx\n"
		 " xor %ecx, %ecx\n lock cmpxchg16b target(%rip)\n pop %rbx\n ret\n"
FN(k_sete)       "cmp %rdi, %rsi\n sete target(%rip)\n ret\n"
FN(k_push)       "mov %rsp, %rax\n lea target+8(%rip), %rsp\n push %rdi\n"
		 " mov %rax, %rsp\n ret\n"
FN(k_pop)        "push %rdi\n pop target(%rip)\n ret\n"
FN(k_bts)        "btsq $4, target(%rip)\n ret\n"
FN(k_adc)        "stc\n adcq %rdi, target(%rip)\n ret\n"
FN(k_shl)        "shlq $3, target(%rip)\n ret\n"
FN(k_inc)        "incq target(%rip)\n ret\n"
FN(k_lock_add)   "lock addq $1, target(%rip)\n ret\n"
FN(k_movsd_fp)   "movsd target(%rip), %xmm0\n addsd %xmm0, %xmm0\n"
		 " movsd %xmm0, target(%rip)\n ret\n"
FN(k_movaps_zero) "pxor %xmm1, %xmm1\n movaps %xmm1, target(%rip)\n ret\n"
FN(k_movq_gpr)   "movq %rdi, %xmm2\n movq %xmm2, target(%rip)\n ret\n"
FN(k_movups)     "movq %rdi, %xmm3\n call k_nothing\n movups %xmm3, target(%rip)\n"
		 " ret\n"
FN(k_nothing)    "ret\n"
FN(k_vmovdqu_zero) "vpxor %xmm4, %xmm4, %xmm4\n vmovdqu %ymm4, target(%rip)\n"
		 " vzeroupper\n ret\n"
FN(k_fstp)       "fld1\n fstpl target(%rip)\n ret\n");

void k_mov(long), k_mov_imm(void), k_movnti(long), k_movbe(long),
     k_stosq(long), k_rep_stosb(long), k_rep_movsq(void), k_xchg_imm(void),
     k_xchg_arg(long), k_xadd(void), k_cmpxchg(long, long),
     k_cmpxchg16b(long, long), k_sete(long, long), k_push(long),
     k_pop(long), k_bts(void), k_adc(long), k_shl(void), k_inc(void),
     k_lock_add(void), k_movsd_fp(void), k_movaps_zero(void),
     k_movq_gpr(long), k_movups(long), k_vmovdqu_zero(void), k_fstp(void);

static void said(const char *kind)
{
	printf("%s %ld\n", kind, target);
}

/* A store hwbp values from memory: give it time to read it. */
static void said_slowly(const char *kind)
{
	said(kind);
	usleep(50000);
}

/* A plain store first: after an approximate value the chain is exact
 * again (the test expects the read-modify-writes after it exact). */
static void reset(long v)
{
	k_mov(v);
	said("mov");
}

static void every_kind(void)
{
	double d = 1.5;
	long bits;

	reset(0x1122334455667788L);
	k_mov_imm(); said("mov_imm");
	k_movnti(0x55); said("movnti");
	k_movbe(0x0102030405060708L); said("movbe");
	k_stosq(0x4242); said("stosq");
	k_rep_stosb(0x5a);
	for (int i = 1; i <= 8; i++) { /* a hit a byte, the PC on the rep */
		long v = 0x4242;

		memset(&v, 0x5a, (size_t)i);
		printf("rep_stosb %ld\n", v);
	}
	k_xchg_imm(); said("xchg_imm");
	k_xadd(); said("xadd");
	k_cmpxchg(0x77 + 5, 0x600); said("cmpxchg");   /* equal: stores */
	k_cmpxchg(1, 0x700); said("cmpxchg");          /* not: rewrites */
	beside[0] = 0;
	k_cmpxchg16b(0x600, 0); said("cmpxchg16b");
	k_sete(4, 4); said("sete");
	k_push(0x5151); said("push");
	k_bts(); said("bts");
	k_adc(0x0e); said("adc");           /* the flags tell the carry in */
	k_shl(); said("shl");
	k_inc(); said("inc");
	k_lock_add(); said("lock_add");
	k_movaps_zero(); said("movaps_zero");
	k_movq_gpr(0x7766554433221100L); said("movq_gpr");
	k_vmovdqu_zero(); said("vmovdqu_zero");
	memcpy(&bits, &d, 8);
	reset(bits);
	k_movsd_fp(); said("movsd_fp");                /* approximate */
	beside[0] = 0x3131;
	k_rep_movsq(); said_slowly("rep_movsq");              /* approximate */
	reset(0x10);
	k_xchg_arg(0x2020); said_slowly("xchg_arg");          /* approximate */
	reset(0x11);
	k_pop(0x6161); said_slowly("pop");                    /* approximate */
	reset(0x12);
	k_movups(0x4343); said_slowly("movups");              /* approximate */
	reset(0x13);
	k_fstp(); said_slowly("fstp");                        /* approximate */
	reset(0x14);
	fflush(stdout);
	usleep(500000);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	if (argc > 2 && !strcmp(argv[1], "count")) {
		long long end = now_ms() + atoi(argv[2]);

		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		while (now_ms() < end) {
			k_lock_add();
			usleep(1000);
		}
		return 0;
	}
	every_kind();
	return 0;
}
