/* SPDX-License-Identifier: MIT */
/*
 * symbols.c - names to addresses and back, with elfutils: a LOCATION
 * (`name`, `lib.so:name`, `name+16`, `cfg.limit`, `table[3]`, `0xADDR`,
 * each with an optional `:LEN`) becomes an address, a length and a DWARF
 * type; a code address becomes `function+offset (file:line)`.  Kernel
 * symbols come from /proc/kallsyms.
 */
#include <ctype.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <gelf.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

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

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3 ||
		    !addr)
			continue;
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
	}
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
	free(s);
}

/* ---- parsing a LOCATION ---- */

struct spec {
	char module[256];
	char ident[256];
	char path[256]; /* ".member[3].x" after the identifier */
	uint64_t addr;  /* 0xADDR form */
	int64_t plus;   /* +OFFSET */
	uint32_t len;   /* :LEN, 0 if absent */
	bool is_addr;
};

static int fail(char *msg, size_t len, const char *fmt, const char *a,
		const char *b)
{
	snprintf(msg, len, fmt, a, b);
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

static int parse_spec(const char *text, struct spec *sp, char *msg, size_t ml)
{
	char buf[256], *colon, *rest, *end;

	memset(sp, 0, sizeof(*sp));
	if (snprintf(buf, sizeof(buf), "%s", text) >= (int)sizeof(buf))
		return fail(msg, ml, "location '%s' is too long%s", text, "");
	colon = strrchr(buf, ':');
	if (colon && all_digits(colon + 1)) {
		unsigned long len = strtoul(colon + 1, NULL, 10);

		if (!len || len > 4096)
			return fail(msg, ml, "'%s': :LEN must be 1..4096 "
				    "bytes%s", text, "");
		sp->len = (uint32_t)len;
		*colon = '\0';
	}
	rest = buf;
	colon = strchr(buf, ':');
	if (colon) {
		*colon = '\0';
		snprintf(sp->module, sizeof(sp->module), "%s", buf);
		rest = colon + 1;
	}
	if (!strncmp(rest, "0x", 2) || !strncmp(rest, "0X", 2)) {
		errno = 0;
		sp->addr = strtoull(rest, &end, 16);
		if (errno || *end || end == rest + 2)
			return fail(msg, ml, "'%s' is not an address (0x then "
				    "hex digits)%s", text, "");
		sp->is_addr = true;
		return 0;
	}
	if (!isalpha((unsigned char)*rest) && *rest != '_')
		return fail(msg, ml, "'%s': a location is a name, name.member, "
			    "name[index], name+offset or 0xADDR, with an "
			    "optional :LEN%s", text, "");
	end = rest;
	while (isalnum((unsigned char)*end) || *end == '_')
		end++;
	snprintf(sp->ident, sizeof(sp->ident), "%.*s", (int)(end - rest), rest);
	rest = end;
	end = strchr(rest, '+');
	if (end) {
		char *e2;

		errno = 0;
		sp->plus = strtoll(end + 1, &e2, 0);
		if (errno || *e2 || e2 == end + 1)
			return fail(msg, ml, "'%s': +OFFSET must be a number%s",
				    text, "");
		*end = '\0';
	}
	snprintf(sp->path, sizeof(sp->path), "%s", rest);
	return 0;
}

/* ---- symbols ---- */

struct sym_hit {
	Dwfl_Module *mod;
	uint64_t addr, size;
	int type;
	bool main;
};

struct sym_query {
	struct syms *s;
	const struct spec *sp;
	bool want_func;
	struct sym_hit best;
	int found;
	int modules; /* modules whose name matched */
};

static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

/* Does the user's `lib.so` name this module? (prefix of the file name) */
static bool module_matches(const char *want, const char *modname)
{
	const char *b = base_name(modname);

	return !*want || !strcmp(want, modname) ||
	       !strncmp(b, want, strlen(want));
}

static bool wanted_type(int type, bool want_func)
{
	if (want_func)
		return type == STT_FUNC || type == STT_GNU_IFUNC;
	return type == STT_OBJECT || type == STT_COMMON || type == STT_TLS;
}

static int find_in_module(Dwfl_Module *mod, void **ud, const char *modname,
			  Dwarf_Addr start, void *arg)
{
	struct sym_query *q = arg;
	int n;

	(void)ud, (void)start;
	if (!module_matches(q->sp->module, modname))
		return DWARF_CB_OK;
	q->modules++;
	n = dwfl_module_getsymtab(mod);
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		const char *name = dwfl_module_getsym_info(mod, i, &sym, &addr,
							   NULL, NULL, NULL);
		bool is_main;

		if (!name || strcmp(name, q->sp->ident) ||
		    !wanted_type(GELF_ST_TYPE(sym.st_info), q->want_func) ||
		    sym.st_shndx == SHN_UNDEF)
			continue;
		is_main = !strcmp(modname, q->s->exe);
		if (!q->found || (is_main && !q->best.main))
			q->best = (struct sym_hit){ mod, addr, sym.st_size,
						    GELF_ST_TYPE(sym.st_info),
						    is_main };
		q->found++;
	}
	return DWARF_CB_OK;
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

struct suggest {
	const char *want;
	bool want_func;
	char names[3][128];
	int dist[3];
};

static void consider(struct suggest *sg, const char *name)
{
	int d = distance(sg->want, name), worst = 0;

	for (int k = 0; k < 3; k++)
		if (!strcmp(sg->names[k], name))
			return;
	for (int k = 1; k < 3; k++)
		if (sg->dist[k] > sg->dist[worst])
			worst = k;
	if (d < sg->dist[worst]) {
		sg->dist[worst] = d;
		snprintf(sg->names[worst], sizeof(sg->names[worst]), "%s", name);
	}
}

static int collect_names(Dwfl_Module *mod, void **ud, const char *modname,
			 Dwarf_Addr start, void *arg)
{
	struct suggest *sg = arg;
	int n = dwfl_module_getsymtab(mod);

	(void)ud, (void)modname, (void)start;
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		const char *name = dwfl_module_getsym(mod, i, &sym, NULL);

		if (name && wanted_type(GELF_ST_TYPE(sym.st_info), sg->want_func)
		    && sym.st_shndx != SHN_UNDEF)
			consider(sg, name);
	}
	return DWARF_CB_OK;
}

