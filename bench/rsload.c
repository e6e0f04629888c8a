/*
 * rsload: the benchmark's load client. Closed loop, bounded in count and
 * time, with log-linear ("HDR-style") latency histograms.
 *
 * It speaks the two wire formats a console travels over:
 *   --ws URL       a WebSocket (RFC 6455, text frames, client masking) as a
 *                  browser does, to rserver or any other WebSocket server;
 *   --unix PATH    rsession's own framing (u32 length, u16 version, JSON;
 *   --tcp H:PORT   common/sessproto.h) on its socket, or through a proxy.
 * The same reading loop serves both, so that the client's own cost is alike
 * on both sides of every ratio the benchmark reports.
 *
 * Modes:
 *   rtt    send a message, read until the one that ends the round trip,
 *          repeat; latency histogram (and raw samples with --samples).
 *   drain  send a message, count the payload bytes of every message until
 *          the one that ends it; per-run seconds and MB/s.
 *   hold   open many WebSockets (handshake histogram), keep them open and
 *          read, until --seconds pass or standard input closes.
 *
 * Matching: the end of a round trip is the first message containing every
 * --until string, after one containing the --after string (if given) has
 * been seen. In --send and --until, "%n" stands for the run's number, so
 * that protocols with request ids (Jupyter's msg_id) can be matched.
 *
 * Results are one JSON object on standard output; progress and errors go
 * to standard error. Exit status: 0 done, 1 a run failed (timeout, closed
 * connection), 2 usage.
 *
 * This is a benchmark tool, not part of the product: it trusts the servers
 * it is pointed at only as far as not crashing on them (every length is
 * bounded), and makes no attempt at TLS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_MESSAGE   (64u * 1024 * 1024) /* bigger than any frame we expect */
#define READ_CHUNK    (256 * 1024)
#define MAX_UNTIL     8
#define MAX_HEADERS   16
#define HIST_SUB_BITS 7 /* 128 sub-buckets per power of two: < 0.8 % error */
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_BUCKETS  (2 * HIST_SUB + 57 * HIST_SUB)

static const char *prog = "rsload";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage(const char *why) __attribute__((noreturn));
static void usage(const char *why)
{
	if (why)
		fprintf(stderr, "%s: %s\n", prog, why);
	fprintf(stderr,
	        "usage: %s rtt|drain|hold (--ws URL [-H 'Name: value']... | --unix PATH | "
	        "--tcp HOST:PORT)\n"
	        "       [--send TEXT] [--until TEXT]... [--after TEXT] [--first TEXT]\n"
	        "       [--count N] [--warmup N] [--seconds S] [--timeout S] [--samples FILE]\n"
	        "       [--source ADDR] [--connections N] [--per-source N]\n",
	        prog);
	exit(2);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die("out of memory (%zu bytes)", n);
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die("out of memory (%zu bytes)", n);
	return p;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- histogram ---- */

/*
 * Values (nanoseconds) below 2*HIST_SUB are exact; above, each power of two
 * is split into HIST_SUB buckets, so a value is known to within 1/HIST_SUB
 * of itself whatever its magnitude.
 */
struct hist {
	uint64_t count[HIST_BUCKETS];
	uint64_t n, min, max;
	double sum;
};

static unsigned hist_index(uint64_t v)
{
	unsigned top, shift;

	if (v < 2 * HIST_SUB)
		return (unsigned)v;
	top = 63u - (unsigned)__builtin_clzll(v);
	shift = top - HIST_SUB_BITS;
	return 2 * HIST_SUB + (shift - 1) * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
}

/* The middle of bucket i's range. */
static double hist_value(unsigned i)
{
	unsigned shift;
	uint64_t m;

	if (i < 2 * HIST_SUB)
		return i;
	shift = (i - 2 * HIST_SUB) / HIST_SUB + 1;
	m = HIST_SUB + (i - 2 * HIST_SUB) % HIST_SUB;
	return (double)(m << shift) + (double)(1ull << shift) / 2.0;
}

static void hist_add(struct hist *h, uint64_t v)
{
	unsigned i = hist_index(v);

	if (i >= HIST_BUCKETS)
		i = HIST_BUCKETS - 1;
	h->count[i]++;
	if (!h->n || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->n++;
	h->sum += (double)v;
}

/* Nearest rank, from the buckets; exact min and max at the ends. */
static double hist_pct(const struct hist *h, double p)
{
	uint64_t rank, seen = 0;

	if (!h->n)
		return 0;
	rank = (uint64_t)(p / 100.0 * (double)h->n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank >= h->n)
		return (double)h->max;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen >= rank) {
			double v = hist_value(i);
			return v < (double)h->min   ? (double)h->min
			       : v > (double)h->max ? (double)h->max
			                            : v;
		}
	}
	return (double)h->max;
}

