/* SPDX-License-Identifier: MIT */
/*
 * test_names.c - `hwbp watch` on the names C and C++ programmers write
 * (tests/helpers/names/: C++ by g++ and clang++ at -O0 and -O2, PIE and
 * not; C by gcc and clang): every form gets real hits, exactly as many as
 * the program writes, with the values it wrote, at the address the
 * program prints for it; the refusals say why; copy relocations watch
 * the copy the program uses.
 */
#include "cmdutil.h"

/* A helper of tests/helpers/names/, skipped if it was not built (clang
 * missing). */
static const char *names_helper(const char *name)
{
	static char paths[4][4200];
	static int k;
	char *p = paths[k++ % 4];

	snprintf(p, sizeof(paths[0]), "%s/names/%s",
		 env_or_skip("HWBP_TEST_HELPERS"), name);
	if (access(p, X_OK))
		cr_skip_test("skipped: %s was not built (clang not installed?)",
			     p);
	return p;
}

/* The address the program printed for `name` ("name 0xADDR" lines). */
static uint64_t printed(const char *out, const char *name)
{
	size_t n = strlen(name);

	for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n')
								 + 1 : NULL)
		if (!strncmp(l, name, n) && l[n] == ' ')
			return strtoull(l + n + 1, NULL, 16);
	cr_assert_fail("the program printed no '%s' in:\n%s", name, out);
	return 0;
}

/* The hits at `loc` have exactly the new values `want`, in order, at
 * the address the program printed for `oracle`.  With `unsure`, a value
 * may also be unknown (null, not exact), never wrong: the store is one
 * hwbp may not decode (g++ -O0 makes std::atomic's store an xchg). */
static void assert_hits_of(const struct watched *w, const char *prog,
			   const char *loc, const char *oracle,
			   const long *want, int nwant, bool unsure)
{
	uint64_t addr = printed(w->run.out, oracle);
	int n = 0;

	for (int i = 0; i < w->h.n; i++) {
		json_object *hit = w->h.hit[i];

		if (strcmp(jstr(hit, "location"), loc))
			continue;
		cr_assert_lt(n, nwant, "%s: %s: hit %d of %d: %s", prog, loc,
			     n + 1, nwant, json_object_to_json_string(hit));
		cr_expect_eq(strtoull(jstr(hit, "addr"), NULL, 16), addr,
			     "%s: %s: addr %s, the program says 0x%llx", prog,
			     loc, jstr(hit, "addr"), (unsigned long long)addr);
		if (unsure && json_object_is_type(jget(hit, "new"),
						  json_type_null)) {
			cr_expect(!jbool(hit, "new_exact"), "%s: %s", prog, loc);
			n++;
			continue;
		}
		cr_expect_eq(jint(hit, "new"), want[n], "%s: %s: hit %d: new "
			     "%lld, want %ld", prog, loc, n + 1,
			     (long long)jint(hit, "new"), want[n]);
		cr_expect(jbool(hit, "new_exact"), "%s: %s", prog, loc);
		n++;
	}
	cr_expect_eq(n, nwant, "%s: %s: %d hits, want %d", prog, loc, n, nwant);
}

static void assert_hits(const struct watched *w, const char *prog,
			const char *loc, const char *oracle, const long *want,
			int nwant)
{
	assert_hits_of(w, prog, loc, oracle, want, nwant, false);
}

/* ---- C++: every form, real hits, every build ---- */

struct form {
	const char *loc, *oracle; /* as typed; the program's name for it */
	long want[4];             /* `cxx write 3`: the values it stores */
	int n;
};

static const struct form cxx_forms[][4] = {
	{ { "app::cfg.limit", "app::cfg.limit", { 1, 2, 3 }, 3 },
	  { "app::cfg.lim[1].hard", "app::cfg.lim[1].hard", { 10, 20, 30 }, 3 },
	  { "app::total", "app::total", { 1, 2, 3 }, 3 },
	  { "app::obj.z", "app::obj.z", { 2, 4, 6 }, 3 } },
	/* add(0) before the oracle: users and calls start with a 0 */
	{ { "app::Srv::users", "app::Srv::users", { 0, 1, 2, 3 }, 4 },
	  { "app::Srv::add::calls", "add::calls", { 0, 1, 2, 3 }, 4 },
	  { "app::(anonymous namespace)::hidden", "app::hidden", { 1, 2, 3 }, 3 },
	  { "(anonymous namespace)::anon_top", "anon_top", { 1, 2, 3 }, 3 } },
	{ { "head->next->v", "head->next->v", { 1, 2, 3 }, 3 },
	  { "head->v", "head->v", { 101, 102, 103 }, 3 },
	  { "table[2]", "table[2]", { 1, 2, 3 }, 3 },
	  { "app::obj.x", "app::obj.x", { 1, 2, 3 }, 3 } },
	/* short forms, a reference */
	{ { "app::ref", "app::cfg.limit", { 1, 2, 3 }, 3 },
	  { "add::calls", "add::calls", { 0, 1, 2, 3 }, 4 },
	  { "app::hidden", "app::hidden", { 1, 2, 3 }, 3 },
	  { "anon_top", "anon_top", { 1, 2, 3 }, 3 } },
};

