/* SPDX-License-Identifier: MIT */
/*
 * test_unwind.c - the unwinder (tools/unwind.c) on real recorded hits:
 * each test runs build/tests/unwind/target-O2 (no frame pointers) or
 * target-O0, which watch their own variable with libhwbp (ring, sampled
 * registers and 16 KiB of stack) through the scenarios of
 * tests/unit/targets/unwind_target.c and write the hits and their maps;
 * the modules are reported again from the maps (the target has exited).
 * Every walk must reach the outermost frame (_start, or the thread's
 * clone3), name the frames gdb and `perf record --call-graph dwarf` name
 * for the same hits (compared by hand once, see docs/UNWIND.md; gdb also
 * shows a tail-call frame synthesized from DWARF call sites that is on no
 * stack), and give exactly the return addresses libdwfl's generic walker
 * (dwfl_getthread_frames, as perf uses it) gives.  Frames in libc are
 * checked by module (their names need libc6-dbg), runs of them as one.
 * Where the machine cannot record hits the tests skip with the reason.
 */
#include <criterion/criterion.h>
#include <elfutils/libdwfl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../tools/tool.h"
#include "unwind_rec.h"

#define MAXF 256
#define DEEP 40

struct capture {
	struct unw_file f;
	Dwfl *dwfl;
	struct unwinder *u;
	struct unw_ref ref;
	uint8_t exact[MAXF];   /* of the last walk */
	char srcdir[PATH_MAX];
};

/* The build directory's root (build/ or build-san/) and the source tree,
 * from this binary's path: BUILD/tests/hwbp-unit. */
static void dirs(char *build, char *src)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	cr_assert_gt(n, 0);
	exe[n] = '\0';
	snprintf(build, PATH_MAX, "%s", dirname(dirname(exe)));
	snprintf(src, PATH_MAX, "%s", build);
	dirname(src);
}

/* Run the target, load what it recorded; skips where hits cannot be
 * recorded (the target says why). */
static void capture(struct capture *c, const char *variant)
{
	char build[PATH_MAX], prog[PATH_MAX + 64], out[] = "/tmp/unwind-XXXXXX";
	char cmd[2 * PATH_MAX + 128], why[512] = "";
	int fd = mkstemp(out), status;
	FILE *p;

	cr_assert_geq(fd, 0);
	close(fd);
	memset(c, 0, sizeof(*c));
	dirs(build, c->srcdir);
	snprintf(prog, sizeof(prog), "%s/tests/unwind/target-%s", build,
		 variant);
	cr_assert_eq(access(prog, X_OK), 0, "%s: not built", prog);
	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", prog, out);
	p = popen(cmd, "r");
	cr_assert(p);
	if (!fgets(why, sizeof(why), p))
		why[0] = '\0';
	status = pclose(p);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		unlink(out);
		cr_skip_test("skipped: %s", why);
	}
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "%s failed: %s", prog, why);
	cr_assert_eq(unw_load(out, &c->f), 0);
	unlink(out);
	c->dwfl = unw_dwfl(c->f.maps);
	cr_assert(c->dwfl, "modules: %s", dwfl_errmsg(-1));
	c->u = unwind_new();
	cr_assert(c->u);
}

static void release(struct capture *c)
{
	unwind_free(c->u);
	dwfl_end(c->dwfl);
	unw_free(&c->f);
}

static int walk(struct capture *c, Dwfl *dwfl, uint64_t layout,
		const struct unw_sample *s, uint64_t size, uint64_t *pcs,
		int max, enum unwind_end *end)
{
	return unwind_sample(c->u, dwfl, layout, s->regs, s->regs_mask,
			     s->stack, size, pcs, c->exact, max, end);
}

static bool in_libc(Dwfl *dwfl, uint64_t pc)
{
	Dwfl_Module *m = dwfl_addrmodule(dwfl, pc);
	const char *name = m ? dwfl_module_info(m, NULL, NULL, NULL, NULL,
						NULL, NULL, NULL) : NULL;
	const char *base = name ? strrchr(name, '/') : NULL;

	return base && strncmp(base + 1, "libc.so", 7) == 0;
}

