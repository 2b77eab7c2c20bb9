/* SPDX-License-Identifier: MIT */
/*
 * dwtype.c - what a variable's DWARF type says: its size and how its
 * values print, its members (base classes' too) and elements, a path of
 * `.member`, `->member`, `[index]` and `*` through them (pointers and
 * references followed through the target's memory, each one recorded),
 * std::atomic<T> seen as its T, and which member or element a byte offset
 * falls in (to name a hit inside a whole object).
 */
#include <ctype.h>
#include <dwarf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

static int fail(char *msg, size_t ml, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *msg, size_t ml, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, ml, fmt, ap);
	va_end(ap);
	return code;
}

bool dwt_strip(Dwarf_Die *die)
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

bool dwt_type_of(Dwarf_Die *die, Dwarf_Die *type)
{
	Dwarf_Attribute at;

	return dwarf_attr_integrate(die, DW_AT_type, &at) &&
	       dwarf_formref_die(&at, type);
}

static bool is_pointer_tag(int tag)
{
	return tag == DW_TAG_pointer_type || tag == DW_TAG_reference_type ||
	       tag == DW_TAG_rvalue_reference_type ||
	       tag == DW_TAG_ptr_to_member_type;
}

static bool is_reference_tag(int tag)
{
	return tag == DW_TAG_reference_type ||
	       tag == DW_TAG_rvalue_reference_type;
}

static bool is_struct_tag(int tag)
{
	return tag == DW_TAG_structure_type || tag == DW_TAG_class_type ||
	       tag == DW_TAG_union_type;
}

uint64_t dwt_size(Dwarf_Die *type)
{
	Dwarf_Die t = *type;
	Dwarf_Word size;

	if (!dwt_strip(&t))
		return 0;
	if (is_pointer_tag(dwarf_tag(&t)) &&
	    dwarf_aggregate_size(&t, &size) != 0)
		return sizeof(void *);
	return dwarf_aggregate_size(&t, &size) == 0 ? size : 0;
}

bool dwt_is_aggregate(Dwarf_Die *type)
{
	Dwarf_Die t = *type;

	return dwt_strip(&t) && (is_struct_tag(dwarf_tag(&t)) ||
				 dwarf_tag(&t) == DW_TAG_array_type);
}

static void describe_enum(Dwarf_Die *t, struct vtype *vt)
{
	Dwarf_Die child;

	vt->kind = V_ENUM;
	if (dwarf_child(t, &child) != 0)
		return;
	do {
		Dwarf_Attribute at;
		Dwarf_Sword v;
		void *more;

		if (dwarf_tag(&child) != DW_TAG_enumerator ||
		    !dwarf_attr(&child, DW_AT_const_value, &at) ||
		    dwarf_formsdata(&at, &v))
			continue;
		more = realloc(vt->enums, (vt->nenums + 1) * sizeof(*vt->enums));
		if (!more)
			return;
		vt->enums = more;
		vt->enums[vt->nenums].value = v;
		snprintf(vt->enums[vt->nenums].name, sizeof(vt->enums[0].name),
			 "%s", dwarf_diename(&child) ? dwarf_diename(&child) : "");
		vt->nenums++;
	} while (dwarf_siblingof(&child, &child) == 0);
}

void dwt_describe(Dwarf_Die *type, struct vtype *vt)
{
	Dwarf_Die t = *type;
	Dwarf_Attribute at;
	Dwarf_Word enc = 0;
	const char *name = dwarf_diename(type);

	memset(vt, 0, sizeof(*vt));
	vt->size = (uint32_t)dwt_size(type);
	if (!dwt_strip(&t))
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
		describe_enum(&t, vt);
		return;
	case DW_TAG_base_type:
		if (dwarf_attr(&t, DW_AT_encoding, &at))
			dwarf_formudata(&at, &enc);
		vt->kind = enc == DW_ATE_signed ? V_SIGNED
			 : enc == DW_ATE_unsigned ? V_UNSIGNED
			 : enc == DW_ATE_boolean ? V_BOOL
			 : enc == DW_ATE_float ? V_FLOAT
			 : enc == DW_ATE_signed_char || enc == DW_ATE_unsigned_char
			   || enc == DW_ATE_UTF ? V_CHAR : V_HEX;
		return;
	}
}

