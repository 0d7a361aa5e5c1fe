// SPDX-License-Identifier: GPL-2.0-only
/*
 * `handover-agent ctl`: the daemon's command-line client. Requests come from the arguments (one
 * JSON object each) or, with none, from stdin (one per line); all are sent at once, then the
 * replies are copied to stdout as they arrive, one line per request, in order.
 *
 * Exit status: 0 every reply ok, 1 some reply ok:false, 2 transport (no daemon, connection lost,
 * fewer replies than requests; a {"ok":false,"op":"ctl",...} line says what), 3 usage.
 *
 * `ctl --stream`: one long-lived connection for a host that keeps this command's SSH channel open:
 * stdin is copied to the daemon as it comes and its replies to stdout as they come, until stdin
 * ends (exit 0) or the daemon goes (a ctl line, exit 2). A request then costs a channel write, not
 * an SSH exec and a process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"

static int ctl_fail(int err, const char *call, const char *msg)
{
	struct jw w;

	jw_init(&w);
	jw_raw(&w, "{", 1);
	jw_bool(&w, "ok", 0);
	jw_str(&w, "op", "ctl");
	jw_str(&w, "errno", errno_name(err));
	jw_i64(&w, "errnoValue", err);
	jw_str(&w, "call", call);
	jw_str(&w, "message", msg);
	jw_raw(&w, "}\n", 2);
	fputs(w.buf, stdout);
	fflush(stdout);
	jw_free(&w);
	return 2;
}

/* All of p to fd: a socket (send, no SIGPIPE) or a file such as stdout (write). */
static int put_all(int fd, const char *p, size_t n, int sock)
{
	while (n) {
		ssize_t w = sock ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Non-blank lines, each ending in '\n' (newlines inside an argument are JSON whitespace). */
static size_t add_requests(struct jw *out, const char *text, size_t len)
{
	size_t count = 0, start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && text[i] != '\n')
			continue;
		int blank = 1;

		for (size_t k = start; k < i; k++)
			if (text[k] != ' ' && text[k] != '\t' && text[k] != '\r')
				blank = 0;
		if (!blank) {
			jw_raw(out, text + start, i - start);
			jw_raw(out, "\n", 1);
			count++;
		}
		start = i + 1;
	}
	return count;
}

/* The daemon's socket, or -1 after a ctl line saying why not. */
static int ctl_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char msg[256];
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		ctl_fail(ENAMETOOLONG, "connect", "socket path too long");
		return -1;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ctl_fail(errno, "socket", "creating the socket");
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;

		snprintf(msg, sizeof(msg), "%s: %s (is `handover-agent serve` running?)", path, strerror(e));
		ctl_fail(e, "connect", msg);
		close(fd);
		return -1;
	}
	return fd;
}

static int ctl_stream(int fd)
{
	struct pollfd pfd[2] = { { .fd = STDIN_FILENO, .events = POLLIN }, { .fd = fd, .events = POLLIN } };
	char buf[65536];

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return ctl_fail(errno, "poll", "waiting for requests and replies");
		}
		if (pfd[0].revents) {
			ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				/* The host is done: let the daemon answer what it has, then stop. */
				shutdown(fd, SHUT_WR);
				pfd[0].fd = -1;
			} else if (put_all(fd, buf, (size_t)r, 1) < 0) {
				return ctl_fail(errno, "send", "sending a request");
			}
		}
		if (pfd[1].revents) {
			ssize_t r = read(fd, buf, sizeof(buf));

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return ctl_fail(errno, "read", "reading the replies");
			if (r == 0) {
				if (pfd[0].fd < 0)
					return 0;
				return ctl_fail(EPIPE, "read", "the agent closed the connection");
			}
			if (put_all(STDOUT_FILENO, buf, (size_t)r, 0) < 0)
				return 2;
		}
	}
}

int cmd_ctl(int argc, char **argv)
{
	const char *path = AGENT_SOCKET;
	struct jw reqs;
	size_t nreq = 0, nreply = 0, nfail = 0, linepos = 0;
	char buf[65536], head[12];
	int fd, first = 0;
	char msg[256];
	int stream = 0;

	if (argc >= 1 && !strcmp(argv[0], "--stream")) {
		stream = 1;
		argc--;
		argv++;
	}
	if (argc >= 2 && !strcmp(argv[0], "--socket")) {
		path = argv[1];
		first = 2;
	}
	jw_init(&reqs);
	for (int i = first; i < argc; i++) {
		char *a = strdup(argv[i]);

		if (!a)
			abort();
		for (char *c = a; *c; c++)
			if (*c == '\n' || *c == '\r')
				*c = ' ';
		nreq += add_requests(&reqs, a, strlen(a));
		free(a);
	}
	if (stream) {
		if (first != argc) {
			fprintf(stderr, "usage: handover-agent ctl --stream [--socket PATH]  (requests on stdin)\n");
			return 3;
		}
		jw_free(&reqs);
		fd = ctl_connect(path);
		return fd < 0 ? 2 : ctl_stream(fd);
	}
	if (first == argc) {
		struct jw in;
		ssize_t r;

		jw_init(&in);
		while ((r = read(STDIN_FILENO, buf, sizeof(buf))) != 0) {
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return ctl_fail(errno, "read(stdin)", "reading requests");
			jw_raw(&in, buf, (size_t)r);
		}
		nreq = add_requests(&reqs, in.buf ? in.buf : "", in.len);
		jw_free(&in);
	}
	if (!nreq) {
		fprintf(stderr, "usage: handover-agent ctl [--socket PATH] ['<json request>' ...]  (or requests on stdin)\n");
		return 3;
	}
	fd = ctl_connect(path);
	if (fd < 0)
		return 2;
	/* The daemon buffers its replies without limit, so sending everything first cannot deadlock. */
	if (put_all(fd, reqs.buf, reqs.len, 1) < 0)
		return ctl_fail(errno, "send", "sending the requests");
	shutdown(fd, SHUT_WR);
	jw_free(&reqs);

	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fflush(stdout);
			return ctl_fail(errno, "read", "reading the replies");
		}
		if (r == 0)
			break;
		fwrite(buf, 1, (size_t)r, stdout);
		/* Count replies and spot {"ok":false at the start of each line. */
		for (ssize_t i = 0; i < r; i++) {
			if (linepos < sizeof(head))
				head[linepos] = buf[i];
			linepos++;
			if (buf[i] == '\n') {
				nreply++;
				if (linepos >= 11 && !memcmp(head, "{\"ok\":false", 11))
					nfail++;
				linepos = 0;
			}
		}
	}
	close(fd);
	fflush(stdout);
	if (nreply < nreq) {
		snprintf(msg, sizeof(msg), "the agent closed the connection after %zu of %zu replies", nreply, nreq);
		return ctl_fail(EPIPE, "read", msg);
	}
	return nfail ? 1 : 0;
}