/* The callers of the last walk as "name name ...": each frame by its
 * out-of-line function (unwind_inlines at ra - 1, or at the PC where it is
 * exact; the last of the chain), libc frames as "[libc]", a run of them
 * once. */
static void describe(struct capture *c, const uint64_t *pcs, int n,
		     char *buf, size_t len)
{
	size_t at = 0;
	bool last_libc = false;

	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		const struct unwind_inline *f;
		const char *name = "?";
		int k;

		if (in_libc(c->dwfl, pcs[i])) {
			if (last_libc)
				continue;
			last_libc = true;
			name = "[libc]";
		} else {
			last_libc = false;
			k = unwind_inlines(c->u, c->dwfl, 1,
					   pcs[i] - !c->exact[i], &f);
			if (k > 0)
				name = f[k - 1].function;
		}
		at += (size_t)snprintf(buf + at, len - at, "%s%s",
				       at ? " " : "", name);
		cr_assert_lt(at, len);
	}
}

/* What gdb and perf show for each scenario's callers (hit frame apart). */
static const char *expected(const char *scenario, char *buf, size_t len)
{
	static const struct { const char *name, *callers; } table[] = {
		{ "chain", "chain_b chain_a run_chain run main [libc] _start" },
		{ "qsort", "[libc] run_qsort run main [libc] _start" },
		{ "thread", "thread_a worker [libc]" },
		{ "libc", "[libc] run_libc run main [libc] _start" },
		{ "align", "use_buf realign run_align run main [libc] _start" },
		{ "signal", "[libc] run_signal run main [libc] _start" },
		{ "fault", "[libc] fault_first run_fault run main [libc] _start" },
		{ "rbx", "keep_rbx via_rbx run_rbx run main [libc] _start" },
	};

	if (strcmp(scenario, "deep") == 0) {
		size_t at = 0;

		for (int i = 0; i < DEEP; i++)
			at += (size_t)snprintf(buf + at, len - at, "recurse ");
		snprintf(buf + at, len - at, "run_deep run main [libc] _start");
		return buf;
	}
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(table[i].name, scenario) == 0)
			return table[i].callers;
	cr_assert_fail("unknown scenario %s", scenario);
	return NULL;
}

/* The function the hit's store is in: that of the instruction before the
 * sampled IP (a data watchpoint traps after the access). */
static const char *hit_function(struct capture *c, const struct unw_sample *s)
{
	const struct unwind_inline *f;
	int k;

	if (in_libc(c->dwfl, s->ip))
		return "[libc]";
	k = unwind_inlines(c->u, c->dwfl, 1, s->ip - 1, &f);
	return k > 0 ? f[k - 1].function : "?";
}

