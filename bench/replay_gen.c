/* SPDX-License-Identifier: MIT */
/*
 * replay_gen.c - hit records made without debug registers, for the replay
 * benchmark (bench/replay): 16 threads store to 4 variables at the bottom
 * of call chains 8 to 32 deep that run through three modules (this
 * program, bench/libreplay.so, and libc's qsort calling back), built with
 * -O2 and no frame pointers.  Each store is followed by an int3: the
 * SIGTRAP handler sees the registers as a data watchpoint would sample
 * them (the PC just after the store) and copies the stack from the stack
 * pointer up, as PERF_SAMPLE_STACK_USER would.  The capture (the code
 * mappings, the variables, the samples) goes to the file named by argv[1].
 *
 *   replay_gen FILE [SAMPLES_PER_THREAD]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "replay.h"

#define THREADS 16
#define STACK_COPY 16384

/* The watched variables: two here, two in the library. */
volatile long r_counter, r_total;
extern volatile long lib_flag, lib_sum;
void lib_recurse(int depth, void (*leaf)(void));

struct sample_buf {
	struct replay_sample s;
	uint8_t stack[STACK_COPY];
};

static __thread struct sample_buf *cur;
static __thread uintptr_t stack_top;
static __thread int cur_loc;
static struct sample_buf *bufs[THREADS];
static int nper = 64;
static int counts[THREADS];

/* The perf user registers (x86-64: AX..FLAGS, R8..R15) of a ucontext. */
static void perf_regs(const ucontext_t *uc, uint64_t ip, uint64_t *r)
{
	static const int order[] = { REG_RAX, REG_RBX, REG_RCX, REG_RDX,
				     REG_RSI, REG_RDI, REG_RBP, REG_RSP,
				     REG_RIP, REG_EFL, REG_R8, REG_R9,
				     REG_R10, REG_R11, REG_R12, REG_R13,
				     REG_R14, REG_R15 };

	for (int i = 0; i < 18; i++)
		r[i] = (uint64_t)uc->uc_mcontext.gregs[order[i]];
	r[8] = ip;
}

/* SIGTRAP after the store: async-signal-safe (memcpy only). */
static void on_trap(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	uint64_t ip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP] - 1;
	uintptr_t sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
	size_t n = stack_top > sp ? stack_top - sp : 0;

	(void)sig, (void)si;
	if (!cur)
		return;
	if (n > STACK_COPY)
		n = STACK_COPY;
	cur->s.ip = ip;
	cur->s.loc = (uint32_t)cur_loc;
	perf_regs(uc, ip, cur->s.regs);
	cur->s.stack_size = (uint32_t)n;
	memcpy(cur->stack, (const void *)sp, n);
	cur = NULL;
}

#define STORE_TRAP(var, v)                                                     \
	__asm__ volatile("movq %1, %0\n\tint3" : "=m"(var) : "r"((long)(v))   \
			 : "memory")

__attribute__((noinline)) static void leaf_counter(void)
{
	STORE_TRAP(r_counter, r_counter + 1);
}

__attribute__((noinline)) static void leaf_total(void)
{
	STORE_TRAP(r_total, r_total + 3);
}

__attribute__((noinline)) void leaf_lib_flag(void)
{
	STORE_TRAP(lib_flag, 1);
}

__attribute__((noinline)) void leaf_lib_sum(void)
{
	STORE_TRAP(lib_sum, lib_sum + 7);
}

static void (*const leaves[4])(void) = { leaf_counter, leaf_total,
					 leaf_lib_flag, leaf_lib_sum };

static int cmp_and_store(const void *a, const void *b)
{
	leaves[cur_loc]();
	return *(const int *)a - *(const int *)b;
}

/* Down `depth` frames of this program, then the leaf: directly, through
 * the library, or through qsort. */
__attribute__((noinline)) static void descend(int depth, int how)
{
	int v[2] = { 2, 1 };

	if (depth > 0) {
		descend(depth - 1, how);
		__asm__ volatile("" ::: "memory"); /* not a tail call */
		return;
	}
	if (how == 1)
		lib_recurse(4, leaves[cur_loc]);
	else if (how == 2)
		qsort(v, 2, sizeof(v[0]), cmp_and_store);
	else
		leaves[cur_loc]();
}

