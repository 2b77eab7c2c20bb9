/* SPDX-License-Identifier: MIT */
/*
 * unwind.c - the unwinder (tools/unwind.c) on recorded hits:
 *   unwind show FILE          each hit's backtrace, named (inline chains),
 *                             and whether libdwfl's walker agrees
 *   unwind depth [-t TID] FILE...
 *                             frames per hit, the stack bytes a complete
 *                             walk needs, and the frames reached when only
 *                             the first 1-32 KiB of each copy are kept
 *                             (-t: thread TID's hits only; -t -TID: all
 *                             but TID's)
 *   unwind speed FILE [SECS]  walks/s and frames/s on one core (CPU time
 *                             of this thread): this unwinder, its first
 *                             (uncached) walk, and libdwfl's
 *                             dwfl_getthread_frames on a kept Dwfl
 *   unwind walks FILE [N]     N cached passes over the hits, no clock: run
 *                             it under callgrind for instructions per walk
 *   unwind cost [HITS]        thread CPU time per hit (trap, sample, ring)
 *                             with 0-64 KiB of stack sampled
 *   unwind record -p PID -a ADDR[/exec] -n HITS -o FILE [-s BYTES] [-k K]
 *                             record HITS hits of another process (write
 *                             watch on ADDR, or an execute breakpoint)
 *                             with BYTES of stack (default 65000), one hit
 *                             in K (default 1), until it exits or SIGINT
 * FILE is the format of tests/unit/unwind_rec.h (the unit tests' target
 * writes it too).  Prints "name value unit" lines for speed.
 */
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tools/tool.h"
#include "../tests/unit/unwind_rec.h"

#define MAXF 256

static double cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int load(const char *path, struct unw_file *f, Dwfl **dwfl)
{
	int err = unw_load(path, f);

	if (err) {
		fprintf(stderr, "%s: %s\n", path, strerror(-err));
		return -1;
	}
	*dwfl = unw_dwfl(f->maps);
	if (!*dwfl) {
		fprintf(stderr, "%s: modules: %s\n", path, dwfl_errmsg(-1));
		return -1;
	}
	return 0;
}

static const char *module_of(Dwfl *dwfl, uint64_t pc)
{
	Dwfl_Module *m = dwfl_addrmodule(dwfl, pc);
	const char *name = m ? dwfl_module_info(m, NULL, NULL, NULL, NULL,
						NULL, NULL, NULL) : NULL;
	const char *slash = name ? strrchr(name, '/') : NULL;

	return slash ? slash + 1 : name ? name : "?";
}

static void print_pc(struct unwinder *u, Dwfl *dwfl, uint64_t pc,
		     uint64_t look)
{
	const struct unwind_inline *f;
	int n = unwind_inlines(u, dwfl, 1, look, &f);

	if (n <= 0) {
		printf("    %#14llx  ? [%s]\n", (unsigned long long)pc,
		       module_of(dwfl, pc));
		return;
	}
	for (int i = 0; i < n; i++)
		printf("    %#14llx  %s%s+%llu (%s:%d) [%s]\n",
		       (unsigned long long)pc, i < n - 1 ? "(inlined) " : "",
		       f[i].function, (unsigned long long)f[i].offset,
		       f[i].file, f[i].line, module_of(dwfl, pc));
}

