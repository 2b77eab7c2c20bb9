/* SPDX-License-Identifier: MIT */
/*
 * codemap.c - code addresses to names, per address space, from the files.
 *
 * Each watched process has an address space: the modules its records say
 * it mapped (HWBP_REC_MMAP, and /proc/PID/maps when watching starts), with
 * a libdwfl session over those files.  A fork shares its parent's layout
 * until one of them maps something new (copy on write); an exec starts an
 * empty one.  Nothing is read from the live process, so hits read after a
 * library was closed, or after the process exited, are still named, and
 * their code read from the ELF files (values.c decodes it).  Descriptions
 * are cached per layout and address: a hot store is looked up once.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

/* ---- layouts: the modules of one or more address spaces ---- */

struct module_map {
	uint64_t start, end;    /* an executable mapping */
	uint64_t bias;          /* load bias of the file */
	const char *path;       /* interned */
};

struct desc {                   /* a cached description */
	uint64_t ip;            /* key (0: empty) */
	struct code_loc loc;
	struct code_loc *chain; /* its inlined calls (codemap_frames) */
	int nchain;             /* -1: not looked up yet */
};

struct layout {
	int refs;
	uint64_t id;            /* changes with the module set */
	struct module_map *mods;
	int nmods;
	Dwfl *dwfl;             /* over mods, built when first needed */
	int reported;           /* mods[0..reported) are in dwfl */
	bool stale;             /* a module went: dwfl is built anew */
	struct desc *cache;     /* open addressing, power of 2 */
	size_t cache_cap, cache_n;
};

struct aspace {
	pid_t pid;
	struct layout *lay;
};

struct codemap {
	struct aspace *spaces;
	int n, cap, last;
	uint64_t next_id;
	struct strpool *strings;
	codemap_kernel_fn kernel;
	void *kernel_ctx;
};

static char *debuginfo_path;
static const Dwfl_Callbacks file_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
	.debuginfo_path = &debuginfo_path,
};

static struct layout *layout_new(struct codemap *m)
{
	struct layout *l = calloc(1, sizeof(*l));

	if (l) {
		l->refs = 1;
		l->id = ++m->next_id;
	}
	return l;
}

/* Descriptions go (a module came or went: addresses mean other code). */
static void cache_clear(struct layout *l)
{
	for (size_t i = 0; i < l->cache_cap; i++)
		free(l->cache[i].chain);
	if (l->cache)
		memset(l->cache, 0, l->cache_cap * sizeof(*l->cache));
	l->cache_n = 0;
}

static void layout_put(struct layout *l)
{
	if (!l || --l->refs > 0)
		return;
	if (l->dwfl)
		dwfl_end(l->dwfl);
	cache_clear(l);
	free(l->mods);
	free(l->cache);
	free(l);
}

/* A layout of its own for the address space (copy on write). */
static struct layout *own_layout(struct codemap *m, struct aspace *a)
{
	struct layout *l = a->lay, *c;

	if (l->refs == 1)
		return l;
	c = layout_new(m);
	if (!c)
		return l;
	c->mods = malloc((size_t)(l->nmods ? l->nmods : 1) * sizeof(*c->mods));
	if (!c->mods) {
		layout_put(c);
		return l;
	}
	memcpy(c->mods, l->mods, (size_t)l->nmods * sizeof(*c->mods));
	c->nmods = l->nmods;
	l->refs--;
	a->lay = c;
	return c;
}

/* The load bias of `path` mapped at start from file offset pgoff: the
 * PT_LOAD segment holding that offset says where the file's vaddrs go. */
static bool load_bias(const char *path, uint64_t start, uint64_t pgoff,
		      uint64_t *bias)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool found = false;
	size_t n = 0;
	Elf *elf;

	if (fd < 0)
		return false;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf && elf_getphdrnum(elf, &n) == 0)
		for (size_t i = 0; i < n && !found; i++) {
			GElf_Phdr ph;

			if (!gelf_getphdr(elf, (int)i, &ph) ||
			    ph.p_type != PT_LOAD ||
			    pgoff < (ph.p_offset & ~4095ull) ||
			    pgoff >= ph.p_offset + ph.p_filesz)
				continue;
			*bias = start - pgoff - ph.p_vaddr + ph.p_offset;
			found = true;
		}
	elf_end(elf);
	close(fd);
	return found;
}

