/*
 * btvirt-preload.c: LD_PRELOAD library that makes BlueZ's controller emulator (btvirt -s) usable
 * by bledfu's tests. Test scaffolding only; it implements no cryptography.
 *
 * 1. Crypto sockets. btvirt opens two AF_ALG sockets for every LE controller and refuses to
 *    create the controller when the kernel has no AF_ALG (sandboxes, some CI kernels). Where
 *    socket(AF_ALG) fails we hand out an fd on /dev/null and let bind/setsockopt/accept on it
 *    succeed. The AES operations that would use it then fail cleanly (LE Encrypt answers 0x0C);
 *    nothing our tests use needs them.
 * 2. Private socket directory (BLEDFU_BTVIRT_DIR): btvirt hard-codes /tmp/bt-server-*, and a
 *    second instance unlinks the first one's sockets. We move them into the given directory.
 * 3. Parent death (BLEDFU_BTVIRT_PARENT=<pid>): btvirt exits with the test process, even when
 *    that is killed with SIGKILL.
 * 4. Whole H4 headers: btvirt's reader loses framing for good when a recv() ends inside a packet
 *    header. For accepted sockets, recv() only returns prefixes that end outside a header; with
 *    only part of a header queued it reports EINTR and btvirt's epoll loop comes back later.
 * 5. Backpressure (BLEDFU_BTVIRT_SEND_WAIT_MS=<ms>): btvirt sends with MSG_DONTWAIT and drops
 *    the packet when a host reads slowly. We wait for the socket to drain, up to <ms> per
 *    packet; this stalls the emulator, which then acknowledges the sender's ACL later, as a
 *    real link would.
 * 6. SIGPIPE is ignored: otherwise a host closing while btvirt writes to it kills the emulator
 *    with all its controllers.
 * 7. Connection handles (BlueZ 5.66): btvirt allocates a link's handle on each controller
 *    separately (the lowest free one from 0x002A), but tells the peripheral the central's handle
 *    and stamps forwarded ACL data, and some events, with the sender's handle. Once a central has
 *    a second link the two differ: the peripheral's data is dropped (its controller does not know
 *    the handle it was given) or reaches the central under another link's handle. btvirt is
 *    single-threaded and forwards while it handles the sender's packet, so we know the sender of
 *    every packet it writes: we keep a table of links (each side's fd and true handle) and
 *    rewrite handles of packets crossing from one host to the other into the receiver's handle.
 * 8. Controllers without a public address (BLEDFU_BTVIRT_NO_PUBLIC_ADDRESS=<n>): the first <n>
 *    hosts btvirt accepts get 00:00:00:00:00:00 in the answer to Read BD_ADDR, as an nRF52840
 *    running Zephyr's hci_uart gives; the host must then pick a static random address. btvirt
 *    itself implements LE Set Random Address and the random own address type. Every LE
 *    Connection Complete a peripheral receives is logged ("preload: peripheral saw central …"),
 *    so a test can check which address the other side of the air really saw.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef AF_ALG
#define AF_ALG 38
#endif
#ifndef SOL_ALG
#define SOL_ALG 279
#endif

#define NEXT(fn) ((__typeof__(&fn)) dlsym(RTLD_NEXT, #fn))

/* ---- 1. crypto sockets ------------------------------------------------------------------- */

static int null_fd(int flags)
{
	return open("/dev/null", O_RDWR | ((flags & SOCK_CLOEXEC) ? O_CLOEXEC : 0));
}

static int is_null_fd(int fd)
{
	struct stat st;

	if (fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode))
		return 0;
	return major(st.st_rdev) == 1 && minor(st.st_rdev) == 3;
}

int socket(int domain, int type, int protocol)
{
	int fd = NEXT(socket)(domain, type, protocol);

	if (fd < 0 && domain == AF_ALG)
		return null_fd(type);
	return fd;
}

int setsockopt(int fd, int level, int name, const void *value, socklen_t len)
{
	if (level == SOL_ALG && is_null_fd(fd))
		return 0;
	return NEXT(setsockopt)(fd, level, name, value, len);
}

