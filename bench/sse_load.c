// sse_load: a load generator for streamed (server-sent events) responses, for bench/stream.
//
// Opens --conns keep-alive connections to 127.0.0.1:--port and on each runs streams back to back
// for --duration seconds: POST --path with --body, then reads the response (chunked,
// Content-Length or close-delimited), splitting the body into SSE lines. Every `data:` line other
// than `data: [DONE]` is a token. Time to first token (TTFT) is the time from the request's last
// byte handed to the kernel to the end of the first token line. At the end it prints one line:
//
//   streams=N tokens=N seconds=S tokens_per_s=X ttft_p50_ms=X ttft_p90_ms=X ttft_p99_ms=X
//   errors=N short_streams=N trailing_bytes=N
//
// tokens counts tokens received before the deadline (streams cut by the deadline count what they
// got); streams and TTFT count completed streams only. --expect N marks a completed stream with
// another number of tokens as short. trailing_bytes counts responses followed by bytes that belong
// to no response (for instance a second last-chunk): the stream counts, the connection is closed
// and a new one opened, as a strict keep-alive client must.
//
//   sse_load --port P [--path /v1/completions] [--conns 64] [--duration 10] [--expect N] [--body J]

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum state {
  CONNECTING,
  SENDING,
  HEAD,
  BODY_CHUNK_SIZE,
  BODY_CHUNK_DATA,
  BODY_CHUNK_CRLF,
  BODY_TRAILER,
  BODY_LENGTH,
  BODY_CLOSE
};

struct conn {
  int fd;
  enum state st;
  char head[16384];
  size_t headlen;
  size_t sent;
  uint64_t left;      // chunk or content-length bytes left
  char sizeline[32];  // chunk-size line being read
  size_t sizelen;
  int trailer_empty;  // in BODY_TRAILER: the current line is empty so far
  int status;
  int close_after;
  char prefix[16];  // start of the current SSE line
  size_t linelen;
  double t_sent;
  int got_first;
  int tokens;
};

static const char* g_path = "/v1/completions";
static const char* g_body =
    "{\"model\":\"bench\",\"prompt\":\"hello\",\"max_tokens\":64,\"stream\":true}";
static char g_req[4096];
static size_t g_reqlen;
static int g_port, g_expect = -1, g_ep;
static double g_deadline;
static long g_streams, g_tokens, g_errors, g_short, g_trailing;
static double* g_ttft;
static size_t g_nttft, g_capttft;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void add_ttft(double v) {
  if (g_nttft == g_capttft) {
    g_capttft = g_capttft ? g_capttft * 2 : 4096;
    g_ttft = realloc(g_ttft, g_capttft * sizeof *g_ttft);
  }
  g_ttft[g_nttft++] = v;
}