static void suggestions(struct syms *s, const char *want, bool func, char *out,
			size_t len)
{
	struct suggest sg = { .want = want, .want_func = func,
			      .dist = { 99, 99, 99 } };
	int limit = (int)strlen(want) / 3 + 2;
	size_t used = 0;

	if (s->dwfl)
		dwfl_getmodules(s->dwfl, collect_names, &sg, 0);
	for (size_t i = 0; i < s->nksyms; i++)
		consider(&sg, s->ksyms[i].name);
	out[0] = '\0';
	for (int d = 0; d <= limit; d++)
		for (int k = 0; k < 3; k++)
			if (sg.dist[k] == d && used + 140 < len)
				used += (size_t)snprintf(out + used, len - used,
							 "%s%s", used ? ", " : "",
							 sg.names[k]);
}

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

/* ---- DWARF types ---- */

/* Skip typedef, const, volatile, restrict, atomic. */
static bool strip_type(Dwarf_Die *die)
{
	for (int depth = 0; depth < 32; depth++) {
		int tag = dwarf_tag(die);
		Dwarf_Attribute at;

		if (tag != DW_TAG_typedef && tag != DW_TAG_const_type &&
		    tag != DW_TAG_volatile_type && tag != DW_TAG_restrict_type &&
		    tag != DW_TAG_atomic_type)
			return true;
		if (!dwarf_attr_integrate(die, DW_AT_type, &at) ||
		    !dwarf_formref_die(&at, die))
			return false; /* const void */
	}
	return false;
}

static bool type_of(Dwarf_Die *die, Dwarf_Die *type)
{
	Dwarf_Attribute at;

	return dwarf_attr_integrate(die, DW_AT_type, &at) &&
	       dwarf_formref_die(&at, type);
}

static uint64_t type_size(Dwarf_Die *type)
{
	Dwarf_Die t = *type;
	Dwarf_Word size;

	if (!strip_type(&t))
		return 0;
	if (dwarf_tag(&t) == DW_TAG_pointer_type)
		return sizeof(void *);
	return dwarf_aggregate_size(&t, &size) == 0 ? size : 0;
}

