/* SPDX-License-Identifier: MIT */
/*
 * symbols.c - names to addresses and back, with elfutils: a LOCATION
 * (`counter`, `lib.so:name`, `app::Srv::users`, `bump::calls`,
 * `file.c::count`, `cfg.limit`, `table[3]`, `head->next->v`, `*p`,
 * `name+16`, `0xADDR`, each with an optional `:LEN`) becomes an address,
 * a length and a DWARF type, through an index of each module's variables
 * (DWARF scopes and the demangled symbol table); a code address becomes
 * `function+offset (file:line)`.  Kernel symbols come from /proc/kallsyms.
 */
#include <ctype.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <gelf.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "names.h"

static void free_indexes(struct syms *s);

struct ksym {
	uint64_t addr;
	char *name;
	bool is_data;
};

struct syms {
	Dwfl *dwfl;
	pid_t pid;
	uint64_t refreshes;     /* module reports since open */
	struct timespec last_refresh;
	char exe[PATH_MAX];
	struct ksym *ksyms;
	size_t nksyms;
	struct strpool *strings; /* names given out by syms_describe */
	/* LOCATIONs (below): */
	int exe_err;            /* errno reading /proc/PID/exe, or 0 */
	bool missed;            /* the last LOCATION: no such name here */
	bool kernel;            /* kernel symbols were asked for */
	int kallsyms_err;       /* errno opening /proc/kallsyms, or 0 */
	size_t kallsyms_zero;   /* its lines with address 0 (hidden) */
	bool allow_tls;
	const char *tls_why;  /* why not allowed (syms_tls_why), or NULL */
	struct modidx **idx;    /* each module's names, built once */
	size_t nidx, idxcap;
	mem_read_fn read;       /* during a resolve: the target's memory */
	void *read_ctx;
};

static char *debuginfo_path;
static const Dwfl_Callbacks proc_callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.debuginfo_path = &debuginfo_path,
};

static int ksym_cmp(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void load_kallsyms(struct syms *s)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	char line[512], name[256], type;
	unsigned long long addr;
	size_t cap = 0;

	if (!f) {
		s->kallsyms_err = errno;
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3)
			continue;
		if (!addr) {
			s->kallsyms_zero++;
			continue;
		}
		if (s->nksyms == cap) {
			struct ksym *k = realloc(s->ksyms, (cap = cap ? cap * 2
								    : 4096) *
								 sizeof(*k));
			if (!k)
				break;
			s->ksyms = k;
		}
		s->ksyms[s->nksyms].is_data = strchr("dDbBrR", type) != NULL;
		s->ksyms[s->nksyms].addr = addr;
		s->ksyms[s->nksyms++].name = strdup(name);
	}
	fclose(f);
	/* Unprivileged, kallsyms shows every address as 0: no symbols. */
	if (s->nksyms)
		qsort(s->ksyms, s->nksyms, sizeof(*s->ksyms), ksym_cmp);
}

/* Modules mapped since: added, none removed (the process may be gone, and
 * its /proc/PID/maps with it: what was known stays known). */
void syms_refresh(struct syms *s)
{
	if (!s->dwfl)
		return;
	dwfl_report_begin_add(s->dwfl);
	dwfl_linux_proc_report(s->dwfl, s->pid);
	dwfl_report_end(s->dwfl, NULL, NULL);
}

int syms_open(struct syms **out, pid_t pid, bool kernel)
{
	struct syms *s = calloc(1, sizeof(*s));
	char link[64];
	ssize_t n;

	if (!s || !(s->strings = strpool_new())) {
		free(s);
		return -ENOMEM;
	}
	s->pid = pid;
	if (pid > 0) {
		s->dwfl = dwfl_begin(&proc_callbacks);
		if (!s->dwfl) {
			strpool_free(s->strings);
			free(s);
			return -ENOMEM;
		}
		syms_refresh(s);
		snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
		n = readlink(link, s->exe, sizeof(s->exe) - 1);
		s->exe[n > 0 ? n : 0] = '\0';
		s->exe_err = n > 0 ? 0 : errno;
	}
	s->kernel = kernel;
	if (kernel)
		load_kallsyms(s);
	*out = s;
	return 0;
}

void syms_close(struct syms *s)
{
	if (!s)
		return;
	if (s->dwfl)
		dwfl_end(s->dwfl);
	for (size_t i = 0; i < s->nksyms; i++)
		free(s->ksyms[i].name);
	free(s->ksyms);
	strpool_free(s->strings);
	free_indexes(s);
	free(s);
}

/* ---- parsing a LOCATION ---- */

#define GRAMMAR "a location is a name (counter, ns::name, Class::member, " \
	"func::name, file.c::name, lib.so:name), then .member, ->member, " \
	"[INDEX], a leading *, +OFFSET; or 0xADDR; each with an optional :LEN"

struct spec {
	char module[256];
	char ident[256]; /* the name: counter, app::Srv::users, calls.0 */
	char path[256];  /* .member[3]->x after the name */
	int stars;       /* leading '*' */
	uint64_t addr;   /* 0xADDR form */
	uint64_t plus;   /* +OFFSET */
	bool has_plus;
	uint32_t len;    /* :LEN, 0 if absent */
	bool is_addr;
};

static int refuse(char *msg, size_t ml, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int refuse(char *msg, size_t ml, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, ml, fmt, ap);
	va_end(ap);
	return EXIT_USAGE;
}

static bool all_digits(const char *p)
{
	if (!*p)
		return false;
	for (; *p; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	return true;
}

/* The first (or last) ':' that is not half of a C++ '::', outside
 * brackets; NULL if none. */
static char *single_colon(char *s, bool last)
{
	char *found = NULL;
	int depth = 0;

	for (char *p = s; *p; p++) {
		if (*p == '<' || *p == '(' || *p == '[')
			depth++;
		else if ((*p == '>' || *p == ')' || *p == ']') && depth &&
			 p[-1] != '-')
			depth--;
		else if (*p == ':' && !depth) {
			if (p[1] == ':') {
				p++;
				continue;
			}
			found = p;
			if (!last)
				return found;
		}
	}
	return found;
}

/* Past a bracketed group starting at p ('<' or '('), or NULL. */
static const char *skip_group(const char *p)
{
	char open = *p, close = open == '<' ? '>' : ')';
	int depth = 0;

	for (; *p; p++) {
		if (*p == open)
			depth++;
		else if (*p == close && --depth == 0)
			return p + 1;
	}
	return NULL;
}

static const char *const anon_forms[] = {
	"(anonymous namespace)", "(anonymous)", "(anon)",
};

/* A qualified name at p: components joined by ::, each an identifier
 * with template arguments and a parameter list (a function's), an
 * anonymous namespace, or the nm form's .N suffix.  Returns its end. */
static const char *scan_name(const char *p)
{
	/* file.c:: or src/file.c:: first: a source file's name */
	size_t file = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
			     "VWXYZ0123456789_.-/+");

	if (file && p[file] == ':' && p[file + 1] == ':' &&
	    memchr(p, '.', file) && !isdigit((unsigned char)*p))
		p += file + 2;
	for (;;) {
		const char *start = p;

		for (size_t k = 0; k < sizeof(anon_forms) / sizeof(*anon_forms);
		     k++)
			if (!strncmp(p, anon_forms[k], strlen(anon_forms[k]))) {
				p += strlen(anon_forms[k]);
				break;
			}
		if (p == start) {
			if (!isalpha((unsigned char)*p) && *p != '_' && *p != '~')
				return start;
			while (isalnum((unsigned char)*p) || *p == '_' ||
			       *p == '~' || *p == '$')
				p++;
			if (*p == '<' && skip_group(p))
				p = skip_group(p);
			if (*p == '(' && skip_group(p))
				p = skip_group(p);
		}
		/* calls.0, as nm shows a static local */
		while (p[0] == '.' && isdigit((unsigned char)p[1]))
			for (p++; isdigit((unsigned char)*p); p++)
				;
		if (p[0] != ':' || p[1] != ':')
			return p;
		p += 2;
	}
}

static int parse_len(const char *text, char *colon, struct spec *sp,
		     char *msg, size_t ml)
{
	unsigned long len;

	errno = 0;
	len = strtoul(colon + 1, NULL, 10);
	if (errno || !len || len > 4096)
		return refuse(msg, ml, "'%s': :%s is not a length: :LEN is "
			      LEN_RULE, text, colon + 1);
	sp->len = (uint32_t)len;
	*colon = '\0';
	return 0;
}

static int parse_tail(const char *text, const char *p, struct spec *sp,
		      char *msg, size_t ml)
{
	const char *plus = strchr(p, '+');
	char *end;

	if (plus) {
		if (!isdigit((unsigned char)plus[1]))
			return refuse(msg, ml, "'%s': +OFFSET is a number of "
				      "bytes, 0 or more", text);
		errno = 0;
		sp->plus = strtoull(plus + 1, &end, 0);
		if (errno || *end)
			return refuse(msg, ml, "'%s': +OFFSET is a number of "
				      "bytes, 0 or more", text);
		sp->has_plus = true;
	}
	if ((size_t)((plus ? plus : p + strlen(p)) - p) >= sizeof(sp->path))
		return refuse(msg, ml, "location '%s' is too long", text);
	snprintf(sp->path, sizeof(sp->path), "%.*s",
		 (int)((plus ? plus : p + strlen(p)) - p), p);
	if (sp->path[0] && sp->path[0] != '.' && sp->path[0] != '[' &&
	    strncmp(sp->path, "->", 2))
		return refuse(msg, ml, "'%s': %s", text, GRAMMAR);
	return 0;
}

