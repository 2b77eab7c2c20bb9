/* SPDX-License-Identifier: MIT */
/*
 * test_names.c - the command's LOCATION resolver (tools/symbols.c,
 * dwtype.c, tls.c, demangle.c) against live targets, no traps needed:
 * each program of tests/helpers/names/ prints where its variables are
 * ("LOCATION 0xADDR") and waits; every LOCATION must resolve to that
 * address in every build (g++ and clang++, -O0 and -O2, PIE and not).
 * Pointer paths through a counting reader (the pointers followed, each
 * slot and value), whole objects and the member at an offset, thread
 * pointers and each thread's copy of a thread-local, demangling.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../tools/watch.h"

#define MAX_LINES 64

/* A helper program, waiting after its oracle lines. */
struct live {
	pid_t pid;
	FILE *out;      /* its stdout */
	int in;         /* its stdin */
	int n;
	char name[MAX_LINES][128];
	uint64_t addr[MAX_LINES];
	int tid[MAX_LINES]; /* "tls NAME TID 0xADDR" lines */
	char path[4096];
};

/* build/tests/helpers/names/NAME, beside this binary (build/tests/). */
static bool helper_path(const char *name, char *out, size_t len)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return false;
	self[n] = '\0';
	snprintf(out, len, "%s/helpers/names/%s", dirname(self), name);
	return access(out, X_OK) == 0;
}

static void skip_unless_built(const char *name, char *path, size_t len)
{
	if (!helper_path(name, path, len))
		cr_skip_test("skipped: %s not built (clang++ missing?)", name);
}

/* Start `name mode`, read its lines up to "ready PID". */
static void live_start(struct live *l, const char *name, const char *mode)
{
	int o[2], i[2];
	char line[512];

	memset(l, 0, sizeof(*l));
	skip_unless_built(name, l->path, sizeof(l->path));
	cr_assert(!pipe(o) && !pipe(i));
	l->pid = fork();
	cr_assert_geq(l->pid, 0);
	if (!l->pid) {
		dup2(o[1], 1);
		dup2(i[0], 0);
		close(o[0]);
		close(i[1]);
		alarm(20);
		execl(l->path, name, mode, "1", (char *)NULL);
		_exit(127);
	}
	close(o[1]);
	close(i[0]);
	l->out = fdopen(o[0], "r");
	l->in = i[1];
	while (fgets(line, sizeof(line), l->out)) {
		char a[128], b[120];
		unsigned long long addr;
		int tid;

		if (!strncmp(line, "ready ", 6))
			return;
		cr_assert_lt(l->n, MAX_LINES);
		if (sscanf(line, "tls %127s %d %llx", a, &tid, &addr) == 3 ||
		    (sscanf(line, "tls %d %llx", &tid, &addr) == 2 &&
		     snprintf(a, sizeof(a), "app::tls_count") > 0)) {
			snprintf(l->name[l->n], sizeof(l->name[0]), "%s", a);
			l->tid[l->n] = tid;
			l->addr[l->n++] = addr;
		} else if (sscanf(line, "%127s %llx", a, &addr) == 2) {
			snprintf(l->name[l->n], sizeof(l->name[0]), "%s", a);
			l->addr[l->n++] = addr;
		} else if (sscanf(line, "notls %119s %d", b, &tid) == 2) {
			snprintf(l->name[l->n], sizeof(l->name[0]), "!%s", b);
			l->tid[l->n++] = tid;
		}
	}
	cr_assert_fail("%s %s: no 'ready' line", name, mode);
}

static void live_end(struct live *l)
{
	int status;

	if (write(l->in, "\n", 1) != 1)
		kill(l->pid, SIGKILL);
	close(l->in);
	fclose(l->out);
	cr_assert_eq(waitpid(l->pid, &status, 0), l->pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "%s ended with status 0x%x", l->path, status);
}

static uint64_t oracle(const struct live *l, const char *name)
{
	for (int k = 0; k < l->n; k++)
		if (!strcmp(l->name[k], name))
			return l->addr[k];
	cr_assert_fail("%s printed no '%s'", l->path, name);
	return 0;
}