/* ---- members ---- */

/* A member's offset in its struct: a constant, or DW_OP_plus_uconst (old
 * producers).  False for a virtual base (an expression on the object). */
static bool member_offset(Dwarf_Die *m, uint64_t *off)
{
	Dwarf_Attribute at;
	Dwarf_Word v;
	Dwarf_Op *ops;
	size_t nops;

	*off = 0;
	if (!dwarf_attr(m, DW_AT_data_member_location, &at))
		return true; /* union members, the first member */
	if (dwarf_formudata(&at, &v) == 0) {
		*off = v;
		return true;
	}
	if (dwarf_getlocation(&at, &ops, &nops) == 0 && nops == 1 &&
	    ops[0].atom == DW_OP_plus_uconst) {
		*off = ops[0].number;
		return true;
	}
	return false;
}

/* A member stored in the object (not a static member's declaration). */
static bool is_data_member(Dwarf_Die *child)
{
	return dwarf_tag(child) == DW_TAG_member &&
	       !dwarf_hasattr(child, DW_AT_declaration) &&
	       !dwarf_hasattr(child, DW_AT_external);
}

static const char *kind_name(int tag)
{
	return tag == DW_TAG_class_type ? "class"
	     : tag == DW_TAG_union_type ? "union" : "struct";
}

enum found { F_NONE, F_MEMBER, F_STATIC, F_FUNCTION, F_BITFIELD, F_VIRTUAL };

/* Member `name` of struct t, in it or (depth first) in its base classes:
 * its offset from t's start and its DIE. */
static enum found find_member(Dwarf_Die *t, const char *name, uint64_t *off,
			      Dwarf_Die *member, int depth)
{
	Dwarf_Die child;
	enum found other = F_NONE;

	if (depth > 16 || dwarf_child(t, &child) != 0)
		return F_NONE;
	do {
		const char *mn = dwarf_diename(&child);
		int tag = dwarf_tag(&child);

		if (!mn || strcmp(mn, name))
			continue;
		if (tag == DW_TAG_subprogram)
			other = F_FUNCTION;
		else if ((tag == DW_TAG_member || tag == DW_TAG_variable) &&
			 !is_data_member(&child))
			other = F_STATIC;
		else if (tag == DW_TAG_member) {
			*member = child;
			if (dwarf_hasattr(&child, DW_AT_bit_size) ||
			    dwarf_hasattr(&child, DW_AT_data_bit_offset))
				return F_BITFIELD;
			return member_offset(&child, off) ? F_MEMBER
							  : F_VIRTUAL;
		}
	} while (dwarf_siblingof(&child, &child) == 0);
	if (other != F_NONE)
		return other;
	/* Base classes: their members are the object's (obj.x for Base::x). */
	if (dwarf_child(t, &child) != 0)
		return F_NONE;
	do {
		Dwarf_Die base;
		uint64_t boff, moff;
		enum found f;

		if (dwarf_tag(&child) != DW_TAG_inheritance ||
		    !dwt_type_of(&child, &base) || !dwt_strip(&base))
			continue;
		f = find_member(&base, name, &moff, member, depth + 1);
		if (f == F_NONE)
			continue;
		if (f == F_MEMBER && !member_offset(&child, &boff))
			return F_VIRTUAL;
		if (f == F_MEMBER)
			*off = boff + moff;
		return f;
	} while (dwarf_siblingof(&child, &child) == 0);
	return F_NONE;
}

static int append_expr(struct dwt_cursor *c, const char *fmt, const char *a)
{
	size_t n = strlen(c->expr);

	snprintf(c->expr + n, sizeof(c->expr) - n, fmt, a);
	return 0;
}