static int parse_spec(const char *text, struct spec *sp, char *msg, size_t ml)
{
	char buf[256], *colon, *rest;
	const char *end;
	int err;

	memset(sp, 0, sizeof(*sp));
	if (snprintf(buf, sizeof(buf), "%s", text) >= (int)sizeof(buf))
		return refuse(msg, ml, "location '%s' is too long", text);
	colon = single_colon(buf, true);
	if (colon && (all_digits(colon + 1) || !colon[1])) {
		if (!colon[1])
			return refuse(msg, ml, "'%s': a length follows ':' "
				      "(:LEN is " LEN_RULE ")", text);
		if ((err = parse_len(text, colon, sp, msg, ml)))
			return err;
	}
	rest = buf;
	colon = single_colon(buf, false);
	if (colon) {
		*colon = '\0';
		if (!buf[0])
			return refuse(msg, ml, "'%s': a library's name goes "
				      "before ':' (lib.so:name)", text);
		if (single_colon(colon + 1, false))
			return refuse(msg, ml, "'%s': :LEN is " LEN_RULE, text);
		snprintf(sp->module, sizeof(sp->module), "%s", buf);
		rest = colon + 1;
	}
	while (*rest == '*') {
		sp->stars++;
		rest++;
	}
	if (!strncmp(rest, "0x", 2) || !strncmp(rest, "0X", 2)) {
		errno = 0;
		sp->addr = strtoull(rest, &colon, 16);
		if (errno || *colon || colon == rest + 2 || sp->stars)
			return refuse(msg, ml, "'%s' is not an address (0x then "
				      "hex digits)", text);
		sp->is_addr = true;
		return 0;
	}
	end = scan_name(rest);
	if (end == rest)
		return refuse(msg, ml, "'%s': %s", text, GRAMMAR);
	snprintf(sp->ident, sizeof(sp->ident), "%.*s", (int)(end - rest), rest);
	return parse_tail(text, end, sp, msg, ml);
}

/* Does the user's `lib.so` name this module? (prefix of the file name) */
static bool module_matches(const char *want, const char *modname)
{
	const char *b = base_name(modname);

	return !*want || !strcmp(want, modname) ||
	       !strncmp(b, want, strlen(want));
}

/* ---- each module's names ---- */

enum ckind { CK_DATA, CK_TLS, CK_FUNC };

/* A variable or function of a module, from DWARF or its symbol table. */
struct cand {
	char *qname;      /* as the source names it: app::Srv::users, calls */
	const char *file; /* its source file (CU or STT_FILE), or NULL */
	uint64_t addr;    /* run-time; a thread-local's: TLS block offset */
	uint64_t size;
	Dwarf_Off die;    /* the variable's DIE, 0: none */
	enum ckind kind;
	bool global;      /* external: the executable's copy may be the one */
	uint32_t base_off, base_len; /* its own name in qname (base_span) */
};

/* A symbol-table name (as nm shows it: calls.0, _ZN3app5totalE). */
struct alias {
	char *name;
	size_t cand;
};

struct modidx {
	char *name;       /* the module's file */
	uint64_t start;
	Dwfl_Module *mod; /* as of the last lookup */
	struct cand *c;
	size_t n, cap;
	struct alias *a;
	size_t na, acap;
	char **files;     /* source file names the cands point to */
	size_t nfiles;
	bool elf;         /* its file could be read */
	bool dwarf_done;  /* its DWARF is in (else its symbol table only) */
};

static bool grow(void **arr, size_t *cap, size_t n, size_t size)
{
	void *more;

	if (n < *cap)
		return true;
	more = realloc(*arr, (*cap ? *cap * 2 : 64) * size);
	if (!more)
		return false;
	*arr = more;
	*cap = *cap ? *cap * 2 : 64;
	return true;
}

static const char *keep_file(struct modidx *m, const char *name)
{
	char **more, *copy;

	if (!name)
		return NULL;
	if (m->nfiles && !strcmp(m->files[m->nfiles - 1], name))
		return m->files[m->nfiles - 1];
	more = realloc(m->files, (m->nfiles + 1) * sizeof(*more));
	copy = strdup(name);
	if (!more || !copy) {
		free(copy);
		if (more)
			m->files = more;
		return NULL;
	}
	m->files = more;
	m->files[m->nfiles++] = copy;
	return copy;
}

/* A name's last part, as a variable's own name, in qname: calls in
 * app::Srv::add(int)::calls, calls.0 (gcc's static local) and bump.calls
 * (clang's). */
static void base_span(const char *q, size_t *off, size_t *len)
{
	size_t start = 0, end;
	int depth = 0;

	for (size_t i = 0; q[i]; i++) {
		if (q[i] == '<' || q[i] == '(')
			depth++;
		else if ((q[i] == '>' || q[i] == ')') && depth)
			depth--;
		else if (!depth && q[i] == ':' && q[i + 1] == ':')
			start = ++i + 1;
	}
	end = start + strcspn(q + start, "(");
	while (end > start) {
		const char *dot = memrchr(q + start, '.', end - start);
		size_t k;

		if (!dot)
			break;
		for (k = 1; dot + k < q + end && isdigit((unsigned char)dot[k]);
		     k++)
			;
		if (dot + k < q + end || k == 1) {
			start = (size_t)(dot - q) + 1; /* bump.calls */
			break;
		}
		end = (size_t)(dot - q); /* calls.0 */
	}
	*off = start;
	*len = end - start;
}

static void base_of(const char *qname, char *out, size_t n)
{
	size_t off, len;

	base_span(qname, &off, &len);
	snprintf(out, n, "%.*s", (int)len, qname + off);
}

static struct cand *add_cand(struct modidx *m, const char *qname)
{
	size_t off, len;
	struct cand *c;

	if (!grow((void **)&m->c, &m->cap, m->n, sizeof(*m->c)))
		return NULL;
	c = &m->c[m->n];
	memset(c, 0, sizeof(*c));
	c->qname = strdup(qname);
	if (!c->qname)
		return NULL;
	base_span(qname, &off, &len);
	c->base_off = (uint32_t)off;
	c->base_len = (uint32_t)len;
	m->n++;
	return c;
}

static void add_alias(struct modidx *m, const char *name, size_t cand)
{
	if (!grow((void **)&m->a, &m->acap, m->na, sizeof(*m->a)))
		return;
	m->a[m->na].name = strdup(name);
	if (m->a[m->na].name) {
		m->a[m->na].cand = cand;
		m->na++;
	}
}

/* Its names dropped (to index them again with DWARF). */
static void clear_names(struct modidx *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->c[i].qname);
	for (size_t i = 0; i < m->na; i++)
		free(m->a[i].name);
	for (size_t i = 0; i < m->nfiles; i++)
		free(m->files[i]);
	free(m->c);
	free(m->a);
	free(m->files);
	m->c = NULL;
	m->a = NULL;
	m->files = NULL;
	m->n = m->cap = m->na = m->acap = m->nfiles = 0;
}

static void free_index(struct modidx *m)
{
	clear_names(m);
	free(m->name);
	free(m);
}

/* -- from DWARF: every variable with a static address or a TLS offset,
 * named by its scopes (namespaces, classes, functions) -- */

struct decl {
	Dwarf_Off off;
	char *qname;
};

struct walk {
	struct modidx *m;
	Dwarf_Addr bias;
	const char *file;
	struct decl *decls; /* declarations seen, by offset (walk order) */
	size_t ndecls, cap;
};

static void join(char *out, size_t n, const char *prefix, const char *name)
{
	snprintf(out, n, "%s%s%s", prefix, *prefix ? "::" : "", name);
}

static void decl_add(struct walk *w, Dwarf_Die *die, const char *qname)
{
	if (!grow((void **)&w->decls, &w->cap, w->ndecls, sizeof(*w->decls)))
		return;
	w->decls[w->ndecls].off = dwarf_dieoffset(die);
	w->decls[w->ndecls].qname = strdup(qname);
	if (w->decls[w->ndecls].qname)
		w->ndecls++;
}