static void describe_type(Dwarf_Die *type, struct vtype *vt)
{
	Dwarf_Die t = *type, child;
	Dwarf_Attribute at;
	Dwarf_Word enc = 0;
	const char *name = dwarf_diename(type);

	memset(vt, 0, sizeof(*vt));
	vt->size = (uint32_t)type_size(type);
	if (!strip_type(&t))
		return;
	if (!name)
		name = dwarf_diename(&t);
	snprintf(vt->name, sizeof(vt->name), "%s", name ? name : "");
	switch (dwarf_tag(&t)) {
	case DW_TAG_pointer_type:
		vt->kind = V_POINTER;
		if (!name)
			snprintf(vt->name, sizeof(vt->name), "pointer");
		return;
	case DW_TAG_enumeration_type:
		vt->kind = V_ENUM;
		if (dwarf_child(&t, &child) == 0)
			do {
				Dwarf_Sword v;

				if (dwarf_tag(&child) != DW_TAG_enumerator ||
				    !dwarf_attr(&child, DW_AT_const_value, &at) ||
				    dwarf_formsdata(&at, &v))
					continue;
				vt->enums = realloc(vt->enums, (vt->nenums + 1) *
							       sizeof(*vt->enums));
				vt->enums[vt->nenums].value = v;
				snprintf(vt->enums[vt->nenums].name,
					 sizeof(vt->enums[0].name), "%s",
					 dwarf_diename(&child));
				vt->nenums++;
			} while (dwarf_siblingof(&child, &child) == 0);
		return;
	case DW_TAG_base_type:
		if (dwarf_attr(&t, DW_AT_encoding, &at))
			dwarf_formudata(&at, &enc);
		vt->kind = enc == DW_ATE_signed ? V_SIGNED
			 : enc == DW_ATE_unsigned ? V_UNSIGNED
			 : enc == DW_ATE_boolean ? V_BOOL
			 : enc == DW_ATE_float ? V_FLOAT
			 : enc == DW_ATE_signed_char || enc == DW_ATE_unsigned_char
			   ? V_CHAR : V_HEX;
		return;
	}
}

/* One step of `.member` or `[index]` from (type, dim) to the next type. */
struct cursor {
	Dwarf_Die type;
	int dim;         /* subranges of an array already indexed */
	uint64_t offset; /* from the variable's start */
};

static int member_step(struct cursor *c, const char *name, char *msg, size_t ml)
{
	Dwarf_Die t = c->type, child;
	int tag;

	if (!strip_type(&t) || ((tag = dwarf_tag(&t)) != DW_TAG_structure_type
				&& tag != DW_TAG_union_type &&
				tag != DW_TAG_class_type))
		return fail(msg, ml, "'.%s': not a struct or union%s", name, "");
	if (dwarf_child(&t, &child) == 0)
		do {
			Dwarf_Attribute at;
			Dwarf_Word off = 0;
			const char *mn = dwarf_diename(&child);

			if (dwarf_tag(&child) != DW_TAG_member || !mn ||
			    strcmp(mn, name))
				continue;
			if (dwarf_hasattr(&child, DW_AT_bit_size))
				return fail(msg, ml, "'.%s' is a bit-field: "
					    "watch its word by address%s", name,
					    "");
			if (dwarf_attr(&child, DW_AT_data_member_location, &at))
				dwarf_formudata(&at, &off);
			c->offset += off;
			c->dim = 0;
			return type_of(&child, &c->type) ? 0
				: fail(msg, ml, "'.%s' has no type%s", name, "");
		} while (dwarf_siblingof(&child, &child) == 0);
	return fail(msg, ml, "no member '%s' in struct %s", name,
		    dwarf_diename(&t) ? dwarf_diename(&t) : "(anonymous)");
}

static int subrange_len(Dwarf_Die *sub, uint64_t *n)
{
	Dwarf_Attribute at;
	Dwarf_Word v;

	if (dwarf_attr(sub, DW_AT_count, &at) && !dwarf_formudata(&at, &v)) {
		*n = v;
		return 0;
	}
	if (dwarf_attr(sub, DW_AT_upper_bound, &at) && !dwarf_formudata(&at, &v)) {
		*n = v + 1;
		return 0;
	}
	return -1;
}