/* JSON for a histogram, in milliseconds. */
static void hist_print(FILE *f, const char *name, const struct hist *h)
{
	static const double ps[] = {50, 90, 99, 99.9};
	static const char *pn[] = {"p50", "p90", "p99", "p99_9"};

	fprintf(f, "\"%s\": {\"runs\": %llu", name, (unsigned long long)h->n);
	if (h->n) {
		fprintf(f, ", \"min\": %.4f, \"max\": %.4f, \"mean\": %.4f", h->min / 1e6,
		        h->max / 1e6, h->sum / (double)h->n / 1e6);
		for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
			fprintf(f, ", \"%s\": %.4f", pn[i], hist_pct(h, ps[i]) / 1e6);
	}
	fputc('}', f);
}

/* ---- options ---- */

enum transport { T_NONE, T_WS, T_UNIX, T_TCP };

static struct {
	enum transport transport;
	const char *target; /* URL, path or host:port */
	const char *headers[MAX_HEADERS];
	int nheaders;
	const char *send;
	const char *until[MAX_UNTIL];
	int nuntil;
	const char *after;
	const char *first;
	long count, warmup, connections, per_source;
	double seconds, timeout;
	const char *samples;
	const char *source;
} opt = {.count = 100, .timeout = 120, .per_source = 60};

/* ---- a connection ---- */

struct conn {
	int fd;
	bool ws;
	uint8_t *buf; /* received, not yet consumed: [off, len) */
	size_t off, len, cap;
	uint8_t *frag; /* a fragmented WebSocket message being assembled */
	size_t fraglen;
	bool closed;
	uint64_t rng;
	uint64_t rx_bytes; /* payload bytes of data messages */
};

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: the masking key only has to vary, not be secret, in a
	 * client that talks to servers on loopback. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

static void conn_init(struct conn *c, int fd, bool ws)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->ws = ws;
	c->cap = 2 * READ_CHUNK;
	c->buf = xmalloc(c->cap);
	if (getrandom(&c->rng, sizeof(c->rng), 0) != sizeof(c->rng) || !c->rng)
		c->rng = now_ns() | 1;
}

static void conn_free(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c->frag);
	c->fd = -1;
	c->buf = c->frag = NULL;
}

/* Waits until fd is readable or writable (events), or the deadline. */
static bool wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		uint64_t now = now_ns();
		int ms, r;

		if (now >= deadline)
			return false;
		ms = (int)((deadline - now + 999999) / 1000000);
		r = poll(&p, 1, ms);
		if (r > 0)
			return true;
		if (r < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
	}
}

static void send_all(struct conn *c, const void *p, size_t n, uint64_t deadline)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w > 0) {
			b += w;
			n -= (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (!wait_fd(c->fd, POLLOUT, deadline))
				die("sending: timed out");
		} else {
			die("sending: %s", w < 0 ? strerror(errno) : "connection closed");
		}
	}
}

/* Reads what is there (at most READ_CHUNK) into the buffer; false on EOF,
 * timeout or error (c->closed says which for EOF). */