static int show(const char *path)
{
	struct unw_file f;
	Dwfl *dwfl;
	struct unwinder *u = unwind_new();
	struct unw_ref ref = { 0 };

	if (!u || load(path, &f, &dwfl))
		return 1;
	for (int i = 0; i < f.n; i++) {
		const struct unw_sample *s = &f.s[i];
		uint64_t pcs[MAXF], rpcs[MAXF];
		uint8_t exact[MAXF];
		enum unwind_end end;
		struct unwind_stats before, after;

		unwind_get_stats(u, &before);
		int n = unwind_sample(u, dwfl, 1, s->regs, s->regs_mask,
				      s->stack, s->stack_size, pcs, exact,
				      MAXF, &end);
		int rn = unw_ref_unwind(dwfl, &ref, s, rpcs, MAXF);
		bool same = rn == n && !memcmp(pcs, rpcs, n * sizeof(*pcs));

		unwind_get_stats(u, &after);
		printf("%s tid %u: %d frames, %s, %llu expressions; libdwfl %s "
		       "(%d)\n", s->name, s->tid, n, unwind_end_name(end),
		       (unsigned long long)(after.exprs - before.exprs),
		       same ? "agrees" : "DIFFERS", rn);
		print_pc(u, dwfl, s->ip, s->ip);
		for (int k = 0; k < n; k++)
			print_pc(u, dwfl, pcs[k], pcs[k] - !exact[k]);
		for (int k = 0; !same && k < rn; k++)
			printf("    libdwfl %#llx %s\n",
			       (unsigned long long)rpcs[k],
			       module_of(dwfl, rpcs[k]));
	}
	struct unwind_stats st;

	unwind_get_stats(u, &st);
	printf("stats: %llu walks, %llu frames, rules %llu hits %llu misses, "
	       "%llu expressions, %llu frame-pointer frames\n",
	       (unsigned long long)st.samples, (unsigned long long)st.frames,
	       (unsigned long long)st.rule_hits,
	       (unsigned long long)st.rule_misses,
	       (unsigned long long)st.exprs,
	       (unsigned long long)st.fp_frames);
	unwind_free(u);
	dwfl_end(dwfl);
	unw_free(&f);
	return 0;
}

/* ---- depth per stack size ---- */

#define NSIZES 7
static const uint64_t sizes[NSIZES] = { 1024, 2048, 4096, 8192, 16384,
					 32768, UINT64_MAX };

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The q-quantile of n sorted values. */
static uint64_t quant(const uint64_t *v, int n, double q)
{
	int i = (int)(q * (n - 1) + 0.5);

	return n ? v[i] : 0;
}

static int walk_n(struct unwinder *u, Dwfl *dwfl, const struct unw_sample *s,
		  uint64_t size, enum unwind_end *end)
{
	uint64_t pcs[MAXF];

	return unwind_sample(u, dwfl, 1, s->regs, s->regs_mask, s->stack,
			     size < s->stack_size ? size : s->stack_size, pcs,
			     NULL, MAXF, end);
}

/* The fewest stack bytes (a multiple of 8) giving the full walk. */
static uint64_t bytes_needed(struct unwinder *u, Dwfl *dwfl,
			     const struct unw_sample *s, int full)
{
	uint64_t lo = 0, hi = (s->stack_size + 7) / 8;
	enum unwind_end end;

	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;

		if (walk_n(u, dwfl, s, mid * 8, &end) >= full)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo * 8;
}

static void depth_file(const char *path, struct unw_file *f, Dwfl *dwfl,
		       struct unwinder *u)
{
	uint64_t *full = calloc(f->n + 1, 8), *need = calloc(f->n + 1, 8);
	uint64_t *d = calloc(f->n + 1, 8), copied = 0;
	int ends[5] = { 0 };
	enum unwind_end end;