static void check_all(const char *variant)
{
	static const char *scenarios[] = { "chain", "qsort", "thread", "deep",
					   "libc", "align", "signal", "fault",
					   "rbx" };
	static const struct { const char *name, *hit; } hits[] = {
		{ "chain", "chain_c" }, { "qsort", "cmp_longs" },
		{ "thread", "thread_b" }, { "deep", "recurse" },
		{ "libc", "[libc]" }, { "align", "chain_c" },
		{ "signal", "on_signal" }, { "fault", "on_segv" },
		{ "rbx", "chain_c" },
	};
	struct capture c;
	int seen[9] = { 0 };

	capture(&c, variant);
	for (int i = 0; i < c.f.n; i++) {
		const struct unw_sample *s = &c.f.s[i];
		uint64_t pcs[MAXF], ref[MAXF];
		char got[4096], want[4096];
		enum unwind_end end;
		int n = walk(&c, c.dwfl, 1, s, s->stack_size, pcs, MAXF, &end);
		int rn = unw_ref_unwind(c.dwfl, &c.ref, s, ref, MAXF);
		size_t k;

		for (k = 0; k < 9 && strcmp(scenarios[k], s->name); k++)
			;
		cr_assert_lt(k, 9, "unknown scenario %s", s->name);
		seen[k]++;
		cr_assert_eq(end, UNWIND_END_OUTERMOST,
			     "%s %s hit %d: ended with %s after %d frames",
			     variant, s->name, i, unwind_end_name(end), n);
		describe(&c, pcs, n, got, sizeof(got));
		cr_assert_str_eq(got, expected(s->name, want, sizeof(want)),
				 "%s %s", variant, s->name);
		cr_assert_str_eq(hit_function(&c, s), hits[k].hit, "%s %s",
				 variant, s->name);
		/* elfutils 0.188's x86_64_abi_cfi marks RAX same-value where
		 * it means RBX: RBX left alone (-O0 keep_rbx) is unknown to
		 * libdwfl in the callers, and via_rbx's CFA with it. */
		if (strcmp(s->name, "rbx") == 0 && rn < n)
			n = rn;
		cr_assert_eq(rn, n, "%s %s: libdwfl %d frames, we %d",
			     variant, s->name, rn, n);
		for (int f = 0; f < n; f++)
			cr_assert_eq(pcs[f], ref[f], "%s %s frame %d: %#lx, "
				     "libdwfl %#lx", variant, s->name, f,
				     (unsigned long)pcs[f],
				     (unsigned long)ref[f]);
	}
	for (int k = 0; k < 9; k++)
		cr_assert_gt(seen[k], 0, "%s: no hit recorded in %s", variant,
			     scenarios[k]);
	release(&c);
}

Test(unwind, o2_without_frame_pointers)
{
	check_all("O2");
}

Test(unwind, o0)
{
	check_all("O0");
}

static const struct unw_sample *find(struct capture *c, const char *name)
{
	for (int i = 0; i < c->f.n; i++)
		if (strcmp(c->f.s[i].name, name) == 0)
			return &c->f.s[i];
	cr_assert_fail("no %s hit", name);
	return NULL;
}

/* The DRAP frame's CFA and the signal frame's rules are expressions;
 * everything else takes the direct forms. */
Test(unwind, expressions_only_where_the_cfi_has_them)
{
	struct capture c;
	struct unwind_stats st;
	uint64_t pcs[MAXF];
	enum unwind_end end;

	capture(&c, "O2");
	walk(&c, c.dwfl, 1, find(&c, "chain"), find(&c, "chain")->stack_size,
	     pcs, MAXF, &end);
	unwind_get_stats(c.u, &st);
	cr_assert_eq(st.exprs, 0);
	walk(&c, c.dwfl, 1, find(&c, "align"), find(&c, "align")->stack_size,
	     pcs, MAXF, &end);
	unwind_get_stats(c.u, &st);
	cr_assert_gt(st.exprs, 0, "realign's CFA is an expression");
	cr_assert_eq(end, UNWIND_END_OUTERMOST);
	release(&c);
}

/* Registers other than RA, RBP and RSP are restored only once a rule
 * reads them: via_rbx's CFA is RBX-based and keep_rbx, below it, saved
 * RBX, so the first walk (cache empty) starts over once, restoring RBX. */
Test(unwind, a_rule_reading_rbx_restarts_the_walk)
{
	struct capture c;
	const struct unw_sample *s;
	uint64_t pcs[MAXF], ref[MAXF];
	struct unwind_stats st;
	enum unwind_end end;
	int n;

	capture(&c, "O2");
	s = find(&c, "rbx");
	n = walk(&c, c.dwfl, 1, s, s->stack_size, pcs, MAXF, &end);
	unwind_get_stats(c.u, &st);
	cr_assert_eq(st.restarts, 1);
	cr_assert_eq(end, UNWIND_END_OUTERMOST, "%s", unwind_end_name(end));
	cr_assert_eq(unw_ref_unwind(c.dwfl, &c.ref, s, ref, MAXF), n);
	cr_assert_eq(memcmp(pcs, ref, n * sizeof(*pcs)), 0);
	/* Cached now: no restart. */
	cr_assert_eq(walk(&c, c.dwfl, 1, s, s->stack_size, pcs, MAXF, &end), n);
	unwind_get_stats(c.u, &st);
	cr_assert_eq(st.restarts, 1);
	release(&c);
}

