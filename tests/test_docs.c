/* SPDX-License-Identifier: MIT */
/*
 * test_docs.c - every symbol src/libhwbp.map exports is declared in
 * include/hwbp.h, has its own man/<symbol>.3 (a page, or a .so stub to an
 * existing page that names it), and is listed by man/libhwbp.3; and
 * man/hwbp.1 documents every option `hwbp watch --help` lists and every
 * JSON key tools/output.c writes.  Files are read from $HWBP_SRCDIR
 * (default: the current directory), the command is $HWBP_BIN.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>

#include "testutil.h"

#define MAX_SYMS 256

static const char *srcdir(void)
{
	const char *d = getenv("HWBP_SRCDIR");

	return d && *d ? d : ".";
}

/* The whole file, NUL-terminated (malloc'd), or NULL if it cannot be read. */
static char *slurp(const char *rel)
{
	char path[4096];
	FILE *f;
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	snprintf(path, sizeof(path), "%s/%s", srcdir(), rel);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	do {
		if (cap - len < 4096) {
			char *b = realloc(buf, cap += 65536);

			cr_assert(b, "out of memory reading %s", path);
			buf = b;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

static bool ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* `word` occurs in `text` as a whole identifier; returns where, or NULL. */
static const char *find_word(const char *text, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = strstr(text, word); p; p = strstr(p + 1, word))
		if ((p == text || !ident_char(p[-1])) && !ident_char(p[n]))
			return p;
	return NULL;
}

/* The names in the map's `global:` lists (up to `local:`); test_api.c
 * checks its table against them too. */
int tu_map_symbols(char syms[][64])
{
	char *map = slurp("src/libhwbp.map");
	bool global = false;
	int n = 0;

	cr_assert(map, "cannot read %s/src/libhwbp.map (set HWBP_SRCDIR to "
		  "the source tree)", srcdir());
	for (char *line = strtok(map, "\n"); line; line = strtok(NULL, "\n")) {
		char *p = line, *end;

		while (isspace((unsigned char)*p))
			p++;
		if (strstr(p, "global:")) {
			global = true;
			continue;
		}
		if (strstr(p, "local:") || strchr(p, '}')) {
			global = false;
			continue;
		}
		if (!global || !ident_char(*p))
			continue;
		for (end = p; ident_char(*end); end++)
			;
		cr_assert_lt(end - p, 64, "symbol too long: %s", p);
		cr_assert_lt(n, MAX_SYMS);
		memcpy(syms[n], p, (size_t)(end - p));
		syms[n][end - p] = '\0';
		n++;
	}
	free(map);
	cr_assert_gt(n, 0, "no symbols in src/libhwbp.map");
	return n;
}

/* The header without its comments, so a mention in a comment is no
 * declaration. */
static char *header_code(void)
{
	char *h = slurp("include/hwbp.h"), *w;

	cr_assert(h, "cannot read %s/include/hwbp.h", srcdir());
	w = h;
	for (const char *r = h; *r;) {
		if (r[0] == '/' && r[1] == '*') {
			const char *e = strstr(r + 2, "*/");

			r = e ? e + 2 : r + strlen(r);
			*w++ = ' ';
		} else if (r[0] == '/' && r[1] == '/') {
			while (*r && *r != '\n')
				r++;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return h;
}

Test(docs, map_symbols_declared_in_header)
{
	static char syms[MAX_SYMS][64];
	int n = tu_map_symbols(syms);
	char *code = header_code();

	for (int i = 0; i < n; i++) {
		const char *p = find_word(code, syms[i]);
		bool declared = false;

		for (; p && !declared; p = find_word(p + 1, syms[i])) {
			const char *q = p + strlen(syms[i]);

			while (isspace((unsigned char)*q))
				q++;
			declared = *q == '(';
		}
		cr_expect(declared, "%s is exported by src/libhwbp.map but not "
			  "declared as a function in include/hwbp.h", syms[i]);
	}
	free(code);
}

Test(docs, every_symbol_has_a_page)
{
	static char syms[MAX_SYMS][64];
	int n = tu_map_symbols(syms);

	for (int i = 0; i < n; i++) {
		char rel[256], target[128];
		char *page;

		snprintf(rel, sizeof(rel), "man/%.63s.3", syms[i]);
		page = slurp(rel);
		cr_expect(page, "%s has no man page: %s/%s is missing",
			  syms[i], srcdir(), rel);
		if (!page)
			continue;
		cr_expect_gt(strlen(page), 0, "%s is empty", rel);
		/* A stub: ".so man3/other.3", as liburing's shared pages. */
		if (sscanf(page, ".so man3/%127[^ \n]", target) == 1) {
			free(page);
			snprintf(rel, sizeof(rel), "man/%.127s", target);
			page = slurp(rel);
			cr_expect(page, "man/%s.3 is a .so stub to %s, which is "
				  "missing", syms[i], rel);
			if (!page)
				continue;
		}
		cr_expect(find_word(page, syms[i]), "%s does not name %s",
			  rel, syms[i]);
		for (const char **s = (const char *[]){ ".SH NAME",
							".SH SYNOPSIS",
							".SH DESCRIPTION",
							".SH RETURN VALUE",
							".SH ERRORS",
							".SH SEE ALSO", NULL };
		     *s; s++)
			cr_expect(strstr(page, *s), "%s (the page of %s) has no "
				  "'%s' section", rel, syms[i], *s);
		free(page);
	}
}

Test(docs, overview_lists_every_symbol)
{
	static char syms[MAX_SYMS][64];
	int n = tu_map_symbols(syms);
	char *overview = slurp("man/libhwbp.3");

	cr_assert(overview, "%s/man/libhwbp.3 is missing", srcdir());
	for (int i = 0; i < n; i++)
		cr_expect(find_word(overview, syms[i]),
			  "man/libhwbp.3 does not mention %s", syms[i]);
	free(overview);
}

/* The other way round: no page for a function the library does not export. */
Test(docs, no_page_without_symbol)
{
	static char syms[MAX_SYMS][64];
	int n = tu_map_symbols(syms);
	char path[4096];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "%s/man", srcdir());
	d = opendir(path);
	cr_assert(d, "cannot open %s", path);
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		bool known = false;

		if (strncmp(e->d_name, "hwbp_", 5) || len < 3 ||
		    strcmp(e->d_name + len - 2, ".3"))
			continue;
		for (int i = 0; i < n && !known; i++)
			known = strlen(syms[i]) == len - 2 &&
				!strncmp(syms[i], e->d_name, len - 2);
		cr_expect(known, "man/%s documents no symbol of "
			  "src/libhwbp.map", e->d_name);
	}
	closedir(d);
}

/* roff spells each '-' of an option "\-". */
static bool page_has_option(const char *page, const char *opt)
{
	char roff[128];
	size_t n = 0;

	for (const char *o = opt; *o && n + 3 < sizeof(roff); o++) {
		if (*o == '-')
			roff[n++] = '\\';
		roff[n++] = *o;
	}
	roff[n] = '\0';
	for (const char *p = strstr(page, roff); p; p = strstr(p + 1, roff))
		if (!ident_char(p[n]) && p[n] != '-')
			return true;
	return false;
}

Test(docs, hwbp_1_documents_every_option)
{
	const char *bin = getenv("HWBP_BIN");
	char *page = slurp("man/hwbp.1"), cmd[4200], line[512];
	int options = 0;
	FILE *help;

	TU_REQUIRE(bin && *bin, "HWBP_BIN is not set (make check sets it)");
	cr_assert(page, "cannot read %s/man/hwbp.1", srcdir());
	/* hwbp --help: its --options anywhere on a line. */
	snprintf(cmd, sizeof(cmd), "'%s' --help", bin);
	help = popen(cmd, "r");
	cr_assert(help, "cannot run %s", cmd);
	while (fgets(line, sizeof(line), help))
		for (char *p = strstr(line, " --"); p; p = strstr(p + 1, " --")) {
			char opt[64];

			if (sscanf(p + 1, "%63[-a-z0-9]", opt) == 1 &&
			    strlen(opt) > 2)
				cr_expect(page_has_option(page, opt), "hwbp "
					  "--help lists %s, man/hwbp.1 does "
					  "not", opt);
		}
	cr_assert_eq(pclose(help), 0, "%s failed", cmd);
	/* hwbp watch --help: every option line. */
	snprintf(cmd, sizeof(cmd), "'%s' watch --help", bin);
	help = popen(cmd, "r");
	cr_assert(help, "cannot run %s", cmd);
	/* Option lines: "  -w, --write ..." or "      --read ...". */
	while (fgets(line, sizeof(line), help)) {
		char *p = line, opt[64];
		int len;

		while (*p == ' ')
			p++;
		while (p > line + 1 && *p == '-' &&
		       sscanf(p, "%63[-a-z0-9]%n", opt, &len) == 1) {
			options++;
			cr_expect(page_has_option(page, opt), "hwbp watch "
				  "--help lists %s, man/hwbp.1 does not", opt);
			p += len;
			if (*p == ',')
				p++;
			while (*p == ' ')
				p++;
		}
	}
	cr_assert_eq(pclose(help), 0, "%s failed", cmd);
	cr_assert_gt(options, 15, "only %d options found in %s", options, cmd);
	free(page);
}

Test(docs, hwbp_1_documents_every_json_key)
{
	char *page = slurp("man/hwbp.1"), *out = slurp("tools/output.c");
	char *json, *end;
	int keys = 0;

	cr_assert(page && out, "cannot read man/hwbp.1 or tools/output.c");
	json = strstr(page, ".SH JSON OUTPUT");
	cr_assert(json, "man/hwbp.1 has no JSON OUTPUT section");
	end = strstr(json + 1, "\n.SH ");
	if (end)
		*end = '\0';
	/* Keys are written as \"name\": in the C strings. */
	for (char *p = strstr(out, "\\\""); p; p = strstr(p + 1, "\\\"")) {
		char key[64];
		int len;

		if (sscanf(p + 2, "%63[a-z_]%n", key, &len) != 1 ||
		    strncmp(p + 2 + len, "\\\":", 3))
			continue;
		keys++;
		cr_expect(find_word(json, key), "tools/output.c writes JSON key "
			  "\"%s\", man/hwbp.1's JSON OUTPUT does not name it",
			  key);
	}
	cr_assert_gt(keys, 20, "only %d JSON keys found in tools/output.c", keys);
	free(page);
	free(out);
}

/* ---- libhwbp(3), the synopses and the header checked against each other ---- */

/* The part of `text` from `start` (a line) up to the next line beginning
 * with `stop` (e.g. "\n.SH "), malloc'd; NULL when start is missing. */
static char *section(const char *text, const char *start, const char *stop)
{
	const char *a = strstr(text, start), *b;
	char *out;

	if (!a)
		return NULL;
	b = strstr(a + strlen(start), stop);
	if (!b)
		b = a + strlen(a);
	out = strndup(a, (size_t)(b - a));
	cr_assert(out);
	return out;
}

/* The names in src/libhwbp.map's version nodes ("LIBHWBP_0.1 {"). */
static int map_nodes(char nodes[][32])
{
	char *map = slurp("src/libhwbp.map");
	int n = 0;

	cr_assert(map, "cannot read src/libhwbp.map");
	for (char *p = strstr(map, "LIBHWBP_"); p; p = strstr(p + 1, "LIBHWBP_")) {
		char name[32];
		const char *q;

		if (sscanf(p, "%31[A-Z_0-9.]", name) != 1)
			continue;
		for (q = p + strlen(name); *q == ' ' || *q == '\t'; q++)
			;
		if (*q != '{')
			continue; /* "} LIBHWBP_0.1;": the parent */
		cr_assert_lt(n, 32);
		strcpy(nodes[n++], name);
	}
	free(map);
	cr_assert_gt(n, 0, "no version node in src/libhwbp.map");
	return n;
}

Test(docs, overview_functions_section_lists_every_export)
{
	static char syms[MAX_SYMS][64];
	int n = tu_map_symbols(syms);
	char *page = slurp("man/libhwbp.3"), *fns;

	cr_assert(page, "man/libhwbp.3 is missing");
	fns = section(page, "\n.SH FUNCTIONS", "\n.SH ");
	cr_assert(fns, "man/libhwbp.3 has no FUNCTIONS section");
	for (int i = 0; i < n; i++)
		cr_expect(find_word(fns, syms[i]), "man/libhwbp.3's FUNCTIONS "
			  "does not list %s (exported by src/libhwbp.map)",
			  syms[i]);
	free(fns);
	free(page);
}

Test(docs, overview_names_every_version_node)
{
	static char nodes[32][32];
	int n = map_nodes(nodes);
	char *page = slurp("man/libhwbp.3"), *link;

	cr_assert(page, "man/libhwbp.3 is missing");
	link = section(page, "\n.SH LINKING", "\n.SH ");
	cr_assert(link, "man/libhwbp.3 has no LINKING section");
	for (int i = 0; i < n; i++)
		cr_expect(strstr(link, nodes[i]), "man/libhwbp.3's LINKING does "
			  "not name the version node %s of src/libhwbp.map",
			  nodes[i]);
	free(link);
	free(page);
}

/* A struct or enum of the header: its body between "{" and "}", or NULL. */
static char *header_body(const char *code, const char *kind, const char *name)
{
	char head[128];
	const char *p, *open, *close;

	snprintf(head, sizeof(head), "%s %s", kind, name);
	for (p = find_word(code, name); p; p = find_word(p + 1, name)) {
		if (p - code < (ptrdiff_t)strlen(kind) + 1 ||
		    strncmp(p - strlen(kind) - 1, head, strlen(kind) + 1))
			continue;
		for (open = p + strlen(name); isspace((unsigned char)*open);
		     open++)
			;
		if (*open != '{')
			continue; /* a use, not the definition */
		close = strchr(open, '}');
		cr_assert(close, "%s: no closing brace", head);
		return strndup(open + 1, (size_t)(close - open - 1));
	}
	return NULL;
}

/* The member names of a struct body (the last identifier of each
 * declarator: "uint32_t pid, tid", "const uint64_t *regs", "(*fn)(...)",
 * "mem[2]") or the value names of an enum body. */
static int members(const char *body, bool is_enum, char out[][64], int max)
{
	char *copy = strdup(body), *save = NULL;
	int n = 0;

	cr_assert(copy);
	for (char *decl = strtok_r(copy, is_enum ? "," : ";", &save); decl;
	     decl = strtok_r(NULL, is_enum ? "," : ";", &save)) {
		char *part, *save2 = NULL;

		for (part = is_enum ? decl : strtok_r(decl, ",", &save2); part;
		     part = is_enum ? NULL : strtok_r(NULL, ",", &save2)) {
			char *br = strchr(part, is_enum ? '=' : '[');
			char *last = NULL, *fp = strstr(part, "(*");

			if (br)
				*br = '\0';
			if (fp)
				part = fp + 2;
			for (char *q = part; *q; q++)
				if (ident_char(*q) && (q == part || !ident_char(q[-1])) &&
				    !isdigit((unsigned char)*q)) {
					last = q;
					if (is_enum || fp)
						break;
				}
			if (!last)
				continue;
			cr_assert_lt(n, max);
			snprintf(out[n], 64, "%.*s", (int)strspn(last,
				 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"),
				 last);
			n++;
		}
	}
	free(copy);
	return n;
}

/* Every "enum X {" or "struct X {" a page's SYNOPSIS shows names every
 * value or field the header gives X; every enum of the header is shown
 * whole in some synopsis.  A field added to the header and not to its
 * page fails here. */
Test(docs, synopses_show_every_enum_value_and_field)
{
	char *code = header_code();
	static char enums[64][64], seen_enums[64][64];
	int nenums = 0, nseen = 0;
	char path[4096];
	struct dirent *e;
	DIR *d;

	/* The header's enums. */
	for (const char *p = strstr(code, "enum "); p; p = strstr(p + 1, "enum ")) {
		char name[64];
		const char *q;

		if (sscanf(p + 5, "%63[a-z_0-9]", name) != 1)
			continue;
		for (q = p + 5 + strlen(name); isspace((unsigned char)*q); q++)
			;
		if (*q == '{' && nenums < 64)
			strcpy(enums[nenums++], name);
	}
	cr_assert_gt(nenums, 5, "only %d enums found in include/hwbp.h", nenums);
	snprintf(path, sizeof(path), "%s/man", srcdir());
	d = opendir(path);
	cr_assert(d, "cannot open %s", path);
	while ((e = readdir(d))) {
		char rel[300], *page, *syn;
		size_t len = strlen(e->d_name);

		if (len < 3 || strcmp(e->d_name + len - 2, ".3"))
			continue;
		snprintf(rel, sizeof(rel), "man/%s", e->d_name);
		page = slurp(rel);
		syn = page ? section(page, "\n.SH SYNOPSIS", "\n.SH ") : NULL;
		for (const char *kind_s[] = { "enum", "struct" }, **k = kind_s;
		     syn && k < kind_s + 2; k++) {
			char pat[16];

			snprintf(pat, sizeof(pat), "%s ", *k);
			for (char *p = strstr(syn, pat); p; p = strstr(p + 1, pat)) {
				char name[64], *open, *end, *block, *body;
				static char want[128][64];
				int nw;

				if (sscanf(p + strlen(pat), "%63[a-z_0-9]", name) != 1)
					continue;
				open = p + strlen(pat) + strlen(name);
				while (*open == ' ')
					open++;
				if (*open != '{')
					continue;
				end = strstr(open, "};");
				cr_assert(end, "%s: %s %s { has no };", rel, *k, name);
				block = strndup(open, (size_t)(end - open));
				body = header_body(code, *k, name);
				cr_expect(body, "%s shows %s %s, which include/hwbp.h "
					  "does not define", rel, *k, name);
				nw = body ? members(body, **k == 'e', want, 128) : 0;
				for (int i = 0; i < nw; i++)
					cr_expect(find_word(block, want[i]), "%s's "
						  "SYNOPSIS shows %s %s without %s "
						  "(include/hwbp.h has it)", rel,
						  *k, name, want[i]);
				if (**k == 'e' && body && nseen < 64)
					strcpy(seen_enums[nseen++], name);
				free(body);
				free(block);
			}
		}
		free(syn);
		free(page);
	}
	closedir(d);
	for (int i = 0; i < nenums; i++) {
		bool shown = false;

		for (int j = 0; j < nseen && !shown; j++)
			shown = !strcmp(enums[i], seen_enums[j]);
		cr_expect(shown, "enum %s of include/hwbp.h is in no man page's "
			  "SYNOPSIS", enums[i]);
	}
	free(code);
}

/* The options and stats structs (those that begin with size_t sz) are
 * listed where libhwbp(3) explains the sz pattern. */
Test(docs, overview_lists_every_sized_struct)
{
	char *code = header_code(), *page = slurp("man/libhwbp.3"), *opts;
	int found = 0;

	cr_assert(page, "man/libhwbp.3 is missing");
	opts = section(page, "\n.SS Options structs", "\n.S");
	cr_assert(opts, "man/libhwbp.3 has no 'Options structs' subsection");
	for (const char *p = strstr(code, "struct "); p;
	     p = strstr(p + 1, "struct ")) {
		char name[64], *body;
		const char *q;

		if (sscanf(p + 7, "%63[a-z_0-9]", name) != 1)
			continue;
		for (q = p + 7 + strlen(name); isspace((unsigned char)*q); q++)
			;
		if (*q != '{' || !(body = header_body(code, "struct", name)))
			continue;
		for (q = body; isspace((unsigned char)*q); q++)
			;
		if (!strncmp(q, "size_t sz;", 10)) {
			found++;
			cr_expect(find_word(opts, name), "man/libhwbp.3's Options "
				  "structs does not list struct %s (it begins "
				  "with size_t sz)", name);
		}
		free(body);
	}
	cr_assert_gt(found, 5, "only %d sized structs in include/hwbp.h", found);
	free(opts);
	free(page);
	free(code);
}

/* The functions a hit callback may call: the header's list, libhwbp(3)'s
 * and hwbp_create(3)'s are the same set, and each function's own page
 * says it is async-signal-safe. */
static int names_in(const char *text, char out[][64], int max)
{
	int n = 0;

	for (const char *p = strstr(text, "hwbp_"); p; p = strstr(p + 1, "hwbp_")) {
		char name[64];
		bool dup = false;

		if (p > text && ident_char(p[-1]))
			continue;
		if (sscanf(p, "%63[a-z_0-9]", name) != 1)
			continue;
		for (int i = 0; i < n && !dup; i++)
			dup = !strcmp(out[i], name);
		if (!dup && n < max)
			strcpy(out[n++], name);
	}
	return n;
}

static void same_set(const char *what, char a[][64], int na, const char *whatb,
		     char b[][64], int nb)
{
	for (int i = 0; i < na; i++) {
		bool in = false;

		for (int j = 0; j < nb && !in; j++)
			in = !strcmp(a[i], b[j]);
		cr_expect(in, "%s lists %s as async-signal-safe, %s does not",
			  what, a[i], whatb);
	}
}

Test(docs, async_signal_safe_lists_agree)
{
	char *h = slurp("include/hwbp.h"), *lib = slurp("man/libhwbp.3");
	char *create = slurp("man/hwbp_create.3"), *hl, *ll, *cl;
	static char hn[64][64], ln[64][64], cn[64][64];
	int nh, nl, nc;
	const char *lead = "These library functions are async\\-signal\\-safe";

	cr_assert(h && lib && create);
	hl = section(h, "Async-signal-safe (a hit callback may call them):",
		     "\n *\n");
	cr_assert(hl, "include/hwbp.h has no 'Async-signal-safe (a hit "
		  "callback may call them):' list");
	ll = section(lib, lead, "\n.PP");
	cl = section(create, lead, "\n.PP");
	cr_assert(ll && cl, "man/libhwbp.3 or man/hwbp_create.3 lacks the "
		  "paragraph '%s'", lead);
	nh = names_in(hl, hn, 64);
	nl = names_in(ll, ln, 64);
	nc = names_in(cl, cn, 64);
	cr_assert_gt(nh, 8, "only %d names in the header's list", nh);
	same_set("include/hwbp.h", hn, nh, "man/libhwbp.3", ln, nl);
	same_set("man/libhwbp.3", ln, nl, "include/hwbp.h", hn, nh);
	same_set("include/hwbp.h", hn, nh, "man/hwbp_create.3", cn, nc);
	same_set("man/hwbp_create.3", cn, nc, "include/hwbp.h", hn, nh);
	for (int i = 0; i < nh; i++) {
		char rel[160], target[128], *page;

		snprintf(rel, sizeof(rel), "man/%s.3", hn[i]);
		page = slurp(rel);
		if (page && sscanf(page, ".so man3/%127[^ \n]", target) == 1) {
			free(page);
			snprintf(rel, sizeof(rel), "man/%s", target);
			page = slurp(rel);
		}
		cr_expect(page && strstr(page, "async\\-signal\\-safe"), "%s (the "
			  "page of %s) does not say it is async-signal-safe",
			  rel, hn[i]);
		free(page);
	}
	free(hl);
	free(ll);
	free(cl);
	free(h);
	free(lib);
	free(create);
}

/* The shared object's file is libhwbp.so.MAJOR.MINOR.0 for its soname
 * libhwbp.so.MAJOR, MINOR the version nodes added after the first: a new
 * node without a new file name fails here. */
Test(docs, shared_object_name_follows_soname_and_nodes)
{
	static char nodes[32][32];
	const char *bin = getenv("HWBP_BIN");
	char dir[4096], link[4200], target[256], want[64], cmd[4400], so[128] = "";
	ssize_t len;
	FILE *p;
	int n = map_nodes(nodes);

	TU_REQUIRE(bin && *bin, "HWBP_BIN is not set (make check sets it)");
	snprintf(dir, sizeof(dir), "%s", bin);
	*strrchr(dir, '/') = '\0';
	snprintf(link, sizeof(link), "%s/libhwbp.so.1", dir);
	len = readlink(link, target, sizeof(target) - 1);
	cr_assert_gt(len, 0, "%s is not a symbolic link", link);
	target[len] = '\0';
	snprintf(want, sizeof(want), "libhwbp.so.1.%d.0", n - 1);
	cr_expect_str_eq(target, want, "%s -> %s: the soname is libhwbp.so.1 "
			 "and src/libhwbp.map has %d version nodes", link,
			 target, n);
	{
		char *page = slurp("man/libhwbp.3");

		cr_expect(page && strstr(page, want), "man/libhwbp.3 does not "
			  "name the shared object %s", want);
		free(page);
	}
	snprintf(cmd, sizeof(cmd), "readelf -d '%s/%s' 2>/dev/null", dir, target);
	p = popen(cmd, "r");
	cr_assert(p);
	while (fgets(cmd, sizeof(cmd), p))
		if (strstr(cmd, "(SONAME)"))
			sscanf(strchr(cmd, '[') + 1, "%127[^]]", so);
	pclose(p);
	TU_REQUIRE(*so, "readelf found no SONAME (binutils missing?)");
	cr_expect_str_eq(so, "libhwbp.so.1");
}
