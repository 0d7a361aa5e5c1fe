// SPDX-License-Identifier: GPL-2.0-only
/*
 * `handover-agent serve`: the holder daemon. LUO sessions live only while their fds are open
 * and /dev/liveupdate has a single opener, so one long-lived process owns the device, every
 * session fd and every memfd, and takes JSON requests on a unix socket (one per line, one reply
 * line each, in order). It stays single-threaded and never blocks on a client: sockets are
 * non-blocking and replies are buffered. It lives until `exit` or until the kexec.
 *
 * Replies: {"ok":true,"op":...,<fields>} or
 *          {"ok":false,"op":...,<fields>,"errno":"EEXIST","errnoValue":17,"call":...,"message":...}
 * where "call" names what failed: an ioctl ("ioctl(LIVEUPDATE_SESSION_PRESERVE_FD)"), a syscall
 * ("memfd_create", "fcntl(F_ADD_SEALS)", ...), or the agent itself ("request" for a malformed
 * request, "lookup" for a name or id the daemon does not hold, "uapi" for an ioctl the headers
 * lack). Only the first kind is the kernel's verdict on LUO.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/liveupdate.h>

#include "agent.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#define CHUNK (1u << 20)
#define MAX_CLIENTS 32
#define MAX_PENDING_OUT (64u << 20)

struct memfd_ent {
	char *id;
	int fd; /* -1 once closed (e.g. preserve with closeMemfd) */
	uint64_t size;
	char sha256[65];
};

struct token_ent {
	uint64_t token;
	char *source; /* outgoing: "memfd:<id>" or "path:<path>" or "fd:<n>" */
	int fd;       /* incoming: the retrieved fd, -1 before */
};

struct session_ent {
	char name[LIVEUPDATE_SESSION_NAME_LENGTH + 1];
	size_t namelen;
	int fd;
	int incoming;
	int finished;
	struct token_ent *tokens;
	size_t ntokens;
};

struct fail {
	int err;
	char call[96];
	char msg[256];
};

static struct {
	int lu_fd;
	struct session_ent *sessions;
	size_t nsessions;
	struct memfd_ent *memfds;
	size_t nmemfds;
	uint64_t requests;
	double started;
	int quit;
	const char *socket_path;
	const char *log_path;
	const char *device;
} st = { .lu_fd = -1 };

static uint8_t chunk[CHUNK] __attribute__((aligned(4096)));

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		abort();
	return d;
}

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (!p)
		abort();
	return p;
}

static int vfailf(struct fail *f, int err, const char *call, const char *fmt, va_list ap)
{
	f->err = err;
	snprintf(f->call, sizeof(f->call), "%s", call);
	vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
	return -1;
}

static int failf(struct fail *f, int err, const char *call, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfailf(f, err, call, fmt, ap);
	va_end(ap);
	return -1;
}

/* A failed syscall: errno is the kernel's answer, message is strerror plus what was attempted. */
static int sysfail(struct fail *f, const char *call, const char *what)
{
	int e = errno;

	return failf(f, e, call, "%s: %s", what, strerror(e));
}

/* ---- request fields ------------------------------------------------------------------------ */

static int field_str(const struct jval *req, const char *key, int required, const struct jval **out, struct fail *f)
{
	const struct jval *v = json_get(req, key);

	*out = NULL;
	if (!v || v->type == J_NULL)
		return required ? failf(f, EINVAL, "request", "missing string field \"%s\"", key) : 0;
	if (v->type != J_STR)
		return failf(f, EINVAL, "request", "field \"%s\" must be a string", key);
	*out = v;
	return 0;
}

static int field_u64(const struct jval *req, const char *key, int required, uint64_t *out, struct fail *f)
{
	const struct jval *v = json_get(req, key);

	if (!v || v->type == J_NULL)
		return required ? failf(f, EINVAL, "request", "missing integer field \"%s\"", key) : 0;
	if (json_u64(v, out))
		return failf(f, EINVAL, "request", "field \"%s\" must be an integer in [0, 2^64)", key);
	return 0;
}

static int field_bool(const struct jval *req, const char *key, int *out, struct fail *f)
{
	const struct jval *v = json_get(req, key);

	if (!v || v->type == J_NULL)
		return 0;
	if (v->type != J_BOOL)
		return failf(f, EINVAL, "request", "field \"%s\" must be true or false", key);
	*out = v->b;
	return 0;
}

static int field_seals(const struct jval *req, const char *key, int *present, unsigned int *out, struct fail *f)
{
	const struct jval *v = json_get(req, key);

	*present = 0;
	*out = 0;
	if (!v || v->type == J_NULL)
		return 0;
	if (v->type != J_ARR)
		return failf(f, EINVAL, "request", "field \"%s\" must be an array of seal names", key);
	for (size_t i = 0; i < v->n; i++) {
		int bit = v->items[i].type == J_STR ? seal_bit(v->items[i].s) : -1;

		if (bit < 0)
			return failf(f, EINVAL, "request",
				     "unknown seal in \"%s\" (seal, shrink, grow, write, future-write, exec)", key);
		*out |= (unsigned int)bit;
	}
	*present = 1;
	return 0;
}

/* ---- the daemon's tables ------------------------------------------------------------------- */

static struct memfd_ent *find_memfd(const char *id)
{
	for (size_t i = 0; i < st.nmemfds; i++)
		if (!strcmp(st.memfds[i].id, id))
			return &st.memfds[i];
	return NULL;
}

static struct session_ent *find_session(const char *name, size_t len, int incoming)
{
	for (size_t i = 0; i < st.nsessions; i++)
		if (st.sessions[i].incoming == incoming && st.sessions[i].namelen == len &&
		    !memcmp(st.sessions[i].name, name, len))
			return &st.sessions[i];
	return NULL;
}

static struct token_ent *find_token(struct session_ent *s, uint64_t token)
{
	for (size_t i = 0; i < s->ntokens; i++)
		if (s->tokens[i].token == token)
			return &s->tokens[i];
	return NULL;
}

/*
 * The request's "session" by name. Outgoing and incoming sessions may share a name, so
 * "direction" picks one; otherwise the op's natural direction wins when both exist (preserve →
 * outgoing, retrieve-fd/finish → incoming), and else whichever exists, so an op can be sent to
 * the wrong kind of session on purpose (the kernel answers EINVAL).
 */