/* Every oracle line of `name` resolves to its address. */
static void resolves_all(const char *name, const char *mode)
{
	struct live l;
	struct syms *s;
	char msg[512];

	live_start(&l, name, mode);
	cr_assert_eq(syms_open(&s, l.pid, false), 0);
	for (int k = 0; k < l.n; k++) {
		struct location loc;
		int err = syms_resolve(s, l.name[k], HWBP_WRITE, &loc, msg,
				       sizeof(msg));

		cr_expect_eq(err, 0, "%s: '%s': %s", name, l.name[k], msg);
		if (!err)
			cr_expect_eq(loc.addr, l.addr[k], "%s: '%s' resolved to "
				     "0x%" PRIx64 ", the program says 0x%" PRIx64,
				     name, l.name[k], loc.addr, l.addr[k]);
		free(loc.type.enums);
	}
	syms_close(s);
	live_end(&l);
}

#define CXX_TEST(cc, opt, pie)                                                 \
	Test(names, cxx_##cc##_##opt##_##pie)                                  \
	{                                                                      \
		resolves_all("cxx-" #cc "-" #opt "-" #pie, "wait");           \
	}
CXX_TEST(gcc, O0, pie)
CXX_TEST(gcc, O0, nopie)
CXX_TEST(gcc, O2, pie)
CXX_TEST(gcc, O2, nopie)
CXX_TEST(clang, O0, pie)
CXX_TEST(clang, O0, nopie)
CXX_TEST(clang, O2, pie)
CXX_TEST(clang, O2, nopie)

Test(names, c_static_locals_and_file_statics)
{
	resolves_all("c-gcc-O0", "wait");
	resolves_all("c-gcc-O2", "wait");
	resolves_all("c-clang-O0", "wait");
	resolves_all("c-clang-O2", "wait");
}

/* Each static local, as nm shows it: gcc's calls.N, clang's bump.calls. */
Test(names, c_static_local_as_nm_shows_it)
{
	static const char *const builds[][2] = {
		{ "c-gcc-O0", "calls.0" }, { "c-gcc-O2", "calls.0" },
		{ "c-clang-O0", "bump.calls" }, { "c-clang-O2", "bump.calls" },
	};

	for (size_t b = 0; b < sizeof(builds) / sizeof(builds[0]); b++) {
		struct live l;
		struct syms *s;
		struct location loc;
		char msg[512];

		live_start(&l, builds[b][0], "wait");
		cr_assert_eq(syms_open(&s, l.pid, false), 0);
		cr_expect_eq(syms_resolve(s, builds[b][1], HWBP_WRITE, &loc, msg,
					  sizeof(msg)), 0, "%s: %s: %s",
			     builds[b][0], builds[b][1], msg);
		cr_expect_eq(loc.addr, oracle(&l, "calls"), "%s: %s",
			     builds[b][0], builds[b][1]);
		cr_expect_eq(loc.len, 4);
		free(loc.type.enums);
		syms_close(s);
		live_end(&l);
	}
}

/* ---- pointers, through a reader that counts ---- */

struct reader {
	pid_t pid;
	int reads;
};

static bool count_read(uint64_t addr, void *buf, size_t len, void *ctx)
{
	struct reader *r = ctx;
	struct iovec local = { buf, len };
	struct iovec remote = { (void *)(uintptr_t)addr, len };

	r->reads++;
	return process_vm_readv(r->pid, &local, 1, &remote, 1, 0) ==
	       (ssize_t)len;
}

Test(names, pointer_path_lists_each_pointer_it_followed)
{
	struct live l;
	struct syms *s;
	struct location loc;
	struct reader r;
	char msg[512];
	uint64_t n1;

	live_start(&l, "cxx-gcc-O2-pie", "wait");
	r = (struct reader){ l.pid, 0 };
	cr_assert_eq(syms_open(&s, l.pid, false), 0);
	cr_assert_eq(syms_resolve_mem(s, "head->next->v", HWBP_WRITE,
				      count_read, &r, &loc, msg, sizeof(msg)),
		     0, "%s", msg);
	n1 = oracle(&l, "*head");
	cr_expect_eq(loc.addr, oracle(&l, "head->next->v"));
	cr_expect_eq(loc.len, 4);
	cr_expect_eq(loc.type.kind, V_SIGNED);
	cr_assert_eq(loc.nderefs, 2);
	cr_expect_eq(loc.derefs[0].slot, oracle(&l, "head"));
	cr_expect_eq(loc.derefs[0].value, n1);
	cr_expect_str_eq(loc.derefs[0].expr, "head");
	cr_expect_eq(loc.derefs[1].slot, oracle(&l, "n1.next"));
	cr_expect_eq(loc.derefs[1].value, oracle(&l, "head->next->v"));
	cr_expect_str_eq(loc.derefs[1].expr, "head->next");
	cr_expect_geq(r.reads, 2, "the reader was used");

	/* *p: the whole object it points to. */
	cr_assert_eq(syms_resolve_mem(s, "*head", HWBP_WRITE, count_read, &r,
				      &loc, msg, sizeof(msg)), 0, "%s", msg);
	cr_expect_eq(loc.addr, n1);
	cr_expect_eq(loc.len, 16, "struct Node: int, pointer");
	cr_expect_eq(loc.nderefs, 1);

	/* p[i] on a pointer, then -> */
	cr_assert_eq(syms_resolve_mem(s, "head[0].next->v", HWBP_WRITE,
				      count_read, &r, &loc, msg, sizeof(msg)),
		     0, "%s", msg);
	cr_expect_eq(loc.addr, oracle(&l, "head->next->v"));

	/* A NULL on the path: pending, the pointer named and listed. */
	cr_expect_eq(syms_resolve_mem(s, "n2.next->v", HWBP_WRITE, count_read,
				      &r, &loc, msg, sizeof(msg)),
		     RESOLVE_PENDING);
	cr_expect(strstr(msg, "'n2.next' is NULL"), "%s", msg);
	cr_assert_eq(loc.nderefs, 1);
	cr_expect_eq(loc.derefs[0].slot, oracle(&l, "n2.next"));
	cr_expect_eq(loc.derefs[0].value, 0);

	/* . on a pointer and -> on a struct are refused, saying which. */
	cr_expect_eq(syms_resolve(s, "head.v", HWBP_WRITE, &loc, msg,
				  sizeof(msg)), EXIT_USAGE);
	cr_expect(strstr(msg, "'head' is a pointer: write head->v"), "%s", msg);
	cr_expect_eq(syms_resolve(s, "n1->v", HWBP_WRITE, &loc, msg,
				  sizeof(msg)), EXIT_USAGE);
	cr_expect(strstr(msg, "'n1' is not a pointer: write n1.v"), "%s", msg);
	syms_close(s);
	live_end(&l);
}

/* A reference is its referent; std::atomic<long> is its long. */
Test(names, reference_and_atomic)
{
	struct live l;
	struct syms *s;
	struct location loc;
	char msg[512];

	live_start(&l, "cxx-clang-O0-pie", "wait");
	cr_assert_eq(syms_open(&s, l.pid, false), 0);
	cr_assert_eq(syms_resolve(s, "app::ref", HWBP_WRITE, &loc, msg,
				  sizeof(msg)), 0, "%s", msg);
	cr_expect_eq(loc.addr, oracle(&l, "app::cfg.limit"));
	cr_expect_eq(loc.len, 8);
	cr_expect_eq(loc.nderefs, 1, "the reference is listed");
	cr_assert_eq(syms_resolve(s, "app::total", HWBP_WRITE, &loc, msg,
				  sizeof(msg)), 0, "%s", msg);
	cr_expect_eq(loc.len, 8);
	cr_expect_eq(loc.type.kind, V_SIGNED, "std::atomic<long> as a long");
	cr_expect_str_eq(loc.type.name, "long");
	syms_close(s);
	live_end(&l);
}

/* ---- whole objects, and naming what a hit touched ---- */

static void name_at(struct syms *s, const struct location *loc, uint64_t off,
		    uint32_t len, const char *want)
{
	char name[256];
	struct vtype vt;

	cr_assert_eq(syms_member_at(s, loc, loc->addr + off, len, name,
				    sizeof(name), &vt), 0, "+%" PRIu64, off);
	cr_expect_str_eq(name, want, "+%" PRIu64 ":%u", off, len);
	free(vt.enums);
}

Test(names, whole_objects_and_their_members)
{
	struct live l;
	struct syms *s;
	struct location loc;
	char msg[512], name[256];

	live_start(&l, "cxx-gcc-O0-nopie", "wait");
	cr_assert_eq(syms_open(&s, l.pid, false), 0);
	cr_assert_eq(syms_resolve(s, "app::cfg", HWBP_WRITE, &loc, msg,
				  sizeof(msg)), 0, "%s", msg);
	cr_expect_eq(loc.addr, oracle(&l, "app::cfg"));
	cr_expect_eq(loc.len, 32, "long, 2 x {int, int}, int, padding");
	cr_expect_eq(loc.size, 32);
	name_at(s, &loc, 0, 8, "app::cfg.limit");
	name_at(s, &loc, 20, 4, "app::cfg.lim[1].hard");
	name_at(s, &loc, 16, 8, "app::cfg.lim[1]");
	name_at(s, &loc, 24, 4, "app::cfg.flags");
	name_at(s, &loc, 29, 1, "app::cfg+29");
	name_at(s, &loc, 2, 1, "app::cfg.limit+2");
	cr_expect_eq(syms_member_at(s, &loc, loc.addr + 32, 1, name,
				    sizeof(name), NULL), -ENOENT);
	/* A base class's member is the object's. */
	cr_assert_eq(syms_resolve(s, "app::obj", HWBP_WRITE, &loc, msg,
				  sizeof(msg)), 0, "%s", msg);
	name_at(s, &loc, 0, 4, "app::obj.x");
	name_at(s, &loc, 16, 4, "app::obj.z");
	cr_assert_eq(syms_resolve(s, "app::obj.y", HWBP_WRITE, &loc, msg,
				  sizeof(msg)), 0, "%s", msg);
	cr_expect_eq(loc.addr, oracle(&l, "app::obj.x") + 8);
	/* Arrays; +OFFSET names the element there and takes its length. */
	cr_assert_eq(syms_resolve(s, "table", HWBP_WRITE, &loc, msg,
				  sizeof(msg)), 0, "%s", msg);
	cr_expect_eq(loc.len, 16);
	name_at(s, &loc, 8, 4, "table[2]");
	cr_assert_eq(syms_resolve(s, "table+8", HWBP_WRITE, &loc, msg,
				  sizeof(msg)), 0, "%s", msg);
	cr_expect_eq(loc.addr, oracle(&l, "table[2]"));
	cr_expect_eq(loc.len, 4);
	name_at(s, &loc, 0, 4, "table[2]");
	syms_close(s);
	live_end(&l);
}

/* A 2-D array's element; a union's bytes by the member that names them. */
Test(names, arrays_of_arrays_and_unions)
{
	struct live l;
	struct syms *s;
	struct location loc;
	char msg[512];

	live_start(&l, "c-gcc-O2", "wait");
	cr_assert_eq(syms_open(&s, l.pid, false), 0);
	cr_assert_eq(syms_resolve(s, "grid", HWBP_WRITE, &loc, msg,
				  sizeof(msg)), 0, "%s", msg);
	cr_expect_eq(loc.len, 60);
	name_at(s, &loc, 28, 4, "grid[1][2]");
	name_at(s, &loc, 20, 20, "grid[1]");
	name_at(s, &loc, 18, 4, "grid+18");
	cr_assert_eq(syms_resolve(s, "word", HWBP_WRITE, &loc, msg,
				  sizeof(msg)), 0, "%s", msg);
	name_at(s, &loc, 2, 1, "word.c[2]");
	name_at(s, &loc, 0, 4, "word.i");
	syms_close(s);
	live_end(&l);
}

/* ---- member tables (tools/members.c): what the processor names a hit
 * by, built from DWARF before a whole object is armed ---- */

struct want_member {
	uint32_t off, len;      /* the access */
	const char *name;       /* NULL: no member names it */
	uint32_t moff, mlen;
	bool typed;
	enum vkind kind;
};

static void member_table(struct syms *s, const char *spec,
			 const struct want_member *want, int n)
{
	struct location loc;
	struct members *t;
	char msg[512];

	cr_assert_eq(syms_resolve(s, spec, HWBP_WRITE, &loc, msg, sizeof(msg)),
		     0, "%s", msg);
	cr_assert_eq(members_build(s, &loc, &t), 0);
	cr_assert_not_null(t, "%s: a whole object", spec);
	for (int k = 0; k < n; k++) {
		const struct want_member *w = &want[k];
		const struct member *m = members_at(t, w->off, w->len);

		if (!w->name) {
			cr_expect_null(m, "%s +%u:%u: %s", spec, w->off, w->len,
				       m ? m->name : "");
			continue;
		}
		cr_assert_not_null(m, "%s +%u:%u", spec, w->off, w->len);
		cr_expect_str_eq(m->name, w->name, "%s +%u:%u", spec, w->off,
				 w->len);
		cr_expect_eq(m->off, w->moff, "%s", w->name);
		cr_expect_eq(m->len, w->mlen, "%s", w->name);
		cr_expect_eq(m->typed, w->typed, "%s", w->name);
		if (w->typed)
			cr_expect_eq(members_type(t, m)->kind, w->kind, "%s",
				     w->name);
	}
	members_free(t);
	free(loc.type.enums);
}

Test(names, member_tables_of_whole_objects)
{
	static const struct want_member cfg[] = {
		{ 0, 8, "app::cfg.limit", 0, 8, true, V_SIGNED },
		{ 3, 1, "app::cfg.limit", 0, 8, true, V_SIGNED },
		{ 20, 4, "app::cfg.lim[1].hard", 20, 4, true, V_SIGNED },
		{ 16, 8, "app::cfg.lim[1]", 16, 8, false, V_HEX },
		{ 24, 4, "app::cfg.flags", 24, 4, true, V_SIGNED },
		{ 28, 4, "app::cfg+28", 28, 4, false, V_HEX }, /* padding */
		{ 6, 4, NULL, 0, 0, false, V_HEX },  /* unaligned, 2 members */
		{ 32, 1, NULL, 0, 0, false, V_HEX }, /* past the end */
	};
	static const struct want_member obj[] = {
		{ 0, 4, "app::obj.x", 0, 4, true, V_SIGNED }, /* base class */
		{ 8, 8, "app::obj.y", 8, 8, true, V_SIGNED },
		{ 16, 4, "app::obj.z", 16, 4, true, V_SIGNED },
	};
	static const struct want_member table[] = {
		{ 8, 4, "table[2]", 8, 4, true, V_SIGNED },
		{ 8, 8, NULL, 0, 0, false, V_HEX }, /* two elements: bytes */
	};
	struct live l;
	struct syms *s;
	struct location loc;
	struct members *t = (void *)1;
	char msg[512];

	live_start(&l, "cxx-gcc-O0-nopie", "wait");
	cr_assert_eq(syms_open(&s, l.pid, false), 0);
	member_table(s, "app::cfg", cfg, sizeof(cfg) / sizeof(cfg[0]));
	member_table(s, "app::obj", obj, sizeof(obj) / sizeof(obj[0]));
	member_table(s, "table", table, sizeof(table) / sizeof(table[0]));
	/* A scalar, a member, a range: no table. */
	for (int k = 0; k < 3; k++) {
		const char *spec = (const char *[]){ "app::total",
						     "app::cfg.limit",
						     "app::cfg:16" }[k];

		cr_assert_eq(syms_resolve(s, spec, HWBP_WRITE, &loc, msg,
					  sizeof(msg)), 0, "%s", msg);
		cr_assert_eq(members_build(s, &loc, &t), 0);
		cr_expect_null(t, "%s", spec);
		free(loc.type.enums);
	}
	syms_close(s);
	live_end(&l);
}

/* A union: a 4-byte store names its int, a byte its char; 2-D arrays. */
Test(names, member_tables_of_unions_and_2d_arrays)
{
	static const struct want_member word[] = {
		{ 0, 4, "word.i", 0, 4, true, V_SIGNED },
		{ 2, 1, "word.c[2]", 2, 1, true, V_CHAR },
	};
	static const struct want_member grid[] = {
		{ 28, 4, "grid[1][2]", 28, 4, true, V_SIGNED },
		{ 56, 4, "grid[2][4]", 56, 4, true, V_SIGNED },
	};
	struct live l;
	struct syms *s;

	live_start(&l, "c-gcc-O2", "wait");
	cr_assert_eq(syms_open(&s, l.pid, false), 0);
	member_table(s, "word", word, sizeof(word) / sizeof(word[0]));
	member_table(s, "grid", grid, sizeof(grid) / sizeof(grid[0]));
	syms_close(s);
	live_end(&l);
}

/* ---- thread-locals ---- */

static void tls_copies(const char *helper)
{
	struct live l;
	struct syms *s;
	char msg[512];
	int checked = 0;

	live_start(&l, helper, strncmp(helper, "uselib", 6) ? "threads"
							    : "tls");
	cr_assert_eq(syms_open(&s, l.pid, false), 0);
	cr_expect_eq(syms_resolve(s, "app::tls_count", HWBP_WRITE,
				  &(struct location){ 0 }, msg, sizeof(msg)),
		     strncmp(helper, "cxx", 3) ? EXIT_USAGE : EXIT_USAGE);
	syms_allow_tls(s, true);
	for (int k = 0; k < l.n; k++) {
		struct location loc;
		uint64_t tp = 0, addr = 0;
		const char *name = l.name[k] + (l.name[k][0] == '!');
		int err;

		if (!l.tid[k])
			continue;
		cr_assert_eq(syms_resolve(s, name, HWBP_WRITE, &loc, msg,
					  sizeof(msg)), 0, "%s", msg);
		cr_assert(loc.tls, "%s", name);
		cr_expect_eq(loc.addr, 0);
		cr_assert_eq(thread_pointer(l.tid[k], &tp), 0, "thread %d: %s",
			     l.tid[k], strerror(errno));
		err = syms_tls_address(s, &loc, target_read,
				       &(struct target){ .pid = l.tid[k] }, tp,
				       &addr, msg, sizeof(msg));
		if (l.name[k][0] == '!') {
			/* a dlopen'd module's, in a thread that never used it */
			cr_expect_eq(err, -ENOENT, "%s in %d: %s", name,
				     l.tid[k], msg);
			cr_expect(strstr(msg, "no copy yet"), "%s", msg);
		} else {
			cr_expect_eq(err, 0, "%s in %d: %s", name, l.tid[k], msg);
			cr_expect_eq(addr, l.addr[k], "%s in thread %d",
				     name, l.tid[k]);
		}
		checked++;
	}
	cr_expect_geq(checked, 3);
	syms_close(s);
	live_end(&l);
}

Test(names, thread_locals_of_each_thread)
{
	tls_copies("cxx-gcc-O0-pie");
	tls_copies("cxx-gcc-O2-nopie");
	tls_copies("cxx-clang-O2-pie");
	tls_copies("uselib-pie");
	tls_copies("uselib-nopie");
}

/* ---- demangling ---- */

Test(names, demangle_and_cut)
{
	char out[512];
	static const char longname[] =
		"std::thread::_State_impl<std::thread::_Invoker<std::tuple<"
		"main::{lambda()#1}, std::vector<int, std::allocator<int> > > "
		"> >::_M_run()";

	cr_expect_eq(demangle("_ZN3app3Srv3addEi", out, sizeof(out)),
		     strlen("app::Srv::add(int)"));
	cr_expect_str_eq(out, "app::Srv::add(int)");
	demangle("calls.0", out, sizeof(out));
	cr_expect_str_eq(out, "calls.0");
	demangle("_Znot_mangled", out, sizeof(out));
	cr_expect_str_eq(out, "_Znot_mangled");
	demangle("_ZN3app3Srv3addEi", out, 8);
	cr_expect_str_eq(out, "app::Sr");
	cut_name("app::Srv::add(int)", out, sizeof(out));
	cr_expect_str_eq(out, "app::Srv::add(int)");
	cut_name("_ZNSt6thread11_State_implINS_8_InvokerISt5tupleIJZ4mainEUlvE_"
		 "EEEEE6_M_runEv", out, sizeof(out));
	cr_expect(!strncmp(out, "_ZNSt6thread11_State_impl", 25) &&
		  strlen(out) > 60, "a mangled name is not cut: %s", out);
	cut_name(longname, out, sizeof(out));
	cr_expect_str_eq(out, "std::thread::_State_impl<...>::_M_run()");
	cut_name("std::map<std::basic_string<char>, int>::operator<(int, int)"
		 "::{lambda(std::pair<int, int> const&)#2}::operator()() const",
		 out, sizeof(out));
	cr_expect_leq(strlen(out), 60, "%s", out);
	cr_expect(strstr(out, "operator()"), "%s", out);
}