static void add_module(struct codemap *m, struct aspace *a, uint64_t start,
		       uint64_t len, uint64_t pgoff, const char *path)
{
	struct layout *l;
	struct module_map *mods;
	uint64_t bias;

	if (path[0] != '/' || !load_bias(path, start, pgoff, &bias))
		return; /* [vdso], anonymous, deleted: no file to read */
	for (int i = 0; i < a->lay->nmods; i++) {
		struct module_map *mm = &a->lay->mods[i];

		if (!strcmp(mm->path, path) && mm->bias == bias &&
		    start >= mm->start && start + len <= mm->end)
			return; /* known */
	}
	l = own_layout(m, a);
	/* What it replaces (a new mapping over old code) goes. */
	for (int i = 0; i < l->nmods; i++)
		if (l->mods[i].start < start + len && start < l->mods[i].end) {
			l->mods[i] = l->mods[--l->nmods];
			l->stale = true;
			i--;
		}
	mods = realloc(l->mods, (size_t)(l->nmods + 1) * sizeof(*mods));
	if (!mods)
		return;
	l->mods = mods;
	l->mods[l->nmods++] = (struct module_map){
		start, start + len, bias, strpool_get(m->strings, path) };
	l->id = ++m->next_id;
	cache_clear(l);
}

/* Has mods[i]'s file been reported before it (several mappings of one
 * file are one module)? */
static bool reported_before(const struct layout *l, int i)
{
	for (int k = 0; k < i; k++)
		if (l->mods[k].path == l->mods[i].path &&
		    l->mods[k].bias == l->mods[i].bias)
			return true;
	return false;
}

/* The libdwfl session over the layout's files: modules mapped since are
 * added to it (a report that starts over would drop the known ones);
 * where one went, a session of its own is built anew. */
static Dwfl *layout_dwfl(struct layout *l)
{
	if (l->dwfl && l->stale) {
		dwfl_end(l->dwfl);
		l->dwfl = NULL;
	}
	if (!l->dwfl) {
		if (!(l->dwfl = dwfl_begin(&file_callbacks)))
			return NULL;
		l->reported = 0;
		l->stale = false;
	}
	if (l->reported == l->nmods)
		return l->dwfl;
	dwfl_report_begin_add(l->dwfl);
	for (int i = l->reported; i < l->nmods; i++) {
		const struct module_map *mm = &l->mods[i];
		if (!reported_before(l, i))
			dwfl_report_elf(l->dwfl, base_name(mm->path), mm->path,
					-1, mm->bias, false);
	}
	dwfl_report_end(l->dwfl, NULL, NULL);
	l->reported = l->nmods;
	return l->dwfl;
}

/* ---- address spaces ---- */

static struct aspace *find_space(struct codemap *m, pid_t pid)
{
	/* (a run of hits and frames is one process's: the last one first) */
	if (m->last < m->n && m->spaces[m->last].pid == pid)
		return &m->spaces[m->last];
	for (int i = 0; i < m->n; i++)
		if (m->spaces[i].pid == pid) {
			m->last = i;
			return &m->spaces[i];
		}
	return NULL;
}

static struct aspace *new_space(struct codemap *m, pid_t pid,
				struct layout *lay)
{
	struct aspace *a = find_space(m, pid);

	if (a) {
		layout_put(a->lay);
		a->lay = lay;
		return a;
	}
	if (m->n == m->cap) {
		int cap = m->cap ? 2 * m->cap : 16;
		struct aspace *s = realloc(m->spaces, (size_t)cap * sizeof(*s));

		if (!s)
			return NULL;
		m->spaces = s;
		m->cap = cap;
	}
	a = &m->spaces[m->n++];
	a->pid = pid;
	a->lay = lay;
	return a;
}

/* The code of /proc/PID/maps now (a process we start watching). */
static void report_proc(struct codemap *m, struct aspace *a)
{
	char path[64], line[PATH_MAX + 128], file[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)a->pid);
	if (!(f = fopen(path, "r")))
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long start, end, off;
		char perms[8];

		file[0] = '\0';
		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %4095[^\n]", &start,
			   &end, perms, &off, file) >= 4 && perms[2] == 'x' &&
		    file[0] == '/')
			add_module(m, a, start, end - start, off, file);
	}
	fclose(f);
}