static const char *decl_find(const struct walk *w, Dwarf_Off off)
{
	size_t lo = 0, hi = w->ndecls;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (w->decls[mid].off == off)
			return w->decls[mid].qname;
		if (w->decls[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool is_scope_tag(int tag)
{
	return tag == DW_TAG_namespace || tag == DW_TAG_structure_type ||
	       tag == DW_TAG_class_type || tag == DW_TAG_union_type ||
	       tag == DW_TAG_subprogram;
}

/* The qualified name of `die` from its enclosing scopes (slow: walks the
 * CU from its root; for declarations not seen yet). */
static bool scopes_name(Dwarf_Die *die, char *out, size_t n)
{
	Dwarf_Die *scopes = NULL;
	int ns = dwarf_getscopes_die(die, &scopes);
	char prefix[512] = "";

	if (ns <= 0 || !dwarf_diename(die)) {
		free(scopes);
		return false;
	}
	for (int i = ns - 1; i >= 1; i--) {
		int tag = dwarf_tag(&scopes[i]);
		const char *name = dwarf_diename(&scopes[i]);
		char q[512];

		if (!is_scope_tag(tag))
			continue;
		if (!name && tag != DW_TAG_namespace)
			continue;
		join(q, sizeof(q), prefix, name ? name : "(anonymous namespace)");
		snprintf(prefix, sizeof(prefix), "%s", q);
	}
	free(scopes);
	join(out, n, prefix, dwarf_diename(die));
	return true;
}

/* A DIE's qualified name: its declaration's (DW_AT_specification, for a
 * static member or a method defined outside its class; abstract origin)
 * or its enclosing scopes' + its own name. */
static bool scoped_name(struct walk *w, Dwarf_Die *die, const char *prefix,
			char *out, size_t n)
{
	Dwarf_Attribute at;
	Dwarf_Die target;
	const char *name = dwarf_diename(die), *q;

	if (!name)
		return false;
	if ((dwarf_attr(die, DW_AT_specification, &at) ||
	     dwarf_attr(die, DW_AT_abstract_origin, &at)) &&
	    dwarf_formref_die(&at, &target)) {
		if ((q = decl_find(w, dwarf_dieoffset(&target)))) {
			snprintf(out, n, "%s", q);
			return true;
		}
		if (scopes_name(&target, out, n))
			return true;
	}
	join(out, n, prefix, name);
	return true;
}

/* The address a one-op location names (DW_OP_addr, DW_OP_addrx). */
static bool op_address(Dwarf_Attribute *at, Dwarf_Op *op, uint64_t *addr)
{
	Dwarf_Attribute res;
	Dwarf_Addr a;

	if (op->atom == DW_OP_addr) {
		*addr = op->number;
		return true;
	}
	if ((op->atom == DW_OP_addrx || op->atom == DW_OP_GNU_addr_index) &&
	    dwarf_getlocation_attr(at, op, &res) == 0 &&
	    dwarf_formaddr(&res, &a) == 0) {
		*addr = a;
		return true;
	}
	return false;
}

static bool op_constant(Dwarf_Attribute *at, Dwarf_Op *op, uint64_t *v)
{
	Dwarf_Attribute res;
	Dwarf_Word w;
	Dwarf_Addr a;

	switch (op->atom) {
	case DW_OP_const1u: case DW_OP_const2u: case DW_OP_const4u:
	case DW_OP_const8u: case DW_OP_constu: case DW_OP_addr:
		*v = op->number;
		return true;
	case DW_OP_constx: case DW_OP_GNU_const_index: case DW_OP_addrx:
		if (dwarf_getlocation_attr(at, op, &res))
			return false;
		if (dwarf_formudata(&res, &w) == 0) {
			*v = w;
			return true;
		}
		if (dwarf_formaddr(&res, &a) == 0) {
			*v = a;
			return true;
		}
	}
	return false;
}

static void add_variable(struct walk *w, Dwarf_Die *die, const char *qname)
{
	Dwarf_Attribute at;
	Dwarf_Op *ops;
	Dwarf_Die type;
	size_t nops;
	uint64_t addr;
	enum ckind kind;
	struct cand *c;

	if (!dwarf_attr(die, DW_AT_location, &at) ||
	    dwarf_getlocation(&at, &ops, &nops) != 0)
		return; /* a register or stack variable, or optimized out */
	if (nops == 1 && op_address(&at, &ops[0], &addr)) {
		kind = CK_DATA;
		addr += w->bias;
	} else if (nops == 2 && (ops[1].atom == DW_OP_GNU_push_tls_address ||
				 ops[1].atom == DW_OP_form_tls_address) &&
		   op_constant(&at, &ops[0], &addr)) {
		kind = CK_TLS;
	} else {
		return;
	}
	if (!(c = add_cand(w->m, qname)))
		return;
	c->file = w->file;
	c->addr = addr;
	c->size = dwt_type_of(die, &type) ? dwt_size(&type) : 0;
	c->die = dwarf_dieoffset(die);
	c->kind = kind;
	c->global = dwarf_hasattr_integrate(die, DW_AT_external);
}

static void walk_scope(struct walk *w, Dwarf_Die *parent, const char *prefix,
		       int depth)
{
	Dwarf_Die child;
	char q[512];

	if (depth > 24 || dwarf_child(parent, &child) != 0)
		return;
	do {
		int tag = dwarf_tag(&child);
		const char *name = dwarf_diename(&child);

		switch (tag) {
		case DW_TAG_namespace:
			join(q, sizeof(q), prefix,
			     name ? name : "(anonymous namespace)");
			walk_scope(w, &child, q, depth + 1);
			break;
		case DW_TAG_structure_type:
		case DW_TAG_class_type:
		case DW_TAG_union_type:
			if (!name || dwarf_hasattr(&child, DW_AT_declaration))
				break;
			join(q, sizeof(q), prefix, name);
			walk_scope(w, &child, q, depth + 1);
			break;
		case DW_TAG_subprogram:
			if (!scoped_name(w, &child, prefix, q, sizeof(q)))
				break;
			if (dwarf_hasattr(&child, DW_AT_declaration))
				decl_add(w, &child, q);
			else
				walk_scope(w, &child, q, depth + 1);
			break;
		case DW_TAG_lexical_block:
			walk_scope(w, &child, prefix, depth + 1);
			break;
		case DW_TAG_variable:
		case DW_TAG_member:
			if (!scoped_name(w, &child, prefix, q, sizeof(q)))
				break;
			if (dwarf_hasattr(&child, DW_AT_declaration))
				decl_add(w, &child, q);
			else if (tag == DW_TAG_variable)
				add_variable(w, &child, q);
			break;
		}
	} while (dwarf_siblingof(&child, &child) == 0);
}

static void index_dwarf(struct modidx *m)
{
	struct walk w = { .m = m };
	Dwarf_Die *cu = NULL;

	while ((cu = dwfl_module_nextcu(m->mod, cu, &w.bias))) {
		w.file = keep_file(m, dwarf_diename(cu));
		walk_scope(&w, cu, "", 0);
	}
	for (size_t i = 0; i < w.ndecls; i++)
		free(w.decls[i].qname);
	free(w.decls);
}

/* -- from the symbol table: the names nm shows, demangled; the objects
 * DWARF did not give (no -g, libraries) -- */

struct symrec {
	const char *name, *file;
	uint64_t addr, size;
	enum ckind kind;
	bool global, local;
};

static int symrec_cmp(const void *a, const void *b)
{
	const struct symrec *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return y->global - x->global; /* a global name first */
}

static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* The DWARF candidate (sorted, the first nd) at kind/addr, or -1. */
static ssize_t dwarf_cand_at(const struct modidx *m, size_t nd, enum ckind kind,
			     uint64_t addr)
{
	struct cand key = { .kind = kind, .addr = addr };
	const struct cand *c = nd ? bsearch(&key, m->c, nd, sizeof(*m->c),
					    cand_cmp) : NULL;

	return c ? c - m->c : -1;
}

/* A symbol-table name as the source writes it: demangled, the .N that
 * a compiler adds to a static local dropped. */
static void source_name(const char *sym, bool local, char *out, size_t n)
{
	char *dot;

	demangle(sym, out, n);
	if (!local || strncmp(sym, "_Z", 2) == 0)
		return;
	dot = strrchr(out, '.');
	if (dot && all_digits(dot + 1))
		*dot = '\0';
}

static void collect_symbols(struct modidx *m, struct symrec **recs, size_t *n)
{
	int count = dwfl_module_getsymtab(m->mod);
	const char *file = NULL;
	size_t cap = 0;

	for (int i = 1; i < count; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		GElf_Word shndx;
		const char *name = dwfl_module_getsym_info(m->mod, i, &sym, &addr,
							   &shndx, NULL, NULL);
		int type = GELF_ST_TYPE(sym.st_info);
		bool local = GELF_ST_BIND(sym.st_info) == STB_LOCAL;
		struct symrec *r;

		if (name && type == STT_FILE)
			file = name;
		if (!name || !*name || shndx == SHN_UNDEF ||
		    (type != STT_OBJECT && type != STT_COMMON && type != STT_TLS &&
		     type != STT_FUNC && type != STT_GNU_IFUNC))
			continue;
		if (!grow((void **)recs, &cap, *n, sizeof(**recs)))
			return;
		r = &(*recs)[(*n)++];
		r->name = name;
		r->file = local ? file : NULL;
		r->addr = type == STT_TLS ? sym.st_value : addr;
		r->size = sym.st_size;
		r->kind = type == STT_TLS ? CK_TLS
			: type == STT_FUNC || type == STT_GNU_IFUNC ? CK_FUNC
			: CK_DATA;
		r->local = local;
		r->global = !local &&
			    GELF_ST_VISIBILITY(sym.st_other) == STV_DEFAULT;
	}
}

static void index_symbols(struct modidx *m)
{
	struct symrec *recs = NULL;
	size_t n = 0, nd = m->n;

	if (nd)
		qsort(m->c, nd, sizeof(*m->c), cand_cmp);
	collect_symbols(m, &recs, &n);
	if (n)
		qsort(recs, n, sizeof(*recs), symrec_cmp);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		ssize_t ci = recs[i].kind == CK_FUNC ? -1
			   : dwarf_cand_at(m, nd, recs[i].kind, recs[i].addr);
		char qname[512];

		if (ci < 0) {
			struct cand *c;

			source_name(recs[i].name, recs[i].local, qname,
				    sizeof(qname));
			if (!(c = add_cand(m, qname)))
				break;
			c->addr = recs[i].addr;
			c->kind = recs[i].kind;
			ci = (ssize_t)(m->n - 1);
		}
		/* Aliases (environ, __environ) are one object. */
		for (; j < n && recs[j].kind == recs[i].kind &&
		       recs[j].addr == recs[i].addr; j++) {
			struct cand *c = &m->c[ci];

			add_alias(m, recs[j].name, (size_t)ci);
			c->global |= recs[j].global;
			if (!c->size)
				c->size = recs[j].size;
			if (!c->file && recs[j].file)
				c->file = keep_file(m, recs[j].file);
		}
		i = j;
	}
	free(recs);
}

static void free_indexes(struct syms *s)
{
	for (size_t i = 0; i < s->nidx; i++)
		free_index(s->idx[i]);
	free(s->idx);
}

/* Its DWARF too (scopes, types): walked only for a module that may have
 * the name, its symbol table says (a big DWARF takes a while). */
static void index_dwarf_too(struct modidx *m)
{
	GElf_Addr bias;

	if (m->dwarf_done)
		return;
	m->dwarf_done = true;
	if (!dwfl_module_getdwarf(m->mod, &bias))
		return;
	clear_names(m);
	index_dwarf(m);
	index_symbols(m);
}

/* A module's names: its symbol table at first (and its DWARF if the
 * symbol table has no variables). */
static struct modidx *index_of(struct syms *s, Dwfl_Module *mod,
			       const char *modname, uint64_t start)
{
	struct modidx *m;
	GElf_Addr bias;
	bool data = false;

	for (size_t i = 0; i < s->nidx; i++)
		if (s->idx[i]->start == start &&
		    !strcmp(s->idx[i]->name, modname)) {
			s->idx[i]->mod = mod;
			return s->idx[i];
		}
	if (!grow((void **)&s->idx, &s->idxcap, s->nidx, sizeof(*s->idx)) ||
	    !(m = calloc(1, sizeof(*m))))
		return NULL;
	m->name = strdup(modname);
	if (!m->name) {
		free(m);
		return NULL;
	}
	m->start = start;
	m->mod = mod;
	m->elf = dwfl_module_getelf(mod, &bias) != NULL;
	s->idx[s->nidx++] = m;
	index_symbols(m);
	for (size_t i = 0; i < m->n && !data; i++)
		data = m->c[i].kind != CK_FUNC;
	if (!data)
		index_dwarf_too(m);
	return m;
}

/* ---- matching a name ---- */

#define MAX_COMPS 16
struct comps {
	int n;
	const char *s[MAX_COMPS];
	size_t len[MAX_COMPS];
};

/* Split at the `::` outside <> and (); false if too many parts. */
static bool split_comps(const char *q, struct comps *c)
{
	const char *start = q;
	int depth = 0;

	c->n = 0;
	for (const char *p = q;; p++) {
		if (*p == '<' || *p == '(')
			depth++;
		else if ((*p == '>' || *p == ')') && depth)
			depth--;
		if (*p && !(p[0] == ':' && p[1] == ':' && !depth))
			continue;
		if (c->n == MAX_COMPS)
			return false;
		c->s[c->n] = start;
		c->len[c->n++] = (size_t)(p - start);
		if (!*p)
			return true;
		start = p + 2;
		p++;
	}
}

static bool is_anon(const char *s, size_t n)
{
	for (size_t k = 0; k < sizeof(anon_forms) / sizeof(*anon_forms); k++)
		if (n == strlen(anon_forms[k]) && !strncmp(s, anon_forms[k], n))
			return true;
	return false;
}

/* One component: spaces do not count; without a parameter list in the
 * query, the candidate's (a function's) is not compared. */
static bool comp_eq(const char *q, size_t ql, const char *c, size_t cl)
{
	bool q_params = memchr(q, '(', ql) != NULL;
	size_t i = 0, j = 0;

	if (is_anon(q, ql) || is_anon(c, cl))
		return is_anon(q, ql) && is_anon(c, cl);
	if (!q_params && memchr(c, '(', cl))
		cl = (size_t)((const char *)memchr(c, '(', cl) - c);
	/* DWARF names a function without its parameters */
	if (q_params && !memchr(c, '(', cl))
		ql = (size_t)((const char *)memchr(q, '(', ql) - q);
	for (;;) {
		while (i < ql && q[i] == ' ')
			i++;
		while (j < cl && c[j] == ' ')
			j++;
		if (i == ql || j == cl)
			return i == ql && j == cl;
		if (q[i++] != c[j++])
			return false;
	}
}

/* q[qi..] against c[ci..]: an anonymous namespace may be left out. */
static bool match_from(const struct comps *q, int qi, const struct comps *c,
		       int ci)
{
	if (qi == q->n)
		return ci == c->n;
	if (ci == c->n)
		return false;
	if (is_anon(c->s[ci], c->len[ci]) && !is_anon(q->s[qi], q->len[qi]) &&
	    match_from(q, qi, c, ci + 1))
		return true;
	return comp_eq(q->s[qi], q->len[qi], c->s[ci], c->len[ci]) &&
	       match_from(q, qi + 1, c, ci + 1);
}

enum score { M_NONE, M_SUFFIX, M_QUAL, M_RAW };

struct query {
	char base[256];      /* its own name (base_span) */
	const char *ident;   /* as typed */
	const char *module;  /* lib.so: prefix, "" */
	const char *file;    /* file.c:: prefix, NULL */
	struct comps q;      /* the rest */
};

static bool file_matches(const char *file, const char *want)
{
	size_t fl, wl = strlen(want);

	if (!file)
		return false;
	fl = strlen(file);
	return !strcmp(base_name(file), want) || !strcmp(file, want) ||
	       (fl > wl && file[fl - wl - 1] == '/' &&
		!strcmp(file + fl - wl, want));
}

static enum score match_cand(const struct query *qy, const struct cand *c)
{
	struct comps cc;

	if (c->base_len != strlen(qy->base) ||
	    memcmp(c->qname + c->base_off, qy->base, c->base_len))
		return M_NONE; /* the last part differs: fast */
	if (qy->file && !file_matches(c->file, qy->file))
		return M_NONE;
	if (!split_comps(c->qname, &cc))
		return M_NONE;
	if (match_from(&qy->q, 0, &cc, 0))
		return M_QUAL;
	for (int start = 1; start < cc.n; start++)
		if (match_from(&qy->q, 0, &cc, start))
			return M_SUFFIX;
	return M_NONE;
}

static bool make_query(const struct spec *sp, struct query *qy)
{
	memset(qy, 0, sizeof(*qy));
	qy->ident = sp->ident;
	base_of(sp->ident, qy->base, sizeof(qy->base));
	qy->module = sp->module;
	if (!split_comps(sp->ident, &qy->q))
		return false;
	/* file.c::name: a first part that looks like a file's name */
	if (qy->q.n > 1 && memchr(qy->q.s[0], '.', qy->q.len[0]) &&
	    !memchr(qy->q.s[0], '(', qy->q.len[0])) {
		static __thread char file[256];

		snprintf(file, sizeof(file), "%.*s", (int)qy->q.len[0],
			 qy->q.s[0]);
		qy->file = file;
		memmove(&qy->q.s[0], &qy->q.s[1], (size_t)(qy->q.n - 1) *
			sizeof(qy->q.s[0]));
		memmove(&qy->q.len[0], &qy->q.len[1], (size_t)(qy->q.n - 1) *
			sizeof(qy->q.len[0]));
		qy->q.n--;
	}
	return true;
}

/* A candidate found: where it is, and where its type is. */
struct pick {
	struct modidx *m;
	size_t ci;
	struct modidx *tm; /* whose DWARF describes it (a copy's: the lib) */
	size_t ti;
};

#define MAX_PICKS 8
struct found {
	enum score best, other_best;
	struct pick p[MAX_PICKS];
	int n;          /* distinct candidates at the best score */
	int more;       /* beyond MAX_PICKS */
	struct pick other;  /* a function when data was asked for, or back */
	int modules;    /* modules the lib.so: prefix matched */
};

static bool wanted(enum ckind k, bool want_func)
{
	return want_func ? k == CK_FUNC : k != CK_FUNC;
}

static void consider(struct found *f, struct modidx *m, size_t ci,
		     enum score sc)
{
	const struct cand *c = &m->c[ci];

	if (sc < f->best || sc == M_NONE)
		return;
	if (sc > f->best) {
		f->best = sc;
		f->n = f->more = 0;
	}
	for (int k = 0; k < f->n; k++) {
		const struct cand *o = &f->p[k].m->c[f->p[k].ci];

		if (f->p[k].m == m && o->addr == c->addr && o->kind == c->kind) {
			if (!o->die && c->die) /* the one with a type */
				f->p[k].ci = f->p[k].ti = ci;
			return;
		}
	}
	if (f->n == MAX_PICKS) {
		f->more++;
		return;
	}
	f->p[f->n++] = (struct pick){ m, ci, m, ci };
}

struct lookup {
	struct syms *s;
	const struct query *qy;
	bool want_func;
	bool any_module;  /* ignore the lib.so: prefix */
	struct found f;
};

/* May this module have the name?  Its symbol table says; if so, its
 * DWARF is indexed too (scopes, types). */
static void index_if_named(struct modidx *m, const char *base)
{
	size_t n = strlen(base);

	if (m->dwarf_done)
		return;
	for (size_t i = 0; i < m->n; i++)
		if (m->c[i].base_len == n &&
		    !memcmp(m->c[i].qname + m->c[i].base_off, base, n)) {
			index_dwarf_too(m);
			return;
		}
}

static void match_module(struct lookup *lk, struct modidx *m)
{
	const struct query *qy = lk->qy;
	enum score *raw;

	index_if_named(m, qy->base);
	raw = calloc(m->n ? m->n : 1, sizeof(*raw));
	if (!raw)
		return;
	for (size_t i = 0; i < m->na; i++)
		if (!strcmp(m->a[i].name, qy->ident))
			raw[m->a[i].cand] = M_RAW;
	for (size_t i = 0; i < m->n; i++) {
		enum score sc = raw[i] ? raw[i] : match_cand(qy, &m->c[i]);

		if (wanted(m->c[i].kind, lk->want_func))
			consider(&lk->f, m, i, sc);
		else if (sc >= M_QUAL && sc > lk->f.other_best) {
			lk->f.other_best = sc;
			lk->f.other = (struct pick){ m, i, m, i };
		}
	}
	free(raw);
}

static int lookup_module(Dwfl_Module *mod, void **ud, const char *modname,
			 Dwarf_Addr start, void *arg)
{
	struct lookup *lk = arg;
	struct modidx *m;

	(void)ud;
	if (!lk->any_module && !module_matches(lk->qy->module, modname))
		return DWARF_CB_OK;
	lk->f.modules++;
	if ((m = index_of(lk->s, mod, modname, start)))
		match_module(lk, m);
	return DWARF_CB_OK;
}

static bool is_main(const struct syms *s, const struct modidx *m)
{
	return !strcmp(m->name, s->exe);
}

/* "file.c in module" for a message. */
static void where_of(const struct modidx *m, const struct cand *c, char *out,
		     size_t n)
{
	if (c->file)
		snprintf(out, n, "%s in %s", base_name(c->file),
			 base_name(m->name));
	else
		snprintf(out, n, "%s", base_name(m->name));
}

static void list_picks(const struct found *f, char *out, size_t n)
{
	size_t used = 0;

	out[0] = '\0';
	for (int k = 0; k < f->n && used + 1 < n; k++) {
		const struct cand *c = &f->p[k].m->c[f->p[k].ci];
		char where[300];

		where_of(f->p[k].m, c, where, sizeof(where));
		used += (size_t)snprintf(out + used, n - used, "%s%s (%s)",
					 k ? ", " : "", c->qname, where);
	}
	if (f->more && used + 1 < n)
		snprintf(out + used, n - used, " and %d more", f->more);
}

/* ---- copies and interposition ---- */

struct main_query {
	const char *exe;
	Dwfl_Module *mod;
};

static int find_main(Dwfl_Module *mod, void **ud, const char *modname,
		     Dwarf_Addr start, void *arg)
{
	struct main_query *q = arg;

	(void)ud, (void)start;
	if (!strcmp(modname, q->exe)) {
		q->mod = mod;
		return DWARF_CB_ABORT;
	}
	return DWARF_CB_OK;
}

static struct modidx *main_index(struct syms *s)
{
	struct main_query q = { s->exe, NULL };
	Dwarf_Addr start;

	if (!s->dwfl)
		return NULL;
	dwfl_getmodules(s->dwfl, find_main, &q, 0);
	if (!q.mod || !dwfl_module_info(q.mod, NULL, &start, NULL, NULL, NULL,
					NULL, NULL))
		return NULL;
	return index_of(s, q.mod, s->exe, start);
}

/* Does the executable carry a copy relocation (R_*_COPY) for the object
 * at run-time address addr? */
static bool copy_relocated(struct modidx *exe, uint64_t addr)
{
	GElf_Addr bias;
	Elf *elf = dwfl_module_getelf(exe->mod, &bias);
	Elf_Scn *scn = NULL;
	GElf_Ehdr eh;
	unsigned copy;

	if (!elf || !gelf_getehdr(elf, &eh))
		return false;
	copy = eh.e_machine == EM_X86_64 ? R_X86_64_COPY
	     : eh.e_machine == EM_AARCH64 ? R_AARCH64_COPY
	     : eh.e_machine == EM_386 ? R_386_COPY : 0;
	while (copy && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_RELA &&
						sh.sh_type != SHT_REL) ||
		    !sh.sh_entsize || !(d = elf_getdata(scn, NULL)))
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Rela ra;
			GElf_Rel r;
			uint64_t off, type;

			if (sh.sh_type == SHT_RELA) {
				if (!gelf_getrela(d, (int)i, &ra))
					break;
				off = ra.r_offset;
				type = GELF_R_TYPE(ra.r_info);
			} else {
				if (!gelf_getrel(d, (int)i, &r))
					break;
				off = r.r_offset;
				type = GELF_R_TYPE(r.r_info);
			}
			if (type == copy && off + bias == addr)
				return true;
		}
	}
	return false;
}