	for (int i = 0; i < f->n; i++) {
		full[i] = (uint64_t)walk_n(u, dwfl, &f->s[i], UINT64_MAX, &end);
		ends[end]++;
		need[i] = bytes_needed(u, dwfl, &f->s[i], (int)full[i]);
		if (f->s[i].stack_size > copied)
			copied = f->s[i].stack_size;
	}
	printf("%s: %d hits (stack copies up to %llu bytes)\n  all bytes: ",
	       path, f->n, (unsigned long long)copied);
	for (int e = 0; e < 5; e++)
		if (ends[e])
			printf("%s %d; ", unwind_end_name(e), ends[e]);
	memcpy(d, full, f->n * 8);
	qsort(d, f->n, 8, cmp_u64);
	printf("\n  frames: min %llu median %llu p90 %llu max %llu\n",
	       (unsigned long long)quant(d, f->n, 0),
	       (unsigned long long)quant(d, f->n, 0.5),
	       (unsigned long long)quant(d, f->n, 0.9),
	       (unsigned long long)quant(d, f->n, 1));
	qsort(need, f->n, 8, cmp_u64);
	printf("  stack bytes the full walk needs: median %llu p90 %llu "
	       "p99 %llu max %llu\n",
	       (unsigned long long)quant(need, f->n, 0.5),
	       (unsigned long long)quant(need, f->n, 0.9),
	       (unsigned long long)quant(need, f->n, 0.99),
	       (unsigned long long)quant(need, f->n, 1));
	printf("  %-10s %7s %7s %9s %10s\n", "bytes", "median", "max",
	       "complete", "outermost");
	for (int z = 0; z < NSIZES; z++) {
		int complete = 0, outer = 0;
		char label[32];

		for (int i = 0; i < f->n; i++) {
			d[i] = (uint64_t)walk_n(u, dwfl, &f->s[i], sizes[z],
						&end);
			complete += d[i] == full[i];
			outer += end == UNWIND_END_OUTERMOST;
		}
		qsort(d, f->n, 8, cmp_u64);
		if (sizes[z] == UINT64_MAX)
			snprintf(label, sizeof(label), "all");
		else
			snprintf(label, sizeof(label), "%llu",
				 (unsigned long long)sizes[z]);
		printf("  %-10s %7llu %7llu %8.1f%% %9.1f%%\n", label,
		       (unsigned long long)quant(d, f->n, 0.5),
		       (unsigned long long)quant(d, f->n, 1),
		       f->n ? 100.0 * complete / f->n : 0,
		       f->n ? 100.0 * outer / f->n : 0);
	}
	free(full);
	free(need);
	free(d);
}

/* Keep the hits of thread tid (or, negative, of every other thread). */
static void only_thread(struct unw_file *f, long tid)
{
	int k = 0;

	for (int i = 0; i < f->n; i++) {
		bool keep = tid < 0 ? f->s[i].tid != (uint32_t)-tid :
				      f->s[i].tid == (uint32_t)tid;

		if (keep)
			f->s[k++] = f->s[i];
		else
			free(f->s[i].stack);
	}
	f->n = k;
}

static int depth(int nfiles, char **paths)
{
	long tid = 0;

	if (nfiles > 1 && strcmp(paths[0], "-t") == 0) {
		tid = atol(paths[1]);
		nfiles -= 2;
		paths += 2;
	}
	for (int fi = 0; fi < nfiles; fi++) {
		struct unw_file f;
		Dwfl *dwfl;
		struct unwinder *u = unwind_new();

		if (!u || load(paths[fi], &f, &dwfl))
			return 1;
		if (tid)
			only_thread(&f, tid);
		depth_file(paths[fi], &f, dwfl, u);
		unwind_free(u);
		dwfl_end(dwfl);
		unw_free(&f);
	}
	return 0;
}

/* ---- speed ---- */

/* Walk every hit and name every frame (inline chain at each PC). */
static void name_all(struct unwinder *u, Dwfl *dwfl, const struct unw_file *f)
{
	uint64_t pcs[MAXF];
	uint8_t exact[MAXF];
	enum unwind_end end;
	const struct unwind_inline *fr;

	for (int i = 0; i < f->n; i++) {
		const struct unw_sample *s = &f->s[i];
		int n = unwind_sample(u, dwfl, 1, s->regs, s->regs_mask,
				      s->stack, s->stack_size, pcs, exact,
				      MAXF, &end);

		for (int k = 0; k < n; k++)
			unwind_inlines(u, dwfl, 1, pcs[k] - !exact[k], &fr);
	}
}

/* A walk whose rules are all cached (a separate function: callgrind's
 * --toggle-collect=cached_walk counts it alone). */