static struct session_ent *req_session(const struct jval *req, int prefer_incoming, struct jw *body, struct fail *f)
{
	const struct jval *name, *dir;
	struct session_ent *s;

	/* close-session also takes {"name":...}, like create-session */
	if (field_str(req, json_get(req, "session") || !json_get(req, "name") ? "session" : "name", 1, &name, f) ||
	    field_str(req, "direction", 0, &dir, f))
		return NULL;
	jw_strn(body, "session", name->s, name->len);
	if (dir) {
		if (strcmp(dir->s, "incoming") && strcmp(dir->s, "outgoing")) {
			failf(f, EINVAL, "request", "direction must be \"incoming\" or \"outgoing\"");
			return NULL;
		}
		s = find_session(name->s, name->len, !strcmp(dir->s, "incoming"));
	} else {
		s = find_session(name->s, name->len, prefer_incoming);
		if (!s)
			s = find_session(name->s, name->len, !prefer_incoming);
	}
	if (!s)
		failf(f, ENOENT, "lookup", "the agent holds no %ssession named \"%.*s\"",
		      dir ? dir->s : "", (int)name->len, name->s);
	return s;
}

static struct session_ent *add_session(const char *name, size_t len, int fd, int incoming)
{
	struct session_ent *s;

	st.sessions = xrealloc(st.sessions, (st.nsessions + 1) * sizeof(*st.sessions));
	s = &st.sessions[st.nsessions++];
	memset(s, 0, sizeof(*s));
	memcpy(s->name, name, len);
	s->namelen = len;
	s->fd = fd;
	s->incoming = incoming;
	return s;
}

static struct token_ent *add_token(struct session_ent *s, uint64_t token)
{
	struct token_ent *t;

	s->tokens = xrealloc(s->tokens, (s->ntokens + 1) * sizeof(*s->tokens));
	t = &s->tokens[s->ntokens++];
	memset(t, 0, sizeof(*t));
	t->token = token;
	t->fd = -1;
	return t;
}

static void drop_session(struct session_ent *s)
{
	for (size_t i = 0; i < s->ntokens; i++) {
		if (s->tokens[i].fd >= 0)
			close(s->tokens[i].fd);
		free(s->tokens[i].source);
	}
	free(s->tokens);
	close(s->fd);
	*s = st.sessions[--st.nsessions];
}

static void drop_memfd(struct memfd_ent *m)
{
	if (m->fd >= 0)
		close(m->fd);
	free(m->id);
	*m = st.memfds[--st.nmemfds];
}

/*
 * The fd a verify/write/truncate acts on: {"memfd":id} or {"id":id} (one the agent created) or
 * {"session":..,"token":..} (a retrieved fd in an incoming session, or the memfd behind an
 * outgoing token).
 */
static int req_target(const struct jval *req, struct jw *body, int *fd, struct fail *f)
{
	const struct jval *id;
	struct session_ent *s;
	struct token_ent *t;
	uint64_t token;

	/* {"memfd":id} as in preserve, or {"id":id} as in create-memfd */
	if (field_str(req, json_get(req, "memfd") ? "memfd" : "id", 0, &id, f))
		return -1;
	if (id) {
		struct memfd_ent *m = find_memfd(id->s);

		jw_str(body, "memfd", id->s);
		if (!m)
			return failf(f, ENOENT, "lookup", "the agent holds no memfd \"%s\"", id->s);
		*fd = m->fd;
		return 0;
	}
	s = req_session(req, 1, body, f);
	if (!s || field_u64(req, "token", 1, &token, f))
		return -1;
	jw_u64(body, "token", token);
	t = find_token(s, token);
	if (t && t->fd >= 0) {
		*fd = t->fd;
		return 0;
	}
	if (t && t->source && !strncmp(t->source, "memfd:", 6)) {
		struct memfd_ent *m = find_memfd(t->source + 6);

		if (m) {
			*fd = m->fd;
			return 0;
		}
	}
	return failf(f, ENOENT, "lookup", "no fd for token %llu in session \"%.*s\" (retrieve-fd first?)",
		     (unsigned long long)token, (int)s->namelen, s->name);
}

/* ---- helpers on fds ------------------------------------------------------------------------ */

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

#define HASH_WINDOW (64u << 20)

static const uint8_t zeros[64 << 10];

/* [off, end) of fd into h: mapped a window at a time (no copy, which under TCG costs nearly as
 * much as SHA-256 itself), or read where mapping is not possible. */
static int hash_range(int fd, struct sha256 *h, uint64_t off, uint64_t end)
{
	while (off < end && off % 4096 == 0) {
		size_t win = end - off < HASH_WINDOW ? (size_t)(end - off) : HASH_WINDOW;
		void *p = mmap(NULL, win, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, (off_t)off);

		if (p == MAP_FAILED)
			break;
		sha256_update(h, p, win);
		munmap(p, win);
		off += win;
	}
	while (off < end) {
		size_t want = end - off < CHUNK ? (size_t)(end - off) : CHUNK;
		ssize_t r = pread(fd, chunk, want, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0) {
			errno = EIO; /* shorter than its size: cannot happen for shmem */
			return -1;
		}
		sha256_update(h, chunk, (size_t)r);
		off += (uint64_t)r;
	}
	return 0;
}

/*
 * SHA-256 of an fd's [0, size). Holes are hashed as zeros without being touched: a read fault on
 * a shmem hole would allocate it, and whether LUO fills holes itself is part of what is tested.
 * SEEK_DATA/SEEK_HOLE move the file position, so it is put back (LUO preserves it).
 */
static int hash_fd(int fd, uint64_t size, char out[65])
{
	off_t saved = lseek(fd, 0, SEEK_CUR);
	struct sha256 h;
	uint64_t off = 0;
	int r = 0;

	sha256_init(&h);
	while (off < size && r == 0) {
		off_t data = lseek(fd, (off_t)off, SEEK_DATA);
		uint64_t dstart = data < 0 ? (errno == ENXIO ? size : off) : (uint64_t)data;
		off_t hole;
		uint64_t dend;

		if (dstart > size)
			dstart = size;
		for (; off < dstart; off += sizeof(zeros) < dstart - off ? sizeof(zeros) : dstart - off)
			sha256_update(&h, zeros, sizeof(zeros) < dstart - off ? sizeof(zeros) : (size_t)(dstart - off));
		if (off >= size)
			break;
		hole = data < 0 ? -1 : lseek(fd, (off_t)off, SEEK_HOLE);
		dend = hole < 0 || (uint64_t)hole > size ? size : (uint64_t)hole;
		if (dend <= off)
			dend = size;
		r = hash_range(fd, &h, off, dend);
		off = dend;
	}
	if (saved >= 0)
		lseek(fd, saved, SEEK_SET);
	if (r == 0)
		sha256_hex(&h, out);
	return r;
}