/* A library's global variable that the executable defines too (a copy
 * relocation, or its own definition): the dynamic linker binds every
 * reference, the library's own, to the executable's.  That one is live. */
static bool executable_copy(struct syms *s, struct pick *p, const char *spec)
{
	struct modidx *exe = main_index(s), *lib = p->m;
	const struct cand *c = &lib->c[p->ci];

	if (!exe || exe == lib || !c->global || c->kind != CK_DATA)
		return false;
	index_dwarf_too(exe); /* its indexes stay as they are from here */
	for (size_t i = 0; i < lib->na; i++) {
		if (lib->a[i].cand != p->ci)
			continue;
		for (size_t k = 0; k < exe->na; k++) {
			const struct cand *e = &exe->c[exe->a[k].cand];

			if (e->kind != CK_DATA || !e->global ||
			    strcmp(exe->a[k].name, lib->a[i].name))
				continue;
			fprintf(stderr, "hwbp: %s: the program uses the copy in "
				"%s at 0x%" PRIx64 " (%s), not %s's: watching "
				"that one\n", spec, base_name(exe->name), e->addr,
				copy_relocated(exe, e->addr) ? "copy relocation"
				: "its own definition", base_name(lib->name));
			p->m = exe;
			p->ci = exe->a[k].cand;
			return true;
		}
	}
	return false;
}