/* ---- 2. private socket directory ----------------------------------------------------------- */

static const char server_prefix[] = "/tmp/bt-server-";

/* Writes the moved path of a btvirt server socket to `out`; 0 when `path` is not one. */
static int moved_path(const char *path, char *out, size_t size)
{
	const char *dir = getenv("BLEDFU_BTVIRT_DIR");
	int n;

	if (dir == NULL || *dir == '\0' || path == NULL ||
	    strncmp(path, server_prefix, sizeof(server_prefix) - 1) != 0)
		return 0;
	n = snprintf(out, size, "%s/%s", dir, path + strlen("/tmp/"));
	return n > 0 && (size_t) n < size;
}

int unlink(const char *path)
{
	char moved[sizeof(((struct sockaddr_un *) 0)->sun_path)];

	return NEXT(unlink)(moved_path(path, moved, sizeof(moved)) ? moved : path);
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (addr != NULL && addr->sa_family == AF_ALG && is_null_fd(fd))
		return 0;
	if (addr != NULL && addr->sa_family == AF_UNIX && len <= sizeof(struct sockaddr_un)) {
		struct sockaddr_un given, moved;

		memset(&given, 0, sizeof(given));
		memcpy(&given, addr, len);
		given.sun_path[sizeof(given.sun_path) - 1] = '\0';
		memset(&moved, 0, sizeof(moved));
		moved.sun_family = AF_UNIX;
		if (moved_path(given.sun_path, moved.sun_path, sizeof(moved.sun_path)))
			return NEXT(bind)(fd, (const struct sockaddr *) &moved, sizeof(moved));
	}
	return NEXT(bind)(fd, addr, len);
}

/* ---- 3 and 6: process setup --------------------------------------------------------------- */

static long send_wait_ms;
static long no_public_hosts;

__attribute__((constructor)) static void preload_init(void)
{
	const char *parent = getenv("BLEDFU_BTVIRT_PARENT");
	const char *wait = getenv("BLEDFU_BTVIRT_SEND_WAIT_MS");
	const char *no_public;

	signal(SIGPIPE, SIG_IGN);
	if (parent != NULL && *parent != '\0') {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		/* The parent may have died before prctl: then nobody would ever stop us. */
		if (getppid() != (pid_t) atol(parent))
			_exit(0);
	}
	send_wait_ms = wait != NULL ? atol(wait) : 0;
	no_public = getenv("BLEDFU_BTVIRT_NO_PUBLIC_ADDRESS");
	no_public_hosts = no_public != NULL ? atol(no_public) : 0;
}

/* ---- 4 and 5: per host connection ---------------------------------------------------------- */

#define MAX_FDS 4096

struct host_conn {
	unsigned char accepted;   /* a host (one emulated controller) on this fd */
	unsigned char raw;        /* stream not understood: leave recv() alone */
	unsigned char send_timed_out;
	unsigned int body_owed;   /* bytes of the current packet's body still to come */
	struct timespec partial_since;
	unsigned char partial;
	unsigned char no_public_address;  /* 8: Read BD_ADDR answers all zeros */
};

static struct host_conn conns[MAX_FDS];

static struct host_conn *conn_of(int fd)
{
	return fd >= 0 && fd < MAX_FDS && conns[fd].accepted ? &conns[fd] : NULL;
}

static long hosts_accepted;

static void on_accepted(int fd)
{
	if (fd >= 0 && fd < MAX_FDS) {
		memset(&conns[fd], 0, sizeof(conns[fd]));
		conns[fd].accepted = 1;
		conns[fd].no_public_address = hosts_accepted < no_public_hosts;
		hosts_accepted++;
	}
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	int c;

	if (is_null_fd(fd))
		return null_fd(0);
	c = NEXT(accept)(fd, addr, len);
	on_accepted(c);
	return c;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	int c;

	if (is_null_fd(fd))
		return null_fd(flags);
	c = NEXT(accept4)(fd, addr, len, flags);
	on_accepted(c);
	return c;
}

