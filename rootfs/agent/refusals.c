// SPDX-License-Identifier: GPL-2.0-only
/*
 * Ops for the refusal and ioctl-contract checks (kho-luo-7.3.md §1.5, §2.1):
 *
 *   ioctl-raw    {target:"device"|"session", session?, direction?, nr, type?, dir?, bits?, len?, argsz?, tail?}
 *                an ioctl with a hand-made cmd and argument: `len` bytes of zeros (default 72) whose
 *                first u32 is `argsz` (default len), byte len-1 set to `tail`; cmd = _IOC(dir, type, nr, bits).
 *                call: "ioctl(raw)".
 *   preserve-as  {session, token, as, memfd?, dir?, fs?}  PRESERVE_FD of a file made for the purpose:
 *                dup (a dup() of memfd), proc-fd (/proc/self/fd/N of memfd reopened), pipe (a pipe's
 *                read end), tmpfile (an unlinked O_TMPFILE in dir), linked (a new file in dir, linked),
 *                path (an existing file opened O_RDWR), hugetlb (memfd_create(MFD_HUGETLB)).
 *                With "fs", dir's (or path's) filesystem must be that one
 *                (statfs; else call "statfs", EXDEV), so a check claims only what it tests.
 *   open-device  open() /dev/liveupdate a second time (the daemon holds it): call "open".
 *   same-file    {session, token}  RETRIEVE_FD twice; fstat both: ino, dev, sameInode, and
 *                sameFile (kcmp KCMP_FILE, or else whether moving one fd's position moves the other's).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/kcmp.h>
#include <linux/liveupdate.h>

#include "agent.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#define TMPFS_MAGIC_ 0x01021994
#define RAMFS_MAGIC_ 0x858458f6
#define HUGETLBFS_MAGIC_ 0x958458f6

static int str_field(const struct jval *req, const char *key, int required, const char **out, struct fail *f)
{
	int bad;

	*out = agent_field_str(req, key, required, f, &bad);
	return bad;
}

/* The daemon's u64 reader, with an upper bound. */
static int u64_field(const struct jval *req, const char *key, uint64_t *out, uint64_t max, struct fail *f)
{
	if (agent_field_u64(req, key, 0, out, f))
		return -1;
	if (*out > max)
		return agent_failf(f, EINVAL, "request", "field \"%s\" must be an integer in [0, %llu]", key,
				   (unsigned long long)max);
	return 0;
}

static const char *fs_name(long magic)
{
	switch (magic) {
	case TMPFS_MAGIC_:
		return "tmpfs";
	case RAMFS_MAGIC_:
		return "ramfs";
	case HUGETLBFS_MAGIC_:
		return "hugetlbfs";
	default:
		return "other";
	}
}

int op_ioctl_raw(const struct jval *req, struct jw *body, struct fail *f)
{
	uint8_t arg[256] __attribute__((aligned(8)));
	uint64_t nr = 0, type = LIVEUPDATE_IOCTL_TYPE, dir = 0, bits = 0, len = 72, argsz, tail = 0;
	const char *target;
	unsigned long cmd;
	uint32_t sz;
	int fd, r;

	if (str_field(req, "target", 1, &target, f) || u64_field(req, "nr", &nr, 0xff, f) ||
	    u64_field(req, "type", &type, 0xff, f) || u64_field(req, "dir", &dir, 3, f) ||
	    u64_field(req, "bits", &bits, (1u << 14) - 1, f) || u64_field(req, "len", &len, sizeof(arg), f))
		return -1;
	argsz = len;
	if (u64_field(req, "argsz", &argsz, UINT32_MAX, f) || u64_field(req, "tail", &tail, 0xff, f))
		return -1;
	if (len < 4)
		return agent_failf(f, EINVAL, "request", "len is at least 4 (the size field)");
	if (!strcmp(target, "device")) {
		/* The daemon's own open fd is not exported: reach it through /proc/self/fd. */
		fd = -1;
		for (int n = 0; n < 1024 && fd < 0; n++) {
			char link[64], path[256];
			ssize_t k;

			snprintf(link, sizeof(link), "/proc/self/fd/%d", n);
			k = readlink(link, path, sizeof(path) - 1);
			if (k > 0) {
				path[k] = 0;
				if (!strcmp(path, agent_device()))
					fd = n;
			}
		}
		if (fd < 0)
			return agent_failf(f, ENOENT, "lookup", "the daemon holds no open %s", agent_device());
	} else if (!strcmp(target, "session")) {
		fd = agent_session_fd(req, 0, body, f);
		if (fd < 0)
			return -1;
	} else {
		return agent_failf(f, EINVAL, "request", "target must be \"device\" or \"session\"");
	}
	memset(arg, 0, sizeof(arg));
	sz = (uint32_t)argsz;
	memcpy(arg, &sz, sizeof(sz));
	if (tail)
		arg[len - 1] = (uint8_t)tail;
	cmd = _IOC((unsigned int)dir, (unsigned int)type, (unsigned int)nr, (unsigned int)bits);
	jw_u64(body, "cmd", cmd);
	jw_u64(body, "len", len);
	jw_u64(body, "argsz", argsz);
	r = ioctl(fd, cmd, arg);
	if (r < 0)
		return agent_sysfail(f, "ioctl(raw)", "the raw ioctl");
	jw_i64(body, "result", r);
	return 0;
}