static int open_conn(struct conn* c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  c->st = CONNECTING;
  c->sent = 0;
  if (connect(c->fd, (struct sockaddr*)&a, sizeof a) < 0 && errno != EINPROGRESS) return -1;
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
  return epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void reopen(struct conn* c) {
  epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  if (now_s() < g_deadline && open_conn(c) < 0) g_errors++;
}

static void begin_request(struct conn* c) {
  c->st = SENDING;
  c->sent = 0;
  c->headlen = 0;
  c->status = 0;
  c->close_after = 0;
  c->linelen = 0;
  c->got_first = 0;
  c->tokens = 0;
}

// One SSE line is complete.
static void end_line(struct conn* c) {
  size_t n = c->linelen < sizeof c->prefix ? c->linelen : sizeof c->prefix;
  if (n >= 5 && memcmp(c->prefix, "data:", 5) == 0) {
    const char* p = c->prefix + 5;
    size_t rest = n - 5;
    if (rest > 0 && *p == ' ') p++, rest--;
    if (!(rest >= 6 && memcmp(p, "[DONE]", 6) == 0)) {
      if (now_s() < g_deadline) g_tokens++;
      c->tokens++;
      if (!c->got_first) {
        c->got_first = 1;
        add_ttft(now_s() - c->t_sent);
      }
    }
  }
  c->linelen = 0;
}

static void body_bytes(struct conn* c, const char* p, size_t n) {
  while (n > 0) {
    const char* nl = memchr(p, '\n', n);
    size_t seg = nl ? (size_t)(nl - p) : n;
    if (c->linelen < sizeof c->prefix) {
      size_t k = sizeof c->prefix - c->linelen;
      memcpy(c->prefix + c->linelen, p, seg < k ? seg : k);
    }
    c->linelen += seg;
    if (!nl) return;
    if (c->linelen > 0 && c->linelen <= sizeof c->prefix && c->prefix[c->linelen - 1] == '\r')
      c->linelen--;
    end_line(c);
    p = nl + 1;
    n -= seg + 1;
  }
}

// The response is complete: account, then the next request (or close).
static void response_done(struct conn* c) {
  if (c->status != 200) g_errors++;
  g_streams++;
  if (g_expect >= 0 && c->tokens != g_expect) g_short++;
  if (c->close_after) {
    reopen(c);
    return;
  }
  begin_request(c);
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
  epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static int parse_head(struct conn* c) {
  char* end = memmem(c->head, c->headlen, "\r\n\r\n", 4);
  if (!end) return c->headlen == sizeof c->head ? -1 : 0;
  size_t used = (size_t)(end - c->head) + 4;
  c->status = atoi(c->head + 9);
  int chunked = 0, has_len = 0;
  for (char* line = c->head; line < end;) {
    char* eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
    if (!eol) break;
    if (strncasecmp(line, "content-length:", 15) == 0)
      c->left = strtoull(line + 15, NULL, 10), has_len = 1;
    if (strncasecmp(line, "transfer-encoding:", 18) == 0 &&
        memmem(line, (size_t)(eol - line), "chunked", 7))
      chunked = 1;
    if (strncasecmp(line, "connection:", 11) == 0 && memmem(line, (size_t)(eol - line), "close", 5))
      c->close_after = 1;
    line = eol + 2;
  }
  c->st = chunked ? BODY_CHUNK_SIZE : has_len ? BODY_LENGTH : BODY_CLOSE;
  c->sizelen = 0;
  return (int)used;
}

// Feeds received bytes through the response parser; returns -1 on a protocol error.
static int feed(struct conn* c, const char* p, size_t n) {
  while (n > 0) {
    switch (c->st) {
      case HEAD: {
        size_t k = sizeof c->head - c->headlen < n ? sizeof c->head - c->headlen : n;
        memcpy(c->head + c->headlen, p, k);
        size_t before = c->headlen;
        c->headlen += k;
        int used = parse_head(c);
        if (used < 0) return -1;
        if (used == 0) {
          p += k, n -= k;
          break;
        }
        size_t consumed = (size_t)used - before;
        p += consumed, n -= consumed;
        if (c->st == BODY_LENGTH && c->left == 0) response_done(c);
        break;
      }
      case BODY_CHUNK_SIZE: {
        char ch = *p++;
        n--;
        if (ch == '\n') {
          c->sizeline[c->sizelen < sizeof c->sizeline ? c->sizelen : sizeof c->sizeline - 1] = 0;
          c->left = strtoull(c->sizeline, NULL, 16);
          c->sizelen = 0;
          if (c->left == 0) {
            c->st = BODY_TRAILER;
            c->trailer_empty = 1;
          } else {
            c->st = BODY_CHUNK_DATA;
          }
        } else if (c->sizelen < sizeof c->sizeline - 1) {
          c->sizeline[c->sizelen++] = ch;
        }
        break;
      }
      case BODY_CHUNK_DATA: {
        size_t k = c->left < n ? (size_t)c->left : n;
        body_bytes(c, p, k);
        p += k, n -= k;
        c->left -= k;
        if (c->left == 0) c->st = BODY_CHUNK_CRLF, c->sizelen = 0;
        break;
      }
      case BODY_CHUNK_CRLF:
        if (*p == '\n') c->st = BODY_CHUNK_SIZE;
        p++, n--;
        break;
      case BODY_TRAILER:
        if (*p == '\n') {
          if (c->trailer_empty) {
            p++, n--;
            if (n > 0) {  // bytes after the end of the response: count it, do not reuse
              g_trailing++;
              c->close_after = 1;
            }
            response_done(c);
            return 0;
          }
          c->trailer_empty = 1;
        } else if (*p != '\r') {
          c->trailer_empty = 0;
        }
        p++, n--;
        break;
      case BODY_LENGTH: {
        size_t k = c->left < n ? (size_t)c->left : n;
        body_bytes(c, p, k);
        p += k, n -= k;
        c->left -= k;
        if (c->left == 0) {
          if (n > 0) {
            g_trailing++;
            c->close_after = 1;
          }
          response_done(c);
          return 0;
        }
        break;
      }
      case BODY_CLOSE:
        body_bytes(c, p, n);
        n = 0;
        break;
      default:
        return -1;
    }
  }
  return 0;
}

static void on_event(struct conn* c, uint32_t events) {
  if (c->st == CONNECTING) {
    if (events & (EPOLLERR | EPOLLHUP)) {
      g_errors++;
      reopen(c);
      return;
    }
    begin_request(c);
  }
  if (c->st == SENDING && (events & EPOLLOUT)) {
    while (c->sent < g_reqlen) {
      ssize_t w = write(c->fd, g_req + c->sent, g_reqlen - c->sent);
      if (w < 0) {
        if (errno == EAGAIN) return;
        g_errors++;
        reopen(c);
        return;
      }
      c->sent += (size_t)w;
    }
    c->t_sent = now_s();
    c->st = HEAD;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
    return;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    char buf[65536];
    for (;;) {
      ssize_t r = read(c->fd, buf, sizeof buf);
      if (r == 0) {
        if (c->st == BODY_CLOSE) {
          c->close_after = 1;
          response_done(c);
        } else if (c->st != SENDING) {
          g_errors++;  // closed mid-response
          reopen(c);
        } else {
          reopen(c);
        }
        return;
      }
      if (r < 0) {
        if (errno == EAGAIN) return;
        g_errors++;
        reopen(c);
        return;
      }
      if (c->st == SENDING) {  // bytes after the end of a response, before the next request
        g_trailing++;
        reopen(c);
        return;
      }
      if (feed(c, buf, (size_t)r) < 0) {
        g_errors++;
        reopen(c);
        return;
      }
      if (c->st == SENDING || c->st == CONNECTING) return;  // a response ended: next request
      if (r < (ssize_t)sizeof buf) return;
    }
  }
}

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static double pct(double q) {
  if (g_nttft == 0) return 0;
  size_t i = (size_t)(q * (double)(g_nttft - 1) + 0.5);
  return g_ttft[i] * 1000;
}

int main(int argc, char** argv) {
  int conns = 64;
  double duration = 10;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--port") && i + 1 < argc)
      g_port = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--path") && i + 1 < argc)
      g_path = argv[++i];
    else if (!strcmp(argv[i], "--conns") && i + 1 < argc)
      conns = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--duration") && i + 1 < argc)
      duration = atof(argv[++i]);
    else if (!strcmp(argv[i], "--expect") && i + 1 < argc)
      g_expect = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--body") && i + 1 < argc)
      g_body = argv[++i];
    else {
      fprintf(stderr,
              "usage: sse_load --port P [--path P] [--conns N] [--duration S] [--expect N] [--body "
              "J]\n");
      return 2;
    }
  }
  if (g_port <= 0 || conns < 1 || duration <= 0 || duration > 600) {
    fprintf(stderr, "sse_load: --port is required; --conns >= 1; 0 < --duration <= 600\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  g_reqlen = (size_t)snprintf(
      g_req, sizeof g_req,
      "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
      "Accept: text/event-stream\r\nContent-Length: %zu\r\n\r\n%s",
      g_path, g_port, strlen(g_body), g_body);
  g_ep = epoll_create1(0);
  struct conn* cs = calloc((size_t)conns, sizeof *cs);
  double start = now_s();
  g_deadline = start + duration;
  for (int i = 0; i < conns; i++) {
    if (open_conn(&cs[i]) < 0) {
      perror("sse_load: connect");
      return 1;
    }
  }
  struct epoll_event evs[512];
  for (;;) {
    double left = g_deadline - now_s();
    if (left <= 0) break;
    int n = epoll_wait(g_ep, evs, 512, (int)(left * 1000) + 1);
    for (int i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events);
  }
  double secs = now_s() - start;
  qsort(g_ttft, g_nttft, sizeof *g_ttft, cmp_double);
  printf(
      "streams=%ld tokens=%ld seconds=%.3f tokens_per_s=%.0f ttft_p50_ms=%.3f ttft_p90_ms=%.3f "
      "ttft_p99_ms=%.3f errors=%ld short_streams=%ld trailing_bytes=%ld\n",
      g_streams, g_tokens, secs, (double)g_tokens / secs, pct(0.5), pct(0.9), pct(0.99), g_errors,
      g_short, g_trailing);
  return 0;
}