/* H4 header size by packet type (type octet included); 0 for a type btvirt's hosts never send. */
static size_t header_size(unsigned char type)
{
	switch (type) {
	case 0x01: return 1 + 3;  /* command */
	case 0x02: return 1 + 4;  /* ACL */
	case 0x03: return 1 + 3;  /* SCO */
	case 0x05: return 1 + 4;  /* ISO */
	default: return 0;
	}
}

static size_t body_size(const unsigned char *h)
{
	switch (h[0]) {
	case 0x01:
	case 0x03: return h[3];
	case 0x02: return (size_t) h[3] | ((size_t) h[4] << 8);
	case 0x05: return ((size_t) h[3] | ((size_t) h[4] << 8)) & 0x3fff;
	default: return 0;
	}
}

/*
 * How much of buf[0..n) may be handed over without ending inside a header, given `*owed` body
 * bytes of an earlier packet first; updates *owed for that prefix. (size_t) -1: not H4.
 */
static size_t whole_header_prefix(const unsigned char *buf, size_t n, unsigned int *owed)
{
	size_t at = *owed < n ? *owed : n;
	unsigned int still = *owed - (unsigned int) at;

	while (at < n) {
		size_t hs = header_size(buf[at]), total;

		if (hs == 0)
			return (size_t) -1;
		if (n - at < hs)
			break;
		total = hs + body_size(buf + at);
		if (n - at < total) {
			still = (unsigned int) (total - (n - at));
			at = n;
			break;
		}
		at += total;
	}
	*owed = still;
	return at;
}

static double seconds_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double) (now.tv_sec - t->tv_sec) + (double) (now.tv_nsec - t->tv_nsec) / 1e9;
}


/* ---- 7. connection handles ----------------------------------------------------------------- */

#define FIRST_ACL_HANDLE 0x002a
#define MAX_LINKS 64

struct link {
	int used;
	int fd[2];              /* 0: central's host, 1: peripheral's host */
	unsigned int handle[2]; /* the handle each side's controller has for the link */
};

static struct link links[MAX_LINKS];
/* The host whose packet btvirt is handling: everything it sends now was caused by that packet. */
static int current_fd = -1;

static void drop_links_of(int fd)
{
	int i;

	for (i = 0; i < MAX_LINKS; i++)
		if (links[i].used && (links[i].fd[0] == fd || links[i].fd[1] == fd))
			links[i].used = 0;
}

static int handle_in_use(int fd, unsigned int handle)
{
	int i, side;

	for (i = 0; i < MAX_LINKS; i++)
		for (side = 0; side < 2; side++)
			if (links[i].used && links[i].fd[side] == fd && links[i].handle[side] == handle)
				return 1;
	return 0;
}

/* The handle btvirt gives a new link on this controller: the lowest free one from 0x002A. */
static unsigned int next_handle(int fd)
{
	unsigned int h = FIRST_ACL_HANDLE;

	while (handle_in_use(fd, h))
		h++;
	return h;
}

/* The receiver's handle for the link that `from` knows as `handle`; 0 when there is none. */
static unsigned int translate(int from, unsigned int handle, int to)
{
	int i;

	for (i = 0; i < MAX_LINKS; i++) {
		struct link *l = &links[i];

		if (!l->used)
			continue;
		if (l->fd[0] == from && l->handle[0] == handle && l->fd[1] == to)
			return l->handle[1];
		if (l->fd[1] == from && l->handle[1] == handle && l->fd[0] == to)
			return l->handle[0];
	}
	return 0;
}

static void add_link(int central, unsigned int central_handle, int peripheral, unsigned int peripheral_handle)
{
	int i;

	for (i = 0; i < MAX_LINKS; i++) {
		if (!links[i].used) {
			links[i].used = 1;
			links[i].fd[0] = central;
			links[i].handle[0] = central_handle;
			links[i].fd[1] = peripheral;
			links[i].handle[1] = peripheral_handle;
			return;
		}
	}
}