/* Bytes the file really occupies: a sparse memfd is less than its size until LUO fills it. */
static uint64_t allocated_bytes(int fd)
{
	struct stat sb;

	return fstat(fd, &sb) == 0 ? (uint64_t)sb.st_blocks * 512 : 0;
}

/* ---- ops ------------------------------------------------------------------------------------ */

typedef int (*op_fn)(const struct jval *req, struct jw *body, struct fail *f);

static int op_status(const struct jval *req, struct jw *body, struct fail *f)
{
	(void)req;
	(void)f;
	jw_u64(body, "pid", (uint64_t)getpid());
	jw_str(body, "version", AGENT_VERSION);
	jw_str(body, "device", st.device);
	jw_bool(body, "deviceOpen", st.lu_fd >= 0);
	jw_str(body, "socket", st.socket_path);
	jw_ms(body, "uptimeMs", now_ms() - st.started);
	jw_u64(body, "requests", st.requests);
	jw_u64(body, "sessions", st.nsessions);
	jw_u64(body, "memfds", st.nmemfds);
	return 0;
}

static int op_list(const struct jval *req, struct jw *body, struct fail *f)
{
	(void)req;
	(void)f;
	jw_arr(body, "sessions");
	for (size_t i = 0; i < st.nsessions; i++) {
		struct session_ent *s = &st.sessions[i];

		jw_obj(body, NULL);
		jw_strn(body, "name", s->name, s->namelen);
		jw_str(body, "direction", s->incoming ? "incoming" : "outgoing");
		jw_i64(body, "fd", s->fd);
		jw_bool(body, "finished", s->finished);
		jw_arr(body, "tokens");
		for (size_t j = 0; j < s->ntokens; j++) {
			jw_obj(body, NULL);
			jw_u64(body, "token", s->tokens[j].token);
			if (s->tokens[j].source)
				jw_str(body, "source", s->tokens[j].source);
			if (s->tokens[j].fd >= 0)
				jw_i64(body, "fd", s->tokens[j].fd);
			jw_end_obj(body);
		}
		jw_end_arr(body);
		jw_end_obj(body);
	}
	jw_end_arr(body);
	jw_arr(body, "memfds");
	for (size_t i = 0; i < st.nmemfds; i++) {
		jw_obj(body, NULL);
		jw_str(body, "id", st.memfds[i].id);
		jw_i64(body, "fd", st.memfds[i].fd);
		jw_u64(body, "size", st.memfds[i].size);
		jw_str(body, "sha256", st.memfds[i].sha256);
		jw_end_obj(body);
	}
	jw_end_arr(body);
	return 0;
}

/* CREATE_SESSION and RETRIEVE_SESSION share their struct layout (size, fd, name[64]). */
static int session_ioctl(const struct jval *req, struct jw *body, struct fail *f, int incoming)
{
	/* Room past the struct, so "structSize" can exercise the kernel's size checks. */
	union {
		struct liveupdate_ioctl_create_session c;
		struct liveupdate_ioctl_retrieve_session r;
		uint8_t raw[256];
	} arg;
	const struct jval *name;
	uint64_t size = sizeof(arg.c);
	int junk = 0;
	unsigned long cmd = incoming ? LIVEUPDATE_IOCTL_RETRIEVE_SESSION : LIVEUPDATE_IOCTL_CREATE_SESSION;
	const char *call = incoming ? "ioctl(LIVEUPDATE_IOCTL_RETRIEVE_SESSION)" : "ioctl(LIVEUPDATE_IOCTL_CREATE_SESSION)";

	_Static_assert(sizeof(arg.c) == sizeof(arg.r), "create and retrieve differ");
	if (field_str(req, "name", 1, &name, f))
		return -1;
	jw_strn(body, "name", name->s, name->len);
	if (field_u64(req, "structSize", 0, &size, f) || field_bool(req, "junk", &junk, f))
		return -1;
	if (name->len > LIVEUPDATE_SESSION_NAME_LENGTH)
		return failf(f, EINVAL, "request", "name is %zu bytes; the ioctl holds at most %d",
			     name->len, LIVEUPDATE_SESSION_NAME_LENGTH);
	if (size > sizeof(arg.raw) - 8)
		return failf(f, EINVAL, "request", "structSize is at most %zu", sizeof(arg.raw) - 8);
	memset(&arg, 0, sizeof(arg));
	arg.c.size = (uint32_t)size;
	arg.c.fd = -1;
	memcpy(arg.c.name, name->s, name->len); /* 64 bytes leave no NUL: the kernel must refuse it */
	if (junk)
		arg.raw[sizeof(arg.c)] = 1; /* a non-zero byte past the struct the kernel knows */
	if (ioctl(st.lu_fd, cmd, &arg) < 0)
		return sysfail(f, call, incoming ? "retrieving the session" : "creating the session");
	add_session(name->s, name->len, arg.c.fd, incoming);
	jw_i64(body, "fd", arg.c.fd);
	jw_str(body, "direction", incoming ? "incoming" : "outgoing");
	return 0;
}

static int op_create_session(const struct jval *req, struct jw *body, struct fail *f)
{
	return session_ioctl(req, body, f, 0);
}

static int op_retrieve_session(const struct jval *req, struct jw *body, struct fail *f)
{
	return session_ioctl(req, body, f, 1);
}

static int op_close_session(const struct jval *req, struct jw *body, struct fail *f)
{
	struct session_ent *s = req_session(req, 0, body, f);
	size_t closed = 0;

	if (!s)
		return -1;
	jw_str(body, "direction", s->incoming ? "incoming" : "outgoing");
	for (size_t i = 0; i < s->ntokens; i++)
		closed += s->tokens[i].fd >= 0;
	jw_u64(body, "closedFds", closed);
	drop_session(s);
	return 0;
}