/* Several globals of one name in several modules: the dynamic linker
 * binds them all to the executable's, if it has one. */
/* The same name but for leading underscores: glibc's aliases of one
 * object (environ, _environ, __environ) are indexed under any of them. */
static bool same_global_name(const char *a, const char *b)
{
	while (*a == '_')
		a++;
	while (*b == '_')
		b++;
	return !strcmp(a, b);
}

/* As a program's own lookup does (and gdb's, with no frame selected), a
 * global object is what a plain name means, not another module's static
 * of the same name: where globals are among the candidates, the statics
 * go (two statics, or two globals of other names, stay ambiguous). */
static void globals_first(struct found *f)
{
	int globals = 0, n = 0;

	for (int k = 0; k < f->n; k++)
		globals += f->p[k].m->c[f->p[k].ci].global;
	if (!globals || globals == f->n || f->more)
		return;
	for (int k = 0; k < f->n; k++)
		if (f->p[k].m->c[f->p[k].ci].global)
			f->p[n++] = f->p[k];
	f->n = n;
}

static bool pick_interposed(struct syms *s, struct found *f)
{
	int in_main = -1;

	globals_first(f);
	if (f->n == 1)
		return true;

	for (int k = 0; k < f->n; k++) {
		const struct cand *c = &f->p[k].m->c[f->p[k].ci];

		if (!c->global || c->kind != CK_DATA ||
		    !same_global_name(c->qname, f->p[0].m->c[f->p[0].ci].qname))
			return false; /* not one symbol: app::x and lib::x */
		for (int j = 0; j < k; j++)
			if (f->p[j].m == f->p[k].m)
				return false;
		if (is_main(s, f->p[k].m))
			in_main = k;
	}
	if (in_main < 0 || f->more)
		return false;
	f->p[0].m = f->p[in_main].m;
	f->p[0].ci = f->p[in_main].ci;
	f->n = 1;
	return true;
}

struct borrow {
	struct syms *s;
	struct pick *p;
	const char *name; /* a symbol-table name of the object */
	bool found;
};

/* A global data object of that name with a DIE in this module? */
static int borrow_module(Dwfl_Module *mod, void **ud, const char *modname,
			 Dwarf_Addr start, void *arg)
{
	struct borrow *b = arg;
	struct modidx *o = index_of(b->s, mod, modname, start);
	char base[256];

	(void)ud;
	if (!o || o == b->p->m)
		return DWARF_CB_OK;
	base_of(b->name, base, sizeof(base));
	index_if_named(o, base);
	for (size_t j = 0; j < o->na; j++) {
		const struct cand *c = &o->c[o->a[j].cand];

		if (c->die && c->global && c->kind == CK_DATA &&
		    !strcmp(o->a[j].name, b->name)) {
			b->p->tm = o;
			b->p->ti = o->a[j].cand;
			b->found = true;
			return DWARF_CB_ABORT;
		}
	}
	return DWARF_CB_OK;
}

/* A candidate from the symbol table alone: a global of the same name
 * with DWARF in another loaded module (the library a copy came from)
 * gives its type. */
static void borrow_type(struct syms *s, struct pick *p)
{
	const struct modidx *m = p->m;

	if (p->tm->c[p->ti].die || !s->dwfl)
		return;
	for (size_t i = 0; i < m->na; i++) {
		struct borrow b = { s, p, m->a[i].name, false };

		if (m->a[i].cand != p->ci)
			continue;
		dwfl_getmodules(s->dwfl, borrow_module, &b, 0);
		if (b.found)
			return;
	}
}

/* ---- "did you mean" ---- */

static int distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int row[257];

	if (la > 256 || lb > 256)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		int prev = row[0];

		row[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int cur = row[j], sub = prev + (a[i - 1] != b[j - 1]);
			int del = row[j] + 1, ins = row[j - 1] + 1;

			row[j] = sub < del ? (sub < ins ? sub : ins)
					   : (del < ins ? del : ins);
			prev = cur;
		}
	}
	return row[lb];
}

#define NSUGGEST 3
struct suggest {
	const char *want, *want_tail;
	bool want_func;
	char names[NSUGGEST][160];
	char where[NSUGGEST][300];
	int dist[NSUGGEST];
	bool main[NSUGGEST];  /* in the program itself (first when as near) */
	const char *exe;
};

static const char *last_comp(const char *q)
{
	struct comps c;

	if (!split_comps(q, &c) || c.n < 2)
		return q;
	return c.s[c.n - 1];
}

/* Kept suggestion k before j?  Nearer first, then by name and place. */
static int suggest_cmp(const struct suggest *sg, int k, int j)
{
	int c;

	if (sg->dist[k] != sg->dist[j])
		return sg->dist[k] - sg->dist[j];
	if (!sg->names[k][0] || !sg->names[j][0])
		return !sg->names[k][0] - !sg->names[j][0];
	if (sg->main[k] != sg->main[j])
		return sg->main[j] - sg->main[k];
	c = strcmp(sg->names[k], sg->names[j]);
	return c ? c : strcmp(sg->where[k], sg->where[j]);
}

static int gap(size_t a, size_t b)
{
	return a > b ? (int)(a - b) : (int)(b - a);
}

/* One more name (of module m, NULL: the kernel's): kept if nearer than
 * the farthest kept.  Names too far by their lengths alone are not
 * compared (the distance is at least the difference of lengths). */
static void suggest_one(struct suggest *sg, const char *name,
			const struct modidx *m, const struct cand *c)
{
	const char *tail = last_comp(name);
	int worst = 0, d, bound = gap(strlen(sg->want), strlen(name));
	char where[300];
	bool is_main;

	for (int k = 1; k < NSUGGEST; k++)
		if (suggest_cmp(sg, k, worst) > 0)
			worst = k;
	if (tail != name && gap(strlen(sg->want_tail), strlen(tail)) < bound)
		bound = gap(strlen(sg->want_tail), strlen(tail));
	if (bound > sg->dist[worst])
		return;
	d = distance(sg->want, name);
	if (tail != name && distance(sg->want_tail, tail) < d)
		d = distance(sg->want_tail, tail);
	if (d > sg->dist[worst])
		return;
	if (m)
		where_of(m, c, where, sizeof(where));
	else
		snprintf(where, sizeof(where), "kernel");
	for (int k = 0; k < NSUGGEST; k++)
		if (!strcmp(sg->names[k], name) && !strcmp(sg->where[k], where))
			return;
	/* the same distance: the program's first, then by name and place
	 * (a stable answer, whatever order the modules come in) */
	is_main = m && !strcmp(m->name, sg->exe);
	if (d == sg->dist[worst] && sg->names[worst][0] &&
	    (sg->main[worst] > is_main ||
	     (sg->main[worst] == is_main &&
	      (strcmp(name, sg->names[worst]) > 0 ||
	       (!strcmp(name, sg->names[worst]) &&
		strcmp(where, sg->where[worst]) > 0)))))
		return;
	sg->main[worst] = is_main;
	sg->dist[worst] = d;
	snprintf(sg->names[worst], sizeof(sg->names[0]), "%s", name);
	snprintf(sg->where[worst], sizeof(sg->where[0]), "%s", where);
}