static void drop_link(int fd, unsigned int handle)
{
	int i, side;

	for (i = 0; i < MAX_LINKS; i++)
		for (side = 0; side < 2; side++)
			if (links[i].used && links[i].fd[side] == fd && links[i].handle[side] == handle)
				links[i].used = 0;
}

static unsigned int get16(const unsigned char *p)
{
	return (unsigned int) p[0] | ((unsigned int) p[1] << 8);
}

static void put16(unsigned char *p, unsigned int v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
}

static void log_central_seen(const unsigned char *pkt, size_t n, int to);

/* Rewrites one H4 packet btvirt is about to write to host `to`; returns 1 when it changed. */
static int fix_handles(unsigned char *pkt, size_t n, int to)
{
	int from = current_fd;
	unsigned int h, mine;

	if (n >= 5 && pkt[0] == 0x02) {
		if (from < 0 || from == to)
			return 0;
		h = get16(pkt + 1) & 0x0fff;
		mine = translate(from, h, to);
		if (mine == 0 || mine == h)
			return 0;
		put16(pkt + 1, (get16(pkt + 1) & 0xf000) | mine);
		return 1;
	}
	if (n < 4 || pkt[0] != 0x04)
		return 0;
	if (pkt[1] == 0x05 && n >= 6) {
		/* Disconnection Complete: btvirt already uses each side's own handle. */
		if (pkt[3] == 0x00)
			drop_link(to, get16(pkt + 4));
		return 0;
	}
	if (pkt[1] != 0x3e || from < 0 || from == to)
		return 0;
	log_central_seen(pkt, n, to);
	switch (pkt[3]) {
	case 0x01: /* LE Connection Complete */
	case 0x0a: /* LE Enhanced Connection Complete */
		if (n < 8 || pkt[4] != 0x00 || pkt[7] != 0x01)
			return 0;
		h = get16(pkt + 5);
		mine = next_handle(to);
		add_link(from, h, to, mine);
		put16(pkt + 5, mine);
		return mine != h;
	case 0x03: /* LE Connection Update Complete: status, handle */
		if (n < 7)
			return 0;
		mine = translate(from, get16(pkt + 5), to);
		if (mine == 0)
			return 0;
		put16(pkt + 5, mine);
		return 1;
	case 0x06: /* LE Remote Connection Parameter Request: handle */
		if (n < 6)
			return 0;
		mine = translate(from, get16(pkt + 4), to);
		if (mine == 0)
			return 0;
		put16(pkt + 4, mine);
		return 1;
	default:
		return 0;
	}
}

/* 8: Command Complete for Read BD_ADDR (0x1009) to a host without a public address: zeros. */
static int hide_public_address(unsigned char *pkt, size_t n, const struct host_conn *c)
{
	if (!c->no_public_address || n < 13 || pkt[0] != 0x04 || pkt[1] != 0x0e || get16(pkt + 4) != 0x1009 || pkt[6] != 0x00)
		return 0;
	memset(pkt + 7, 0, 6);
	return 1;
}

/* 8: what a peripheral's controller reports as the central of a new link, for the test to read. */
static void log_central_seen(const unsigned char *pkt, size_t n, int to)
{
	if (n < 15 || pkt[0] != 0x04 || pkt[1] != 0x3e || (pkt[3] != 0x01 && pkt[3] != 0x0a) || pkt[4] != 0x00 || pkt[7] != 0x01)
		return;
	fprintf(stderr, "preload: peripheral on fd %d saw central %02X:%02X:%02X:%02X:%02X:%02X type %u\n", to,
		pkt[14], pkt[13], pkt[12], pkt[11], pkt[10], pkt[9], pkt[8]);
	fflush(stderr);
}