struct codemap *codemap_new(codemap_kernel_fn kernel, void *kernel_ctx)
{
	struct codemap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	elf_version(EV_CURRENT); /* before any elf_begin (load_bias) */
	m->strings = strpool_new();
	if (!m->strings) {
		free(m);
		return NULL;
	}
	m->kernel = kernel;
	m->kernel_ctx = kernel_ctx;
	return m;
}

void codemap_free(struct codemap *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->n; i++)
		layout_put(m->spaces[i].lay);
	free(m->spaces);
	strpool_free(m->strings);
	free(m);
}

/* The address space of pid: known, or read from /proc if it still runs. */
static struct aspace *space_of(struct codemap *m, pid_t pid)
{
	struct aspace *a = find_space(m, pid);
	struct layout *l;

	if (a)
		return a;
	l = layout_new(m);
	if (!l || !(a = new_space(m, pid, l))) {
		layout_put(l);
		return NULL;
	}
	report_proc(m, a);
	return a;
}

void codemap_process(struct codemap *m, pid_t pid)
{
	struct aspace *a = find_space(m, pid);

	if (a)
		report_proc(m, a); /* (what it knows stays: add_module) */
	else
		(void)space_of(m, pid);
}

void codemap_fork(struct codemap *m, pid_t child, pid_t parent)
{
	struct aspace *p = space_of(m, parent);

	if (!p || find_space(m, child))
		return;
	p->lay->refs++;
	if (!new_space(m, child, p->lay))
		layout_put(p->lay);
}

void codemap_exec(struct codemap *m, pid_t pid)
{
	struct layout *l = layout_new(m);

	if (l && !new_space(m, pid, l))
		layout_put(l);
}

void codemap_mmap(struct codemap *m, pid_t pid, uint64_t start, uint64_t len,
		  uint64_t pgoff, const char *path)
{
	struct aspace *a = space_of(m, pid);

	if (a)
		add_module(m, a, start, len, pgoff, path);
}

/* ---- describing an address ---- */

static struct desc *cache_slot(struct layout *l, uint64_t ip)
{
	size_t k;

	if (2 * (l->cache_n + 1) > l->cache_cap) {
		size_t cap = l->cache_cap ? 2 * l->cache_cap : 4096;
		struct desc *c = calloc(cap, sizeof(*c));

		if (!c)
			return NULL;
		for (size_t i = 0; i < l->cache_cap; i++) {
			if (!l->cache[i].ip)
				continue;
			for (k = (l->cache[i].ip * 0x9e3779b97f4a7c15ull >> 20) &
				 (cap - 1); c[k].ip; k = (k + 1) & (cap - 1))
				;
			c[k] = l->cache[i];
		}
		free(l->cache);
		l->cache = c;
		l->cache_cap = cap;
	}
	for (k = (ip * 0x9e3779b97f4a7c15ull >> 20) & (l->cache_cap - 1);
	     l->cache[k].ip && l->cache[k].ip != ip;
	     k = (k + 1) & (l->cache_cap - 1))
		;
	return &l->cache[k];
}

static void describe_uncached(struct codemap *m, struct layout *l,
			      uint64_t ip, struct code_loc *out)
{
	Dwfl *dwfl = layout_dwfl(l);
	Dwfl_Module *mod = dwfl ? dwfl_addrmodule(dwfl, ip) : NULL;

	if (mod)
		syms_describe_module(mod, ip, m->strings, out);
	else
		*out = (struct code_loc){ .ip = ip, .function = "",
					  .file = "", .module = "" };
}

/* ip's cached description in pid's address space (described now if it
 * was not), or NULL. */
static struct desc *desc_of(struct codemap *m, pid_t pid, uint64_t ip,
			    struct layout **lay)
{
	struct aspace *a;
	struct desc *d;

	if (!ip || !(a = space_of(m, pid)) || !(d = cache_slot(a->lay, ip)))
		return NULL;
	if (d->ip != ip) {
		describe_uncached(m, a->lay, ip, &d->loc);
		d->ip = ip;
		d->nchain = -1;
		a->lay->cache_n++;
	}
	*lay = a->lay;
	return d;
}

