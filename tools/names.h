/* SPDX-License-Identifier: MIT */
/*
 * names.h - what the LOCATION resolver's files share (symbols.c, dwtype.c,
 * tls.c): DWARF types, the symbol index.  Private to the command.
 */
#ifndef HWBP_NAMES_H
#define HWBP_NAMES_H

#include <elfutils/libdw.h>

#include "tool.h"

/* Skip typedef, const, volatile, restrict, _Atomic; false: no type (void). */
bool dwt_strip(Dwarf_Die *die);
bool dwt_type_of(Dwarf_Die *die, Dwarf_Die *type);
uint64_t dwt_size(Dwarf_Die *type);
/* How values of `type` print; vt->enums is malloc'd (free it). */
void dwt_describe(Dwarf_Die *type, struct vtype *vt);
/* std::atomic<T> (any wrapper whose first member, or base, fills it
 * whole): its value's type T.  False if `type` is no std::atomic. */
bool dwt_atomic_value(Dwarf_Die *type);
/* `type` is a class, struct, union or array (a whole object). */
bool dwt_is_aggregate(Dwarf_Die *type);

/* Where a path has got to: the object at addr, of type. */
struct dwt_cursor {
	Dwarf_Die type;
	bool has_type;
	int dim;              /* subranges of an array already indexed */
	uint64_t addr;
	mem_read_fn read;     /* NULL: pointers cannot be followed */
	void *ctx;
	struct location *loc; /* each pointer followed goes to its derefs */
	char expr[256];       /* the path so far, as typed ("head->next") */
};

/* Walk `.member`, `->member` and `[index]` steps from c; 0, EXIT_USAGE or
 * RESOLVE_PENDING (a pointer that points nowhere yet) with msg set.
 * `path` starts at the first step. */
int dwt_walk(struct dwt_cursor *c, const char *path, char *msg, size_t ml);
/* `*x` on the object: a pointer's target, an array's first element. */
int dwt_deref(struct dwt_cursor *c, char *msg, size_t ml);
/* A reference is its referent: follow it (no-op for other types). */
int dwt_follow_reference(struct dwt_cursor *c, char *msg, size_t ml);
/* Name the member or element of `type` that holds [off, off+len), as a
 * suffix (".limit", "[3].x", "+4"), its type in *leaf (may be NULL). */
void dwt_name_at(Dwarf_Die *type, uint64_t off, uint32_t len, char *suffix,
		 size_t slen, Dwarf_Die *leaf, bool *has_leaf);


/* ---- symbols.c, for tls.c ---- */

/* The run-time address of data symbol `name` in the first module whose
 * file name starts with `module` (any module if ""): true if found. */
bool syms_find_data(struct syms *s, const char *module, const char *name,
		    uint64_t *addr);
/* Read the target's memory (the reader syms_resolve_mem was given, else
 * process_vm_readv of the pid). */
bool syms_read(struct syms *s, uint64_t addr, void *buf, size_t len);
/* The address of the dynamic section (PT_DYNAMIC) of the module that
 * starts at `start`, and that module's file name; false if unknown. */
bool syms_module_dynamic(struct syms *s, uint64_t start, uint64_t *dynamic,
			 const char **name);

#endif
