/* SPDX-License-Identifier: MIT */
/*
 * demangle.c - C++ names as their source writes them: `_ZN3app3Srv3addEi`
 * becomes `app::Srv::add(int)` (libstdc++'s __cxa_demangle, the
 * demangler of the C++ ABI), and a long one is cut for a terminal line
 * (`std::thread::_State_impl<...>::_M_run()`); JSON keeps the full name.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

/* libstdc++ (cxxabi.h is C++ only): malloc'd result, status 0 on success. */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len,
			    int *status);

static size_t copy_out(const char *s, char *out, size_t outlen)
{
	size_t n = strlen(s);

	if (!outlen)
		return 0;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, s, n);
	out[n] = '\0';
	return n;
}

size_t demangle(const char *mangled, char *out, size_t outlen)
{
	int status = -1;
	char *full;
	size_t n;

	/* Only Itanium-ABI names (_Z...); C names and `calls.0` as they are. */
	if (strncmp(mangled, "_Z", 2))
		return copy_out(mangled, out, outlen);
	full = __cxa_demangle(mangled, NULL, NULL, &status);
	if (status || !full) {
		free(full);
		return copy_out(mangled, out, outlen);
	}
	n = copy_out(full, out, outlen);
	free(full);
	return n;
}

/* The length of an operator's name at p (`operator<<`, `operator()`), or 0:
 * its brackets are part of a name, not a template or parameter list. */
static size_t operator_len(const char *in, const char *p)
{
	const char *q = p + 8;

	if (strncmp(p, "operator", 8) ||
	    (p > in && (isalnum((unsigned char)p[-1]) || p[-1] == '_')))
		return 0;
	if ((q[0] == '(' && q[1] == ')') || (q[0] == '[' && q[1] == ']'))
		return 10;
	while (*q && strchr("<>=!+-*/%&|^~,", *q))
		q++;
	return (size_t)(q - p);
}

/*
 * Copy `in` to `out` with every bracketed part (<...> or (...), by `open`)
 * nested `keep` levels deep replaced by "<...>" or "(...)".
 */
static void collapse(const char *in, char *out, size_t outlen, int keep,
		     char open)
{
	char close = open == '<' ? '>' : ')';
	const char *dots = open == '<' ? "<...>" : "(...)";
	size_t o = 0;
	int depth = 0;

#define EMIT(s, n) do { if (o + (n) < outlen) { memcpy(out + o, s, n); \
			o += (n); } } while (0)
	for (const char *p = in; *p; p++) {
		size_t op = operator_len(in, p);

		if (op) {
			if (depth <= keep)
				EMIT(p, op);
			p += op - 1;
		} else if (*p == open) {
			if (depth < keep)
				EMIT(p, 1);
			else if (depth == keep)
				EMIT(dots, 5);
			depth++;
		} else if (*p == close && depth > 0) {
			if (--depth < keep)
				EMIT(p, 1);
		} else if (depth <= keep) {
			EMIT(p, 1);
		}
	}
#undef EMIT
	out[o] = '\0';
}

/* Shorter than `limit` characters: it stays as it is. */
#define CUT_LIMIT 60

void cut_name(const char *full, char *out, size_t outlen)
{
	char a[1024], b[1024];
	size_t n;

	if (!outlen)
		return;
	/* Short, or still mangled (cut, c++filt could not read it). */
	if (strlen(full) <= CUT_LIMIT || !strncmp(full, "_Z", 2)) {
		copy_out(full, out, outlen);
		return;
	}
	/* First template arguments inside template arguments, then all of
	 * them, then the parameter lists: the names stay, the noise goes. */
	collapse(full, a, sizeof(a), 1, '<');
	if (strlen(a) > CUT_LIMIT)
		collapse(full, a, sizeof(a), 0, '<');
	if (strlen(a) > CUT_LIMIT) {
		collapse(a, b, sizeof(b), 0, '(');
		memcpy(a, b, sizeof(a));
	}
	n = strlen(a);
	if (n > CUT_LIMIT) {
		/* Still long: its end says most (the function's own name). */
		const char *tail = a + n - (CUT_LIMIT - 3);

		snprintf(b, sizeof(b), "...%s", tail);
		copy_out(b, out, outlen);
		return;
	}
	copy_out(a, out, outlen);
}