struct suggest_walk {
	struct syms *s;
	struct suggest *sg;
};

static int suggest_module(Dwfl_Module *mod, void **ud, const char *modname,
			  Dwarf_Addr start, void *arg)
{
	struct suggest_walk *sw = arg;
	struct modidx *m = index_of(sw->s, mod, modname, start);

	(void)ud;
	if (m)
		index_dwarf_too(m); /* names by their scopes: bump::calls */
	for (size_t i = 0; m && i < m->n; i++)
		if (wanted(m->c[i].kind, sw->sg->want_func))
			suggest_one(sw->sg, m->c[i].qname, m, &m->c[i]);
	return DWARF_CB_OK;
}

/* Up to 3 names near `want` in every module (and the kernel), nearest
 * first, each with where it lives: "counter (vars.c in prog), ...". */
static void suggestions(struct syms *s, const char *want, bool func, char *out,
			size_t len)
{
	struct suggest sg = { .want = want, .want_tail = last_comp(want),
			      .want_func = func, .exe = s->exe };
	struct suggest_walk sw = { s, &sg };
	int limit = (int)strlen(want) / 3 + 2;
	size_t used = 0;

	for (int k = 0; k < NSUGGEST; k++)
		sg.dist[k] = 99;
	if (s->dwfl)
		dwfl_getmodules(s->dwfl, suggest_module, &sw, 0);
	for (size_t i = 0; i < s->nksyms; i++)
		suggest_one(&sg, s->ksyms[i].name, NULL, NULL);
	out[0] = '\0';
	for (int n = 0; n < NSUGGEST; n++) {
		int best = -1;

		for (int k = 0; k < NSUGGEST; k++)
			if (sg.dist[k] <= limit && sg.names[k][0] &&
			    (best < 0 || suggest_cmp(&sg, k, best) < 0))
				best = k;
		if (best < 0 || used + 380 >= len)
			break;
		used += (size_t)snprintf(out + used, len - used, "%s%s (%s)",
					 used ? ", " : "", sg.names[best],
					 sg.where[best]);
		sg.names[best][0] = '\0';
	}
}

/* ---- why a name was not found ---- */

/* Is the main executable stripped: no .symtab, no separate debug info? */
static bool main_stripped(struct syms *s)
{
	struct main_query q = { s->exe, NULL };
	Elf_Scn *scn = NULL;
	GElf_Addr bias;
	Elf *elf;

	if (!s->dwfl)
		return false;
	dwfl_getmodules(s->dwfl, find_main, &q, 0);
	if (!q.mod || !(elf = dwfl_module_getelf(q.mod, &bias)))
		return false;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB)
			return false;
	}
	return !dwfl_module_getdwarf(q.mod, &bias);
}

/* The executable is mapped but its file cannot be read (execute-only). */
static bool main_unreadable(struct syms *s, int *err)
{
	struct main_query q = { s->exe, NULL };
	GElf_Addr bias;

	if (!s->dwfl || !s->exe[0])
		return false;
	dwfl_getmodules(s->dwfl, find_main, &q, 0);
	if (q.mod && dwfl_module_getelf(q.mod, &bias))
		return false;
	*err = access(s->exe, R_OK) ? errno : 0;
	return *err != 0;
}

static int kptr_restrict(void)
{
	FILE *f = fopen("/proc/sys/kernel/kptr_restrict", "r");
	int v = -1;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* /proc/kallsyms showed 0 for every address: say which rule hides them
 * (kernel/kallsyms.c, kallsyms_show_value). */
static int hidden_kallsyms(const struct spec *sp, char *msg, size_t ml)
{
	int kr = kptr_restrict(), paranoid = -1;
	FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "r");
	char rule[200];

	if (f) {
		if (fscanf(f, "%d", &paranoid) != 1)
			paranoid = -1;
		fclose(f);
	}
	if (kr >= 2)
		snprintf(rule, sizeof(rule), "kernel.kptr_restrict=%d hides "
			 "them from everyone", kr);
	else if (kr == 1)
		snprintf(rule, sizeof(rule), "kernel.kptr_restrict=1 shows them "
			 "only with CAP_SYSLOG");
	else
		snprintf(rule, sizeof(rule), "kernel.kptr_restrict=%d shows them "
			 "with CAP_SYSLOG, or to everyone when "
			 "kernel.perf_event_paranoid <= 1 (it is %d)", kr,
			 paranoid);
	return refuse(msg, ml, "kernel symbol '%s': /proc/kallsyms shows this "
		      "user every address as 0 (%s); run hwbp as root, or give "
		      "the address as 0x...", sp->ident, rule);
}

static int resolve_kernel(struct syms *s, const struct spec *sp,
			  struct location *loc, char *msg, size_t ml)
{
	size_t data = 0;

	for (size_t i = 0; i < s->nksyms; i++)
		if (!strcmp(s->ksyms[i].name, sp->ident)) {
			loc->addr = s->ksyms[i].addr + sp->plus;
			snprintf(loc->module, sizeof(loc->module), "[kernel]");
			return 0;
		}
	if (s->kallsyms_err)
		return refuse(msg, ml, "kernel symbol '%s': cannot read "
			      "/proc/kallsyms (%s); give its address as 0x...",
			      sp->ident, strerror(s->kallsyms_err));
	if (!s->nksyms && s->kallsyms_zero)
		return hidden_kallsyms(sp, msg, ml);
	for (size_t i = 0; i < s->nksyms; i++)
		data += s->ksyms[i].is_data;
	return refuse(msg, ml, "no kernel symbol '%s' in /proc/kallsyms%s",
		      sp->ident, data < 1000 ? " (this kernel lists almost no "
		      "data symbols: CONFIG_KALLSYMS_ALL is off; give its "
		      "address as 0x...)" : "");
}

/* Nothing of that name: say why, most useful reason first. */
static int not_found(struct syms *s, const struct spec *sp,
		     const struct lookup *lk, struct location *loc,
		     char *msg, size_t ml)
{
	const struct found *f = &lk->f;
	char near[1200], where[300];
	int err;

	if (sp->module[0] && !f->modules) {
		if (s->dwfl && (strstr(sp->module, ".so") ||
				strchr(sp->module, '/'))) {
			snprintf(msg, ml, "'%s' is not loaded (yet)", sp->module);
			return RESOLVE_PENDING;
		}
		s->missed = true;
		return refuse(msg, ml, "'%s:%s': no module '%s' is loaded; a "
			      "':' comes after a library's name (lib.so:name) "
			      "or before a length (:LEN is " LEN_RULE ")",
			      sp->module, sp->ident, sp->module);
	}
	if (f->other_best) {
		const struct cand *o = &f->other.m->c[f->other.ci];

		where_of(f->other.m, o, where, sizeof(where));
		if (o->kind == CK_FUNC)
			return refuse(msg, ml, "'%s' is a function (%s), not a "
				      "variable: watch its calls with --exec",
				      sp->ident, where);
		return refuse(msg, ml, "'%s' is a variable (%s): --exec "
			      "watches a function's code; drop --exec",
			      sp->ident, where);
	}
	if (sp->module[0] && s->dwfl) {
		struct lookup all = { s, lk->qy, lk->want_func, true, { 0 } };

		dwfl_getmodules(s->dwfl, lookup_module, &all, 0);
		if (all.f.n) {
			list_picks(&all.f, near, sizeof(near));
			return refuse(msg, ml, "no '%s' in %s; there is %s: drop "
				      "'%s:'", sp->ident, sp->module, near,
				      sp->module);
		}
	}
	if (s->kernel)
		return resolve_kernel(s, sp, loc, msg, ml);
	s->missed = true;
	if (s->pid > 0 && s->exe_err == EACCES) {
		snprintf(msg, ml, "cannot read which program process %d runs "
			 "(/proc/%d/exe: %s): the kernel hides a program "
			 "without read permission (execute-only) from other "
			 "processes, hwbp too: it can neither read its names "
			 "nor watch it; make it readable (chmod +r), or run "
			 "hwbp as root", (int)s->pid, (int)s->pid,
			 strerror(s->exe_err));
		return EXIT_RUNTIME;
	}
	if (main_unreadable(s, &err))
		return refuse(msg, ml, "cannot read %s (%s): hwbp finds names "
			      "in the program's file (an execute-only program "
			      "has none to read); make it readable, or give an "
			      "address (0x...)", s->exe, strerror(err));
	if (main_stripped(s))
		return refuse(msg, ml, "%s is stripped (no symbol table, no "
			      "debug info): no symbol '%s'; give an address "
			      "(0x...)", s->exe, sp->ident);
	suggestions(s, sp->ident, lk->want_func, near, sizeof(near));
	if (near[0])
		return refuse(msg, ml, "unknown symbol '%s'; did you mean: %s?",
			      sp->ident, near);
	return refuse(msg, ml, "unknown symbol '%s'", sp->ident);
}

/* The one object `sp` names, or a refusal (ambiguous, unknown). */
static int lookup(struct syms *s, const struct spec *sp, bool want_func,
		  struct location *loc, struct pick *out, char *msg, size_t ml)
{
	struct query qy;
	struct lookup lk = { s, &qy, want_func, false, { 0 } };
	char list[1200];