static void *thread_main(void *arg)
{
	int t = (int)(intptr_t)arg;
	pthread_attr_t attr;
	void *lo;
	size_t size;

	pthread_getattr_np(pthread_self(), &attr);
	pthread_attr_getstack(&attr, &lo, &size);
	pthread_attr_destroy(&attr);
	stack_top = (uintptr_t)lo + size;
	for (int i = 0; i < nper; i++) {
		struct sample_buf *b = &bufs[t][i];

		b->s.thread = (uint32_t)t;
		cur_loc = (t + i) % 4;
		cur = b;
		descend(4 + (i * 7 + t) % 25, i % 3);
		if (!cur)
			counts[t]++;
		cur = NULL;
	}
	return NULL;
}

static void write_maps(FILE *f)
{
	FILE *m = fopen("/proc/self/maps", "r");
	char line[4352], path[4096];
	unsigned long long start, end, off;
	char perms[8];
	uint32_t n = 0;
	long at = ftell(f);

	fwrite(&n, sizeof(n), 1, f);
	while (m && fgets(line, sizeof(line), m)) {
		struct replay_map rm;

		path[0] = '\0';
		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %4095[^\n]", &start,
			   &end, perms, &off, path) < 5 || perms[2] != 'x' ||
		    path[0] != '/')
			continue;
		rm = (struct replay_map){ start, end - start, off,
					  (uint32_t)strlen(path), 0 };
		fwrite(&rm, sizeof(rm), 1, f);
		fwrite(path, 1, rm.pathlen, f);
		n++;
	}
	if (m)
		fclose(m);
	fseek(f, at, SEEK_SET);
	fwrite(&n, sizeof(n), 1, f);
	fseek(f, 0, SEEK_END);
}

static void write_locs(FILE *f)
{
	const struct { const char *name; volatile long *addr; } locs[4] = {
		{ "r_counter", &r_counter }, { "r_total", &r_total },
		{ "lib_flag", &lib_flag }, { "lib_sum", &lib_sum },
	};
	uint32_t n = 4;

	fwrite(&n, sizeof(n), 1, f);
	for (int i = 0; i < 4; i++) {
		struct replay_loc rl = { (uint64_t)(uintptr_t)locs[i].addr, 8,
					 (uint32_t)strlen(locs[i].name) };

		fwrite(&rl, sizeof(rl), 1, f);
		fwrite(locs[i].name, 1, rl.namelen, f);
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_sigaction = on_trap,
				.sa_flags = SA_SIGINFO };
	pthread_t th[THREADS];
	uint32_t total = 0;
	FILE *f;

	if (argc < 2) {
		fprintf(stderr, "usage: replay_gen FILE [SAMPLES_PER_THREAD]\n");
		return 2;
	}
	if (argc > 2)
		nper = atoi(argv[2]);
	sigaction(SIGTRAP, &sa, NULL);
	for (int t = 0; t < THREADS; t++)
		bufs[t] = calloc((size_t)nper, sizeof(struct sample_buf));
	for (int t = 0; t < THREADS; t++)
		pthread_create(&th[t], NULL, thread_main, (void *)(intptr_t)t);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	f = fopen(argv[1], "wb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	fwrite(REPLAY_MAGIC, 1, sizeof(REPLAY_MAGIC), f);
	write_maps(f);
	write_locs(f);
	for (int t = 0; t < THREADS; t++)
		total += (uint32_t)counts[t];
	fwrite(&total, sizeof(total), 1, f);
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < nper; i++) {
			struct sample_buf *b = &bufs[t][i];

			if (!b->s.ip)
				continue;
			fwrite(&b->s, sizeof(b->s), 1, f);
			fwrite(b->stack, 1, b->s.stack_size, f);
		}
	fclose(f);
	fprintf(stderr, "replay_gen: %u samples of %d threads in %s\n", total,
		THREADS, argv[1]);
	return 0;
}
