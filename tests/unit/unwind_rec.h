/* SPDX-License-Identifier: MIT */
/*
 * unwind_rec.h - recorded hits for the unwinder (tools/unwind.c): the file
 * that tests/unit/targets/unwind_target.c (and bench/unwind.c's recorder)
 * write, and its reader.  A file is a sequence of records, each a header,
 * the sampled registers (one per bit of regs_mask) and the stack bytes; the
 * last record, named "@maps", holds the process's /proc/PID/maps text, from
 * which unw_dwfl() reports the modules again (the process may be gone).
 */
#ifndef HWBP_UNWIND_REC_H
#define HWBP_UNWIND_REC_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct unw_hdr {
	char name[16];         /* the scenario; "@maps": the maps text */
	uint32_t tid, nregs;
	uint64_t ip, regs_mask;
	uint64_t stack_size;   /* bytes after the registers */
};

struct unw_sample {
	char name[16];
	uint32_t tid;
	int nregs;
	uint64_t ip, regs_mask;
	uint64_t regs[64];
	uint64_t stack_size;
	uint8_t *stack;
};

struct unw_file {
	struct unw_sample *s;
	int n;
	char *maps;            /* NUL-terminated */
};

static inline int unw_write(FILE *f, const char *name, uint32_t tid,
			    uint64_t ip, uint64_t regs_mask,
			    const uint64_t *regs, const void *stack,
			    uint64_t stack_size)
{
	struct unw_hdr h = { .tid = tid, .ip = ip, .regs_mask = regs_mask,
			     .stack_size = stack_size };

	snprintf(h.name, sizeof(h.name), "%s", name);
	h.nregs = (uint32_t)__builtin_popcountll(regs_mask);
	if (fwrite(&h, sizeof(h), 1, f) != 1 ||
	    (h.nregs && fwrite(regs, 8, h.nregs, f) != h.nregs) ||
	    (stack_size && fwrite(stack, 1, stack_size, f) != stack_size))
		return -EIO;
	return 0;
}

/* /proc/PID/maps (pid 0: self) in a malloc'd buffer; its length or -errno. */
static inline long unw_read_maps(int pid, char **out)
{
	char path[64], *buf = NULL;
	size_t cap = 0, len = 0, got;
	FILE *m;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/maps");
	m = fopen(path, "r");
	if (!m)
		return -errno;
	do {
		if (len + 4096 > cap) {
			char *p = realloc(buf, cap = cap * 2 + 8192);

			if (!p) {
				free(buf);
				fclose(m);
				return -ENOMEM;
			}
			buf = p;
		}
		got = fread(buf + len, 1, 4096, m);
		len += got;
	} while (got > 0);
	fclose(m);
	*out = buf;
	return (long)len;
}

/* Append the maps text as the "@maps" record. */
static inline int unw_write_maps_text(FILE *f, const char *maps, size_t len)
{
	return unw_write(f, "@maps", 0, 0, 0, (const uint64_t *)maps, maps,
			 len);
}

/* Append /proc/PID/maps (pid 0: self) as the "@maps" record. */
static inline int unw_write_maps(FILE *f, int pid)
{
	char *buf = NULL;
	long len = unw_read_maps(pid, &buf);
	int err;

	if (len < 0)
		return (int)len;
	err = unw_write_maps_text(f, buf, (size_t)len);
	free(buf);
	return err;
}

static inline void unw_free(struct unw_file *uf)
{
	for (int i = 0; i < uf->n; i++)
		free(uf->s[i].stack);
	free(uf->s);
	free(uf->maps);
	memset(uf, 0, sizeof(*uf));
}

static inline int unw_load(const char *path, struct unw_file *uf)
{
	FILE *f = fopen(path, "rb");
	struct unw_hdr h;
	int cap = 0;

	memset(uf, 0, sizeof(*uf));
	if (!f)
		return -errno;
	while (fread(&h, sizeof(h), 1, f) == 1) {
		struct unw_sample *s;
		uint8_t *data;

		if (h.nregs > 64 || h.stack_size > (1u << 26))
			break;
		data = malloc(h.stack_size + 1);
		if (!data)
			break;
		if (uf->n == cap) {
			void *p = realloc(uf->s, (cap = cap * 2 + 64) *
					  sizeof(*uf->s));

			if (!p) {
				free(data);
				break;
			}
			uf->s = p;
		}
		s = &uf->s[uf->n];
		memcpy(s->name, h.name, sizeof(s->name));
		s->name[sizeof(s->name) - 1] = '\0';
		if ((h.nregs && fread(s->regs, 8, h.nregs, f) != h.nregs) ||
		    fread(data, 1, h.stack_size, f) != h.stack_size) {
			free(data);
			break;
		}
		data[h.stack_size] = '\0';
		if (strcmp(s->name, "@maps") == 0) {
			free(uf->maps);
			uf->maps = (char *)data;
			continue;
		}
		s->tid = h.tid;
		s->nregs = (int)h.nregs;
		s->ip = h.ip;
		s->regs_mask = h.regs_mask;
		s->stack_size = h.stack_size;
		s->stack = data;
		uf->n++;
	}
	fclose(f);
	if (!uf->maps) {
		unw_free(uf);
		return -EINVAL;
	}
	return 0;
}