__attribute__((noinline)) static int cached_walk(struct unwinder *u,
						 Dwfl *dwfl,
						 const struct unw_sample *s,
						 uint64_t *pcs)
{
	enum unwind_end end;

	return unwind_sample(u, dwfl, 1, s->regs, s->regs_mask, s->stack,
			     s->stack_size, pcs, NULL, MAXF, &end);
}

static int speed(const char *path, double secs)
{
	struct unw_file f;
	Dwfl *dwfl;
	struct unwinder *u = unwind_new(), *cold;
	struct unw_ref ref = { 0 };
	uint64_t pcs[MAXF], walks = 0, frames = 0;
	enum unwind_end end;
	double t0, t;

	if (!u || load(path, &f, &dwfl) || f.n == 0)
		return 1;
	/* The first walk of each sample, each time with an empty cache:
	 * what a hit at a new PC costs. */
	t = 0;
	for (int i = 0; i < f.n; i++) {
		const struct unw_sample *s = &f.s[i];

		cold = unwind_new();
		t0 = cpu_ns();
		frames += (uint64_t)unwind_sample(cold, dwfl, 1, s->regs,
						  s->regs_mask, s->stack,
						  s->stack_size, pcs, NULL,
						  MAXF, &end);
		t += cpu_ns() - t0;
		unwind_free(cold);
	}
	printf("unwind_cold_walk %.0f ns (%.1f frames)\n", t / f.n,
	       (double)frames / f.n);
	frames = 0;
	t0 = cpu_ns();
	do {
		for (int i = 0; i < f.n; i++) {
			const struct unw_sample *s = &f.s[i];

			frames += (uint64_t)unwind_sample(u, dwfl, 1, s->regs,
				s->regs_mask, s->stack, s->stack_size, pcs,
				NULL, MAXF, &end);
		}
		walks += (uint64_t)f.n;
	} while ((t = cpu_ns() - t0) < secs * 1e9);
	printf("unwind_walks_per_s %.0f walks/s\n", walks / t * 1e9);
	printf("unwind_frames_per_s %.0f frames/s\n", frames / t * 1e9);
	printf("unwind_ns_per_frame %.1f ns\n", t / frames);
	/* Naming every frame too (inline chains): once with empty caches
	 * (per distinct PC: DWARF scopes, the symbol index), then cached. */
	{
		struct unwinder *fresh = unwind_new();
		struct unwind_stats st;

		t0 = cpu_ns();
		name_all(fresh, dwfl, &f);
		t = cpu_ns() - t0;
		unwind_get_stats(fresh, &st);
		printf("unwind_named_cold %.0f ns per PC (%llu PCs)\n",
		       t / (double)st.rule_misses,
		       (unsigned long long)st.rule_misses);
		unwind_free(fresh);
	}
	walks = 0;
	t0 = cpu_ns();
	do {
		name_all(u, dwfl, &f);
		walks += (uint64_t)f.n;
	} while ((t = cpu_ns() - t0) < secs * 1e9);
	printf("unwind_named_walks_per_s %.0f walks/s\n", walks / t * 1e9);
	walks = frames = 0;
	t0 = cpu_ns();
	do {
		for (int i = 0; i < f.n; i++) {
			int n = unw_ref_unwind(dwfl, &ref, &f.s[i], pcs, MAXF);

			frames += n > 0 ? (uint64_t)n : 0;
		}
		walks += (uint64_t)f.n;
	} while ((t = cpu_ns() - t0) < secs * 1e9);
	printf("libdwfl_walks_per_s %.0f walks/s\n", walks / t * 1e9);
	printf("libdwfl_frames_per_s %.0f frames/s\n", frames / t * 1e9);
	unwind_free(u);
	dwfl_end(dwfl);
	unw_free(&f);
	return 0;
}

/* Fixed work, no clock: `valgrind --tool=callgrind --toggle-collect=
 * unwind_sample unwind walks FILE N` gives instructions per walk (the
 * first pass, which fills the cache, is not collected: it runs before). */
