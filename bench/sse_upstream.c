// sse_upstream: a minimal, fast OpenAI-style streaming server for bench/stream.
//
// One thread, epoll, HTTP/1.1 keep-alive on 127.0.0.1. Every request (any method and path; a
// Content-Length or chunked request body is read and ignored) gets a `text/event-stream` response,
// chunked, of --tokens completion events, each written with its own write() as a model server does
// when a token is ready, then `data: [DONE]` and the last chunk:
//
//   data: {"id":"cmpl-bench","object":"text_completion","created":1,"model":"bench",
//          "choices":[{"index":0,"text":" tok","logprobs":null,"finish_reason":null}]}
//
// The last token event has "finish_reason":"length". --token-us 0 (default) writes the events
// back to back as fast as the socket takes them; --token-us U releases one event per stream every
// U microseconds (a timerfd tick). It prints "listening on 127.0.0.1:PORT" once it accepts.
//
//   sse_upstream [--port P] [--tokens N] [--token-us U]
//
// Bench tool: no limits beyond what the benchmark needs; not for exposure to anything but loopback.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/timerfd.h>
#include <unistd.h>

enum phase { READ_HEAD, READ_BODY, READ_CHUNKED, STREAM };

struct conn {
  int fd;
  enum phase phase;
  char in[16384];
  size_t inlen;
  uint64_t body_left;
  int close_after;
  int tokens_sent;  // token events written (complete) in this response; -1 before the head
  int done_sent;    // [DONE] and the last chunk written
  char out[1024];   // what remains to be written of the current piece
  size_t outlen, outoff;
  struct conn *next_streaming, *prev_streaming;
  int in_list;
  int out_on;  // EPOLLOUT is registered
};

static int g_tokens = 64;
static long g_token_us = 0;
static int g_ep;
static struct conn* g_streaming;  // list of connections in STREAM phase (paced mode)
static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static void list_add(struct conn* c) {
  if (c->in_list) return;
  c->prev_streaming = NULL;
  c->next_streaming = g_streaming;
  if (g_streaming) g_streaming->prev_streaming = c;
  g_streaming = c;
  c->in_list = 1;
}

static void list_remove(struct conn* c) {
  if (!c->in_list) return;
  if (c->prev_streaming)
    c->prev_streaming->next_streaming = c->next_streaming;
  else
    g_streaming = c->next_streaming;
  if (c->next_streaming) c->next_streaming->prev_streaming = c->prev_streaming;
  c->in_list = 0;
}

static void conn_close(struct conn* c) {
  list_remove(c);
  epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c);
}

static void want_out(struct conn* c, int on) {
  if (c->out_on == on) return;
  c->out_on = on;
  struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
}

// Prepares the next piece of the response in c->out; returns 0 when the response is complete.
static int next_piece(struct conn* c) {
  char ev[512];
  int n;
  if (c->tokens_sent < 0) {
    n = snprintf(c->out, sizeof c->out,
                 "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                 "Transfer-Encoding: chunked\r\n%s\r\n",
                 c->close_after ? "Connection: close\r\n" : "");
    c->tokens_sent = 0;
  } else if (c->tokens_sent < g_tokens) {
    int last = c->tokens_sent + 1 == g_tokens;
    int e =
        snprintf(ev, sizeof ev,
                 "data: {\"id\":\"cmpl-bench\",\"object\":\"text_completion\",\"created\":1,"
                 "\"model\":\"bench\",\"choices\":[{\"index\":0,\"text\":\" tok%d\",\"logprobs\":"
                 "null,\"finish_reason\":%s}]}\n\n",
                 c->tokens_sent, last ? "\"length\"" : "null");
    n = snprintf(c->out, sizeof c->out, "%x\r\n%s\r\n", e, ev);
    c->tokens_sent++;
  } else if (!c->done_sent) {
    n = snprintf(c->out, sizeof c->out, "e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n");
    c->done_sent = 1;
  } else {
    return 0;
  }
  c->outlen = (size_t)n;
  c->outoff = 0;
  return 1;
}

// Writes what is pending; returns -1 on a dead socket, 0 when blocked, 1 when c->out is empty.
static int flush_out(struct conn* c) {
  while (c->outoff < c->outlen) {
    ssize_t w = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
    if (w < 0) {
      if (errno == EAGAIN) return 0;
      if (errno == EINTR) continue;
      return -1;
    }
    c->outoff += (size_t)w;
  }
  c->outlen = c->outoff = 0;
  return 1;
}

static int handle_input(struct conn* c);

// Response finished: next request on the connection, or close.
static int finish_response(struct conn* c) {
  list_remove(c);
  if (c->close_after) return -1;
  c->phase = READ_HEAD;
  return handle_input(c);
}

// Advances the response as far as the socket and the pacing allow. In paced mode (--token-us > 0)
// the head and the first token go at once, every later token needs allow_token (a timer tick).
static int pump(struct conn* c, int allow_token) {
  for (;;) {
    int r = flush_out(c);
    if (r < 0) return -1;
    if (r == 0) {
      want_out(c, 1);
      return 0;
    }
    want_out(c, 0);
    int is_token = c->tokens_sent >= 0 && c->tokens_sent < g_tokens;
    if (g_token_us > 0 && is_token && c->tokens_sent > 0) {
      if (!allow_token) return 0;
      allow_token = 0;
    }
    if (!next_piece(c)) return finish_response(c);
  }
}