#ifdef _LIBDWFL_H
/* A Dwfl with the recorded process's modules (its maps text). */
static inline Dwfl *unw_dwfl(const char *maps)
{
	static char *debuginfo_path;
	static const Dwfl_Callbacks cb = {
		.find_elf = dwfl_linux_proc_find_elf,
		.find_debuginfo = dwfl_standard_find_debuginfo,
		.debuginfo_path = &debuginfo_path,
	};
	Dwfl *dwfl = dwfl_begin(&cb);
	FILE *m = fmemopen((void *)maps, strlen(maps), "r");
	int err;

	if (!dwfl || !m) {
		if (m)
			fclose(m);
		dwfl_end(dwfl);
		return NULL;
	}
	dwfl_report_begin(dwfl);
	err = dwfl_linux_proc_maps_report(dwfl, m);
	fclose(m);
	if (err != 0 || dwfl_report_end(dwfl, NULL, NULL) != 0) {
		dwfl_end(dwfl);
		return NULL;
	}
	return dwfl;
}

/*
 * The reference: libdwfl's own walker on the same sample, as perf's
 * unwind-libdw.c does it (dwfl_attach_state with callbacks that read the
 * stack copy, dwfl_getthread_frames).  A Dwfl takes one attach: keep one
 * unw_ref per Dwfl and point it at each sample.
 */
struct unw_ref {
	const struct unw_sample *s;
	uint64_t *pcs;
	int max, n, seen;
	bool attached;
};

/* DWARF x86-64 numbering of perf's PERF_REG_X86_* (-1: none; IP is 16). */
static const signed char unw_perf_to_dwarf[24] = {
	0, 3, 2, 1, 4, 5, 6, 7, 16, -1, -1, -1, -1, -1, -1, -1,
	8, 9, 10, 11, 12, 13, 14, 15,
};

static inline uint64_t unw_reg(const struct unw_sample *s, int perf_reg)
{
	int i = 0;

	for (int bit = 0; bit < perf_reg; bit++)
		i += (s->regs_mask >> bit) & 1;
	return (s->regs_mask >> perf_reg) & 1 ? s->regs[i] : 0;
}

static pid_t unw_ref_next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	if (*thread_argp)
		return 0;
	*thread_argp = arg;
	return dwfl_pid(dwfl);
}

static bool unw_ref_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *out,
			 void *arg)
{
	const struct unw_sample *s = ((struct unw_ref *)arg)->s;
	uint64_t sp = unw_reg(s, 7);

	(void)dwfl;
	if (addr < sp || addr - sp > s->stack_size ||
	    s->stack_size - (addr - sp) < 8)
		return false;
	memcpy(out, s->stack + (addr - sp), 8);
	return true;
}

static bool unw_ref_regs(Dwfl_Thread *thread, void *arg)
{
	const struct unw_sample *s = ((struct unw_ref *)arg)->s;
	Dwarf_Word r[17] = { 0 };

	for (int p = 0; p < 24; p++)
		if (unw_perf_to_dwarf[p] >= 0)
			r[unw_perf_to_dwarf[p]] = unw_reg(s, p);
	if (!dwfl_thread_state_registers(thread, 0, 17, r))
		return false;
	dwfl_thread_state_register_pc(thread, r[16]);
	return true;
}

static int unw_ref_frame(Dwfl_Frame *f, void *arg)
{
	struct unw_ref *ref = arg;
	Dwarf_Addr pc;

	if (!dwfl_frame_pc(f, &pc, NULL))
		return DWARF_CB_ABORT;
	if (ref->seen++ == 0)
		return DWARF_CB_OK; /* the hit's own frame */
	if (ref->n == ref->max)
		return DWARF_CB_ABORT;
	ref->pcs[ref->n++] = pc;
	return DWARF_CB_OK;
}

/* Return addresses as unwind_sample gives them; -1 if libdwfl failed to
 * attach. */
static inline int unw_ref_unwind(Dwfl *dwfl, struct unw_ref *ref,
				 const struct unw_sample *s, uint64_t *pcs,
				 int max)
{
	static const Dwfl_Thread_Callbacks cb = {
		.next_thread = unw_ref_next_thread,
		.memory_read = unw_ref_read,
		.set_initial_registers = unw_ref_regs,
	};

	ref->s = s;
	ref->pcs = pcs;
	ref->max = max;
	ref->n = 0;
	ref->seen = 0;
	if (!ref->attached) {
		if (!dwfl_attach_state(dwfl, NULL, 1, &cb, ref))
			return -1;
		ref->attached = true;
	}
	dwfl_getthread_frames(dwfl, 1, unw_ref_frame, ref);
	return ref->n;
}
#endif

#endif