static int index_step(struct cursor *c, uint64_t idx, char *msg, size_t ml)
{
	Dwarf_Die t = c->type, sub, elem;
	uint64_t dims[8], stride;
	int nd = 0;
	char num[32];

	snprintf(num, sizeof(num), "%llu", (unsigned long long)idx);
	if (!strip_type(&t) || dwarf_tag(&t) != DW_TAG_array_type)
		return fail(msg, ml, "'[%s]': not an array%s", num, "");
	if (dwarf_child(&t, &sub) == 0)
		do {
			if (dwarf_tag(&sub) == DW_TAG_subrange_type && nd < 8 &&
			    subrange_len(&sub, &dims[nd]) == 0)
				nd++;
		} while (dwarf_siblingof(&sub, &sub) == 0);
	if (!type_of(&t, &elem) || c->dim >= nd)
		return fail(msg, ml, "'[%s]': array of unknown size%s", num, "");
	if (idx >= dims[c->dim]) {
		char bound[32];

		snprintf(bound, sizeof(bound), "%llu",
			 (unsigned long long)dims[c->dim]);
		return fail(msg, ml, "index %s is out of bounds (the array has "
			    "%s elements)", num, bound);
	}
	stride = type_size(&elem);
	for (int d = c->dim + 1; d < nd; d++)
		stride *= dims[d];
	c->offset += idx * stride;
	if (++c->dim == nd) {
		c->type = elem;
		c->dim = 0;
	}
	return 0;
}

static int walk_path(struct cursor *c, const char *path, char *msg, size_t ml)
{
	const char *p = path;

	while (*p) {
		char name[128];
		size_t n = 0;
		int err;

		if (*p == '.') {
			for (p++; isalnum((unsigned char)*p) || *p == '_'; p++)
				if (n < sizeof(name) - 1)
					name[n++] = *p;
			name[n] = '\0';
			err = member_step(c, name, msg, ml);
		} else if (*p == '[') {
			char *end;
			unsigned long long idx = strtoull(p + 1, &end, 0);

			if (*end != ']' || end == p + 1)
				return fail(msg, ml, "'%s': an index is [N]%s",
					    path, "");
			p = end + 1;
			err = index_step(c, idx, msg, ml);
		} else {
			return fail(msg, ml, "'%s': expected .member or [index]"
				    "%s", path, "");
		}
		if (err)
			return err;
	}
	return 0;
}

/* The DWARF variable at `addr` named `name` in module `mod`. */
static bool find_variable(Dwfl_Module *mod, const char *name, uint64_t addr,
			  Dwarf_Die *var)
{
	Dwarf_Die *cu = NULL;
	Dwarf_Addr bias;

	while ((cu = dwfl_module_nextcu(mod, cu, &bias))) {
		Dwarf_Die die;

		if (dwarf_child(cu, &die))
			continue;
		do {
			Dwarf_Attribute at;
			Dwarf_Op *ops;
			size_t nops;
			const char *dn;

			if (dwarf_tag(&die) != DW_TAG_variable ||
			    !(dn = dwarf_diename(&die)) || strcmp(dn, name) ||
			    !dwarf_attr(&die, DW_AT_location, &at) ||
			    dwarf_getlocation(&at, &ops, &nops) || nops != 1 ||
			    ops[0].atom != DW_OP_addr ||
			    ops[0].number + bias != addr)
				continue;
			*var = die;
			return true;
		} while (dwarf_siblingof(&die, &die) == 0);
	}
	return false;
}

/* Largest of 8/4/2/1 that fits `addr` alignment and `max`. */
static uint32_t natural_len(uint64_t addr, uint64_t max)
{
	for (uint32_t len = 8; len > 1; len /= 2)
		if (!(addr % len) && len <= max)
			return len;
	return 1;
}

static int resolve_kernel(struct syms *s, struct spec *sp, struct location *loc,
			  char *msg, size_t ml)
{
	for (size_t i = 0; i < s->nksyms; i++)
		if (!strcmp(s->ksyms[i].name, sp->ident)) {
			loc->addr = s->ksyms[i].addr + (uint64_t)sp->plus;
			snprintf(loc->module, sizeof(loc->module), "[kernel]");
			return 0;
		}
	size_t data = 0;

	for (size_t i = 0; i < s->nksyms; i++)
		data += s->ksyms[i].is_data;
	return fail(msg, ml, "no kernel symbol '%s' in /proc/kallsyms%s",
		    sp->ident, !s->nksyms ? " (unreadable: needs root or "
		    "kernel.kptr_restrict=0)"
		    : data < 1000 ? " (this kernel lists almost no data symbols: "
		    "CONFIG_KALLSYMS_ALL is off; give its address as 0x...)" : "");
}