const struct code_loc *codemap_describe(struct codemap *m, pid_t pid,
					uint64_t ip)
{
	static struct code_loc none;
	struct layout *lay;
	struct desc *d;

	if (ip < 0x0000800000000000ull && (d = desc_of(m, pid, ip, &lay)))
		return &d->loc;
	none = (struct code_loc){ .ip = ip, .function = "", .file = "",
				  .module = "" };
	if (ip >= 0x0000800000000000ull && m->kernel)
		m->kernel(m->kernel_ctx, ip, &none);
	return &none;
}

/* The chain of inlined calls at pc (the unwinder's, named and interned),
 * innermost first; the last is the out-of-line function. */
static int chain_uncached(struct codemap *m, struct layout *l,
			  struct unwinder *u, uint64_t pc, struct desc *d)
{
	const struct unwind_inline *f;
	Dwfl *dwfl = layout_dwfl(l);
	char name[1024];
	int n = dwfl ? unwind_inlines(u, dwfl, l->id, pc, &f) : 0;

	d->chain = n > 0 ? calloc((size_t)n, sizeof(*d->chain)) : NULL;
	if (!d->chain)
		return 0;
	for (int i = 0; i < n; i++) {
		struct code_loc *c = &d->chain[i];

		demangle(f[i].linkage ? f[i].linkage : f[i].function, name,
			 sizeof(name));
		*c = (struct code_loc){
			.ip = pc, .function = strpool_get(m->strings, name),
			.offset = i == n - 1 ? f[i].offset : 0,
			.file = strpool_get(m->strings, f[i].file),
			.line = f[i].line, .module = d->loc.module,
			.module_base = d->loc.module_base,
			.has_base = d->loc.has_base };
	}
	return n;
}

int codemap_frames(struct codemap *m, struct unwinder *u, pid_t pid,
		   uint64_t pc, const struct code_loc **frames)
{
	struct layout *lay;
	struct desc *d = pc < 0x0000800000000000ull ?
			 desc_of(m, pid, pc, &lay) : NULL;

	if (!d || !d->loc.function[0])
		return 0;
	if (d->nchain < 0)
		d->nchain = chain_uncached(m, lay, u, pc, d);
	*frames = d->chain;
	return d->nchain;
}

/* ---- code bytes, from the files ---- */

static Dwfl_Module *module_at(struct codemap *m, pid_t pid, uint64_t addr,
			      struct layout **lay)
{
	struct aspace *a = space_of(m, pid);
	Dwfl *dwfl;

	if (!a || !(dwfl = layout_dwfl(a->lay)))
		return NULL;
	if (lay)
		*lay = a->lay;
	return dwfl_addrmodule(dwfl, addr);
}

/* Bytes at addr from the ELF file of the module mapped there, if its
 * section has every flag of `need` and none of `refuse`. */
static size_t read_file(struct code_ctx *c, uint64_t addr, void *buf,
			size_t len, uint64_t need, uint64_t refuse)
{
	Dwfl_Module *mod = module_at(c->m, c->pid, addr, NULL);
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
		    (sh.sh_flags & need) != need || (sh.sh_flags & refuse) ||
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

static size_t read_code(void *ctx, uint64_t addr, void *buf, size_t len)
{
	return read_file(ctx, addr, buf, len, SHF_ALLOC, 0);
}

/* Read-only data: what a running program cannot have changed (a movs
 * from a constant is then exact). */
static size_t read_const(void *ctx, uint64_t addr, void *buf, size_t len)
{
	return read_file(ctx, addr, buf, len, SHF_ALLOC, SHF_WRITE);
}

static uint64_t function_start(void *ctx, uint64_t addr)
{
	struct code_ctx *c = ctx;
	Dwfl_Module *mod = module_at(c->m, c->pid, addr, NULL);
	GElf_Off off = 0;
	GElf_Sym sym;

	if (!mod || !dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL,
					  NULL))
		return 0;
	return addr - off;
}

void codemap_code(struct codemap *m, pid_t pid, struct code_source *cs,
		  struct code_ctx *c)
{
	struct aspace *a = space_of(m, pid);

	*c = (struct code_ctx){ m, pid };
	*cs = (struct code_source){ .read = read_code,
				    .function_start = function_start,
				    .read_const = read_const,
				    .ctx = c, .id = a ? a->lay->id : 0 };
}

Dwfl *codemap_dwfl(struct codemap *m, pid_t pid, uint64_t *layout_id)
{
	struct aspace *a = space_of(m, pid);

	if (!a)
		return NULL;
	*layout_id = a->lay->id;
	return layout_dwfl(a->lay);
}