	if (!make_query(sp, &qy))
		return refuse(msg, ml, "'%s': too many '::' parts", sp->ident);
	if (s->dwfl)
		dwfl_getmodules(s->dwfl, lookup_module, &lk, 0);
	if (!lk.f.n)
		return not_found(s, sp, &lk, loc, msg, ml);
	if (lk.f.n > 1 && !pick_interposed(s, &lk.f)) {
		list_picks(&lk.f, list, sizeof(list));
		return refuse(msg, ml, "'%s' is ambiguous: %s; say which "
			      "(ns::name, func::name, file.c::name or "
			      "lib.so:name)", sp->ident, list);
	}
	*out = lk.f.p[0];
	if (!want_func) {
		executable_copy(s, out, loc->spec); /* keeps the lib's type */
		borrow_type(s, out);
	}
	return 0;
}

/* ---- resolving ---- */

/* Largest of 8/4/2/1 that fits `addr` alignment and `max`. */
static uint32_t natural_len(uint64_t addr, uint64_t max)
{
	for (uint32_t len = 8; len > 1; len /= 2)
		if (!(addr % len) && len <= max)
			return len;
	return 1;
}

static bool default_read(uint64_t addr, void *buf, size_t len, void *ctx)
{
	const struct syms *s = ctx;
	struct iovec local = { buf, len };
	struct iovec remote = { (void *)(uintptr_t)addr, len };

	return s->pid > 0 &&
	       process_vm_readv(s->pid, &local, 1, &remote, 1, 0) == (ssize_t)len;
}

bool syms_read(struct syms *s, uint64_t addr, void *buf, size_t len)
{
	return s->read ? s->read(addr, buf, len, s->read_ctx)
		       : default_read(addr, buf, len, s);
}

/* The object's DIE type through the module whose DWARF has it. */
static bool type_die(struct modidx *m, Dwarf_Off off, Dwarf_Die *type)
{
	Dwarf_Addr bias;
	Dwarf *dw = dwfl_module_getdwarf(m->mod, &bias);
	Dwarf_Die var;

	return off && dw && dwarf_offdie(dw, off, &var) &&
	       dwt_type_of(&var, type);
}

/* Its length without :LEN: the member or element that starts at +OFFSET,
 * else what fits; the whole object without +OFFSET. */
static int object_len(const struct spec *sp, struct dwt_cursor *c,
		      uint64_t size, struct location *loc, char *msg,
		      size_t ml)
{
	uint64_t addr = loc->addr;

	if (sp->len) {
		loc->len = sp->len;
	} else if (sp->has_plus && size) {
		char suffix[256];
		Dwarf_Die leaf;
		bool has = false;
		uint64_t lsize;

		dwt_name_at(&c->type, sp->plus, 1, suffix, sizeof(suffix),
			    &leaf, &has);
		lsize = has && c->has_type ? dwt_size(&leaf) : 0;
		if (lsize && !strchr(suffix, '+') && lsize <= size - sp->plus) {
			loc->len = (uint32_t)(lsize < 4096 ? lsize : 4096);
			if (lsize <= 4096)
				dwt_describe(&leaf, &loc->type);
		} else {
			loc->len = natural_len(addr, size - sp->plus < 8 ?
					       size - sp->plus : 8);
		}
	} else if (size > 4096) {
		return refuse(msg, ml, "'%s' is %" PRIu64 " bytes; hwbp watches "
			      "up to 4096 at once: name a member or element, "
			      "or give +OFFSET:LEN", loc->name, size);
	} else {
		loc->len = size ? (uint32_t)size : natural_len(addr, 8);
	}
	if (sp->len && size && sp->plus + sp->len > size)
		return refuse(msg, ml, "'%s': %u bytes from +%" PRIu64 " run "
			      "past the end of %s (%" PRIu64 " bytes); a range "
			      "beyond a variable is 0xADDR:LEN", loc->spec,
			      sp->len, sp->plus, sp->ident, size);
	return 0;
}

/* The path, the stars and std::atomic from the variable to the object
 * watched; its type and size in c. */
static int walk_object(struct syms *s, const struct spec *sp,
		       struct dwt_cursor *c, char *msg, size_t ml)
{
	int err = dwt_walk(c, sp->path, msg, ml);

	(void)s;
	for (int k = 0; !err && k < sp->stars; k++) {
		size_t n = strlen(c->expr);

		err = dwt_deref(c, msg, ml);
		if (n + 1 < sizeof(c->expr)) {
			memmove(c->expr + 1, c->expr, n + 1);
			c->expr[0] = '*';
		}
	}
	if (!err && !sp->has_plus && !sp->len)
		err = dwt_follow_reference(c, msg, ml);
	if (!err && c->has_type && !sp->len) {
		Dwarf_Die t = c->type;

		if (dwt_atomic_value(&t))
			c->type = t; /* std::atomic<long> watched as its long */
	}
	return err;
}

/* clang names a static local `func.var` in the symbol table: `bump.calls`
 * is that name when `bump` is no variable (and cfg.limit a member). */
static void raw_dotted_name(struct syms *s, struct spec *sp)
{
	char name[256];
	size_t n = strlen(sp->ident), k;
	uint64_t addr;

	if (sp->path[0] != '.' || syms_find_data(s, sp->module, sp->ident,
						 &addr))
		return;
	k = 1 + strspn(sp->path + 1, "abcdefghijklmnopqrstuvwxyz"
		       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
	if (n + k >= sizeof(name))
		return;
	memcpy(name, sp->ident, n);
	memcpy(name + n, sp->path, k);
	name[n + k] = '\0';
	if (!syms_find_data(s, sp->module, name, &addr))
		return;
	snprintf(sp->ident, sizeof(sp->ident), "%s", name);
	memmove(sp->path, sp->path + k, strlen(sp->path + k) + 1);
}

/* A kernel symbol: an address from /proc/kallsyms, without a type or a
 * size (no DWARF for the kernel is read): a function for --exec, else
 * name+OFFSET:LEN, natural length by default. */
static int kernel_object(const struct spec *sp, struct location *loc,
			 char *msg, size_t ml)
{
	if (sp->path[0] || sp->stars)
		return refuse(msg, ml, "'%s': a kernel symbol has no type here "
			      "(hwbp reads no kernel DWARF): give a member as "
			      "%s+OFFSET:LEN", loc->spec, sp->ident);
	if (loc->access == HWBP_EXEC)
		return 0;
	loc->len = sp->len ? sp->len : natural_len(loc->addr, 8);
	loc->type.size = loc->len;
	return 0;
}

static int resolve_symbol(struct syms *s, struct spec *sp,
			  struct location *loc, char *msg, size_t ml)
{
	struct pick pk = { NULL, 0, NULL, 0 };
	const struct cand *cd;
	struct dwt_cursor c = { .loc = loc };
	uint64_t size;
	int err;

	raw_dotted_name(s, sp);
	if ((err = lookup(s, sp, loc->access == HWBP_EXEC, loc, &pk, msg, ml)))
		return err;
	if (!pk.m) /* /proc/kallsyms answered (resolve_kernel) */
		return kernel_object(sp, loc, msg, ml);
	cd = &pk.m->c[pk.ci];
	snprintf(loc->module, sizeof(loc->module), "%s", pk.m->name);
	if (loc->access == HWBP_EXEC) {
		if (sp->path[0] || sp->stars)
			return refuse(msg, ml, "'%s': --exec takes a function "
				      "(name, name+OFFSET or 0xADDR)", loc->spec);
		loc->addr = cd->addr + sp->plus;
		return 0;
	}
	if (cd->kind == CK_TLS && !s->allow_tls && s->tls_why)
		return refuse(msg, ml, "'%s' is thread-local: each thread has its "
			      "own copy; %s; give one thread's copy as 0xADDR",
			      sp->ident, s->tls_why);
	if (cd->kind == CK_TLS && !s->allow_tls)
		return refuse(msg, ml, "'%s' is thread-local: each thread has its "
			      "own copy, which hwbp cannot watch by name yet; "
			      "give one thread's copy as 0xADDR", sp->ident);
	c.addr = cd->addr;
	c.read = cd->kind == CK_TLS ? NULL : s->read ? s->read : default_read;
	c.ctx = s->read ? s->read_ctx : s;
	snprintf(c.expr, sizeof(c.expr), "%s", sp->ident);
	c.has_type = type_die(pk.tm, pk.tm->c[pk.ti].die, &c.type);
	if (c.has_type)
		loc->type_mod = pk.tm->start;
	if ((err = walk_object(s, sp, &c, msg, ml)))
		return err;
	size = c.has_type ? dwt_size(&c.type)
	     : sp->path[0] || sp->stars ? 0 : cd->size;
	loc->size = size;
	loc->type_addr = c.addr;
	loc->type_die = c.has_type ? dwarf_dieoffset(&c.type) : 0;
	if (c.has_type && !sp->has_plus)
		dwt_describe(&c.type, &loc->type);
	else
		loc->type.size = (uint32_t)size;
	if (sp->has_plus && size && sp->plus >= size)
		return refuse(msg, ml, "'%s': +%" PRIu64 " is past the end of %s "
			      "(%" PRIu64 " bytes: +0 to +%" PRIu64 ")",
			      loc->spec, sp->plus, sp->ident, size, size - 1);
	loc->addr = c.addr + sp->plus;
	if ((err = object_len(sp, &c, size, loc, msg, ml)))
		return err;
	if (cd->kind == CK_TLS) {
		loc->tls = true;
		loc->tls_offset = loc->addr;
		loc->tls_mod = pk.m->start;
		loc->addr = 0;
	}
	return 0;
}

int syms_resolve(struct syms *s, const char *text, enum hwbp_access access,
		 struct location *loc, char *msg, size_t ml)
{
	return syms_resolve_mem(s, text, access, NULL, NULL, loc, msg, ml);
}

void syms_tls_why(struct syms *s, const char *why)
{
	s->tls_why = why;
}

void syms_allow_tls(struct syms *s, bool allow)
{
	s->allow_tls = allow;
}

/* ---- naming inside an object, other files' lookups ---- */

static struct modidx *index_at(struct syms *s, uint64_t start)
{
	Dwfl_Module *mod;
	const char *name;
	Dwarf_Addr low;

	if (!s->dwfl || !(mod = dwfl_addrmodule(s->dwfl, start)))
		return NULL;
	name = dwfl_module_info(mod, NULL, &low, NULL, NULL, NULL, NULL, NULL);
	return name && low == start ? index_of(s, mod, name, start) : NULL;
}

int syms_member_at(struct syms *s, const struct location *loc, uint64_t addr,
		   uint32_t len, char *name, size_t namelen, struct vtype *vt)
{
	struct modidx *m = loc->type_die ? index_at(s, loc->type_mod) : NULL;
	Dwarf_Addr bias;
	Dwarf *dw = m ? dwfl_module_getdwarf(m->mod, &bias) : NULL;
	Dwarf_Die type, leaf;
	char suffix[256], stem[256], *cut;
	bool has = false;

	if (loc->tls) /* addr: the offset into a thread's copy */
		addr += loc->tls_offset;
	if (!dw || !dwarf_offdie(dw, loc->type_die, &type) ||
	    addr < loc->type_addr || addr - loc->type_addr >= loc->size)
		return -ENOENT;
	dwt_name_at(&type, addr - loc->type_addr, len ? len : 1, suffix,
		    sizeof(suffix), &leaf, &has);
	/* The name of the object: the LOCATION without +OFFSET. */
	snprintf(stem, sizeof(stem), "%s", loc->name);
	cut = strrchr(stem, '+');
	if (cut)
		*cut = '\0';
	if (stem[0] == '*' && suffix[0] && suffix[0] != '+')
		snprintf(name, namelen, "(%s)%s", stem, suffix);
	else
		snprintf(name, namelen, "%s%s", stem, suffix);
	if (vt) {
		memset(vt, 0, sizeof(*vt));
		if (has)
			dwt_describe(&leaf, vt);
	}
	return 0;
}

struct find_data {
	struct syms *s;
	const char *module, *name;
	uint64_t addr;
	bool found;
};

static int find_data_module(Dwfl_Module *mod, void **ud, const char *modname,
			    Dwarf_Addr start, void *arg)
{
	struct find_data *fd = arg;
	struct modidx *m;

	(void)ud;
	if (!module_matches(fd->module, modname) ||
	    !(m = index_of(fd->s, mod, modname, start)))
		return DWARF_CB_OK;
	for (size_t i = 0; i < m->na; i++)
		if (m->c[m->a[i].cand].kind != CK_FUNC &&
		    !strcmp(m->a[i].name, fd->name)) {
			fd->addr = m->c[m->a[i].cand].addr;
			fd->found = true;
			return DWARF_CB_ABORT;
		}
	return DWARF_CB_OK;
}

bool syms_find_data(struct syms *s, const char *module, const char *name,
		    uint64_t *addr)
{
	struct find_data fd = { s, module, name, 0, false };

	if (s->dwfl)
		dwfl_getmodules(s->dwfl, find_data_module, &fd, 0);
	*addr = fd.addr;
	return fd.found;
}

bool syms_module_dynamic(struct syms *s, uint64_t start, uint64_t *dynamic,
			 const char **name)
{
	struct modidx *m = index_at(s, start);
	GElf_Addr bias;
	Elf *elf = m ? dwfl_module_getelf(m->mod, &bias) : NULL;
	size_t n;

	if (!elf || elf_getphdrnum(elf, &n))
		return false;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_DYNAMIC) {
			*dynamic = ph.p_vaddr + bias;
			*name = m->name;
			return true;
		}
	}
	return false;
}

