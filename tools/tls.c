/* SPDX-License-Identifier: MIT */
/*
 * tls.c - each thread's copy of a thread-local variable.  A thread's copy
 * is at its module's TLS block + the variable's offset; the block is in
 * the thread's DTV (dynamic thread vector) at the module's id, found from
 * the thread pointer (x86-64: fs_base, read with a brief ptrace stop).
 * glibc's own layout descriptors say where (the _thread_db_* symbols of
 * libc.so.6 that libthread_db reads): nothing about glibc's private
 * structures is guessed here.  x86-64 and glibc only.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#if defined(__x86_64__)
#include <asm/prctl.h>
#endif

#include "names.h"

#if defined(__x86_64__)

int thread_pointer(pid_t tid, uint64_t *tp)
{
	unsigned long fs = 0;
	int status, sig = 0, err;

	/* Already ours and stopped (a launched program at its exec). */
	if (ptrace(PTRACE_ARCH_PRCTL, tid, &fs, ARCH_GET_FS) == 0) {
		*tp = fs;
		return 0;
	}
	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL))
		return -errno;
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL)) {
		err = -errno;
		ptrace(PTRACE_DETACH, tid, NULL, NULL);
		return err;
	}
	if (waitpid(tid, &status, __WALL) != tid)
		return -errno;
	if (!WIFSTOPPED(status))
		return -ESRCH; /* it ended */
	/* A signal that stopped it first is passed on when we let go. */
	if (status >> 16 != PTRACE_EVENT_STOP)
		sig = WSTOPSIG(status);
	err = ptrace(PTRACE_ARCH_PRCTL, tid, &fs, ARCH_GET_FS) ? -errno : 0;
	ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)sig);
	if (!err)
		*tp = fs;
	return err;
}

/* glibc's description of one field: {size in bits, count, offset}. */
struct td_field {
	uint32_t bits, count, offset;
};

static bool td_field(struct syms *s, const char *name, struct td_field *f)
{
	uint64_t addr;

	return syms_find_data(s, "", name, &addr) &&
	       syms_read(s, addr, f, sizeof(*f)) && f->bits % 8 == 0;
}

/* The module's link_map in the dynamic linker's list (r_debug.r_map),
 * the one whose l_ld is the module's dynamic section. */
static bool link_map_of(struct syms *s, mem_read_fn read, void *ctx,
			uint64_t dynamic, uint64_t *map)
{
	uint64_t r_debug, lm, ld;

	if (!syms_find_data(s, "", "_r_debug", &r_debug) ||
	    !read(r_debug + 8, &lm, sizeof(lm), ctx))
		return false;
	for (int n = 0; lm && n < 4096; n++) {
		if (!read(lm + 16, &ld, sizeof(ld), ctx))
			return false;
		if (ld == dynamic) {
			*map = lm;
			return true;
		}
		if (!read(lm + 24, &lm, sizeof(lm), ctx))
			return false;
	}
	return false;
}

static int tls_fail(char *msg, size_t ml, int err, const char *why,
		    const char *name)
{
	snprintf(msg, ml, "%s: %s", name, why);
	return err;
}

int syms_tls_address(struct syms *s, const struct location *loc,
		     mem_read_fn read, void *ctx, uint64_t tp, uint64_t *addr,
		     char *msg, size_t ml)
{
	struct td_field modid_f, dtvp_f, val_f, dtv_f;
	uint64_t dynamic, map, modid = 0, dtv, len, block;
	const char *modname;

	if (!loc->tls)
		return tls_fail(msg, ml, -EINVAL, "not a thread-local", loc->name);
	if (!syms_module_dynamic(s, loc->tls_mod, &dynamic, &modname))
		return tls_fail(msg, ml, -ENOENT, "its module is gone",
				loc->name);
	if (!td_field(s, "_thread_db_link_map_l_tls_modid", &modid_f) ||
	    !td_field(s, "_thread_db_pthread_dtvp", &dtvp_f) ||
	    !td_field(s, "_thread_db_dtv_t_pointer_val", &val_f) ||
	    !td_field(s, "_thread_db_dtv_dtv", &dtv_f) || !dtv_f.bits)
		return tls_fail(msg, ml, -EOPNOTSUPP, "the program's C library "
				"does not describe its threads (no glibc "
				"_thread_db_* symbols: static or not glibc)",
				loc->name);
	if (!link_map_of(s, read, ctx, dynamic, &map) ||
	    !read(map + modid_f.offset, &modid, modid_f.bits / 8, ctx) ||
	    !modid)
		return tls_fail(msg, ml, -EIO, "cannot find its module's TLS id "
				"in the dynamic linker's list", loc->name);
	/* dtv[-1].counter: the entries this thread's DTV has room for. */
	if (!read(tp + dtvp_f.offset, &dtv, sizeof(dtv), ctx) ||
	    !read(dtv - dtv_f.bits / 8, &len, sizeof(len), ctx))
		return tls_fail(msg, ml, -EIO, "cannot read the thread's DTV",
				loc->name);
	if (modid > len ||
	    !read(dtv + modid * (dtv_f.bits / 8) + val_f.offset, &block,
		  sizeof(block), ctx))
		block = 0;
	/* 0 or TLS_DTV_UNALLOCATED (-1): allocated on its first use. */
	if (!block || block == UINT64_MAX)
		return tls_fail(msg, ml, -ENOENT, "this thread has no copy yet "
				"(a dlopen'd module's thread-locals are made on "
				"a thread's first use of them)", loc->name);
	*addr = block + loc->tls_offset;
	return 0;
}

#else

int thread_pointer(pid_t tid, uint64_t *tp)
{
	(void)tid, (void)tp;
	return -EOPNOTSUPP;
}

int syms_tls_address(struct syms *s, const struct location *loc,
		     mem_read_fn read, void *ctx, uint64_t tp, uint64_t *addr,
		     char *msg, size_t ml)
{
	(void)s, (void)read, (void)ctx, (void)tp, (void)addr;
	snprintf(msg, ml, "%s: thread-locals are found on x86-64 only",
		 loc->name);
	return -EOPNOTSUPP;
}

#endif