/* The pointer at c->addr, read: c moves to its target. */
static int follow(struct dwt_cursor *c, Dwarf_Die *ptr, char *msg, size_t ml)
{
	struct location *loc = c->loc;
	uint64_t value = 0, size = dwt_size(ptr);
	uint8_t probe;
	struct loc_deref *d;
	Dwarf_Die target;

	if (!c->read)
		return fail(msg, ml, EXIT_USAGE, "'%s' is a pointer: following "
			    "it needs the running program's memory", c->expr);
	if (size == 0 || size > sizeof(value))
		size = sizeof(void *);
	if (loc->nderefs == LOC_MAX_DEREFS)
		return fail(msg, ml, EXIT_USAGE, "'%s': more than %d pointers "
			    "on one path", c->expr, LOC_MAX_DEREFS);
	if (!c->read(c->addr, &value, size, c->ctx))
		return fail(msg, ml, RESOLVE_PENDING, "cannot read '%s' at "
			    "0x%" PRIx64, c->expr, c->addr);
	d = &loc->derefs[loc->nderefs++];
	d->slot = c->addr;
	d->value = value;
	snprintf(d->expr, sizeof(d->expr), "%.*s", (int)sizeof(d->expr) - 1,
		 c->expr);
	if (!value)
		return fail(msg, ml, RESOLVE_PENDING, "'%s' is NULL: it "
			    "points to nothing (yet)", c->expr);
	/* Not mapped: not relocated yet (a PIE's pointers hold link-time
	 * addresses until the dynamic linker has run), or dangling. */
	if (!c->read(value, &probe, 1, c->ctx))
		return fail(msg, ml, RESOLVE_PENDING, "'%s' holds 0x%" PRIx64
			    ", where nothing is mapped (not relocated yet, or "
			    "dangling)", c->expr, value);
	if (!dwt_type_of(ptr, &target))
		return fail(msg, ml, EXIT_USAGE, "'%s' is a void pointer: no "
			    "type to follow (give 0x%" PRIx64 ":LEN)", c->expr,
			    value);
	c->addr = value;
	c->type = target;
	c->dim = 0;
	return 0;
}

int dwt_follow_reference(struct dwt_cursor *c, char *msg, size_t ml)
{
	Dwarf_Die t = c->type;

	if (!c->has_type || !dwt_strip(&t) || !is_reference_tag(dwarf_tag(&t)))
		return 0;
	return follow(c, &t, msg, ml);
}

static int member_step(struct dwt_cursor *c, const char *name, bool arrow,
		       char *msg, size_t ml)
{
	Dwarf_Die t = c->type, member;
	uint64_t off = 0;
	int tag, err;

	if ((err = dwt_follow_reference(c, msg, ml)))
		return err;
	t = c->type;
	if (!dwt_strip(&t))
		return fail(msg, ml, EXIT_USAGE, "'%s' has no type", c->expr);
	tag = dwarf_tag(&t);
	if (arrow && tag != DW_TAG_pointer_type)
		return fail(msg, ml, EXIT_USAGE, "'%s' is not a pointer: write "
			    "%s.%s", c->expr, c->expr, name);
	if (!arrow && tag == DW_TAG_pointer_type)
		return fail(msg, ml, EXIT_USAGE, "'%s' is a pointer: write "
			    "%s->%s", c->expr, c->expr, name);
	if (arrow) {
		if ((err = follow(c, &t, msg, ml)))
			return err;
		t = c->type;
		if (!dwt_strip(&t))
			return fail(msg, ml, EXIT_USAGE, "'%s' points to no "
				    "type", c->expr);
		tag = dwarf_tag(&t);
	}
	if (!is_struct_tag(tag) || c->dim)
		return fail(msg, ml, EXIT_USAGE, "'.%s': not a struct or union",
			    name);
	switch (find_member(&t, name, &off, &member, 0)) {
	case F_MEMBER:
		break;
	case F_STATIC:
		return fail(msg, ml, EXIT_USAGE, "'%s' is a static member of "
			    "%s: name it as %s::%s", name, dwarf_diename(&t) ?
			    dwarf_diename(&t) : "its class", dwarf_diename(&t)
			    ? dwarf_diename(&t) : "Class", name);
	case F_FUNCTION:
		return fail(msg, ml, EXIT_USAGE, "'%s' is a member function, "
			    "not data (watch its calls with --exec)", name);
	case F_BITFIELD:
		return fail(msg, ml, EXIT_USAGE, "'.%s' is a bit-field: watch "
			    "its word by address", name);
	case F_VIRTUAL:
		return fail(msg, ml, EXIT_USAGE, "'.%s' is in a virtual base "
			    "class: give its address", name);
	default:
		return fail(msg, ml, EXIT_USAGE, "no member '%s' in %s %s", name,
			    kind_name(tag), dwarf_diename(&t) ?
			    dwarf_diename(&t) : "(anonymous)");
	}
	c->addr += off;
	c->dim = 0;
	append_expr(c, arrow ? "->%s" : ".%s", name);
	if (!dwt_type_of(&member, &c->type))
		return fail(msg, ml, EXIT_USAGE, "'.%s' has no type", name);
	return 0;
}