static int op_create_memfd(const struct jval *req, struct jw *body, struct fail *f)
{
	const struct jval *id, *name;
	uint64_t size = 0, seed = 0, pos = 0, pages = 0, written = 0;
	int sparse = 0, noexec = 0, allow_sealing = 1, hugetlb = 0, have_seals, fd, sealv;
	unsigned int seals, flags;
	struct sha256 h;
	char sha[65];
	double t0 = now_ms();

	if (field_str(req, "id", 1, &id, f))
		return -1;
	jw_str(body, "id", id->s);
	if (field_u64(req, "size", 1, &size, f) || field_u64(req, "seed", 0, &seed, f) ||
	    field_u64(req, "pos", 0, &pos, f) || field_bool(req, "sparse", &sparse, f) ||
	    field_bool(req, "noexec", &noexec, f) || field_bool(req, "allowSealing", &allow_sealing, f) ||
	    field_bool(req, "hugetlb", &hugetlb, f) || field_seals(req, "seals", &have_seals, &seals, f) ||
	    field_str(req, "name", 0, &name, f))
		return -1;
	if (find_memfd(id->s))
		return failf(f, EEXIST, "lookup", "the agent already holds a memfd \"%s\"", id->s);
	if (size > (uint64_t)INT64_MAX)
		return failf(f, EINVAL, "request", "size too large");
	flags = MFD_CLOEXEC | (allow_sealing ? MFD_ALLOW_SEALING : 0) | (noexec ? MFD_NOEXEC_SEAL : 0) |
		(hugetlb ? MFD_HUGETLB : 0);
	fd = memfd_create(name ? name->s : id->s, flags);
	if (fd < 0)
		return sysfail(f, "memfd_create", "creating the memfd");
	if (ftruncate(fd, (off_t)size) < 0) {
		sysfail(f, "ftruncate", "sizing the memfd");
		close(fd);
		return -1;
	}
	/* Generate, write and hash one chunk at a time: 256 MiB+ files never sit in our memory. */
	sha256_init(&h);
	for (uint64_t off = 0; off < size; off += CHUNK) {
		size_t n = size - off < CHUNK ? (size_t)(size - off) : CHUNK;

		if (!sparse) {
			pattern_fill(seed, off, chunk, n);
			if (write_all(fd, chunk, n, off) < 0)
				goto write_failed;
			pages += (n + PATTERN_PAGE - 1) / PATTERN_PAGE;
			written += n;
		} else {
			for (size_t p = 0; p < n; p += PATTERN_PAGE) {
				size_t pn = n - p < PATTERN_PAGE ? n - p : PATTERN_PAGE;

				if (pattern_page_written(seed, (off + p) / PATTERN_PAGE)) {
					pattern_fill(seed, off + p, chunk + p, pn);
					if (write_all(fd, chunk + p, pn, off + p) < 0)
						goto write_failed;
					pages++;
					written += pn;
				} else {
					memset(chunk + p, 0, pn); /* a hole reads as zeros */
				}
			}
		}
		sha256_update(&h, chunk, n);
	}
	sha256_hex(&h, sha);
	if (have_seals && seals && fcntl(fd, F_ADD_SEALS, seals) < 0) {
		sysfail(f, "fcntl(F_ADD_SEALS)", "sealing the memfd");
		close(fd);
		return -1;
	}
	if (pos && lseek(fd, (off_t)pos, SEEK_SET) < 0) {
		sysfail(f, "lseek", "setting the file position");
		close(fd);
		return -1;
	}
	sealv = fcntl(fd, F_GET_SEALS);
	st.memfds = xrealloc(st.memfds, (st.nmemfds + 1) * sizeof(*st.memfds));
	st.memfds[st.nmemfds] = (struct memfd_ent){ .id = xstrdup(id->s), .fd = fd, .size = size };
	memcpy(st.memfds[st.nmemfds].sha256, sha, sizeof(sha));
	st.nmemfds++;
	jw_i64(body, "fd", fd);
	jw_u64(body, "size", size);
	jw_str(body, "sha256", sha);
	if (sealv >= 0)
		jw_seals(body, "seals", (unsigned int)sealv);
	else
		jw_null(body, "seals");
	jw_u64(body, "pos", pos);
	jw_bool(body, "sparse", sparse);
	jw_u64(body, "pagesWritten", pages);
	jw_u64(body, "bytesWritten", written);
	jw_u64(body, "allocated", allocated_bytes(fd));
	jw_ms(body, "fillMs", now_ms() - t0);
	return 0;

write_failed:
	sysfail(f, "pwrite", "filling the memfd");
	close(fd);
	return -1;
}

static int op_close_memfd(const struct jval *req, struct jw *body, struct fail *f)
{
	const struct jval *id;
	struct memfd_ent *m;

	if (field_str(req, "id", 1, &id, f))
		return -1;
	jw_str(body, "id", id->s);
	m = find_memfd(id->s);
	if (!m)
		return failf(f, ENOENT, "lookup", "the agent holds no memfd \"%s\"", id->s);
	drop_memfd(m);
	return 0;
}

static int preserve_common(struct session_ent *s, uint64_t token, int fd, const char *source, struct fail *f)
{
	struct liveupdate_session_preserve_fd arg = { .size = sizeof(arg), .fd = fd, .token = token };

	if (ioctl(s->fd, LIVEUPDATE_SESSION_PRESERVE_FD, &arg) < 0)
		return sysfail(f, "ioctl(LIVEUPDATE_SESSION_PRESERVE_FD)", "preserving the fd");
	add_token(s, token)->source = xstrdup(source);
	return 0;
}

static int op_preserve(const struct jval *req, struct jw *body, struct fail *f)
{
	struct session_ent *s = req_session(req, 0, body, f);
	const struct jval *id;
	struct memfd_ent *m;
	uint64_t token;
	int close_after = 0;
	char source[160];

	if (!s || field_u64(req, "token", 1, &token, f))
		return -1;
	jw_u64(body, "token", token);
	if (field_str(req, "memfd", 1, &id, f) || field_bool(req, "closeMemfd", &close_after, f))
		return -1;
	jw_str(body, "memfd", id->s);
	m = find_memfd(id->s);
	if (!m)
		return failf(f, ENOENT, "lookup", "the agent holds no memfd \"%s\"", id->s);
	snprintf(source, sizeof(source), "memfd:%s", id->s);
	if (preserve_common(s, token, m->fd, source, f))
		return -1;
	/* LUO holds its own reference: the upstream selftest closes its fd right after, too. */
	if (close_after && m->fd >= 0) {
		close(m->fd);
		m->fd = -1;
	}
	return 0;
}

