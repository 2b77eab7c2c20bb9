/* SPDX-License-Identifier: MIT */
/*
 * cond.c - the --if condition: an operator and a number, tested against the
 * new value of each hit ("== 0", "!= 42", "< -1", "& 0x80").
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

static const struct {
	const char *text;
	enum cond_op op;
} ops[] = {
	{ "==", C_EQ }, { "!=", C_NE }, { "<=", C_LE }, { ">=", C_GE },
	{ "<", C_LT },  { ">", C_GT },  { "&", C_AND }, { "=", C_EQ },
};

int cond_parse(const char *text, struct cond *c, char *msg, size_t ml)
{
	const char *p = text;
	char *end;
	size_t i;

	while (isspace((unsigned char)*p))
		p++;
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strncmp(p, ops[i].text, strlen(ops[i].text)))
			break;
	if (i == sizeof(ops) / sizeof(ops[0])) {
		snprintf(msg, ml, "--if '%s': start with ==, !=, <, <=, >, >= "
			 "or &, then a number (e.g. --if '== 0')", text);
		return -EINVAL;
	}
	c->op = ops[i].op;
	p += strlen(ops[i].text);
	while (isspace((unsigned char)*p))
		p++;
	errno = 0;
	if (*p == '-')
		c->value = (uint64_t)strtoll(p, &end, 0);
	else
		c->value = strtoull(p, &end, 0);
	while (isspace((unsigned char)*end))
		end++;
	if (errno || end == p || *end) {
		snprintf(msg, ml, "--if '%s': '%s' is not a number (decimal, "
			 "0x hex or 0 octal)", text, p);
		return -EINVAL;
	}
	return 0;
}

static int64_t extend(uint64_t v, uint32_t len)
{
	return len >= 8 ? (int64_t)v
			: (int64_t)(v << (64 - len * 8)) >> (64 - len * 8);
}

bool cond_eval(const struct cond *c, uint64_t v, uint32_t len, bool is_signed)
{
	int64_t sv = extend(v, len), sc = (int64_t)c->value;
	uint64_t mask = len >= 8 ? ~0ull : (1ull << (len * 8)) - 1;
	int cmp;

	if (is_signed)
		cmp = sv < sc ? -1 : sv > sc;
	else
		cmp = (v & mask) < c->value ? -1 : (v & mask) > c->value;
	switch (c->op) {
	case C_EQ: return is_signed ? sv == sc : (v & mask) == c->value;
	case C_NE: return is_signed ? sv != sc : (v & mask) != c->value;
	case C_LT: return cmp < 0;
	case C_LE: return cmp <= 0;
	case C_GT: return cmp > 0;
	case C_GE: return cmp >= 0;
	case C_AND: return (v & c->value) != 0;
	}
	return false;
}