/* ---- arrays ---- */

static int subrange_len(Dwarf_Die *sub, uint64_t *n)
{
	Dwarf_Attribute at;
	Dwarf_Word v;

	if (dwarf_attr(sub, DW_AT_count, &at) && !dwarf_formudata(&at, &v)) {
		*n = v;
		return 0;
	}
	if (dwarf_attr(sub, DW_AT_upper_bound, &at) &&
	    !dwarf_formudata(&at, &v)) {
		*n = v + 1;
		return 0;
	}
	return -1;
}

/* An array's dimensions (up to 8) and element type; how many, or -1. */
static int array_dims(Dwarf_Die *t, uint64_t dims[8], Dwarf_Die *elem)
{
	Dwarf_Die sub;
	int nd = 0;

	if (dwarf_child(t, &sub) == 0)
		do {
			if (dwarf_tag(&sub) != DW_TAG_subrange_type)
				continue;
			if (nd == 8 || subrange_len(&sub, &dims[nd]))
				return -1;
			nd++;
		} while (dwarf_siblingof(&sub, &sub) == 0);
	return dwt_type_of(t, elem) ? nd : -1;
}

static int index_step(struct dwt_cursor *c, uint64_t idx, char *msg,
		      size_t ml)
{
	Dwarf_Die t, elem;
	uint64_t dims[8], stride;
	char num[32];
	int nd, err;

	if ((err = dwt_follow_reference(c, msg, ml)))
		return err;
	t = c->type;
	snprintf(num, sizeof(num), "[%" PRIu64 "]", idx);
	if (!dwt_strip(&t))
		return fail(msg, ml, EXIT_USAGE, "'%s': not an array", num);
	if (dwarf_tag(&t) == DW_TAG_pointer_type && !c->dim) {
		/* p[i]: the i-th object from where p points. */
		if ((err = follow(c, &t, msg, ml)))
			return err;
		stride = dwt_size(&c->type);
		if (!stride)
			return fail(msg, ml, EXIT_USAGE, "'%s%s': the pointed-to "
				    "type has no size", c->expr, num);
		c->addr += idx * stride;
		append_expr(c, "%s", num);
		return 0;
	}
	if (dwarf_tag(&t) != DW_TAG_array_type)
		return fail(msg, ml, EXIT_USAGE, "'%s': not an array", num);
	nd = array_dims(&t, dims, &elem);
	if (nd <= c->dim)
		return fail(msg, ml, EXIT_USAGE, "'%s': array of unknown size",
			    num);
	if (idx >= dims[c->dim])
		return fail(msg, ml, EXIT_USAGE, "index %" PRIu64 " is out of "
			    "bounds (the array has %" PRIu64 " elements)", idx,
			    dims[c->dim]);
	stride = dwt_size(&elem);
	for (int d = c->dim + 1; d < nd; d++)
		stride *= dims[d];
	c->addr += idx * stride;
	append_expr(c, "%s", num);
	if (++c->dim == nd) {
		c->type = elem;
		c->dim = 0;
	}
	return 0;
}

int dwt_deref(struct dwt_cursor *c, char *msg, size_t ml)
{
	Dwarf_Die t;
	int err;

	if ((err = dwt_follow_reference(c, msg, ml)))
		return err;
	t = c->type;
	if (c->has_type && dwt_strip(&t) && dwarf_tag(&t) == DW_TAG_array_type)
		return index_step(c, 0, msg, ml);
	if (!c->has_type || !dwt_strip(&t) ||
	    dwarf_tag(&t) != DW_TAG_pointer_type)
		return fail(msg, ml, EXIT_USAGE, "'*%s': '%s' is not a pointer",
			    c->expr, c->expr);
	return follow(c, &t, msg, ml);
}