/* Anything else by path (/dev/null, a pipe's /proc path, a tmpfs file) or a raw fd number (EBADF). */
static int op_preserve_fd(const struct jval *req, struct jw *body, struct fail *f)
{
	struct session_ent *s = req_session(req, 0, body, f);
	const struct jval *path;
	uint64_t token, rawfd = (uint64_t)-1;
	char source[300];
	int fd, r;

	if (!s || field_u64(req, "token", 1, &token, f))
		return -1;
	jw_u64(body, "token", token);
	if (field_str(req, "path", 0, &path, f) || field_u64(req, "fd", 0, &rawfd, f))
		return -1;
	if (!path) {
		if (rawfd > INT32_MAX)
			return failf(f, EINVAL, "request", "give \"path\" or \"fd\"");
		jw_u64(body, "fd", rawfd);
		snprintf(source, sizeof(source), "fd:%llu", (unsigned long long)rawfd);
		return preserve_common(s, token, (int)rawfd, source, f);
	}
	jw_str(body, "path", path->s);
	fd = open(path->s, O_RDWR | O_CLOEXEC);
	if (fd < 0 && (errno == EACCES || errno == EISDIR || errno == EROFS))
		fd = open(path->s, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sysfail(f, "open", path->s);
	snprintf(source, sizeof(source), "path:%s", path->s);
	r = preserve_common(s, token, fd, source, f);
	close(fd);
	return r;
}

static void describe_fd(struct jw *body, int fd)
{
	struct stat sb;
	int seals = fcntl(fd, F_GET_SEALS);
	off_t pos = lseek(fd, 0, SEEK_CUR);

	if (fstat(fd, &sb) == 0) {
		jw_u64(body, "size", (uint64_t)sb.st_size);
		jw_u64(body, "allocated", (uint64_t)sb.st_blocks * 512);
	}
	if (seals >= 0)
		jw_seals(body, "seals", (unsigned int)seals);
	else
		jw_null(body, "seals");
	if (pos >= 0)
		jw_u64(body, "pos", (uint64_t)pos);
}

static int op_retrieve_fd(const struct jval *req, struct jw *body, struct fail *f)
{
	struct session_ent *s = req_session(req, 1, body, f);
	struct liveupdate_session_retrieve_fd arg = { .size = sizeof(arg), .fd = -1 };
	struct token_ent *t;
	uint64_t token;

	if (!s || field_u64(req, "token", 1, &token, f))
		return -1;
	jw_u64(body, "token", token);
	arg.token = token;
	if (ioctl(s->fd, LIVEUPDATE_SESSION_RETRIEVE_FD, &arg) < 0)
		return sysfail(f, "ioctl(LIVEUPDATE_SESSION_RETRIEVE_FD)", "retrieving the fd");
	t = find_token(s, token);
	if (!t)
		t = add_token(s, token);
	if (t->fd >= 0)
		close(t->fd); /* retrieving again gives a new fd to the same file */
	t->fd = arg.fd;
	jw_i64(body, "fd", arg.fd);
	describe_fd(body, arg.fd);
	return 0;
}

static void mismatch_str(struct jw *m, const char *field, const char *expected, const char *actual)
{
	jw_obj(m, NULL);
	jw_str(m, "field", field);
	jw_str(m, "expected", expected);
	jw_str(m, "actual", actual);
	jw_end_obj(m);
}

static void mismatch_u64(struct jw *m, const char *field, uint64_t expected, uint64_t actual)
{
	jw_obj(m, NULL);
	jw_str(m, "field", field);
	jw_u64(m, "expected", expected);
	jw_u64(m, "actual", actual);
	jw_end_obj(m);
}

static int op_verify(const struct jval *req, struct jw *body, struct fail *f)
{
	const struct jval *want_sha;
	uint64_t want_size = 0, want_pos = 0;
	unsigned int want_seals;
	int have_size, have_pos, have_seals, fd, seals;
	struct stat sb;
	struct jw mism;
	char sha[65];
	off_t pos;
	double t0;
	size_t n_mism = 0;

	if (req_target(req, body, &fd, f))
		return -1;
	have_size = json_get(req, "size") != NULL;
	have_pos = json_get(req, "pos") != NULL;
	if (field_u64(req, "size", 0, &want_size, f) || field_u64(req, "pos", 0, &want_pos, f) ||
	    field_str(req, "sha256", 0, &want_sha, f) || field_seals(req, "seals", &have_seals, &want_seals, f))
		return -1;
	if (fstat(fd, &sb) < 0)
		return sysfail(f, "fstat", "reading the size");
	t0 = now_ms();
	if (hash_fd(fd, (uint64_t)sb.st_size, sha) < 0)
		return sysfail(f, "pread", "reading the contents");
	seals = fcntl(fd, F_GET_SEALS);
	pos = lseek(fd, 0, SEEK_CUR);

	jw_init(&mism);
	jw_arr(&mism, NULL);
	if (have_size && want_size != (uint64_t)sb.st_size)
		n_mism++, mismatch_u64(&mism, "size", want_size, (uint64_t)sb.st_size);
	if (want_sha && strcmp(want_sha->s, sha))
		n_mism++, mismatch_str(&mism, "sha256", want_sha->s, sha);
	if (have_seals && (seals < 0 || want_seals != (unsigned int)seals)) {
		n_mism++;
		jw_obj(&mism, NULL);
		jw_str(&mism, "field", "seals");
		jw_seals(&mism, "expected", want_seals);
		if (seals < 0)
			jw_null(&mism, "actual");
		else
			jw_seals(&mism, "actual", (unsigned int)seals);
		jw_end_obj(&mism);
	}
	if (have_pos && (pos < 0 || want_pos != (uint64_t)pos))
		n_mism++, mismatch_u64(&mism, "pos", want_pos, (uint64_t)pos);
	jw_end_arr(&mism);

	jw_bool(body, "match", n_mism == 0);
	jw_u64(body, "size", (uint64_t)sb.st_size);
	jw_str(body, "sha256", sha);
	if (seals >= 0)
		jw_seals(body, "seals", (unsigned int)seals);
	else
		jw_null(body, "seals");
	jw_u64(body, "pos", pos < 0 ? 0 : (uint64_t)pos);
	jw_u64(body, "allocated", (uint64_t)sb.st_blocks * 512);
	jw_key(body, "mismatches");
	jw_raw(body, mism.buf, mism.len);
	jw_ms(body, "hashMs", now_ms() - t0);
	jw_free(&mism);
	return 0;
}

static int op_write_memfd(const struct jval *req, struct jw *body, struct fail *f)
{
	const struct jval *data;
	uint64_t offset = 0;
	int fd;

	if (req_target(req, body, &fd, f) || field_u64(req, "offset", 0, &offset, f) ||
	    field_str(req, "data", 1, &data, f))
		return -1;
	jw_u64(body, "offset", offset);
	if (write_all(fd, (const uint8_t *)data->s, data->len, offset) < 0)
		return sysfail(f, "pwrite", "writing to the memfd");
	jw_u64(body, "written", data->len);
	return 0;
}

static int op_truncate(const struct jval *req, struct jw *body, struct fail *f)
{
	uint64_t size;
	int fd;

	if (req_target(req, body, &fd, f) || field_u64(req, "size", 1, &size, f))
		return -1;
	jw_u64(body, "size", size);
	if (ftruncate(fd, (off_t)size) < 0)
		return sysfail(f, "ftruncate", "resizing the memfd");
	return 0;
}

static int op_finish(const struct jval *req, struct jw *body, struct fail *f)
{
	struct session_ent *s = req_session(req, 1, body, f);
	struct liveupdate_session_finish arg = { .size = sizeof(arg) };
	uint64_t reserved = 0;

	if (!s || field_u64(req, "reserved", 0, &reserved, f))
		return -1;
	if (reserved > UINT32_MAX)
		return failf(f, EINVAL, "request", "reserved is a u32");
	arg.reserved = (uint32_t)reserved;
	if (ioctl(s->fd, LIVEUPDATE_SESSION_FINISH, &arg) < 0)
		return sysfail(f, "ioctl(LIVEUPDATE_SESSION_FINISH)", "finishing the session");
	s->finished = 1;
	return 0;
}

static int op_get_name(const struct jval *req, struct jw *body, struct fail *f)
{
	struct session_ent *s = req_session(req, 0, body, f);

	if (!s)
		return -1;
#ifdef LIVEUPDATE_SESSION_GET_NAME
	{
		struct liveupdate_session_get_name arg = { .size = sizeof(arg) };
		uint64_t reserved = 0;

		if (field_u64(req, "reserved", 0, &reserved, f))
			return -1;
		arg.reserved = (uint32_t)reserved;
		if (ioctl(s->fd, LIVEUPDATE_SESSION_GET_NAME, &arg) < 0)
			return sysfail(f, "ioctl(LIVEUPDATE_SESSION_GET_NAME)", "reading the session name");
		jw_strn(body, "name", (const char *)arg.name, strnlen((const char *)arg.name, sizeof(arg.name)));
		return 0;
	}
#else
	return failf(f, EOPNOTSUPP, "uapi", "the uapi headers have no LIVEUPDATE_SESSION_GET_NAME (7.2+)");
#endif
}

/* Everything closed before the reply goes out: when `exit` returns, the holder is gone. */
static int op_exit(const struct jval *req, struct jw *body, struct fail *f)
{
	size_t sessions = st.nsessions, memfds = st.nmemfds;

	(void)req;
	(void)f;
	agent_end_holders(); /* lifetimes.c: the sessions handed to other processes go too */
	while (st.nsessions)
		drop_session(&st.sessions[0]);
	while (st.nmemfds)
		drop_memfd(&st.memfds[0]);
	if (st.lu_fd >= 0)
		close(st.lu_fd);
	st.lu_fd = -1;
	unlink(st.socket_path);
	jw_u64(body, "closedSessions", sessions);
	jw_u64(body, "closedMemfds", memfds);
	st.quit = 1;
	return 0;
}

/* ---- for ops in their own files (agent.h) ------------------------------------------------ */

int agent_failf(struct fail *f, int err, const char *call, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfailf(f, err, call, fmt, ap);
	va_end(ap);
	return -1;
}

int agent_sysfail(struct fail *f, const char *call, const char *what)
{
	return sysfail(f, call, what);
}

int agent_session_fd(const struct jval *req, int prefer_incoming, struct jw *body, struct fail *f)
{
	struct session_ent *s = req_session(req, prefer_incoming, body, f);

	if (s)
		jw_str(body, "direction", s->incoming ? "incoming" : "outgoing");
	return s ? s->fd : -1;
}

void agent_close_session_fd(int fd)
{
	for (size_t i = 0; i < st.nsessions; i++)
		if (st.sessions[i].fd == fd) {
			drop_session(&st.sessions[i]);
			return;
		}
}

int agent_memfd_fd(const char *id)
{
	struct memfd_ent *m = find_memfd(id);

	return m ? m->fd : -1;
}

const char *agent_device(void)
{
	return st.device;
}

int agent_lu_fd(void)
{
	return st.lu_fd;
}

const char *agent_field_str(const struct jval *req, const char *key, int required, struct fail *f, int *bad)
{
	const struct jval *v;

	*bad = field_str(req, key, required, &v, f);
	return v ? v->s : NULL;
}

int agent_field_u64(const struct jval *req, const char *key, int required, uint64_t *out, struct fail *f)
{
	return field_u64(req, key, required, out, f);
}

static const struct {
	const char *name;
	op_fn run;
} ops[] = {
	{ "status", op_status },
	{ "list", op_list },
	{ "create-session", op_create_session },
	{ "retrieve-session", op_retrieve_session },
	{ "close-session", op_close_session },
	{ "create-memfd", op_create_memfd },
	{ "close-memfd", op_close_memfd },
	{ "preserve", op_preserve },
	{ "preserve-fd", op_preserve_fd },
	{ "retrieve-fd", op_retrieve_fd },
	{ "verify", op_verify },
	{ "write-memfd", op_write_memfd },
	{ "truncate", op_truncate },
	{ "finish", op_finish },
	{ "get-name", op_get_name },
	{ "exit", op_exit },
	{ "mutate-memfd", op_mutate_memfd }, /* mutate.c */
	{ "hold", op_hold },                 /* lifetimes.c */
	{ "meminfo", op_meminfo },           /* meminfo.c */
	{ "bulk-preserve", op_bulk_preserve }, { "bulk-retrieve", op_bulk_retrieve }, /* scale.c */
	{ "ioctl-raw", op_ioctl_raw }, { "preserve-as", op_preserve_as }, { "open-device", op_open_device }, { "same-file", op_same_file },
};

static void log_line(const char *dir, const char *s, size_t n)
{
	/* stderr is the log file; keep lines short, the host has the full replies */
	fprintf(stderr, "%.1f %s %.*s%s\n", now_ms() - st.started, dir, (int)(n > 400 ? 400 : n), s,
		n > 400 ? "..." : "");
}

/* One request line in, one reply line (with '\n') appended to out. */
static void handle_line(const char *line, size_t len, struct jw *out)
{
	char perr[128];
	struct jval *req = json_parse(line, len, perr, sizeof(perr));
	const struct jval *opv = json_get(req, "op");
	struct fail f = { 0 };
	struct jw body;
	op_fn run = NULL;
	int r;

	st.requests++;
	log_line("<-", line, len);
	jw_init(&body);
	if (!req)
		r = failf(&f, EINVAL, "request", "not JSON: %s", perr);
	else if (req->type != J_OBJ || !opv || opv->type != J_STR)
		r = failf(&f, EINVAL, "request", "a request is an object with a string \"op\"");
	else {
		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
			if (!strcmp(ops[i].name, opv->s))
				run = ops[i].run;
		r = run ? run(req, &body, &f) : failf(&f, EINVAL, "request", "unknown op \"%s\"", opv->s);
	}
	{
		size_t start = out->len;

		out->comma = 0;
		jw_raw(out, "{", 1);
		jw_bool(out, "ok", r == 0);
		if (opv && opv->type == J_STR)
			jw_strn(out, "op", opv->s, opv->len);
		else
			jw_null(out, "op");
		if (body.len) {
			jw_raw(out, ",", 1);
			jw_raw(out, body.buf, body.len);
		}
		if (r) {
			jw_str(out, "errno", errno_name(f.err));
			jw_i64(out, "errnoValue", f.err);
			jw_str(out, "call", f.call);
			jw_str(out, "message", f.msg);
		}
		jw_raw(out, "}\n", 2);
		log_line("->", out->buf + start, out->len - start - 1);
	}
	jw_free(&body);
	json_free(req);
}

/* ---- event loop ---------------------------------------------------------------------------- */

struct client {
	int fd;
	char *in;
	size_t inlen, incap;
	struct jw out;
	size_t outoff;
	int eof;
};

static struct client clients[MAX_CLIENTS];
static size_t nclients;

static void client_close(size_t i)
{
	close(clients[i].fd);
	free(clients[i].in);
	jw_free(&clients[i].out);
	clients[i] = clients[--nclients];
}

static int client_flush(struct client *c)
{
	while (c->outoff < c->out.len) {
		ssize_t w = send(c->fd, c->out.buf + c->outoff, c->out.len - c->outoff, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w < 0)
			return -1;
		c->outoff += (size_t)w;
	}
	c->out.len = 0;
	c->outoff = 0;
	return 0;
}

static void client_lines(struct client *c)
{
	size_t start = 0;

	for (size_t i = 0; i < c->inlen && !st.quit; i++) {
		if (c->in[i] != '\n')
			continue;
		size_t end = i;

		if (end > start && c->in[end - 1] == '\r')
			end--;
		/* blank lines get no reply, so the client can count replies by request lines */
		int blank = 1;

		for (size_t k = start; k < end; k++)
			if (c->in[k] != ' ' && c->in[k] != '\t')
				blank = 0;
		if (!blank)
			handle_line(c->in + start, end - start, &c->out);
		start = i + 1;
	}
	memmove(c->in, c->in + start, c->inlen - start);
	c->inlen -= start;
}

/* Returns -1 when the client is to be dropped. */
static int client_read(struct client *c)
{
	for (;;) {
		ssize_t r;

		if (c->incap - c->inlen < 4096) {
			c->incap = c->incap ? c->incap * 2 : 8192;
			c->in = xrealloc(c->in, c->incap);
		}
		r = recv(c->fd, c->in + c->inlen, c->incap - c->inlen - 1, MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r < 0)
			return -1;
		if (r == 0) {
			c->eof = 1;
			break;
		}
		c->inlen += (size_t)r;
		client_lines(c);
		if (c->inlen > AGENT_MAX_LINE) {
			const char *msg = "{\"ok\":false,\"op\":null,\"errno\":\"E2BIG\",\"errnoValue\":7,\"call\":\"request\","
					  "\"message\":\"request line longer than 1 MiB\"}\n";

			jw_raw(&c->out, msg, strlen(msg));
			c->inlen = 0;
			c->eof = 1;
			break;
		}
	}
	if (c->eof && c->inlen) {
		/* a last request without its newline still counts */
		c->in[c->inlen++] = '\n';
		client_lines(c);
		c->inlen = 0;
	}
	return 0;
}

static void serve_loop(int lfd)
{
	while (!st.quit) {
		struct pollfd pfd[MAX_CLIENTS + 1];

		pfd[0] = (struct pollfd){ .fd = nclients < MAX_CLIENTS ? lfd : -1, .events = POLLIN };
		for (size_t i = 0; i < nclients; i++)
			pfd[i + 1] = (struct pollfd){
				.fd = clients[i].fd,
				.events = (short)((clients[i].eof ? 0 : POLLIN) | (clients[i].out.len ? POLLOUT : 0)),
			};
		if (poll(pfd, nclients + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("poll");
			exit(1);
		}
		for (size_t i = nclients; i-- > 0;) {
			struct client *c = &clients[i];
			int drop = 0;

			if (pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR))
				drop = client_read(c) < 0;
			if (!drop)
				drop = client_flush(c) < 0 || c->out.len > MAX_PENDING_OUT;
			if (drop || (c->eof && c->out.len == 0))
				client_close(i);
		}
		if (pfd[0].revents & POLLIN) {
			int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

			if (cfd >= 0) {
				memset(&clients[nclients], 0, sizeof(clients[0]));
				clients[nclients++].fd = cfd;
			}
		}
	}
	/* `exit`: give the replies already queued a moment to leave, then go. */
	for (double deadline = now_ms() + 2000; nclients && now_ms() < deadline;) {
		struct pollfd pfd[MAX_CLIENTS];

		for (size_t i = 0; i < nclients; i++)
			pfd[i] = (struct pollfd){ .fd = clients[i].fd, .events = POLLOUT };
		poll(pfd, nclients, 100);
		for (size_t i = nclients; i-- > 0;)
			if (client_flush(&clients[i]) < 0 || clients[i].out.len == 0)
				client_close(i);
	}
	close(lfd);
}

/* ---- startup ------------------------------------------------------------------------------- */

static void report_fail(int ready_fd, int err, const char *call, const char *msg)
{
	struct jw w;

	jw_init(&w);
	jw_raw(&w, "{", 1);
	jw_bool(&w, "ok", 0);
	jw_str(&w, "op", "serve");
	jw_u64(&w, "pid", (uint64_t)getpid());
	jw_str(&w, "errno", errno_name(err));
	jw_i64(&w, "errnoValue", err);
	jw_str(&w, "call", call);
	jw_str(&w, "message", msg);
	jw_raw(&w, "}\n", 2);
	if (write(ready_fd, w.buf, w.len) < 0)
		perror("write");
	fputs(w.buf, stderr);
	jw_free(&w);
}

/* Opens the device and the socket, tells ready_fd, then serves until `exit`. */
static int run_daemon(int ready_fd)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct jw w;
	double t0;
	int lfd;
	char msg[512];

	st.started = now_ms();
	t0 = now_ms();
	/* After a kexec this first open deserializes the incoming sessions (EIO if that fails). */
	st.lu_fd = open(st.device, O_RDWR | O_CLOEXEC);
	if (st.lu_fd < 0) {
		int e = errno;
		char call[160];

		snprintf(call, sizeof(call), "open(%s)", st.device);
		snprintf(msg, sizeof(msg), "%s: %s%s", st.device, strerror(e),
			 e == ENOENT ? " (LUO is off: liveupdate=on and KHO needed)" :
			 e == EBUSY ? " (another process holds it; an agent already running?)" : "");
		report_fail(ready_fd, e, call, msg);
		return 1;
	}
	double open_ms = now_ms() - t0;

	if (strlen(st.socket_path) >= sizeof(addr.sun_path)) {
		report_fail(ready_fd, ENAMETOOLONG, "bind", "socket path too long");
		return 1;
	}
	strcpy(addr.sun_path, st.socket_path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	unlink(st.socket_path); /* we hold the device, so no other agent can be serving here */
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 16) < 0) {
		int e = errno;

		snprintf(msg, sizeof(msg), "%s: %s", st.socket_path, strerror(e));
		report_fail(ready_fd, e, "bind", msg);
		return 1;
	}
	chmod(st.socket_path, 0600);

	jw_init(&w);
	jw_raw(&w, "{", 1);
	jw_bool(&w, "ok", 1);
	jw_str(&w, "op", "serve");
	jw_u64(&w, "pid", (uint64_t)getpid());
	jw_str(&w, "version", AGENT_VERSION);
	jw_str(&w, "socket", st.socket_path);
	jw_str(&w, "device", st.device);
	jw_ms(&w, "openMs", open_ms);
	jw_str(&w, "log", st.log_path);
	jw_raw(&w, "}\n", 2);
	if (write(ready_fd, w.buf, w.len) < 0)
		perror("write");
	fputs(w.buf, stderr);
	jw_free(&w);
	if (ready_fd > 2)
		close(ready_fd);

	serve_loop(lfd);
	fprintf(stderr, "%.1f exit after %llu requests\n", now_ms() - st.started, (unsigned long long)st.requests);
	return 0;
}

