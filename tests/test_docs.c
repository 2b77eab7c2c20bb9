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