static bool fill(struct conn *c, uint64_t deadline)
{
	ssize_t r;

	if (c->off && c->off == c->len)
		c->off = c->len = 0;
	if (c->cap - c->len < READ_CHUNK) {
		/* Keep the unconsumed tail only; grow if a message needs it. */
		if (c->off) {
			memmove(c->buf, c->buf + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
		if (c->cap - c->len < READ_CHUNK) {
			c->cap = c->len + 2 * READ_CHUNK;
			c->buf = xrealloc(c->buf, c->cap);
		}
	}
	for (;;) {
		r = recv(c->fd, c->buf + c->len, READ_CHUNK, MSG_DONTWAIT);
		if (r > 0) {
			c->len += (size_t)r;
			return true;
		}
		if (r == 0) {
			c->closed = true;
			return false;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return false;
		if (!wait_fd(c->fd, POLLIN, deadline))
			return false;
	}
}

static void ws_send_frame(struct conn *c, int opcode, const void *data, size_t n, uint64_t deadline)
{
	uint8_t hdr[14];
	size_t hl = 2;
	uint8_t *frame;
	uint32_t mask = (uint32_t)rng_next(&c->rng);
	const uint8_t *d = data;

	hdr[0] = (uint8_t)(0x80 | opcode);
	if (n < 126) {
		hdr[1] = (uint8_t)(0x80 | n);
	} else if (n <= 0xffff) {
		hdr[1] = 0x80 | 126;
		hdr[2] = (uint8_t)(n >> 8);
		hdr[3] = (uint8_t)n;
		hl = 4;
	} else {
		hdr[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			hdr[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
		hl = 10;
	}
	memcpy(hdr + hl, &mask, 4);
	hl += 4;
	frame = xmalloc(hl + n);
	memcpy(frame, hdr, hl);
	for (size_t i = 0; i < n; i++)
		frame[hl + i] = d[i] ^ ((const uint8_t *)&mask)[i & 3];
	send_all(c, frame, hl + n, deadline);
	free(frame);
}

static void conn_send(struct conn *c, const char *text, uint64_t deadline)
{
	size_t n = strlen(text);

	if (c->ws) {
		ws_send_frame(c, 1, text, n, deadline);
	} else {
		uint8_t *f = xmalloc(6 + n);
		uint32_t len = htonl((uint32_t)(n + 2));
		uint16_t ver = htons(1);

		memcpy(f, &len, 4);
		memcpy(f + 4, &ver, 2);
		memcpy(f + 6, text, n);
		send_all(c, f, 6 + n, deadline);
		free(f);
	}
}

/*
 * The next data message: its payload in *ret_p (valid until the next call)
 * and length in *ret_n. Answers pings; a close frame or EOF returns false
 * with c->closed set, a timeout returns false without it.
 */
static bool conn_next(struct conn *c, const uint8_t **ret_p, size_t *ret_n, uint64_t deadline)
{
	for (;;) {
		size_t avail = c->len - c->off, hl, n;
		const uint8_t *b = c->buf + c->off;

		if (!c->ws) {
			if (avail >= 6) {
				uint32_t len;

				memcpy(&len, b, 4);
				len = ntohl(len);
				if (len < 2 || len > MAX_MESSAGE)
					die("rsession frame of %u bytes", len);
				if (avail >= 4 + (size_t)len) {
					c->off += 4 + (size_t)len;
					*ret_p = b + 6;
					*ret_n = len - 2;
					c->rx_bytes += len - 2;
					return true;
				}
			}
		} else if (avail >= 2) {
			int opcode = b[0] & 0x0f;
			bool fin = b[0] & 0x80;

			n = b[1] & 0x7f;
			hl = 2;
			if (b[1] & 0x80)
				die("the server masked a frame");
			if (n == 126) {
				if (avail < 4)
					goto more;
				n = (size_t)b[2] << 8 | b[3];
				hl = 4;
			} else if (n == 127) {
				if (avail < 10)
					goto more;
				n = 0;
				for (int i = 0; i < 8; i++)
					n = n << 8 | b[2 + i];
				hl = 10;
			}
			if (n > MAX_MESSAGE)
				die("WebSocket frame of %zu bytes", n);
			if (avail < hl + n)
				goto more;
			c->off += hl + n;
			if (opcode == 8) {
				c->closed = true;
				return false;
			}
			if (opcode == 9) {
				ws_send_frame(c, 10, b + hl, n, deadline);
				continue;
			}
			if (opcode >= 8)
				continue;
			if (fin && opcode != 0 && !c->fraglen) {
				*ret_p = b + hl;
				*ret_n = n;
				c->rx_bytes += n;
				return true;
			}
			/* A fragment: assemble (rare: servers here send whole messages). */
			if (c->fraglen + n > MAX_MESSAGE)
				die("fragmented message over %u bytes", MAX_MESSAGE);
			c->frag = xrealloc(c->frag, c->fraglen + n);
			memcpy(c->frag + c->fraglen, b + hl, n);
			c->fraglen += n;
			if (fin) {
				*ret_p = c->frag;
				*ret_n = c->fraglen;
				c->rx_bytes += c->fraglen;
				c->fraglen = 0; /* the buffer stays valid until the next call */
				return true;
			}
			continue;
		}
	more:
		if (!fill(c, deadline))
			return false;
	}
}

/* ---- connecting ---- */

static void set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int tcp_connect(const char *host, const char *port, const char *source, uint64_t deadline)
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
	int fd, r, err;
	socklen_t len = sizeof(err);

	r = getaddrinfo(host, port, &hints, &ai);
	if (r)
		die("%s:%s: %s", host, port, gai_strerror(r));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (source) {
		struct sockaddr_in sa = {.sin_family = AF_INET};

		if (inet_pton(AF_INET, source, &sa.sin_addr) != 1)
			die("--source %s: not an IPv4 address", source);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			die("bind %s: %s", source, strerror(errno));
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
		die("connect %s:%s: %s", host, port, strerror(errno));
	freeaddrinfo(ai);
	if (!wait_fd(fd, POLLOUT, deadline))
		die("connect %s:%s: timed out", host, port);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)
		die("connect %s:%s: %s", host, port, strerror(err ? err : errno));
	set_nodelay(fd);
	return fd;
}

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		die("%s: socket path too long", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect %s: %s", path, strerror(errno));
	return fd;
}

struct url {
	char host[256], port[16], path[2048];
};

static void parse_ws_url(const char *s, struct url *u)
{
	const char *h, *slash, *colon;

	if (strncmp(s, "ws://", 5))
		usage("--ws needs a ws:// URL (no TLS in this client)");
	h = s + 5;
	slash = strchr(h, '/');
	if (!slash)
		slash = h + strlen(h);
	colon = memchr(h, ':', (size_t)(slash - h));
	if (!colon) {
		colon = slash;
		strcpy(u->port, "80");
	} else if ((size_t)(slash - colon - 1) >= sizeof(u->port)) {
		usage("bad port in --ws URL");
	} else {
		memcpy(u->port, colon + 1, (size_t)(slash - colon - 1));
		u->port[slash - colon - 1] = 0;
	}
	if ((size_t)(colon - h) >= sizeof(u->host) ||
	    strlen(*slash ? slash : "/") >= sizeof(u->path))
		usage("--ws URL too long");
	memcpy(u->host, h, (size_t)(colon - h));
	u->host[colon - h] = 0;
	strcpy(u->path, *slash ? slash : "/");
}

/* RFC 6455 4.1: the server must answer the key with base64(SHA-1(key GUID)). */
static void ws_accept_for(const char *key, char out[64])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char md[SHA_DIGEST_LENGTH];
	char in[128];

	snprintf(in, sizeof(in), "%s%s", key, guid);
	SHA1((const unsigned char *)in, strlen(in), md);
	EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}

/* A WebSocket handshake on a fresh connection; dies on anything but 101. */
static void ws_handshake(struct conn *c, const struct url *u, uint64_t deadline)
{
	unsigned char raw[16];
	char key[32], want[64], req[8192];
	size_t n = 0;
	char *end, *acc;

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)rng_next(&c->rng);
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
	n += (size_t)snprintf(req + n, sizeof(req) - n,
	                      "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\n"
	                      "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	                      "Sec-WebSocket-Version: 13\r\n",
	                      u->path, u->host, u->port, key);
	for (int i = 0; i < opt.nheaders && n < sizeof(req); i++)
		n += (size_t)snprintf(req + n, sizeof(req) - n, "%s\r\n", opt.headers[i]);
	if (n + 3 > sizeof(req))
		die("handshake request too long");
	memcpy(req + n, "\r\n", 3);
	send_all(c, req, n + 2, deadline);
	for (;;) {
		c->buf[c->len] = 0; /* fill() leaves READ_CHUNK spare: room for it */
		end = strstr((char *)c->buf, "\r\n\r\n");
		if (end)
			break;
		if (c->len > 16384)
			die("handshake answer too long");
		if (!fill(c, deadline))
			die("handshake: %s", c->closed ? "connection closed" : "timed out");
	}
	*end = 0;
	if (strncmp((char *)c->buf, "HTTP/1.1 101", 12)) {
		char *eol = strstr((char *)c->buf, "\r\n");

		if (eol)
			*eol = 0;
		die("handshake refused: %s", (char *)c->buf);
	}
	ws_accept_for(key, want);
	acc = strcasestr((char *)c->buf, "\r\nSec-WebSocket-Accept:");
	if (!acc)
		die("handshake: no Sec-WebSocket-Accept");
	acc += 23;
	acc += strspn(acc, " \t");
	if (strncmp(acc, want, strlen(want)))
		die("handshake: wrong Sec-WebSocket-Accept");
	c->off = (size_t)(end + 4 - (char *)c->buf);
}

static void conn_open(struct conn *c, const char *source, uint64_t deadline)
{
	char host[256];
	const char *colon;
	struct url u;

	switch (opt.transport) {
	case T_WS:
		parse_ws_url(opt.target, &u);
		conn_init(c, tcp_connect(u.host, u.port, source, deadline), true);
		ws_handshake(c, &u, deadline);
		break;
	case T_UNIX:
		conn_init(c, unix_connect(opt.target), false);
		break;
	case T_TCP:
		colon = strrchr(opt.target, ':');
		if (!colon || (size_t)(colon - opt.target) >= sizeof(host))
			usage("--tcp needs HOST:PORT");
		memcpy(host, opt.target, (size_t)(colon - opt.target));
		host[colon - opt.target] = 0;
		conn_init(c, tcp_connect(host, colon + 1, source, deadline), false);
		break;
	case T_NONE:
		usage("no transport: --ws, --unix or --tcp");
	}
}

/* ---- matching ---- */

/* s with every "%n" replaced by run; the caller frees. */
static char *subst(const char *s, long run)
{
	char num[32];
	size_t nl = (size_t)snprintf(num, sizeof(num), "%ld", run), n = 0;
	char *out = xmalloc(strlen(s) * (nl > 2 ? nl : 2) + 1);

	while (*s) {
		if (s[0] == '%' && s[1] == 'n') {
			memcpy(out + n, num, nl);
			n += nl;
			s += 2;
		} else {
			out[n++] = *s++;
		}
	}
	out[n] = 0;
	return out;
}

struct matcher {
	char *until[MAX_UNTIL];
	bool seen_after;
};

static void matcher_start(struct matcher *m, long run)
{
	for (int i = 0; i < opt.nuntil; i++)
		m->until[i] = subst(opt.until[i], run);
	m->seen_after = !opt.after;
}

static void matcher_end(struct matcher *m)
{
	for (int i = 0; i < opt.nuntil; i++)
		free(m->until[i]);
}

static bool has(const uint8_t *p, size_t n, const char *s)
{
	return memmem(p, n, s, strlen(s)) != NULL;
}

/* True when this message ends the round trip. */
static bool matcher_feed(struct matcher *m, const uint8_t *p, size_t n)
{
	bool all = true;

	if (!m->seen_after) {
		m->seen_after = has(p, n, opt.after);
		return false;
	}
	for (int i = 0; i < opt.nuntil && all; i++)
		all = has(p, n, m->until[i]);
	return all;
}

/* Reads until a message containing opt.first (the initial prompt, say). */
static void wait_first(struct conn *c)
{
	const uint8_t *p;
	size_t n;
	uint64_t deadline = now_ns() + (uint64_t)(opt.timeout * 1e9);

	if (!opt.first)
		return;
	for (;;) {
		if (!conn_next(c, &p, &n, deadline))
			die("no message containing '%s' (%s)", opt.first,
			    c->closed ? "connection closed" : "timed out");
		if (has(p, n, opt.first))
			return;
	}
}

/* One run: send, read to the end. Returns nanoseconds; *ret_bytes gets the
 * payload bytes received. Dies on timeout or close. */
static uint64_t one_run(struct conn *c, long run, uint64_t *ret_bytes)
{
	struct matcher m;
	const uint8_t *p;
	size_t n;
	char *msg = subst(opt.send, run);
	uint64_t t0, deadline, rx0 = c->rx_bytes;

	matcher_start(&m, run);
	t0 = now_ns();
	deadline = t0 + (uint64_t)(opt.timeout * 1e9);
	conn_send(c, msg, deadline);
	for (;;) {
		if (!conn_next(c, &p, &n, deadline))
			die("run %ld: %s before the end of the round trip (%llu bytes received)",
			    run, c->closed ? "connection closed" : "timed out",
			    (unsigned long long)(c->rx_bytes - rx0));
		if (matcher_feed(&m, p, n))
			break;
	}
	matcher_end(&m);
	free(msg);
	*ret_bytes = c->rx_bytes - rx0;
	return now_ns() - t0;
}

/* ---- modes ---- */

static int mode_rtt(void)
{
	struct conn c;
	struct hist *h = calloc(1, sizeof(*h));
	uint64_t *samples = NULL, start, bytes;
	long n = 0, run = 0;
	FILE *sf = NULL;

	if (!h)
		die("out of memory");
	conn_open(&c, opt.source, now_ns() + (uint64_t)(opt.timeout * 1e9));
	wait_first(&c);
	for (long i = 0; i < opt.warmup; i++)
		one_run(&c, ++run, &bytes);
	samples = xmalloc(sizeof(*samples) * (size_t)opt.count);
	start = now_ns();
	while (n < opt.count &&
	       (!opt.seconds || now_ns() - start < (uint64_t)(opt.seconds * 1e9))) {
		uint64_t t = one_run(&c, ++run, &bytes);

		hist_add(h, t);
		samples[n++] = t;
	}
	if (opt.samples) {
		sf = fopen(opt.samples, "w");
		if (!sf)
			die("%s: %s", opt.samples, strerror(errno));
		for (long i = 0; i < n; i++)
			fprintf(sf, "%.4f\n", samples[i] / 1e6);
		if (fclose(sf))
			die("%s: %s", opt.samples, strerror(errno));
	}
	printf("{\"mode\": \"rtt\", \"seconds\": %.3f, ", (now_ns() - start) / 1e9);
	hist_print(stdout, "ms", h);
	printf("}\n");
	conn_free(&c);
	free(samples);
	free(h);
	return 0;
}

static int mode_drain(void)
{
	struct conn c;
	long run = 0;

	conn_open(&c, opt.source, now_ns() + (uint64_t)(opt.timeout * 1e9));
	wait_first(&c);
	printf("{\"mode\": \"drain\", \"runs\": [");
	for (long i = 0; i < opt.warmup + opt.count; i++) {
		uint64_t bytes, t = one_run(&c, ++run, &bytes);

		if (i < opt.warmup)
			continue;
		printf("%s{\"seconds\": %.6f, \"bytes\": %llu, \"mb_s\": %.3f}",
		       i > opt.warmup ? ", " : "", t / 1e9, (unsigned long long)bytes,
		       (double)bytes / (t / 1e9) / 1e6);
		fflush(stdout);
	}
	printf("]}\n");
	conn_free(&c);
	return 0;
}

/* Source address number i of the hold: base, base+1, ... per opt.per_source. */
static void source_for(long i, char out[INET_ADDRSTRLEN])
{
	struct in_addr a;

	if (inet_pton(AF_INET, opt.source ? opt.source : "127.0.0.1", &a) != 1)
		usage("--source must be an IPv4 address");
	a.s_addr = htonl(ntohl(a.s_addr) + (uint32_t)(i / opt.per_source));
	inet_ntop(AF_INET, &a, out, INET_ADDRSTRLEN);
}

/*
 * Opens opt.connections WebSockets, prints "ready N" on standard error when
 * all are open, then reads and discards what arrives (as an idle browser
 * tab does) until opt.seconds pass or standard input reaches EOF.
 */
static int mode_hold(void)
{
	long n = opt.connections;
	struct conn *cs = calloc((size_t)n, sizeof(*cs));
	struct pollfd *pf = calloc((size_t)n + 1, sizeof(*pf));
	struct hist *h = calloc(1, sizeof(*h));
	struct rlimit rl;
	uint64_t start, t_open, end;
	long closed = 0;
	bool stdin_open = true;

	if (!cs || !pf || !h)
		die("out of memory");
	if (opt.transport != T_WS)
		usage("hold needs --ws");
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)n + 64 ? rl.rlim_max : (rlim_t)n + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	start = now_ns();
	for (long i = 0; i < n; i++) {
		char src[INET_ADDRSTRLEN];
		uint64_t t = now_ns();

		source_for(i, src);
		conn_open(&cs[i], src, t + (uint64_t)(opt.timeout * 1e9));
		hist_add(h, now_ns() - t);
	}
	t_open = now_ns() - start;
	fprintf(stderr, "ready %ld\n", n);
	end = opt.seconds ? now_ns() + (uint64_t)(opt.seconds * 1e9) : UINT64_MAX;
	while (now_ns() < end && (stdin_open || opt.seconds)) {
		int r;

		for (long i = 0; i < n; i++)
			pf[i] =
			    (struct pollfd){.fd = cs[i].closed ? -1 : cs[i].fd, .events = POLLIN};
		pf[n] = (struct pollfd){.fd = stdin_open ? 0 : -1, .events = POLLIN};
		r = poll(pf, (nfds_t)n + 1, 200);
		if (r < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (pf[n].revents) {
			char b[256];

			if (read(0, b, sizeof(b)) <= 0)
				stdin_open = false;
		}
		for (long i = 0; i < n; i++) {
			const uint8_t *p;
			size_t len;

			if (!pf[i].revents)
				continue;
			/* Take everything buffered without waiting for more. */
			while (conn_next(&cs[i], &p, &len, now_ns()))
				;
			if (cs[i].closed)
				closed++;
		}
		if (!stdin_open && !opt.seconds)
			break;
	}
	printf("{\"mode\": \"hold\", \"connections\": %ld, \"open_seconds\": %.3f, "
	       "\"closed_by_server\": %ld, ",
	       n, t_open / 1e9, closed);
	hist_print(stdout, "handshake_ms", h);
	printf("}\n");
	for (long i = 0; i < n; i++)
		conn_free(&cs[i]);
	free(cs);
	free(pf);
	free(h);
	return closed ? 1 : 0;
}

static double parse_num(const char *name, const char *v, double lo, double hi)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || *end || d < lo || d > hi) {
		fprintf(stderr, "%s: --%s '%s': expected a number from %g to %g\n", prog, name, v,
		        lo, hi);
		exit(2);
	}
	return d;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"ws", required_argument, NULL, 'w'},
	    {"unix", required_argument, NULL, 'u'},
	    {"tcp", required_argument, NULL, 't'},
	    {"header", required_argument, NULL, 'H'},
	    {"send", required_argument, NULL, 's'},
	    {"until", required_argument, NULL, 'U'},
	    {"after", required_argument, NULL, 'a'},
	    {"first", required_argument, NULL, 'f'},
	    {"count", required_argument, NULL, 'n'},
	    {"warmup", required_argument, NULL, 'W'},
	    {"seconds", required_argument, NULL, 'S'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"samples", required_argument, NULL, 'o'},
	    {"source", required_argument, NULL, 'b'},
	    {"connections", required_argument, NULL, 'c'},
	    {"per-source", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *mode;
	int ch;

	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (argc < 2)
		usage(NULL);
	mode = argv[1];
	if (mode[0] == '-')
		usage(NULL); /* the mode comes first; also -h and --help */
	optind = 2;
	while ((ch = getopt_long(argc, argv, "H:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'w':
		case 'u':
		case 't':
			if (opt.transport)
				usage("one of --ws, --unix, --tcp");
			opt.transport = ch == 'w' ? T_WS : ch == 'u' ? T_UNIX : T_TCP;
			opt.target = optarg;
			break;
		case 'H':
			if (opt.nheaders == MAX_HEADERS || !strchr(optarg, ':') ||
			    strpbrk(optarg, "\r\n"))
				usage("-H 'Name: value' (at most 16, one line each)");
			opt.headers[opt.nheaders++] = optarg;
			break;
		case 's':
			opt.send = optarg;
			break;
		case 'U':
			if (opt.nuntil == MAX_UNTIL)
				usage("at most 8 --until");
			opt.until[opt.nuntil++] = optarg;
			break;
		case 'a':
			opt.after = optarg;
			break;
		case 'f':
			opt.first = optarg;
			break;
		case 'n':
			opt.count = (long)parse_num("count", optarg, 1, 1e7);
			break;
		case 'W':
			opt.warmup = (long)parse_num("warmup", optarg, 0, 1e6);
			break;
		case 'S':
			opt.seconds = parse_num("seconds", optarg, 0, 86400);
			break;
		case 'T':
			opt.timeout = parse_num("timeout", optarg, 0.001, 86400);
			break;
		case 'o':
			opt.samples = optarg;
			break;
		case 'b':
			opt.source = optarg;
			break;
		case 'c':
			opt.connections = (long)parse_num("connections", optarg, 1, 1e6);
			break;
		case 'p':
			opt.per_source = (long)parse_num("per-source", optarg, 1, 1e6);
			break;
		default: /* -h, --help and unknown options */
			usage(NULL);
		}
	}
	if (optind != argc)
		usage("unexpected arguments");
	if (!strcmp(mode, "hold"))
		return mode_hold();
	if (!opt.send || !opt.nuntil)
		usage("rtt and drain need --send and --until");
	if (!strcmp(mode, "rtt"))
		return mode_rtt();
	if (!strcmp(mode, "drain"))
		return mode_drain();
	usage("mode must be rtt, drain or hold");
}