/* Commands in bytes a host sent: HCI Reset drops the controller's links without a word. */
static void note_commands(int fd, const unsigned char *buf, size_t n, unsigned int owed)
{
	size_t at = owed < n ? owed : n;

	while (at < n) {
		size_t hs = header_size(buf[at]);

		if (hs == 0 || n - at < hs)
			return;
		if (buf[at] == 0x01 && get16(buf + at + 1) == 0x0c03)
			drop_links_of(fd);
		at += hs + body_size(buf + at);
	}
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	struct host_conn *c = conn_of(fd);
	unsigned int owed;
	size_t safe;
	ssize_t n;

	if (c != NULL && !(flags & MSG_PEEK))
		current_fd = fd;
	if (c == NULL || c->raw || len == 0 || (flags & MSG_PEEK))
		return NEXT(recv)(fd, buf, len, flags);

	n = NEXT(recv)(fd, buf, len, flags | MSG_PEEK);
	if (n <= 0)
		return n;
	owed = c->body_owed;
	safe = whole_header_prefix(buf, (size_t) n, &owed);
	if (safe == (size_t) -1) {
		c->raw = 1;
		return NEXT(recv)(fd, buf, len, flags);
	}
	if (safe == 0) {
		/* Part of a header: come back once more has arrived (a writer stuck for 2 s is left alone). */
		if (!c->partial) {
			c->partial = 1;
			clock_gettime(CLOCK_MONOTONIC, &c->partial_since);
		} else if (seconds_since(&c->partial_since) > 2.0) {
			c->raw = 1;
			return NEXT(recv)(fd, buf, len, flags);
		}
		usleep(100);
		errno = EINTR;
		return -1;
	}
	c->partial = 0;
	n = NEXT(recv)(fd, buf, safe, flags);
	if (n > 0)
		note_commands(fd, buf, (size_t) n, c->body_owed);
	if (n == (ssize_t) safe) {
		c->body_owed = owed;
	} else if (n > 0) {
		owed = c->body_owed;
		if (whole_header_prefix(buf, (size_t) n, &owed) != (size_t) n)
			c->raw = 1;
		c->body_owed = owed;
	}
	return n;
}

/* One H4 packet as btvirt writes it (1 type octet, ACL header and up to 65535 octets of data). */
static unsigned char packet[1 + 4 + 65535];

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct host_conn *c = conn_of(fd);
	struct msghdr fixed;
	struct iovec fixed_iov;
	struct timespec start;
	ssize_t n;

	if (c != NULL && msg != NULL && msg->msg_iovlen > 0) {
		size_t n = 0, i;

		for (i = 0; i < msg->msg_iovlen; i++)
			n += msg->msg_iov[i].iov_len;
		if (n <= sizeof(packet)) {
			n = 0;
			for (i = 0; i < msg->msg_iovlen; i++) {
				memcpy(packet + n, msg->msg_iov[i].iov_base, msg->msg_iov[i].iov_len);
				n += msg->msg_iov[i].iov_len;
			}
			if (fix_handles(packet, n, fd) | hide_public_address(packet, n, c)) {
				fixed_iov.iov_base = packet;
				fixed_iov.iov_len = n;
				fixed = *msg;
				fixed.msg_iov = &fixed_iov;
				fixed.msg_iovlen = 1;
				msg = &fixed;
			}
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		long left_ms;
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		n = NEXT(sendmsg)(fd, msg, flags);
		if (c == NULL || send_wait_ms <= 0)
			return n;
		if (n >= 0) {
			c->send_timed_out = 0;
			return n;
		}
		/* After one timeout a host that stopped reading must not stall everyone again. */
		if (errno != EAGAIN || c->send_timed_out)
			return n;
		left_ms = send_wait_ms - (long) (seconds_since(&start) * 1000.0);
		if (left_ms <= 0) {
			c->send_timed_out = 1;
			errno = EAGAIN;
			return n;
		}
		if (poll(&p, 1, (int) left_ms) < 0 && errno != EINTR) {
			errno = EAGAIN;
			return n;
		}
	}
}

/* A host went away: btvirt destroys its controller and, with it, the links on both sides. */
int close(int fd)
{
	if (conn_of(fd) != NULL) {
		drop_links_of(fd);
		conns[fd].accepted = 0;
		if (current_fd == fd)
			current_fd = -1;
	}
	return NEXT(close)(fd);
}