int syms_resolve_mem(struct syms *s, const char *text, enum hwbp_access access,
		     mem_read_fn read, void *ctx, struct location *loc,
		     char *msg, size_t ml)
{
	struct spec sp;
	int err = parse_spec(text, &sp, msg, ml);
	char *colon;

	s->missed = false;
	if (err)
		return err;
	memset(loc, 0, sizeof(*loc));
	snprintf(loc->spec, sizeof(loc->spec), "%s", text);
	snprintf(loc->name, sizeof(loc->name), "%s", text);
	colon = single_colon(loc->name, true);
	if (colon && sp.len)
		*colon = '\0';
	loc->access = access;
	s->read = read;
	s->read_ctx = ctx;
	if (sp.is_addr)
		loc->addr = sp.addr;
	else
		err = resolve_symbol(s, &sp, loc, msg, ml);
	s->read = NULL;
	if (err)
		return err;
	if (access == HWBP_EXEC)
		loc->len = 8;
	else if (sp.len)
		loc->len = sp.len;
	else if (!loc->len)
		loc->len = natural_len(loc->addr, 8);
	if (loc->type.size != loc->len && loc->type.kind != V_HEX &&
	    (sp.len || sp.has_plus))
		loc->type.kind = V_HEX;
	loc->resolved = true;
	return 0;
}

/* ---- code addresses ---- */

void syms_describe_kernel(void *ctx, uint64_t ip, struct code_loc *out)
{
	const struct syms *s = ctx;
	size_t lo = 0, hi = s->nksyms;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->ksyms[mid].addr <= ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return;
	out->function = s->ksyms[lo - 1].name;
	out->offset = ip - s->ksyms[lo - 1].addr;
	out->module = "[kernel]";
}

/* The module of a user address; libraries loaded since the last report
 * are found by reporting /proc/PID/maps again (at most every 10 ms). */
static Dwfl_Module *module_of(struct syms *s, uint64_t addr)
{
	Dwfl_Module *mod;
	struct timespec now;

	/* Kernel addresses are kallsyms' (libdwfl may claim them for the
	 * last module of the process). */
	if (!s->dwfl || addr >= 0x0000800000000000ull)
		return NULL;
	mod = dwfl_addrmodule(s->dwfl, addr);
	if (mod)
		return mod;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((now.tv_sec - s->last_refresh.tv_sec) * 1000000000ll +
	    (now.tv_nsec - s->last_refresh.tv_nsec) < 10000000ll)
		return NULL;
	s->last_refresh = now;
	syms_refresh(s);
	return dwfl_addrmodule(s->dwfl, addr);
}

bool syms_missed(const struct syms *s)
{
	return s->missed;
}

const char *syms_exe(const struct syms *s)
{
	return s->exe;
}

void syms_describe_module(Dwfl_Module *mod, uint64_t ip, struct strpool *p,
			  struct code_loc *out)
{
	const char *s, *file = NULL;
	char name[1024];
	GElf_Off off = 0;
	GElf_Addr bias = 0;
	GElf_Sym sym;
	Dwfl_Line *line;

	*out = (struct code_loc){ .ip = ip, .function = "", .file = "",
				  .module = "" };
	s = dwfl_module_addrinfo(mod, ip, &off, &sym, NULL, NULL, NULL);
	if (s) {
		demangle(s, name, sizeof(name));
		out->function = strpool_get(p, name);
		out->offset = off;
	}
	/* the file's path (the module's name is its base name) */
	s = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, &file, NULL);
	out->module = strpool_get(p, file ? file : s);
	if (dwfl_module_getelf(mod, &bias)) {
		out->module_base = bias;
		out->has_base = true;
	}
	line = dwfl_module_getsrc(mod, ip);
	if (line && (s = dwfl_lineinfo(line, NULL, &out->line, NULL, NULL,
				       NULL)))
		out->file = strpool_get(p, s);
}

void syms_describe(struct syms *s, uint64_t ip, struct code_loc *out)
{
	Dwfl_Module *mod = module_of(s, ip);

	if (mod) {
		syms_describe_module(mod, ip, s->strings, out);
		return;
	}
	*out = (struct code_loc){ .ip = ip, .function = "", .file = "",
				  .module = "" };
	if (s->nksyms)
		syms_describe_kernel(s, ip, out);
}

uint64_t syms_function_start(struct syms *s, uint64_t addr)
{
	Dwfl_Module *mod = module_of(s, addr);
	GElf_Off off = 0;
	GElf_Sym sym;

	if (!mod || !dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL,
					  NULL))
		return 0;
	return addr - off;
}

size_t syms_read_code(struct syms *s, uint64_t addr, void *buf, size_t len)
{
	Dwfl_Module *mod = module_of(s, addr);
	Elf_Scn *scn = NULL;
	GElf_Addr bias;
	Elf *elf;

	if (!mod || !(elf = dwfl_module_getelf(mod, &bias)))
		return 0;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		uint64_t rel = addr - bias, avail;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    rel < sh.sh_addr || rel >= sh.sh_addr + sh.sh_size ||
		    !(d = elf_getdata(scn, NULL)) || !d->d_buf)
			continue;
		avail = sh.sh_addr + d->d_size - rel;
		if (len > avail)
			len = avail;
		memcpy(buf, (const char *)d->d_buf + (rel - sh.sh_addr), len);
		return len;
	}
	return 0;
}

/* Is section shndx of elf writable data (.data, .bss, not code)? */
static bool writable_data(Elf *elf, GElf_Word shndx)
{
	Elf_Scn *scn = elf_getscn(elf, shndx);
	GElf_Shdr sh;

	return scn && gelf_getshdr(scn, &sh) && (sh.sh_flags & SHF_WRITE) &&
	       !(sh.sh_flags & SHF_EXECINSTR) && (sh.sh_flags & SHF_ALLOC);
}

int syms_data_objects(struct syms *s, data_object_fn fn, void *ctx)
{
	struct main_query q = { s->exe, NULL };
	int n = 0, count;

	if (!s->dwfl)
		return 0;
	dwfl_getmodules(s->dwfl, find_main, &q, 0);
	if (!q.mod || (count = dwfl_module_getsymtab(q.mod)) <= 0)
		return 0;
	for (int i = 1; i < count; i++) {
		GElf_Sym sym;
		GElf_Addr addr, bias;
		GElf_Word shndx;
		Elf *elf;
		const char *name = dwfl_module_getsym_info(q.mod, i, &sym, &addr,
							   &shndx, &elf, &bias);

		if (!name || !*name || GELF_ST_TYPE(sym.st_info) != STT_OBJECT ||
		    !sym.st_size || shndx == SHN_UNDEF || shndx >= SHN_LORESERVE ||
		    !writable_data(elf, shndx))
			continue;
		fn(name, addr, sym.st_size, ctx);
		n++;
	}
	return n;
}