static void cxx_hits(const char *build)
{
	const char *prog = names_helper(build);

	TU_REQUIRE_HITS();
	for (size_t g = 0; g < sizeof(cxx_forms) / sizeof(cxx_forms[0]); g++) {
		const struct form *f = cxx_forms[g];
		struct watched w = WATCH_JSON(f[0].loc, f[1].loc, f[2].loc,
					      f[3].loc, "--", prog, "write", "3");

		for (int k = 0; k < 4; k++)
			assert_hits_of(&w, build, f[k].loc, f[k].oracle,
				       f[k].want, f[k].n,
				       !strcmp(f[k].loc, "app::total"));
		free_run(&w.run);
	}
}

#define CXX_HITS(cc, opt, pie)                                                 \
	Test(names, cxx_##cc##_##opt##_##pie##_hits, .timeout = 60)           \
	{                                                                      \
		cxx_hits("cxx-" #cc "-" #opt "-" #pie);                        \
	}
CXX_HITS(gcc, O0, pie)
CXX_HITS(gcc, O0, nopie)
CXX_HITS(gcc, O2, pie)
CXX_HITS(gcc, O2, nopie)
CXX_HITS(clang, O0, pie)
CXX_HITS(clang, O0, nopie)
CXX_HITS(clang, O2, pie)
CXX_HITS(clang, O2, nopie)

/* ---- C: static locals and file statics ---- */

static void c_hits(const char *build, const char *nm_name)
{
	const char *prog = names_helper(build);
	static const long calls[] = { 0, 1, 2, 3 }, count[] = { 1, 2, 3 },
			  other[] = { 10, 20, 30 };
	struct watched w;

	TU_REQUIRE_HITS();
	w = WATCH_JSON("bump::calls", "c_main.c::count", "c_other.c::count",
		       "counter", "--", prog, "write", "3");
	assert_hits(&w, build, "bump::calls", "bump::calls", calls, 4);
	assert_hits(&w, build, "c_main.c::count", "c_main.c::count", count, 3);
	assert_hits(&w, build, "c_other.c::count", "c_other.c::count", other,
		    3);
	assert_hits(&w, build, "counter", "counter", count, 3);
	free_run(&w.run);
	/* `calls` alone (the only one), and as nm shows it (one at a time:
	 * two locations on one address are a test of their own) */
	w = WATCH_JSON("calls", "--", prog, "write", "3");
	assert_hits(&w, build, "calls", "calls", calls, 4);
	free_run(&w.run);
	w = WATCH_JSON(nm_name, "--", prog, "write", "3");
	assert_hits(&w, build, nm_name, "calls", calls, 4);
	free_run(&w.run);
}

Test(names, c_gcc_O0_static_locals_hits, .timeout = 30)
{
	c_hits("c-gcc-O0", "calls.0");
}

Test(names, c_gcc_O2_static_locals_hits, .timeout = 30)
{
	c_hits("c-gcc-O2", "calls.0");
}

Test(names, c_clang_O0_static_locals_hits, .timeout = 30)
{
	c_hits("c-clang-O0", "bump.calls");
}

Test(names, c_clang_O2_static_locals_hits, .timeout = 30)
{
	c_hits("c-clang-O2", "bump.calls");
}

/* ---- a pointer path into the heap, attached ---- */

Test(names, pointer_path_into_the_heap_attached, .timeout = 30)
{
	struct proc target;
	char line[128];
	unsigned long long addr = 0;
	struct run r, t;
	struct hits h;

	TU_REQUIRE_HITS();
	target = spawn(names_helper("c-gcc-O2"), ARGS("heap", "3"), 20);
	do /* the oracle lines, then where head->v is */
		read_line(target.out, line, sizeof(line));
	while (sscanf(line, "head->v %llx", &addr) != 1);
	r = attach_and_go(&target, ARGS("--json", "head->v"), true, &t);
	h = parse_json(r.out, false);
	cr_assert_eq(h.n, 3, "%s", r.out);
	for (int i = 0; i < 3; i++) {
		cr_expect_eq(strtoull(jstr(h.hit[i], "addr"), NULL, 16), addr);
		cr_expect_eq(jint(h.hit[i], "new"), i + 1);
	}
	free_run(&r);
	free_run(&t);
}

/* ---- refusals and suggestions, each with its reason ---- */

static void refused(const char *prog, const char *loc, int status,
		    const char *want)
{
	struct run r = HWBP("watch", loc, "--", prog, "write", "1");

	assert_error(&r, status, want);
	free_run(&r);
}

Test(names, ambiguous_file_static_lists_each_candidate)
{
	const char *prog = names_helper("c-gcc-O0");

	refused(prog, "count", 2, "'count' is ambiguous: count (c_main.c in "
		"c-gcc-O0), count (c_other.c in c-gcc-O0); say which");
}

Test(names, misspelt_name_suggests_names_and_where)
{
	const char *prog = names_helper("c-gcc-O0");

	/* nearest first; as near, by name, then place */
	refused(prog, "countr", 2, "unknown symbol 'countr'; did you mean: "
		"count (c_main.c in c-gcc-O0), count (c_other.c in c-gcc-O0), "
		"counter (c_main.c in c-gcc-O0)?");
	refused(prog, "bump::cals", 2, "did you mean: bump::calls (c_main.c "
		"in c-gcc-O0)");
}

Test(names, bad_offsets_indexes_and_lengths_are_refused)
{
	const char *c = names_helper("c-gcc-O0"), *cxx =
		names_helper("cxx-gcc-O0-pie"), *rule;
	char want[256];
	struct run r;

	refused(c, "counter+100", 2, "'counter+100': +100 is past the end of "
		"counter (4 bytes: +0 to +3)");
	refused(c, "counter+2:4", 2, "4 bytes from +2 run past the end of "
		"counter (4 bytes)");
	refused(cxx, "table[-1]", 2, "'[-1]': an index is 0 or more");
	refused(cxx, "table[4]", 2, "index 4 is out of bounds (the array has "
		"4 elements)");
	refused(c, "counter:abc", 2, "no module 'counter' is loaded; a ':' "
		"comes after a library's name (lib.so:name) or before a length");
	/* one rule for :LEN, said the same way by --help and the messages */
	r = HWBP("watch", "--help");
	rule = strstr(r.out, "an optional :LEN of\n");
	cr_assert(rule, "%s", r.out);
	rule += strlen("an optional :LEN of\n");
	rule += strspn(rule, " ");
	snprintf(want, sizeof(want), ":LEN is %.*s", (int)strcspn(rule, "\n"),
		 rule);
	cr_assert(strstr(want, "1 to 4096 bytes"), "%s", want);
	free_run(&r);
	refused(c, "counter:0", 2, want);
	refused(c, "counter:4097", 2, want);
	refused(c, "counter:", 2, want);
}

Test(names, function_as_data_suggests_exec)
{
	const char *prog = names_helper("c-gcc-O0");
	struct run r;

	refused(prog, "bump", 2, "'bump' is a function (c-gcc-O0), not a "
		"variable: watch its calls with --exec");
	r = HWBP("watch", "--exec", "counter", "--", prog, "write", "1");
	assert_error(&r, 2, "'counter' is a variable (c_main.c in c-gcc-O0): "
		     "--exec "
		     "watches a function's code; drop --exec");
	free_run(&r);
}

/* (watched with the guard: test_tls.c) */
Test(names, thread_local_is_refused_with_the_reason)
{
	struct run r = HWBP("watch", "--no-guard", "app::tls_count", "--",
			    names_helper("cxx-gcc-O0-pie"), "write", "1");

	assert_error(&r, 2, "'app::tls_count' is thread-local: each thread "
		     "has its own copy; hwbp finds each thread's copy from the "
		     "thread's registers with ptrace (the guard)");
	free_run(&r);
}

/* libbaz.so:gz+0 used to say "unknown symbol 'gz'; did you mean: gz". */
Test(names, name_in_another_module_says_where_it_is)
{
	const char *prog = names_helper("uselib-pie");
	struct run r = HWBP("watch", "libnames.so:main_only+0", "--", prog,
			    "write");

	assert_error(&r, 2, "no 'main_only' in libnames.so; there is main_only "
		     "(uselib.c in uselib-pie): drop 'libnames.so:'");
	free_run(&r);
}

/* ---- copy relocations ---- */

static void copy_hits(const char *build)
{
	const char *prog = names_helper(build);
	static const long foo[] = { 3, 6, 9, 12 }, state[] = { 30, 60, 90, 120 };
	struct watched w;
	char want[256];

	TU_REQUIRE_HITS();
	w = WATCH_JSON("libnames.so:foo_var", "libnames.so:foo_state.b", "--",
		       prog, "write");
	assert_hits(&w, build, "libnames.so:foo_var", "foo_var", foo, 4);
	assert_hits(&w, build, "libnames.so:foo_state.b", "foo_state.b", state,
		    4);
	snprintf(want, sizeof(want), "hwbp: libnames.so:foo_var: the program "
		 "uses the copy in %s at 0x%llx (copy relocation), not "
		 "libnames.so's: watching that one\n", build,
		 (unsigned long long)printed(w.run.out, "foo_var"));
	cr_expect(strstr(w.run.err, want), "want '%s' in: %s", want, w.run.err);
	free_run(&w.run);
}

Test(names, copy_relocation_nopie_watches_the_copy, .timeout = 30)
{
	copy_hits("uselib-nopie");
}

Test(names, copy_relocation_pie_watches_the_copy, .timeout = 30)
{
	copy_hits("uselib-pie");
}

/* libc.so.6:__environ under /usr/bin/env: env has the copy (and the
 * aliases environ, _environ); before, 0 hits. */
Test(names, libc_environ_copy_in_env, .timeout = 30)
{
	struct watched w;

	TU_REQUIRE_HITS();
	if (access("/usr/bin/env", X_OK))
		cr_skip_test("skipped: no /usr/bin/env");
	w = WATCH_JSON("libc.so.6:__environ", "--", "/usr/bin/env", "-i",
		       "FOO=1", "/bin/true");
	cr_expect(strstr(w.run.err, "libc.so.6:__environ: the program uses the "
			 "copy in env at 0x"), "%s", w.run.err);
	/* env -i clears environ, putenv(FOO=1) sets a new one */
	cr_expect_geq(w.h.n, 2, "%d hits", w.h.n);
	free_run(&w.run);
}

/* ---- privileges ---- */

static struct run as_nobody(const char *const *args)
{
	const char *argv[MAX_ARGS] = { "--reuid=65534", "--regid=65534",
				       "--clear-groups", env_or_skip("HWBP_BIN") };
	struct proc p;
	int n = 4;

	if (geteuid() != 0 || access("/usr/bin/setpriv", X_OK))
		cr_skip_test("skipped: needs root and setpriv (util-linux) to "
			     "run hwbp as another user");
	while (*args && n < MAX_ARGS - 1)
		argv[n++] = *args++;
	argv[n] = NULL;
	p = spawn("/usr/bin/setpriv", argv, HWBP_ALARM_S);
	return finish(&p);
}

/* Does /proc/kallsyms show user 65534 its addresses? */
static bool kallsyms_visible_to_nobody(void)
{
	const char *argv[] = { "--reuid=65534", "--regid=65534",
			       "--clear-groups", "/usr/bin/head", "-c", "16",
			       "/proc/kallsyms", NULL };
	struct proc p = spawn("/usr/bin/setpriv", argv, HWBP_ALARM_S);
	struct run r = finish(&p);
	bool visible = strspn(r.out, "0") < 16;

	free_run(&r);
	return visible;
}

Test(names, kernel_symbol_hidden_from_the_user_says_why, .timeout = 30)
{
	struct run r = as_nobody(ARGS("watch", "--kernel", "jiffies", "--",
				      "/bin/true"));

	if (kallsyms_visible_to_nobody()) {
		free_run(&r);
		cr_skip_test("skipped: /proc/kallsyms shows unprivileged users "
			     "its addresses here (kptr_restrict=0, "
			     "perf_event_paranoid <= 1)");
	}
	assert_error(&r, 2, "kernel symbol 'jiffies': /proc/kallsyms shows this "
		     "user every address as 0 (kernel.kptr_restrict=");
	free_run(&r);
}

Test(names, execute_only_program_says_why, .timeout = 30)
{
	struct tmp t;
	char cmd[4400];
	struct run r;

	tmp_make(&t, "xonly");
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 0711 '%s' && "
		 "chmod 0755 '%s'", names_helper("c-gcc-O0"), t.path, t.path,
		 t.dir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	r = as_nobody(ARGS("watch", "counter", "--", t.path, "write", "1"));
	assert_error(&r, 1, "the kernel hides a program without read "
		     "permission (execute-only) from other processes");
	cr_assert(strstr(r.err, "make it readable"), "%s", r.err);
	free_run(&r);
	tmp_remove(&t);
}