static int walks(const char *path, long passes)
{
	struct unw_file f;
	Dwfl *dwfl;
	struct unwinder *u = unwind_new();
	uint64_t pcs[MAXF], frames = 0;
	enum unwind_end end;

	if (!u || load(path, &f, &dwfl))
		return 1;
	for (int i = 0; i < f.n; i++)
		unwind_sample(u, dwfl, 1, f.s[i].regs, f.s[i].regs_mask,
			      f.s[i].stack, f.s[i].stack_size, pcs, NULL, MAXF,
			      &end);
	for (long p = 0; p < passes; p++)
		for (int i = 0; i < f.n; i++)
			frames += (uint64_t)cached_walk(u, dwfl, &f.s[i], pcs);
	printf("walks %ld frames %llu\n", passes * f.n,
	       (unsigned long long)frames);
	unwind_free(u);
	dwfl_end(dwfl);
	unw_free(&f);
	return 0;
}

/* ---- what the stack copy costs the watched thread ---- */

static volatile uint64_t cost_var;
static uint64_t cost_records;

static void count_record(const struct hwbp_record *r, void *cookie)
{
	(void)cookie;
	cost_records += r->kind == HWBP_REC_HIT;
}

/* Hits with `bytes` of stack sampled, from deep enough in the stack that
 * the kernel copies all of them: thread CPU time (user and kernel: the
 * copy runs in the trapping thread) per hit, the ring drained between
 * batches. */
static double cost_of(uint32_t bytes, int hits)
{
	HWBP_OPTS(hwbp_opts, o, .scope = HWBP_SCOPE_SELF,
		  .delivery = HWBP_DELIVER_RING, .on_record = count_record,
		  .sample = HWBP_SAMPLE_REGS | (bytes ? HWBP_SAMPLE_STACK : 0),
		  .regs_mask = SAMPLED_REGS_MASK, .stack_size = bytes,
		  .ring_pages = 1024);
	volatile char pad[70000];
	struct hwbp *bp;
	double t = 0, t0;

	pad[0] = pad[sizeof(pad) - 1] = 1;
	if (hwbp_create(&bp, (uint64_t)(uintptr_t)&cost_var, 8, HWBP_WRITE,
			&o)) {
		fprintf(stderr, "hwbp_create: %s\n", hwbp_last_error());
		return -1;
	}
	cost_records = 0;
	for (int done = 0; done < hits; done += 32) {
		t0 = cpu_ns();
		for (int k = 0; k < 32; k++)
			cost_var = (uint64_t)k;
		t += cpu_ns() - t0;
		hwbp_ring_consume(bp);
	}
	hwbp_close(bp);
	if (cost_records < (uint64_t)hits)
		fprintf(stderr, "stack %u: %llu of %d hits recorded\n", bytes,
			(unsigned long long)cost_records, hits);
	return t / hits;
}

static int cost(int hits)
{
	static const uint32_t bytes[] = { 0, 1024, 2048, 4096, 8192, 16384,
					  32768, 65000 };
	HWBP_OPTS(hwbp_probe, p);

	if (hwbp_probe(&p) < 0 || !p.fires) {
		printf("cost: skipped: debug registers do not fire here\n");
		return 0;
	}
	cost_of(8192, hits / 10); /* warm up */
	for (size_t i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++)
		printf("hit_cost_stack_%u %.0f ns\n", bytes[i],
		       cost_of(bytes[i], hits));
	return 0;
}

/* ---- recording another process ---- */


struct rec_ctx {
	FILE *out;
	uint64_t want, got, seen, every;
};

static volatile sig_atomic_t stop;
static void on_stop(int sig) { (void)sig; stop = 1; }

static void on_record(const struct hwbp_record *r, void *cookie)
{
	struct rec_ctx *c = cookie;

	if (r->kind != HWBP_REC_HIT || c->got >= c->want ||
	    c->seen++ % c->every)
		return;
	if (unw_write(c->out, "hit", r->tid, r->ip, r->regs_mask, r->regs,
		      r->stack, r->stack_size) == 0)
		c->got++;
}