/* ---- a path ---- */

static size_t ident_len(const char *p)
{
	size_t n = 0;

	if (!isalpha((unsigned char)*p) && *p != '_')
		return 0;
	while (isalnum((unsigned char)p[n]) || p[n] == '_')
		n++;
	return n;
}

static int parse_index(const char *p, uint64_t *idx, const char **end,
		       char *msg, size_t ml)
{
	char *e;

	if (p[1] == '-' || p[1] == '+')
		return fail(msg, ml, EXIT_USAGE, "'%.*s': an index is 0 or "
			    "more", (int)strcspn(p, "]") + 1, p);
	errno = 0;
	*idx = strtoull(p + 1, &e, 0);
	if (errno || e == p + 1 || *e != ']')
		return fail(msg, ml, EXIT_USAGE, "'%.*s': an index is [N] (a "
			    "number of 0 or more)", (int)strcspn(p, "]") + 1,
			    p);
	*end = e + 1;
	return 0;
}

int dwt_walk(struct dwt_cursor *c, const char *path, char *msg, size_t ml)
{
	const char *p = path;

	while (*p) {
		char name[128];
		bool arrow = p[0] == '-' && p[1] == '>';
		size_t n;
		int err;

		if (!c->has_type)
			return fail(msg, ml, EXIT_USAGE, "no debug info for '%s' "
				    "(build with -g) to use '%s'", c->expr, p);
		if (*p == '.' || arrow) {
			p += arrow ? 2 : 1;
			n = ident_len(p);
			if (!n || n >= sizeof(name))
				return fail(msg, ml, EXIT_USAGE, "'%s': a member "
					    "name follows '%s'", path,
					    arrow ? "->" : ".");
			snprintf(name, sizeof(name), "%.*s", (int)n, p);
			p += n;
			err = member_step(c, name, arrow, msg, ml);
		} else if (*p == '[') {
			uint64_t idx = 0;

			if ((err = parse_index(p, &idx, &p, msg, ml)))
				return err;
			err = index_step(c, idx, msg, ml);
		} else {
			return fail(msg, ml, EXIT_USAGE, "'%s': expected .member, "
				    "->member or [index]", p);
		}
		if (err)
			return err;
	}
	return 0;
}

/* ---- std::atomic<T> ---- */

/* The data member or base at offset 0 of struct t that fills it whole. */
static bool filling_member(Dwarf_Die *t, uint64_t size, Dwarf_Die *inner)
{
	Dwarf_Die child;

	if (dwarf_child(t, &child) != 0)
		return false;
	do {
		uint64_t off;

		if ((!is_data_member(&child) &&
		     dwarf_tag(&child) != DW_TAG_inheritance) ||
		    !member_offset(&child, &off) || off ||
		    !dwt_type_of(&child, inner) || dwt_size(inner) != size)
			continue;
		return true;
	} while (dwarf_siblingof(&child, &child) == 0);
	return false;
}

bool dwt_atomic_value(Dwarf_Die *type)
{
	Dwarf_Die t = *type, inner;
	const char *name;
	uint64_t size = dwt_size(type);

	if (!dwt_strip(&t) || !is_struct_tag(dwarf_tag(&t)) ||
	    !(name = dwarf_diename(&t)) || strncmp(name, "atomic<", 7) || !size)
		return false;
	/* libstdc++: atomic<long> : __atomic_base<long> { long _M_i; },
	 * atomic<bool> { __atomic_base<bool> _M_base; }, atomic<T*> {
	 * __atomic_base<T*> _M_b { T* _M_p; } }; libc++ nests __a_. */
	for (int depth = 0; depth < 8; depth++) {
		if (!filling_member(&t, size, &inner))
			return false;
		t = inner;
		while (dwarf_tag(&t) == DW_TAG_typedef && dwt_type_of(&t, &inner))
			t = inner;
		inner = t;
		if (!dwt_strip(&inner) || !is_struct_tag(dwarf_tag(&inner))) {
			*type = t;
			return true;
		}
		t = inner;
	}
	return false;
}

