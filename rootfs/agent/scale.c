// SPDX-License-Identifier: GPL-2.0-only
/*
 * Bulk ops for the scale checks (the upstream stress tests' counts: 2000 sessions, 500 files in
 * one session; tools/testing/selftests/liveupdate/luo_stress_{sessions,files}.c), one request
 * each instead of thousands of round trips:
 *
 *   bulk-preserve {prefix, sessions, files, size, seed}
 *       raises RLIMIT_NOFILE to what it needs, creates sessions "<prefix><i>" (i < sessions), and in
 *       each `files` memfds of `size` bytes filled with the pattern of seed + i*files + j, preserved
 *       under token j and then closed (LUO holds them, as in the selftests). The session fds stay
 *       open in the daemon (outside its session table) until the kexec or `exit`.
 *   bulk-retrieve {prefix, sessions, files, size, seed}
 *       after the kexec: RETRIEVE_SESSION of each, RETRIEVE_FD of each token, its size and bytes
 *       compared with the pattern, the fd closed, FINISH, the session fd closed.
 *
 * Replies give the counts done and the time taken (ms); a failure says which session and token,
 * names the call that failed, and still gives the counts done so far.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/liveupdate.h>

#include "agent.h"

#define BULK_MAX_SESSIONS 100000u
#define BULK_MAX_FILES 100000u
#define BULK_MAX_SIZE (1u << 20)

static int *bulk_fds;
static size_t nbulk;

static double ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

struct bulk {
	const char *prefix;
	uint64_t sessions, files, size, seed;
};

static int bulk_args(const struct jval *req, struct bulk *b, struct fail *f)
{
	int bad;

	b->prefix = agent_field_str(req, "prefix", 1, f, &bad);
	if (bad)
		return -1;
	b->files = 1;
	b->size = PATTERN_PAGE;
	b->seed = 1;
	if (agent_field_u64(req, "sessions", 1, &b->sessions, f) || agent_field_u64(req, "files", 0, &b->files, f) ||
	    agent_field_u64(req, "size", 0, &b->size, f) || agent_field_u64(req, "seed", 0, &b->seed, f))
		return -1;
	if (!b->sessions || b->sessions > BULK_MAX_SESSIONS || b->files > BULK_MAX_FILES || !b->size || b->size > BULK_MAX_SIZE)
		return agent_failf(f, EINVAL, "request", "sessions in [1, %u], files in [0, %u], size in [1, %u]",
				   BULK_MAX_SESSIONS, BULK_MAX_FILES, BULK_MAX_SIZE);
	if (strlen(b->prefix) + 12 > LIVEUPDATE_SESSION_NAME_LENGTH)
		return agent_failf(f, EINVAL, "request", "prefix too long for a %d-byte session name", LIVEUPDATE_SESSION_NAME_LENGTH);
	return 0;
}

/* Room for every fd the op holds at once, plus the daemon's own. */
static int raise_nofile(uint64_t need, struct jw *body, struct fail *f)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return agent_sysfail(f, "getrlimit(RLIMIT_NOFILE)", "reading the fd limit");
	if (rl.rlim_cur < need) {
		rl.rlim_cur = need;
		if (rl.rlim_max < need)
			rl.rlim_max = need;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return agent_sysfail(f, "setrlimit(RLIMIT_NOFILE)", "raising the fd limit");
	}
	jw_u64(body, "nofile", (uint64_t)rl.rlim_cur);
	return 0;
}

static void session_name(char out[LIVEUPDATE_SESSION_NAME_LENGTH], const struct bulk *b, uint64_t i)
{
	snprintf(out, LIVEUPDATE_SESSION_NAME_LENGTH, "%s%llu", b->prefix, (unsigned long long)i);
}

static void counts(struct jw *body, uint64_t sessions, uint64_t files, double t0)
{
	jw_u64(body, "sessionsDone", sessions);
	jw_u64(body, "filesDone", files);
	jw_ms(body, "ms", ms_now() - t0);
}