/* The line of the first source line holding `marker`, 0 if none. */
static int marker_line(const char *path, const char *marker)
{
	char line[512];
	FILE *f = fopen(path, "r");
	int n = 0, found = 0;

	cr_assert(f, "%s", path);
	while (!found && fgets(line, sizeof(line), f)) {
		n++;
		if (strstr(line, marker))
			found = n;
	}
	fclose(f);
	return found;
}

Test(unwind, inlined_frames_at_the_store)
{
	struct capture c;
	const struct unwind_inline *f, *again;
	const struct unw_sample *s;
	char path[PATH_MAX + 64];
	int n;

	capture(&c, "O2");
	s = find(&c, "chain");
	n = unwind_inlines(c.u, c.dwfl, 1, s->ip - 1, &f);
	cr_assert_eq(n, 2, "store_inl inlined into chain_c: %d frames", n);
	cr_assert_str_eq(f[0].function, "store_inl");
	cr_assert_str_eq(f[1].function, "chain_c");
	snprintf(path, sizeof(path), "%s/tests/unit/targets/unwind_target.c",
		 c.srcdir);
	cr_assert(strstr(f[0].file, "unwind_target.c"), "%s", f[0].file);
	cr_assert(strstr(f[1].file, "unwind_target.c"), "%s", f[1].file);
	cr_assert_eq(f[0].line, marker_line(path, "LINE:store"));
	cr_assert_eq(f[1].line, marker_line(path, "LINE:call"));
	cr_assert_eq(f[0].offset, 0);
	cr_assert_gt(f[1].offset, 0, "chain_c+N");
	/* Cached: the same chain, the same memory. */
	cr_assert_eq(unwind_inlines(c.u, c.dwfl, 1, s->ip - 1, &again), 2);
	cr_assert_eq(again, f);
	/* No module there: nothing. */
	cr_assert_eq(unwind_inlines(c.u, c.dwfl, 1, 16, &f), 0);
	cr_assert_null(f);
	release(&c);
}

/* Fewer stack bytes: a prefix of the full walk, ending at the copy's end;
 * each copy exactly its size (ASan sees a read past it). */
Test(unwind, short_stack_copies_give_prefixes)
{
	static const uint64_t sizes[] = { 0, 8, 64, 256, 1024, 4096 };
	struct capture c;

	capture(&c, "O2");
	for (int i = 0; i < c.f.n; i++) {
		const struct unw_sample *s = &c.f.s[i];
		uint64_t full[MAXF], pcs[MAXF];
		enum unwind_end end;
		int nfull = walk(&c, c.dwfl, 1, s, s->stack_size, full, MAXF,
				 &end);

		for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
			uint64_t size = sizes[z] < s->stack_size ? sizes[z] :
					s->stack_size;
			struct unw_sample t = *s;
			int n;

			t.stack = malloc(size ? size : 1);
			cr_assert(t.stack);
			memcpy(t.stack, s->stack, size);
			n = walk(&c, c.dwfl, 1, &t, size, pcs, MAXF, &end);
			free(t.stack);
			cr_assert_leq(n, nfull);
			cr_assert_eq(memcmp(pcs, full, n * sizeof(*pcs)), 0,
				     "%s, %llu bytes: not a prefix", s->name,
				     (unsigned long long)size);
			if (n < nfull)
				cr_assert_eq(end, UNWIND_END_STACK,
					     "%s, %llu bytes: %s", s->name,
					     (unsigned long long)size,
					     unwind_end_name(end));
		}
	}
	release(&c);
}

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Garbage in the stack copy: every walk ends, within max, without
 * reading outside the copy. */
