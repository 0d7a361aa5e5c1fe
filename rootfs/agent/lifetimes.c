// SPDX-License-Identifier: GPL-2.0-only
/*
 * `hold`: hands an outgoing session to another process, for the lifetime checks (kho-luo-7.3.md
 * §1.6 step 3: a session lives while any process holds its fd; session fds are O_CLOEXEC):
 *
 *   hold {session, mode}  mode fork: a forked child keeps the inherited session fd;
 *                         scm-rights: a child that had closed every inherited fd gets it over a
 *                         unix socket (SCM_RIGHTS); exec: a forked child keeping the fd exec()s
 *                         /bin/sleep, so the kernel closes the O_CLOEXEC fd.
 *   Then the daemon closes its own copy: the holder is the session's only owner (if any).
 *   Reply: pid, mode, holderHasSession (its /proc/<pid>/fd shows "[luo_session] <name>").
 *
 * Holders close everything else they inherited (the device, other sessions, memfds, sockets), so
 * each holds exactly what its mode gives it. They live until `exit` (kill_holder) kills and reaps
 * them, or until the kexec.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

#define MAX_HOLDERS 64
/* Before a step's deadline: a holder that says nothing by then is killed, never waited on forever. */
#define HOLDER_READY_MS 5000

static pid_t holders[MAX_HOLDERS];
static size_t nholders;

/* Closes every fd from 3 up but `keep` (and `keep2`, -1 for none). */
static void close_all_but(int keep, int keep2)
{
	int lo = keep < keep2 ? keep : keep2, hi = keep < keep2 ? keep2 : keep;

	if (lo < 0)
		lo = hi;
	if (lo > 3)
		syscall(SYS_close_range, 3u, (unsigned)lo - 1, 0u);
	if (hi > lo + 1)
		syscall(SYS_close_range, (unsigned)lo + 1, (unsigned)hi - 1, 0u);
	syscall(SYS_close_range, (unsigned)hi + 1, ~0u, 0u);
}

static void hold_forever(void)
{
	for (;;)
		pause();
}

/* Waits for up to n bytes or EOF on fd (the child's signal), within HOLDER_READY_MS. */
static ssize_t read_ready(int fd, void *buf, size_t n)
{
	struct timeval tv = { .tv_sec = HOLDER_READY_MS / 1000 };
	fd_set rd;

	FD_ZERO(&rd);
	FD_SET(fd, &rd);
	if (select(fd + 1, &rd, NULL, NULL, &tv) <= 0)
		return -1;
	return read(fd, buf, n);
}

/* One byte of data carrying (room for) one fd in SCM_RIGHTS. */
struct fd_msg {
	char data;
	struct iovec iov;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} c;
	struct msghdr msg;
};

static void fd_msg_init(struct fd_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->data = 'S';
	m->iov = (struct iovec){ .iov_base = &m->data, .iov_len = 1 };
	m->msg = (struct msghdr){ .msg_iov = &m->iov, .msg_iovlen = 1, .msg_control = m->c.buf, .msg_controllen = sizeof(m->c.buf) };
}

static int send_fd(int sock, int fd)
{
	struct fd_msg m;
	struct cmsghdr *cm;

	fd_msg_init(&m);
	cm = CMSG_FIRSTHDR(&m.msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &m.msg, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	struct fd_msg m;
	struct cmsghdr *cm;
	int fd = -1;

	fd_msg_init(&m);
	if (recvmsg(sock, &m.msg, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&m.msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* The holder's side: never returns. `sync` gets one byte (ready) or an errno (failed). */
static void holder_main(const char *mode, int session_fd, int sync)
{
	int err = 0;

	if (!strcmp(mode, "fork")) {
		close_all_but(session_fd, sync);
	} else if (!strcmp(mode, "scm-rights")) {
		close_all_but(sync, -1); /* the session fd too: it must come over the socket */
		if (recv_fd(sync) < 0)
			err = errno ? errno : EPROTO;
	} else {
		close_all_but(session_fd, sync);
		/* sync is O_CLOEXEC: a successful exec closes it, which is the parent's "ready". */
		execl("/bin/sleep", "sleep", "86400", (char *)NULL);
		err = errno;
	}
	if (write(sync, err ? (void *)&err : (void *)"R", err ? sizeof(err) : 1) < 0)
		_exit(1);
	if (err)
		_exit(127);
	close(sync);
	hold_forever();
}

/* Whether pid's fd table shows this session ("anon_inode:[luo_session] <name>"). */
static int holds_session(pid_t pid, const char *name)
{
	char dir[64], path[320], want[128], link[256];
	struct dirent *e;
	int found = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	snprintf(want, sizeof(want), "anon_inode:[luo_session] %s", name);
	d = opendir(dir);
	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = 0;
			found = !strcmp(link, want);
		}
	}
	closedir(d);
	return found;
}

static void end_holder(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

int op_hold(const struct jval *req, struct jw *body, struct fail *f)
{
	const char *mode, *name;
	int bad, fd, sv[2];
	pid_t pid;
	char ready[sizeof(int)];
	ssize_t got;

	name = agent_field_str(req, "session", 1, f, &bad);
	if (bad)
		return -1;
	mode = agent_field_str(req, "mode", 1, f, &bad);
	if (bad)
		return -1;
	jw_str(body, "mode", mode);
	if (strcmp(mode, "fork") && strcmp(mode, "scm-rights") && strcmp(mode, "exec"))
		return agent_failf(f, EINVAL, "request", "mode must be \"fork\", \"scm-rights\" or \"exec\"");
	if (nholders == MAX_HOLDERS)
		return agent_failf(f, ENOSPC, "request", "at most %d holders", MAX_HOLDERS);
	fd = agent_session_fd(req, 0, body, f);
	if (fd < 0)
		return -1;
	/* A stream socket for all modes: fork and exec only use it to say ready (or exec's EOF). */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return agent_sysfail(f, "socketpair", "making the holder's channel");
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return agent_sysfail(f, "fork", "starting the holder");
	}
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		holder_main(mode, fd, sv[1]);
	}
	close(sv[1]);
	holders[nholders++] = pid;
	jw_i64(body, "pid", pid);
	if (!strcmp(mode, "scm-rights") && send_fd(sv[0], fd) < 0) {
		int e = errno;

		close(sv[0]);
		end_holder(pid);
		nholders--;
		errno = e;
		return agent_sysfail(f, "sendmsg(SCM_RIGHTS)", "passing the session fd");
	}
	got = read_ready(sv[0], ready, sizeof(ready));
	close(sv[0]);
	/* fork, scm-rights: "R"; exec: EOF (the exec closed the channel); else the child's errno. */
	if (got < 0 || got == sizeof(int) || (got == 0) != !strcmp(mode, "exec")) {
		int e = got == sizeof(int) ? *(int *)ready : got < 0 ? ETIMEDOUT : EPROTO;

		end_holder(pid);
		nholders--;
		return agent_failf(f, e, !strcmp(mode, "exec") ? "execve(/bin/sleep)" : "holder",
				   "the %s holder did not get ready", mode);
	}
	/* The daemon's own copy goes: from here the holder is the session's only owner. */
	agent_close_session_fd(fd);
	jw_bool(body, "agentClosed", 1);
	jw_bool(body, "holderHasSession", holds_session(pid, name));
	return 0;
}

void agent_end_holders(void)
{
	while (nholders)
		end_holder(holders[--nholders]);
}