/* ---- naming an offset ---- */

static void add_suffix(char *s, size_t slen, size_t *used, const char *text)
{
	size_t n = strlen(text);

	if (*used + n >= slen)
		n = *used + 1 < slen ? slen - *used - 1 : 0;
	memcpy(s + *used, text, n);
	*used += n;
	s[*used] = '\0';
}

/* Does naming [off, off+len) inside `type` end on a whole leaf of len
 * bytes (`c[2]` of a char array, not `i+2` of an int)? */
static bool names_exactly(Dwarf_Die *type, uint64_t off, uint32_t len)
{
	char suffix[256];
	Dwarf_Die leaf;
	bool has = false;

	dwt_name_at(type, off, len, suffix, sizeof(suffix), &leaf, &has);
	return has && !strchr(suffix, '+') && dwt_size(&leaf) == len;
}

/* The member of struct t holding [off, off+len): in a union, the first
 * member that names those bytes exactly, else the first that holds them. */
static bool member_holding(Dwarf_Die *t, uint64_t off, uint32_t len,
			   Dwarf_Die *member, uint64_t *moff)
{
	Dwarf_Die child, mt;
	bool found = false, is_union = dwarf_tag(t) == DW_TAG_union_type;

	if (dwarf_child(t, &child) != 0)
		return false;
	do {
		uint64_t o, size;

		if ((!is_data_member(&child) &&
		     dwarf_tag(&child) != DW_TAG_inheritance) ||
		    dwarf_hasattr(&child, DW_AT_bit_size) ||
		    dwarf_hasattr(&child, DW_AT_data_bit_offset) ||
		    !member_offset(&child, &o) || !dwt_type_of(&child, &mt) ||
		    !(size = dwt_size(&mt)) || off < o || off + len > o + size)
			continue;
		if (!is_union || names_exactly(&mt, off - o, len)) {
			*member = child;
			*moff = o;
			return true;
		}
		if (!found) {
			*member = child;
			*moff = o;
			found = true;
		}
	} while (dwarf_siblingof(&child, &child) == 0);
	return found;
}

void dwt_name_at(Dwarf_Die *type, uint64_t off, uint32_t len, char *suffix,
		 size_t slen, Dwarf_Die *leaf, bool *has_leaf)
{
	Dwarf_Die t = *type;
	size_t used = 0;

	suffix[0] = '\0';
	for (int depth = 0; depth < 32; depth++) {
		Dwarf_Die s = t, next;
		uint64_t moff, dims[8];
		int tag, nd;

		if (!dwt_strip(&s))
			break;
		tag = dwarf_tag(&s);
		if (is_struct_tag(tag)) {
			if (!member_holding(&s, off, len, &next, &moff))
				break;
			if (dwarf_tag(&next) == DW_TAG_member) {
				add_suffix(suffix, slen, &used, ".");
				add_suffix(suffix, slen, &used,
					   dwarf_diename(&next) ?
					   dwarf_diename(&next) : "?");
			}
			off -= moff;
			if (!dwt_type_of(&next, &t))
				break;
			continue;
		}
		if (tag != DW_TAG_array_type ||
		    (nd = array_dims(&s, dims, &next)) <= 0)
			break;
		uint64_t stride = dwt_size(&next), i;
		int d;

		for (d = 1; d < nd; d++)
			stride *= dims[d];
		for (d = 0; d < nd && stride; d++) {
			i = off / stride;
			if (i >= dims[d] || off + len > (i + 1) * stride)
				break;
			char num[32];

			snprintf(num, sizeof(num), "[%" PRIu64 "]", i);
			add_suffix(suffix, slen, &used, num);
			off -= i * stride;
			if (d + 1 < nd)
				stride /= dims[d + 1];
		}
		if (d < nd)
			break;
		t = next;
	}
	if (off) {
		char num[32];

		snprintf(num, sizeof(num), "+%" PRIu64, off);
		add_suffix(suffix, slen, &used, num);
	}
	if (leaf)
		*leaf = t;
	if (has_leaf)
		*has_leaf = true;
}