Test(unwind, garbage_stacks_end)
{
	struct capture c;
	uint64_t seed = 0x9e3779b97f4a7c15ull, pcs[64];

	capture(&c, "O2");
	for (int i = 0; i < c.f.n; i++) {
		const struct unw_sample *s = &c.f.s[i];

		for (int round = 0; round < 100; round++) {
			struct unw_sample t = *s;
			enum unwind_end end;
			int n;

			t.stack = malloc(s->stack_size);
			cr_assert(t.stack);
			memcpy(t.stack, s->stack, s->stack_size);
			/* Overwrite 16 words near the top with noise, small
			 * numbers or addresses inside the copy. */
			for (int k = 0; k < 16; k++) {
				uint64_t r = xorshift(&seed);
				uint64_t off = (r % (512 < s->stack_size / 8 ?
						     512 : s->stack_size / 8))
					       * 8;
				uint64_t v = r >> 32 & 1 ? r : (r & 0xff) +
					     unw_reg(s, 7) + (r >> 40 & 0xfff);

				memcpy(t.stack + off, &v, 8);
			}
			n = walk(&c, c.dwfl, 1, &t, s->stack_size, pcs, 64,
				 &end);
			free(t.stack);
			cr_assert(n >= 0 && n <= 64);
			cr_assert(end != UNWIND_END_MAX || n == 64);
		}
	}
	release(&c);
}

Test(unwind, max_frames_and_bad_input)
{
	struct capture c;
	const struct unw_sample *s;
	uint64_t pcs[MAXF];
	enum unwind_end end;

	capture(&c, "O2");
	s = find(&c, "deep");
	cr_assert_eq(walk(&c, c.dwfl, 1, s, s->stack_size, pcs, 10, &end), 10);
	cr_assert_eq(end, UNWIND_END_MAX);
	cr_assert_eq(walk(&c, c.dwfl, 1, s, s->stack_size, pcs, 0, &end), 0);
	cr_assert_eq(end, UNWIND_END_MAX);
	/* No SP in the sample. */
	cr_assert_eq(unwind_sample(c.u, c.dwfl, 1, s->regs, 1ull << 8,
				   s->stack, s->stack_size, pcs, NULL, MAXF,
				   &end), -EINVAL);
	/* No stack bytes: the first return address is already past them. */
	cr_assert_eq(unwind_sample(c.u, c.dwfl, 1, s->regs, s->regs_mask, NULL,
				   0, pcs, NULL, MAXF, &end), 0);
	cr_assert_eq(end, UNWIND_END_STACK);
	release(&c);
}

/* -O0 keeps frame pointers: with no module known (an empty layout, so no
 * CFI) the walk follows RBP through the program's frames, and the cache
 * keeps the two layouts apart. */
Test(unwind, frame_pointers_without_cfi)
{
	struct capture c;
	const struct unw_sample *s;
	uint64_t cfi[MAXF], fp[MAXF];
	enum unwind_end end;
	struct unwind_stats st;
	Dwfl *empty;
	static const Dwfl_Callbacks cb = {
		.find_elf = dwfl_linux_proc_find_elf,
	};
	int n, nfp;

	capture(&c, "O0");
	empty = dwfl_begin(&cb);
	cr_assert(empty);
	dwfl_report_begin(empty);
	dwfl_report_end(empty, NULL, NULL);
	s = find(&c, "chain");
	n = walk(&c, c.dwfl, 1, s, s->stack_size, cfi, MAXF, &end);
	nfp = walk(&c, empty, 2, s, s->stack_size, fp, MAXF, &end);
	/* chain_b chain_a run_chain run main: 5 frames by RBP; then libc,
	 * built without frame pointers. */
	cr_assert_geq(nfp, 5, "%d frames by frame pointer", nfp);
	cr_assert_eq(memcmp(fp, cfi, 5 * sizeof(*fp)), 0);
	unwind_get_stats(c.u, &st);
	cr_assert_geq(st.fp_frames, 5);
	/* Layout 1 again: its cached CFI rules, not layout 2's. */
	cr_assert_eq(walk(&c, c.dwfl, 1, s, s->stack_size, fp, MAXF, &end), n);
	cr_assert_eq(memcmp(fp, cfi, n * sizeof(*fp)), 0);
	cr_assert_eq(end, UNWIND_END_OUTERMOST);
	dwfl_end(empty);
	release(&c);
}