static int record(int argc, char **argv)
{
	struct rec_ctx c = { .want = 1000, .every = 1 };
	const char *outp = NULL;
	uint64_t addr = 0;
	uint32_t stack = 65000;
	enum hwbp_access acc = HWBP_WRITE;
	pid_t pid = 0;
	struct hwbp *bp;
	char *maps, *later;
	long maps_len, later_len;
	int opt;

	while ((opt = getopt(argc, argv, "p:a:n:o:s:k:")) != -1) {
		switch (opt) {
		case 'p': pid = atoi(optarg); break;
		case 'a':
			addr = strtoull(optarg, NULL, 0);
			if (strstr(optarg, "/exec"))
				acc = HWBP_EXEC;
			break;
		case 'n': c.want = strtoull(optarg, NULL, 0); break;
		case 'o': outp = optarg; break;
		case 's': stack = (uint32_t)atoi(optarg); break;
		case 'k': c.every = strtoull(optarg, NULL, 0) ?: 1; break;
		default: return 2;
		}
	}
	if (!pid || !addr || !outp) {
		fprintf(stderr, "record: -p PID -a ADDR[/exec] -o FILE "
			"[-n HITS] [-s BYTES] [-k K]\n");
		return 2;
	}
	HWBP_OPTS(hwbp_opts, o, .scope = HWBP_SCOPE_PROCESS, .pid = pid,
		  .delivery = HWBP_DELIVER_RING, .on_record = on_record,
		  .cookie = &c, .sample = HWBP_SAMPLE_REGS | HWBP_SAMPLE_STACK,
		  .regs_mask = SAMPLED_REGS_MASK, .stack_size = stack,
		  .ring_pages = 1024);
	c.out = fopen(outp, "wb");
	if (!c.out) {
		perror(outp);
		return 1;
	}
	if (hwbp_create(&bp, addr, acc == HWBP_EXEC ? 8 : 8, acc, &o)) {
		fprintf(stderr, "hwbp_create: %s\n", hwbp_last_error());
		return 1;
	}
	/* The maps now, and again at the end if the process still runs
	 * (libraries it loaded since). */
	maps_len = unw_read_maps(pid, &maps);
	if (maps_len < 0) {
		fprintf(stderr, "/proc/%d/maps: %s\n", pid,
			strerror((int)-maps_len));
		return 1;
	}
	signal(SIGINT, on_stop);
	while (!stop && c.got < c.want && kill(pid, 0) == 0)
		if (hwbp_ring_poll(bp, 200) < 0)
			break;
	hwbp_close(bp);
	if ((later_len = unw_read_maps(pid, &later)) > 0) {
		free(maps);
		maps = later;
		maps_len = later_len;
	}
	if (unw_write_maps_text(c.out, maps, (size_t)maps_len) ||
	    fclose(c.out)) {
		fprintf(stderr, "%s: write failed\n", outp);
		return 1;
	}
	free(maps);
	fprintf(stderr, "recorded %llu hits\n", (unsigned long long)c.got);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "show") == 0)
		return show(argv[2]);
	if (argc >= 3 && strcmp(argv[1], "depth") == 0)
		return depth(argc - 2, argv + 2);
	if (argc >= 3 && strcmp(argv[1], "speed") == 0)
		return speed(argv[2], argc > 3 ? atof(argv[3]) : 2.0);
	if (argc >= 2 && strcmp(argv[1], "cost") == 0)
		return cost(argc > 2 ? atoi(argv[2]) : 20000);
	if (argc >= 3 && strcmp(argv[1], "walks") == 0)
		return walks(argv[2], argc > 3 ? atol(argv[3]) : 1000);
	if (argc >= 2 && strcmp(argv[1], "record") == 0)
		return record(argc - 1, argv + 1);
	fprintf(stderr, "usage: unwind show|depth|speed FILE... | record "
		"-p PID -a ADDR -o FILE\n");
	return 2;
}
