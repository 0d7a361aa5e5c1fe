// SPDX-License-Identifier: GPL-2.0-only
/*
 * JSON for the agent's protocol: requests are parsed into a small tree (numbers keep their
 * literal so u64 tokens and seeds stay exact), replies are written into a growable buffer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

/* ---- parser -------------------------------------------------------------------------------- */

struct parser {
	const char *start, *p, *end;
	char *err;
	size_t errlen;
	int depth;
};

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		abort(); /* a daemon that cannot allocate a few bytes has nothing useful left to say */
	return p;
}

static int perr(struct parser *ps, const char *what)
{
	if (ps->err && !ps->err[0])
		snprintf(ps->err, ps->errlen, "%s at byte %zu", what, (size_t)(ps->p - ps->start));
	return -1;
}

static void ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int hex4(struct parser *ps, unsigned int *out)
{
	unsigned int v = 0;

	if (ps->end - ps->p < 4)
		return perr(ps, "short \\u escape");
	for (int i = 0; i < 4; i++) {
		char c = *ps->p++;

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned int)(c - 'A' + 10);
		else
			return perr(ps, "bad \\u escape");
	}
	*out = v;
	return 0;
}

static size_t utf8(unsigned int cp, char *o)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decodes a string starting after the opening quote; the result is never longer than the source. */
static int pstring(struct parser *ps, char **out, size_t *outlen)
{
	const char *start = ps->p;
	char *buf, *o;

	while (ps->p < ps->end && *ps->p != '"') {
		if (*ps->p == '\\')
			ps->p++;
		ps->p++;
	}
	if (ps->p >= ps->end)
		return perr(ps, "unterminated string");
	buf = xcalloc((size_t)(ps->p - start) + 1, 1);
	ps->end = ps->p; /* parse the escapes within [start, closing quote) */
	{
		const char *real_end = ps->end;

		ps->p = start;
		o = buf;
		while (ps->p < real_end) {
			unsigned char c = (unsigned char)*ps->p++;
			unsigned int cp, lo;

			if (c < 0x20) {
				free(buf);
				return perr(ps, "control character in string");
			}
			if (c != '\\') {
				*o++ = (char)c;
				continue;
			}
			switch (*ps->p++) {
			case '"': *o++ = '"'; break;
			case '\\': *o++ = '\\'; break;
			case '/': *o++ = '/'; break;
			case 'b': *o++ = '\b'; break;
			case 'f': *o++ = '\f'; break;
			case 'n': *o++ = '\n'; break;
			case 'r': *o++ = '\r'; break;
			case 't': *o++ = '\t'; break;
			case 'u':
				if (hex4(ps, &cp)) {
					free(buf);
					return -1;
				}
				if (cp >= 0xd800 && cp < 0xdc00 && real_end - ps->p >= 6 && ps->p[0] == '\\' &&
				    ps->p[1] == 'u') {
					ps->p += 2;
					if (hex4(ps, &lo)) {
						free(buf);
						return -1;
					}
					if (lo >= 0xdc00 && lo < 0xe000)
						cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					else
						o += utf8(0xfffd, o), cp = lo;
				}
				o += utf8(cp, o);
				break;
			default:
				free(buf);
				return perr(ps, "bad escape");
			}
		}
	}
	*outlen = (size_t)(o - buf);
	*o = 0;
	*out = buf;
	return 0;
}

static int pvalue(struct parser *ps, struct jval *v);