int cmd_serve(int argc, char **argv)
{
	int foreground = 0, p[2], logfd;
	pid_t pid;
	char buf[2048];
	size_t got = 0;

	st.socket_path = AGENT_SOCKET;
	st.log_path = AGENT_LOG;
	st.device = LIVEUPDATE_DEV;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--foreground"))
			foreground = 1;
		else if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			st.socket_path = argv[++i];
		else if (!strcmp(argv[i], "--log") && i + 1 < argc)
			st.log_path = argv[++i];
		else if (!strcmp(argv[i], "--device") && i + 1 < argc)
			st.device = argv[++i]; /* for trying the agent on a host without LUO */
		else {
			fprintf(stderr, "usage: handover-agent serve [--foreground] [--socket PATH] [--log PATH] [--device PATH]\n");
			printf("{\"ok\":false,\"op\":\"serve\",\"errno\":\"EINVAL\",\"errnoValue\":%d,\"call\":\"request\","
			       "\"message\":\"bad arguments\"}\n", EINVAL);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (mkdir(AGENT_RUN_DIR, 0755) < 0 && errno != EEXIST)
		perror("mkdir " AGENT_RUN_DIR);
	if (foreground)
		return run_daemon(STDOUT_FILENO);

	if (pipe2(p, O_CLOEXEC) < 0) {
		perror("pipe2");
		return 1;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		/* Double fork + setsid: no controlling terminal, not a child of the SSH session. */
		close(p[0]);
		if (setsid() < 0)
			_exit(1);
		pid = fork();
		if (pid != 0)
			_exit(pid < 0);
		if (chdir("/") < 0)
			_exit(1);
		umask(022);
		/* stdio off the SSH channel (or the exec would never end): /dev/null in, log out. */
		logfd = open(st.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (logfd < 0)
			logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		dup2(nullfd, STDIN_FILENO);
		dup2(logfd, STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
		close(nullfd);
		close(logfd);
		setvbuf(stderr, NULL, _IOLBF, 0);
		_exit(run_daemon(p[1]));
	}
	close(p[1]);
	/* The daemon writes one line, then closes its end (or dies, which closes it too). */
	for (;;) {
		ssize_t r = read(p[0], buf + got, sizeof(buf) - 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got == sizeof(buf) - 1 || memchr(buf, '\n', got))
			break;
	}
	close(p[0]);
	waitpid(pid, NULL, 0);
	buf[got] = 0;
	if (!got || !memchr(buf, '\n', got)) {
		printf("{\"ok\":false,\"op\":\"serve\",\"errno\":\"EIO\",\"errnoValue\":%d,\"call\":\"fork\","
		       "\"message\":\"the daemon exited before it was ready (see %s)\"}\n", EIO, st.log_path);
		return 1;
	}
	fputs(buf, stdout);
	return strncmp(buf, "{\"ok\":true", 10) ? 1 : 0;
}