static int preserve_fd(int session_fd, uint64_t token, int fd, struct fail *f)
{
	struct liveupdate_session_preserve_fd arg = { .size = sizeof(arg), .fd = fd, .token = token };

	if (ioctl(session_fd, LIVEUPDATE_SESSION_PRESERVE_FD, &arg) < 0)
		return agent_sysfail(f, "ioctl(LIVEUPDATE_SESSION_PRESERVE_FD)", "preserving the fd");
	return 0;
}

static void describe(struct jw *body, int fd)
{
	struct stat sb;
	struct statfs sf;

	if (fstat(fd, &sb) == 0) {
		jw_u64(body, "ino", (uint64_t)sb.st_ino);
		jw_u64(body, "nlink", (uint64_t)sb.st_nlink);
		jw_str(body, "fileType", S_ISREG(sb.st_mode) ? "regular" : S_ISFIFO(sb.st_mode) ? "fifo" : "other");
	}
	if (fstatfs(fd, &sf) == 0)
		jw_str(body, "fs", fs_name((long)sf.f_type));
}

int op_preserve_as(const struct jval *req, struct jw *body, struct fail *f)
{
	const char *as, *memfd, *dir, *fs;
	uint64_t token = 0;
	int sfd, fd = -1, other = -1, r, mfd = -1;
	char path[4096];

	sfd = agent_session_fd(req, 0, body, f);
	if (sfd < 0)
		return -1;
	if (!json_get(req, "token"))
		return agent_failf(f, EINVAL, "request", "missing integer field \"token\"");
	if (u64_field(req, "token", &token, UINT64_MAX, f) || str_field(req, "as", 1, &as, f) ||
	    str_field(req, "memfd", 0, &memfd, f) || str_field(req, "dir", 0, &dir, f) || str_field(req, "fs", 0, &fs, f))
		return -1;
	jw_u64(body, "token", token);
	jw_str(body, "as", as);
	if (memfd) {
		mfd = agent_memfd_fd(memfd);
		if (mfd < 0)
			return agent_failf(f, ENOENT, "lookup", "the agent holds no open memfd \"%s\"", memfd);
	}
	if (!strcmp(as, "dup") || !strcmp(as, "proc-fd")) {
		if (mfd < 0)
			return agent_failf(f, EINVAL, "request", "\"as\":\"%s\" needs \"memfd\"", as);
		if (!strcmp(as, "dup")) {
			fd = dup(mfd);
			if (fd < 0)
				return agent_sysfail(f, "dup", "duplicating the memfd");
		} else {
			snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
			fd = open(path, O_RDWR | O_CLOEXEC);
			if (fd < 0)
				return agent_sysfail(f, "open", path);
		}
	} else if (!strcmp(as, "pipe")) {
		int p[2];

		if (pipe2(p, O_CLOEXEC) < 0)
			return agent_sysfail(f, "pipe2", "making a pipe");
		fd = p[0];
		other = p[1];
	} else if (!strcmp(as, "tmpfile") || !strcmp(as, "linked")) {
		struct statfs sf;

		if (!dir)
			return agent_failf(f, EINVAL, "request", "\"as\":\"%s\" needs \"dir\"", as);
		jw_str(body, "dir", dir);
		if (statfs(dir, &sf) < 0)
			return agent_sysfail(f, "statfs", dir);
		if (fs && strcmp(fs, fs_name((long)sf.f_type)))
			return agent_failf(f, EXDEV, "statfs", "%s is %s, not %s", dir, fs_name((long)sf.f_type), fs);
		if (!strcmp(as, "tmpfile")) {
			fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
			if (fd < 0)
				return agent_sysfail(f, "open(O_TMPFILE)", dir);
		} else {
			snprintf(path, sizeof(path), "%s/handover-linked-%llu", dir, (unsigned long long)token);
			fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
			if (fd < 0)
				return agent_sysfail(f, "open", path);
		}
		if (write(fd, "handover", 8) != 8) {
			agent_sysfail(f, "write", "writing the file");
			close(fd);
			return -1;
		}
	} else if (!strcmp(as, "path")) {
		struct statfs sf;
		const char *p;

		if (str_field(req, "path", 1, &p, f))
			return -1;
		jw_str(body, "path", p);
		fd = open(p, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return agent_sysfail(f, "open", p);
		if (fs && fstatfs(fd, &sf) == 0 && strcmp(fs, fs_name((long)sf.f_type))) {
			close(fd);
			return agent_failf(f, EXDEV, "statfs", "%s is on %s, not %s", p, fs_name((long)sf.f_type), fs);
		}
	} else if (!strcmp(as, "hugetlb")) {
		fd = memfd_create("handover-hugetlb", MFD_CLOEXEC | MFD_HUGETLB);
		if (fd < 0)
			return agent_sysfail(f, "memfd_create(MFD_HUGETLB)", "creating a hugetlb memfd");
	} else {
		return agent_failf(f, EINVAL, "request", "unknown \"as\" (dup, proc-fd, pipe, tmpfile, linked, path, hugetlb)");
	}
	describe(body, fd);
	if (mfd >= 0) {
		struct stat a, b;

		if (fstat(mfd, &a) == 0 && fstat(fd, &b) == 0)
			jw_bool(body, "sameInodeAsMemfd", a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	}
	r = preserve_fd(sfd, token, fd, f);
	/* LUO holds its own reference to what it preserved. */
	close(fd);
	if (other >= 0)
		close(other);
	if (!strcmp(as, "linked"))
		unlink(path);
	return r;
}

int op_open_device(const struct jval *req, struct jw *body, struct fail *f)
{
	int fd;

	(void)req;
	jw_str(body, "device", agent_device());
	fd = open(agent_device(), O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return agent_sysfail(f, "open", agent_device());
	close(fd);
	jw_bool(body, "opened", 1);
	return 0;
}

int op_same_file(const struct jval *req, struct jw *body, struct fail *f)
{
	struct liveupdate_session_retrieve_fd arg = { .size = sizeof(arg), .fd = -1 };
	uint64_t token = 0;
	struct stat a, b;
	int sfd, fd[2] = { -1, -1 };
	long k;

	sfd = agent_session_fd(req, 1, body, f);
	if (sfd < 0)
		return -1;
	if (!json_get(req, "token"))
		return agent_failf(f, EINVAL, "request", "missing integer field \"token\"");
	if (u64_field(req, "token", &token, UINT64_MAX, f))
		return -1;
	jw_u64(body, "token", token);
	for (int i = 0; i < 2; i++) {
		arg.size = sizeof(arg);
		arg.fd = -1;
		arg.token = token;
		if (ioctl(sfd, LIVEUPDATE_SESSION_RETRIEVE_FD, &arg) < 0) {
			agent_sysfail(f, "ioctl(LIVEUPDATE_SESSION_RETRIEVE_FD)", i ? "retrieving the fd again" : "retrieving the fd");
			if (fd[0] >= 0)
				close(fd[0]);
			return -1;
		}
		fd[i] = arg.fd;
	}
	if (fstat(fd[0], &a) < 0 || fstat(fd[1], &b) < 0) {
		agent_sysfail(f, "fstat", "reading the inodes");
		close(fd[0]);
		close(fd[1]);
		return -1;
	}
	jw_arr(body, "fds");
	jw_i64(body, NULL, fd[0]);
	jw_i64(body, NULL, fd[1]);
	jw_end_arr(body);
	jw_arr(body, "ino");
	jw_u64(body, NULL, (uint64_t)a.st_ino);
	jw_u64(body, NULL, (uint64_t)b.st_ino);
	jw_end_arr(body);
	jw_arr(body, "dev");
	jw_u64(body, NULL, (uint64_t)a.st_dev);
	jw_u64(body, NULL, (uint64_t)b.st_dev);
	jw_end_arr(body);
	jw_bool(body, "sameInode", a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	k = syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, fd[0], fd[1]);
	if (k >= 0) {
		jw_bool(body, "sameFile", k == 0);
		jw_str(body, "sameFileBy", "kcmp");
	} else {
		/* No kcmp (CONFIG_KCMP=n): two fds of one struct file share its position. */
		off_t pos = lseek(fd[0], 0, SEEK_CUR), moved;

		if (pos < 0 || lseek(fd[0], pos + 1, SEEK_SET) < 0) {
			jw_null(body, "sameFile");
		} else {
			moved = lseek(fd[1], 0, SEEK_CUR);
			jw_bool(body, "sameFile", moved == pos + 1);
			jw_str(body, "sameFileBy", "f_pos");
			lseek(fd[0], pos, SEEK_SET);
		}
	}
	close(fd[0]);
	close(fd[1]);
	return 0;
}