struct mod_range {
	uint64_t lo, hi;
	int n;
};

static int each_module(Dwfl_Module *m, void **ud, const char *name,
		       Dwarf_Addr lo, void *arg)
{
	struct mod_range *r = arg;
	Dwarf_Addr hi;

	(void)ud;
	(void)name;
	dwfl_module_info(m, NULL, NULL, &hi, NULL, NULL, NULL, NULL);
	if (r[0].n < 16) {
		r[r[0].n].lo = lo;
		r[r[0].n].hi = hi;
		r[0].n++;
	}
	return DWARF_CB_OK;
}

/* One address named by the index and by dwfl_module_addrinfo; *outside
 * counts addresses no sized symbol contains (the index asks libdwfl). */
static bool same_symbol(struct capture *c, uint64_t pc, uint64_t *outside)
{
	Dwfl_Module *mod = dwfl_addrmodule(c->dwfl, pc);
	GElf_Off want_off = 0;
	GElf_Sym sym;
	const char *want = mod ? dwfl_module_addrinfo(mod, pc, &want_off, &sym,
						      NULL, NULL, NULL) : NULL;
	uint64_t off = 7;
	const char *got = unwind_symbol(c->u, c->dwfl, 1, pc, &off);

	*outside += !want || want_off >= sym.st_size;
	if (!want) {
		cr_assert_null(got, "%#lx: %s, libdwfl none",
			       (unsigned long)pc, got);
		return false;
	}
	cr_assert(got, "%#lx: none, libdwfl %s", (unsigned long)pc, want);
	cr_assert_str_eq(got, want, "%#lx", (unsigned long)pc);
	cr_assert_eq(off, want_off, "%#lx %s", (unsigned long)pc, want);
	return true;
}

/* The sorted index names every address as dwfl_module_addrinfo does:
 * random addresses in every module (code and data), and every recorded
 * return address, those without falling back to libdwfl's scan. */
Test(unwind, symbols_as_libdwfl_names_them)
{
	struct capture c;
	struct mod_range r[16] = { { .n = 0 } };
	uint64_t seed = 12345, checked = 0, pcs[MAXF], outside = 0;
	struct unwind_stats st;
	enum unwind_end end;

	capture(&c, "O2");
	dwfl_getmodules(c.dwfl, each_module, r, 0);
	cr_assert_geq(r[0].n, 3, "the target, libc, ld.so: %d", r[0].n);
	for (int m = 0; m < r[0].n; m++)
		for (int k = 0; k < 2000; k++)
			checked += same_symbol(&c, r[m].lo + xorshift(&seed) %
					       (r[m].hi - r[m].lo), &outside);
	cr_assert_gt(checked, 1000);
	unwind_free(c.u);
	c.u = unwind_new();
	checked = outside = 0;
	for (int i = 0; i < c.f.n; i++) {
		const struct unw_sample *s = &c.f.s[i];
		int n = walk(&c, c.dwfl, 1, s, s->stack_size, pcs, MAXF, &end);

		for (int k = 0; k < n; k++)
			checked += same_symbol(&c, pcs[k] - !c.exact[k],
					       &outside);
	}
	unwind_get_stats(c.u, &st);
	cr_assert_gt(checked, 100);
	/* Only the byte before __restore_rt (signal frames) is in none. */
	cr_assert_eq(st.slow_symbols, outside, "%llu of %llu names needed "
		     "libdwfl's scan, %llu are in no sized symbol",
		     (unsigned long long)st.slow_symbols,
		     (unsigned long long)checked, (unsigned long long)outside);
	cr_assert_leq(outside, 4);
	release(&c);
}
