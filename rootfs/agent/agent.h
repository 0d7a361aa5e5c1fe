/* SPDX-License-Identifier: GPL-2.0-only */
/* Shared pieces of handover-agent: JSON in and out, SHA-256, the memfd pattern, the daemon. */
#ifndef HANDOVER_AGENT_H
#define HANDOVER_AGENT_H

#include <stddef.h>
#include <stdint.h>

#define AGENT_VERSION "0.2.0"
#define LIVEUPDATE_DEV "/dev/liveupdate"
#define AGENT_RUN_DIR "/run/handover"
#define AGENT_SOCKET AGENT_RUN_DIR "/agent.sock"
#define AGENT_LOG AGENT_RUN_DIR "/agent.log"
/* Longest request line the daemon accepts (write-memfd data included). */
#define AGENT_MAX_LINE (1u << 20)

/* ---- json.c: a small DOM parser for requests, and a growable writer for replies ------------- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jval {
	enum jtype type;
	int b;              /* J_BOOL */
	char *s;            /* J_STR: decoded bytes (NUL-terminated, may hold NULs); J_NUM: the literal */
	size_t len;
	char *key;          /* set on object members */
	size_t keylen;
	struct jval *items; /* J_ARR elements, J_OBJ members */
	size_t n;
};

struct jval *json_parse(const char *text, size_t len, char *err, size_t errlen);
void json_free(struct jval *v);
const struct jval *json_get(const struct jval *obj, const char *key);
/* Exact non-negative integer (no fraction/exponent), full u64 range: 0, else -1. */
int json_u64(const struct jval *v, uint64_t *out);

struct jw {
	char *buf;
	size_t len, cap;
	int comma;
};

void jw_init(struct jw *w);
void jw_free(struct jw *w);
void jw_raw(struct jw *w, const char *s, size_t n);
void jw_key(struct jw *w, const char *key); /* separator, then "key": unless key is NULL */
void jw_obj(struct jw *w, const char *key);
void jw_end_obj(struct jw *w);
void jw_arr(struct jw *w, const char *key);
void jw_end_arr(struct jw *w);
void jw_str(struct jw *w, const char *key, const char *s);
void jw_strn(struct jw *w, const char *key, const char *s, size_t n);
void jw_u64(struct jw *w, const char *key, uint64_t v);
void jw_i64(struct jw *w, const char *key, int64_t v);
void jw_ms(struct jw *w, const char *key, double ms);
void jw_bool(struct jw *w, const char *key, int v);
void jw_null(struct jw *w, const char *key);

/* "EBUSY" for EBUSY; "E<n>" for numbers glibc has no name for. */
const char *errno_name(int e);

/* ---- sha256.c ------------------------------------------------------------------------------ */

struct sha256 {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t n;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_hex(struct sha256 *s, char out[65]); /* finishes the hash */

/* ---- pattern.c: the deterministic memfd contents (the host re-derives them) --------------- */

#define PATTERN_PAGE 4096u

uint64_t pattern_word(uint64_t seed, uint64_t word);
int pattern_page_written(uint64_t seed, uint64_t page);
/* Fill buf with the bytes at [off, off+len) of a pattern file; off and len multiples of 8 or the tail. */
void pattern_fill(uint64_t seed, uint64_t off, uint8_t *buf, size_t len);

/* ---- seals --------------------------------------------------------------------------------- */

/* Seal names <-> F_SEAL_* bits; -1 for an unknown name. */
int seal_bit(const char *name);
void jw_seals(struct jw *w, const char *key, unsigned int seals);

/* ---- the daemon and its client (daemon.c, ctl.c) ------------------------------------------- */

int cmd_serve(int argc, char **argv);
int cmd_ctl(int argc, char **argv);
int cmd_kho_dump(int argc, char **argv);
int cmd_kho_caps(int argc, char **argv);

/* ---- for ops in their own files (refusals.c, mutate.c): the daemon's tables and failures ---- */

struct fail;
int agent_failf(struct fail *f, int err, const char *call, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int agent_sysfail(struct fail *f, const char *call, const char *what);
/* The session fd the request's "session" (and "direction") names, or -1 with f set. */
int agent_session_fd(const struct jval *req, int prefer_incoming, struct jw *body, struct fail *f);
/* Closes that session fd and forgets its session (its tokens' fds too). */
void agent_close_session_fd(int fd);
/* The fd of a memfd the agent created, or -1. */
int agent_memfd_fd(const char *id);
/* /dev/liveupdate as the daemon opened it (its path), and its fd. */
const char *agent_device(void);
int agent_lu_fd(void);
/* The daemon's request-field readers: a string (NULL when absent; *bad set on an error, f filled)
 * and a u64 (left as it was when absent and not required). */
const char *agent_field_str(const struct jval *req, const char *key, int required, struct fail *f, int *bad);
int agent_field_u64(const struct jval *req, const char *key, int required, uint64_t *out, struct fail *f);

/* refusals.c */
int op_ioctl_raw(const struct jval *req, struct jw *body, struct fail *f);
int op_preserve_as(const struct jval *req, struct jw *body, struct fail *f);
int op_open_device(const struct jval *req, struct jw *body, struct fail *f);
int op_same_file(const struct jval *req, struct jw *body, struct fail *f);

/* mutate.c: ftruncate / write past EOF / fallocate / punch-hole / write / mmap-write on a memfd fd. */
int op_mutate_memfd(const struct jval *req, struct jw *body, struct fail *f);

/* lifetimes.c: hand a session to a holder process (fork / scm-rights / exec); `exit` ends them. */
int op_hold(const struct jval *req, struct jw *body, struct fail *f);
void agent_end_holders(void);

/* meminfo.c: /proc/meminfo's MemTotal, MemFree, MemAvailable, Shmem (bytes), caches dropped first on request. */
int op_meminfo(const struct jval *req, struct jw *body, struct fail *f);

/* scale.c: thousands of sessions / files created and preserved, or retrieved and verified, in one request. */
int op_bulk_preserve(const struct jval *req, struct jw *body, struct fail *f);
int op_bulk_retrieve(const struct jval *req, struct jw *body, struct fail *f);

/* init.c: PID 1 of the guest, when the agent runs as /init. Never returns. */
int init_main(void);

#endif