static int start_response(struct conn* c) {
  c->phase = STREAM;
  c->tokens_sent = -1;
  c->done_sent = 0;
  if (g_token_us > 0) list_add(c);
  return pump(c, 0);
}

// Consumes buffered input according to the phase; returns -1 to close.
static int handle_input(struct conn* c) {
  for (;;) {
    if (c->phase == READ_HEAD) {
      char* end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
      if (!end) return c->inlen == sizeof c->in ? -1 : 0;
      size_t head = (size_t)(end - c->in) + 4;
      c->body_left = 0;
      c->close_after = 0;
      int chunked = 0;
      for (char* line = c->in; line < end;) {
        char* eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        if (!eol) break;
        if (strncasecmp(line, "content-length:", 15) == 0)
          c->body_left = strtoull(line + 15, NULL, 10);
        if (strncasecmp(line, "transfer-encoding:", 18) == 0 &&
            memmem(line, (size_t)(eol - line), "chunked", 7))
          chunked = 1;
        if (strncasecmp(line, "connection:", 11) == 0 &&
            memmem(line, (size_t)(eol - line), "close", 5))
          c->close_after = 1;
        line = eol + 2;
      }
      memmove(c->in, c->in + head, c->inlen - head);
      c->inlen -= head;
      c->phase = chunked ? READ_CHUNKED : READ_BODY;
    } else if (c->phase == READ_BODY) {
      size_t take = c->body_left < c->inlen ? (size_t)c->body_left : c->inlen;
      memmove(c->in, c->in + take, c->inlen - take);
      c->inlen -= take;
      c->body_left -= take;
      if (c->body_left > 0) return 0;
      return start_response(c);
    } else if (c->phase == READ_CHUNKED) {
      // Enough for the benchmark: the body ends at the first "0\r\n\r\n".
      char* end = memmem(c->in, c->inlen, "0\r\n\r\n", 5);
      if (!end) {
        if (c->inlen > 8) {  // keep a tail that may hold the start of the terminator
          memmove(c->in, c->in + c->inlen - 8, 8);
          c->inlen = 8;
        }
        return 0;
      }
      size_t used = (size_t)(end - c->in) + 5;
      memmove(c->in, c->in + used, c->inlen - used);
      c->inlen -= used;
      return start_response(c);
    } else {
      return 0;  // STREAM: pipelined input waits until the response is done
    }
  }
}

static int on_readable(struct conn* c) {
  for (;;) {
    if (c->inlen == sizeof c->in) return c->phase == STREAM ? 0 : -1;
    ssize_t r = read(c->fd, c->in + c->inlen, sizeof c->in - c->inlen);
    if (r == 0) return -1;
    if (r < 0) {
      if (errno == EAGAIN) break;
      if (errno == EINTR) continue;
      return -1;
    }
    c->inlen += (size_t)r;
    if ((size_t)r < 4096) break;
  }
  return handle_input(c);
}

int main(int argc, char** argv) {
  int port = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--port") && i + 1 < argc)
      port = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--tokens") && i + 1 < argc)
      g_tokens = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--token-us") && i + 1 < argc)
      g_token_us = atol(argv[++i]);
    else {
      fprintf(stderr, "usage: sse_upstream [--port P] [--tokens N] [--token-us U]\n");
      return 2;
    }
  }
  if (g_tokens < 1) g_tokens = 1;
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, (struct sockaddr*)&a, sizeof a) < 0 || listen(ls, 4096) < 0) {
    perror("sse_upstream: bind/listen");
    return 2;
  }
  socklen_t al = sizeof a;
  getsockname(ls, (struct sockaddr*)&a, &al);

  g_ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(g_ep, EPOLL_CTL_ADD, ls, &ev);
  int tfd = -1;
  static int timer_tag;
  if (g_token_us > 0) {
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct itimerspec its = {.it_interval = {g_token_us / 1000000, (g_token_us % 1000000) * 1000},
                             .it_value = {g_token_us / 1000000, (g_token_us % 1000000) * 1000}};
    timerfd_settime(tfd, 0, &its, NULL);
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = &timer_tag};
    epoll_ctl(g_ep, EPOLL_CTL_ADD, tfd, &tev);
  }
  printf("listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
  fflush(stdout);

  struct epoll_event evs[256];
  while (!g_stop) {
    int n = epoll_wait(g_ep, evs, 256, 500);
    for (int i = 0; i < n; i++) {
      if (evs[i].data.ptr == NULL) {
        for (;;) {
          int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
          if (fd < 0) break;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct conn* c = calloc(1, sizeof *c);
          c->fd = fd;
          c->phase = READ_HEAD;
          struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
          epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &cev);
        }
      } else if (evs[i].data.ptr == &timer_tag) {
        uint64_t ticks;
        if (read(tfd, &ticks, sizeof ticks) < 0) continue;
        for (struct conn *c = g_streaming, *next; c; c = next) {
          next = c->next_streaming;
          if (c->outlen == 0 && pump(c, 1) < 0) conn_close(c);
        }
      } else {
        struct conn* c = evs[i].data.ptr;
        int r = 0;
        if (evs[i].events & (EPOLLERR | EPOLLHUP)) r = -1;
        if (r == 0 && (evs[i].events & EPOLLOUT) && c->phase == STREAM) r = pump(c, 0);
        if (r == 0 && (evs[i].events & EPOLLIN)) r = on_readable(c);
        if (r < 0) conn_close(c);
      }
    }
  }
  return 0;
}