static int resolve_symbol(struct syms *s, struct spec *sp, struct location *loc,
			  char *msg, size_t ml)
{
	struct sym_query q = { .s = s, .sp = sp,
			       .want_func = loc->access == HWBP_EXEC };
	Dwarf_Die var;
	struct cursor c = { .offset = 0 };
	const char *modname;
	char near[512];
	int err;

	if (s->dwfl)
		dwfl_getmodules(s->dwfl, find_in_module, &q, 0);
	if (!q.found && sp->module[0] && !q.modules && s->dwfl) {
		snprintf(msg, ml, "'%s' is not loaded (yet)", sp->module);
		return RESOLVE_PENDING;
	}
	if (!q.found && s->nksyms)
		return resolve_kernel(s, sp, loc, msg, ml);
	if (!q.found) {
		if (main_stripped(s))
			return fail(msg, ml, "%s is stripped (no symbol table, "
				    "no debug info): no symbol '%s'; give an "
				    "address (0x...)", s->exe, sp->ident);
		suggestions(s, sp->ident, q.want_func, near, sizeof(near));
		if (near[0])
			return fail(msg, ml, "unknown symbol '%s'; did you "
				    "mean: %s?", sp->ident, near);
		return fail(msg, ml, "unknown symbol '%s'%s", sp->ident, "");
	}
	if (q.best.type == STT_TLS)
		return fail(msg, ml, "'%s' is thread-local: each thread has "
			    "its own copy; watch one by address%s", sp->ident,
			    "");
	modname = dwfl_module_info(q.best.mod, NULL, NULL, NULL, NULL, NULL,
				   NULL, NULL);
	snprintf(loc->module, sizeof(loc->module), "%s", modname ? modname : "");
	loc->addr = q.best.addr;
	if (find_variable(q.best.mod, sp->ident, q.best.addr, &var) &&
	    type_of(&var, &c.type)) {
		err = walk_path(&c, sp->path, msg, ml);
		if (err)
			return err;
		loc->addr += c.offset;
		if (!sp->plus)
			describe_type(&c.type, &loc->type);
	} else if (sp->path[0]) {
		return fail(msg, ml, "no debug info for '%s' (build with -g) to "
			    "use '%s'", sp->ident, sp->path);
	} else {
		loc->type.size = (uint32_t)q.best.size;
	}
	loc->addr += (uint64_t)sp->plus;
	return 0;
}

int syms_resolve(struct syms *s, const char *text, enum hwbp_access access,
		 struct location *loc, char *msg, size_t ml)
{
	struct spec sp;
	int err = parse_spec(text, &sp, msg, ml);
	char *colon;

	if (err)
		return err;
	memset(loc, 0, sizeof(*loc));
	snprintf(loc->spec, sizeof(loc->spec), "%s", text);
	snprintf(loc->name, sizeof(loc->name), "%s", text);
	colon = strrchr(loc->name, ':');
	if (colon && all_digits(colon + 1))
		*colon = '\0';
	loc->access = access;
	if (sp.is_addr)
		loc->addr = sp.addr;
	else if ((err = resolve_symbol(s, &sp, loc, msg, ml)))
		return err;
	if (access == HWBP_EXEC)
		loc->len = 8;
	else if (sp.len)
		loc->len = sp.len;
	else if (loc->type.size && loc->type.size <= 8)
		loc->len = natural_len(loc->addr, loc->type.size);
	else if (loc->type.size > 8)
		return fail(msg, ml, "'%s' is larger than 8 bytes, the most one "
			    "debug register covers: name a member or element, "
			    "or give :LEN%s", text, "");
	else
		loc->len = natural_len(loc->addr, 8);
	if (loc->type.size != loc->len && loc->type.kind != V_HEX &&
	    (sp.len || sp.plus))
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

void syms_describe(struct syms *s, uint64_t ip, struct code_loc *out)
{
	Dwfl_Module *mod = module_of(s, ip);
	GElf_Off off = 0;
	GElf_Sym sym;
	Dwfl_Line *line;
	const char *name, *file;

	*out = (struct code_loc){ .ip = ip, .function = "", .file = "",
				  .module = "" };
	if (!mod) {
		if (s->nksyms)
			syms_describe_kernel(s, ip, out);
		return;
	}
	name = dwfl_module_addrinfo(mod, ip, &off, &sym, NULL, NULL, NULL);
	if (name) {
		out->function = strpool_get(s->strings, name);
		out->offset = off;
	}
	name = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
	out->module = strpool_get(s->strings, name);
	line = dwfl_module_getsrc(mod, ip);
	if (line && (file = dwfl_lineinfo(line, NULL, &out->line, NULL, NULL,
					  NULL)))
		out->file = strpool_get(s->strings, file);
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