int op_bulk_preserve(const struct jval *req, struct jw *body, struct fail *f)
{
	struct bulk b;
	uint8_t *buf;
	uint64_t files_done = 0, i;
	double t0 = ms_now();
	int rc = -1;

	if (bulk_args(req, &b, f) || raise_nofile(nbulk + b.sessions + 256, body, f))
		return -1;
	buf = malloc(b.size);
	bulk_fds = realloc(bulk_fds, (nbulk + b.sessions) * sizeof(*bulk_fds));
	if (!buf || !bulk_fds)
		return agent_failf(f, ENOMEM, "malloc", "no memory for %llu sessions", (unsigned long long)b.sessions);
	for (i = 0; i < b.sessions; i++) {
		struct liveupdate_ioctl_create_session cs = { .size = sizeof(cs), .fd = -1 };

		session_name((char *)cs.name, &b, i);
		if (ioctl(agent_lu_fd(), LIVEUPDATE_IOCTL_CREATE_SESSION, &cs) < 0) {
			agent_sysfail(f, "ioctl(LIVEUPDATE_IOCTL_CREATE_SESSION)", "creating a session");
			jw_str(body, "failedSession", (char *)cs.name);
			goto out;
		}
		bulk_fds[nbulk++] = cs.fd;
		for (uint64_t j = 0; j < b.files; j++) {
			struct liveupdate_session_preserve_fd pf = { .size = sizeof(pf), .token = j };
			int mfd = memfd_create("bulk", MFD_CLOEXEC);

			if (mfd < 0) {
				agent_sysfail(f, "memfd_create", "creating a memfd");
				goto fail_at;
			}
			pattern_fill(b.seed + i * b.files + j, 0, buf, b.size);
			if (pwrite(mfd, buf, b.size, 0) != (ssize_t)b.size) {
				agent_sysfail(f, "pwrite", "filling a memfd");
				close(mfd);
				goto fail_at;
			}
			pf.fd = mfd;
			if (ioctl(cs.fd, LIVEUPDATE_SESSION_PRESERVE_FD, &pf) < 0) {
				agent_sysfail(f, "ioctl(LIVEUPDATE_SESSION_PRESERVE_FD)", "preserving a memfd");
				close(mfd);
				goto fail_at;
			}
			close(mfd);
			files_done++;
			continue;
fail_at:
			jw_str(body, "failedSession", (char *)cs.name);
			jw_u64(body, "failedToken", j);
			goto out;
		}
	}
	rc = 0;
out:
	counts(body, i, files_done, t0);
	free(buf);
	return rc;
}

/* Reads the retrieved fd whole and compares it with the pattern: 0 when it is the same. */
static int same_as_pattern(int fd, const struct bulk *b, uint64_t seed, uint8_t *want, uint8_t *got, struct fail *f)
{
	struct stat sb;

	if (fstat(fd, &sb) < 0)
		return agent_sysfail(f, "fstat", "reading a retrieved memfd's size");
	if ((uint64_t)sb.st_size != b->size)
		return agent_failf(f, EBADMSG, "verify", "size %lld, preserved %llu", (long long)sb.st_size, (unsigned long long)b->size);
	if (pread(fd, got, b->size, 0) != (ssize_t)b->size)
		return agent_sysfail(f, "pread", "reading a retrieved memfd");
	pattern_fill(seed, 0, want, b->size);
	if (memcmp(want, got, b->size))
		return agent_failf(f, EBADMSG, "verify", "contents differ from what was preserved");
	return 0;
}

int op_bulk_retrieve(const struct jval *req, struct jw *body, struct fail *f)
{
	struct bulk b;
	uint8_t *want, *got;
	uint64_t files_done = 0, i;
	double t0 = ms_now();
	int rc = -1;

	if (bulk_args(req, &b, f) || raise_nofile(b.files + 256, body, f))
		return -1;
	want = malloc(b.size);
	got = malloc(b.size);
	if (!want || !got) {
		free(want);
		return agent_failf(f, ENOMEM, "malloc", "no memory for the comparison");
	}
	for (i = 0; i < b.sessions; i++) {
		struct liveupdate_ioctl_retrieve_session rs = { .size = sizeof(rs), .fd = -1 };
		struct liveupdate_session_finish fin = { .size = sizeof(fin) };

		session_name((char *)rs.name, &b, i);
		if (ioctl(agent_lu_fd(), LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &rs) < 0) {
			agent_sysfail(f, "ioctl(LIVEUPDATE_IOCTL_RETRIEVE_SESSION)", "retrieving a session");
			jw_str(body, "failedSession", (char *)rs.name);
			goto out;
		}
		for (uint64_t j = 0; j < b.files; j++) {
			struct liveupdate_session_retrieve_fd rf = { .size = sizeof(rf), .fd = -1, .token = j };
			int bad;

			if (ioctl(rs.fd, LIVEUPDATE_SESSION_RETRIEVE_FD, &rf) < 0) {
				agent_sysfail(f, "ioctl(LIVEUPDATE_SESSION_RETRIEVE_FD)", "retrieving a memfd");
				bad = 1;
			} else {
				bad = same_as_pattern(rf.fd, &b, b.seed + i * b.files + j, want, got, f) != 0;
				close(rf.fd);
			}
			if (bad) {
				jw_str(body, "failedSession", (char *)rs.name);
				jw_u64(body, "failedToken", j);
				close(rs.fd);
				goto out;
			}
			files_done++;
		}
		if (ioctl(rs.fd, LIVEUPDATE_SESSION_FINISH, &fin) < 0) {
			agent_sysfail(f, "ioctl(LIVEUPDATE_SESSION_FINISH)", "finishing a session");
			jw_str(body, "failedSession", (char *)rs.name);
			close(rs.fd);
			goto out;
		}
		close(rs.fd);
	}
	rc = 0;
out:
	counts(body, i, files_done, t0);
	free(want);
	free(got);
	return rc;
}