static int pcontainer(struct parser *ps, struct jval *v, char close)
{
	size_t cap = 4;

	v->items = xcalloc(cap, sizeof(*v->items));
	ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		return 0;
	}
	for (;;) {
		struct jval *item;

		if (v->n == cap) {
			cap *= 2;
			v->items = realloc(v->items, cap * sizeof(*v->items));
			if (!v->items)
				abort();
		}
		item = &v->items[v->n];
		memset(item, 0, sizeof(*item));
		v->n++;
		ws(ps);
		if (close == '}') {
			const char *save_end = ps->end;
			int r;

			if (ps->p >= ps->end || *ps->p != '"')
				return perr(ps, "expected a key");
			ps->p++;
			r = pstring(ps, &item->key, &item->keylen);
			ps->end = save_end;
			if (r)
				return -1;
			ps->p++; /* closing quote */
			ws(ps);
			if (ps->p >= ps->end || *ps->p != ':')
				return perr(ps, "expected ':'");
			ps->p++;
		}
		if (pvalue(ps, item))
			return -1;
		ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			return 0;
		}
		return perr(ps, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int pvalue(struct parser *ps, struct jval *v)
{
	ws(ps);
	if (ps->p >= ps->end)
		return perr(ps, "unexpected end");
	switch (*ps->p) {
	case '{':
	case '[': {
		char close = *ps->p == '{' ? '}' : ']';
		int r;

		if (++ps->depth > 32)
			return perr(ps, "nested too deep");
		v->type = close == '}' ? J_OBJ : J_ARR;
		ps->p++;
		r = pcontainer(ps, v, close);
		ps->depth--;
		return r;
	}
	case '"': {
		const char *save_end = ps->end;
		int r;

		v->type = J_STR;
		ps->p++;
		r = pstring(ps, &v->s, &v->len);
		ps->end = save_end;
		if (!r)
			ps->p++;
		return r;
	}
	case 't':
	case 'f':
	case 'n': {
		static const char *const words[] = { "true", "false", "null" };

		for (int i = 0; i < 3; i++) {
			size_t n = strlen(words[i]);

			if ((size_t)(ps->end - ps->p) >= n && !memcmp(ps->p, words[i], n)) {
				ps->p += n;
				v->type = i == 2 ? J_NULL : J_BOOL;
				v->b = i == 0;
				return 0;
			}
		}
		return perr(ps, "bad literal");
	}
	default: {
		const char *start = ps->p;

		if (*ps->p == '-')
			ps->p++;
		while (ps->p < ps->end && ((*ps->p >= '0' && *ps->p <= '9') || *ps->p == '.' || *ps->p == 'e' ||
					   *ps->p == 'E' || *ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (ps->p == start || (ps->p == start + 1 && *start == '-'))
			return perr(ps, "unexpected character");
		v->type = J_NUM;
		v->len = (size_t)(ps->p - start);
		v->s = xcalloc(v->len + 1, 1);
		memcpy(v->s, start, v->len);
		return 0;
	}
	}
}

struct jval *json_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct parser ps = { text, text, text + len, err, errlen, 0 };
	struct jval *v = xcalloc(1, sizeof(*v));

	if (err && errlen)
		err[0] = 0;
	if (pvalue(&ps, v) == 0) {
		ws(&ps);
		if (ps.p == ps.end)
			return v;
		perr(&ps, "trailing characters");
	}
	json_free(v);
	return NULL;
}

static void free_inner(struct jval *v)
{
	for (size_t i = 0; i < v->n; i++)
		free_inner(&v->items[i]);
	free(v->items);
	free(v->s);
	free(v->key);
}

void json_free(struct jval *v)
{
	if (!v)
		return;
	free_inner(v);
	free(v);
}

const struct jval *json_get(const struct jval *obj, const char *key)
{
	size_t kl = strlen(key);

	if (!obj || obj->type != J_OBJ)
		return NULL;
	/* last one wins, as in JavaScript */
	for (size_t i = obj->n; i-- > 0;)
		if (obj->items[i].keylen == kl && !memcmp(obj->items[i].key, key, kl))
			return &obj->items[i];
	return NULL;
}

int json_u64(const struct jval *v, uint64_t *out)
{
	char *end;
	unsigned long long x;

	if (!v || v->type != J_NUM || v->s[0] == '-' || strpbrk(v->s, ".eE+"))
		return -1;
	errno = 0;
	x = strtoull(v->s, &end, 10);
	if (errno || *end)
		return -1;
	*out = x;
	return 0;
}

/* ---- writer -------------------------------------------------------------------------------- */

void jw_init(struct jw *w)
{
	memset(w, 0, sizeof(*w));
}

void jw_free(struct jw *w)
{
	free(w->buf);
	jw_init(w);
}

void jw_raw(struct jw *w, const char *s, size_t n)
{
	if (w->len + n + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 256;

		while (w->len + n + 1 > cap)
			cap *= 2;
		w->buf = realloc(w->buf, cap);
		if (!w->buf)
			abort();
		w->cap = cap;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = 0;
}

static void raw_str(struct jw *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	jw_raw(w, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7];

		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
			run++;
			continue;
		}
		jw_raw(w, s + i - run, run);
		run = 0;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			jw_raw(w, esc, 2);
		} else if (c == '\n') {
			jw_raw(w, "\\n", 2);
		} else if (c == '\t') {
			jw_raw(w, "\\t", 2);
		} else {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			jw_raw(w, esc, 6);
		}
	}
	jw_raw(w, s + n - run, run);
	jw_raw(w, "\"", 1);
}

void jw_key(struct jw *w, const char *key)
{
	if (w->comma)
		jw_raw(w, ",", 1);
	w->comma = 1;
	if (key) {
		raw_str(w, key, strlen(key));
		jw_raw(w, ":", 1);
	}
}

void jw_obj(struct jw *w, const char *key)
{
	jw_key(w, key);
	jw_raw(w, "{", 1);
	w->comma = 0;
}

void jw_end_obj(struct jw *w)
{
	jw_raw(w, "}", 1);
	w->comma = 1;
}

void jw_arr(struct jw *w, const char *key)
{
	jw_key(w, key);
	jw_raw(w, "[", 1);
	w->comma = 0;
}

void jw_end_arr(struct jw *w)
{
	jw_raw(w, "]", 1);
	w->comma = 1;
}

void jw_strn(struct jw *w, const char *key, const char *s, size_t n)
{
	jw_key(w, key);
	raw_str(w, s, n);
}

void jw_str(struct jw *w, const char *key, const char *s)
{
	jw_strn(w, key, s, strlen(s));
}

void jw_u64(struct jw *w, const char *key, uint64_t v)
{
	char num[24];

	jw_key(w, key);
	jw_raw(w, num, (size_t)snprintf(num, sizeof(num), "%llu", (unsigned long long)v));
}

void jw_i64(struct jw *w, const char *key, int64_t v)
{
	char num[24];

	jw_key(w, key);
	jw_raw(w, num, (size_t)snprintf(num, sizeof(num), "%lld", (long long)v));
}

void jw_ms(struct jw *w, const char *key, double ms)
{
	char num[32];

	jw_key(w, key);
	jw_raw(w, num, (size_t)snprintf(num, sizeof(num), "%.1f", ms));
}

void jw_bool(struct jw *w, const char *key, int v)
{
	jw_key(w, key);
	jw_raw(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(struct jw *w, const char *key)
{
	jw_key(w, key);
	jw_raw(w, "null", 4);
}

const char *errno_name(int e)
{
	static char buf[16];
	const char *name = strerrorname_np(e);

	if (name)
		return name;
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}
