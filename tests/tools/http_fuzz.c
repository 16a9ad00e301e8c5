/* Test tool: sends deterministic malformed HTTP requests over raw sockets to `movierec api` and
 * `movierec events` and checks that each is answered with a 4xx (or, for requests that cannot be
 * answered, a closed connection), that both processes live on and how their RSS moved. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "core/mr_rng.h"

/* ---- request classes -------------------------------------------------------------------- */

typedef enum {
  C_PATH,      /* bad paths, ids and percent-encodings */
  C_METHOD,    /* methods no route takes */
  C_QUERY,     /* n, limit, q, genres out of range; URIs over 8 KiB */
  C_JSON,      /* POST /interact bodies that are not valid JSON objects or have wrong types */
  C_IDS,       /* well-formed JSON with ids or ratings out of range */
  C_AUTH,      /* missing or wrong bearer token (only with --token) */
  C_HEADERS,   /* header floods (more than h2o's 100) */
  C_BIGHEADER, /* one header of 9 KiB .. 450 KiB */
  C_CLEN,      /* bad or conflicting Content-Length */
  C_CHUNKED,   /* chunked bodies with garbage chunk sizes, or valid chunking of bad JSON */
  C_HUGE,      /* bodies over 64 KiB (a few over h2o's 1 MiB) */
  C_TRUNC,     /* a body shorter than its Content-Length, then a half-close */
  C_REQLINE,   /* garbage request lines, raw control and high bytes */
  C_N
} req_class;

static const char *const class_name[C_N] = {"path", "method",  "query",     "json", "ids",
                                            "auth", "headers", "bigheader", "clen", "chunked",
                                            "huge", "trunc",   "reqline"};
/* classes where a connection closed without an answer is an acceptable outcome */
static const int may_close[C_N] = {0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1};

typedef struct stats {
  long sent, r4xx, closed, other, timeouts;
} stats;

typedef struct target {
  const char *name;
  int port;
  pid_t pid;
  int fd;     /* keep-alive connection, -1 when none */
  long conns; /* connections opened */
} target;

/* growable byte buffer for one request */
typedef struct buf {
  char *p;
  size_t len, cap;
} buf;

static void b_reserve(buf *b, size_t more) {
  if (b->len + more + 1 <= b->cap)
    return;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more + 1)
    cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    fprintf(stderr, "http_fuzz: out of memory\n");
    exit(2);
  }
  b->p = p;
  b->cap = cap;
}
static void b_add(buf *b, const void *s, size_t n) {
  b_reserve(b, n);
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}
static void b_str(buf *b, const char *s) {
  b_add(b, s, strlen(s));
}
__attribute__((format(printf, 2, 3))) static void b_fmt(buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  b_reserve(b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}
static void b_rep(buf *b, char c, size_t n) {
  b_reserve(b, n);
  memset(b->p + b->len, c, n);
  b->len += n;
  b->p[b->len] = '\0';
}

/* ---- generators ------------------------------------------------------------------------- */

static mr_rng rng;
static const char *token; /* the events service's token, or NULL */

static size_t rnd(size_t n) {
  return (size_t)mr_rng_below(&rng, n);
}
static const char *pick(const char *const *a, size_t n) {
  return a[rnd(n)];
}
#define PICK(a) pick(a, sizeof(a) / sizeof(a[0]))

/* An id that is never a valid one: letters, bad escapes, zero, negative, overflow. */
static void bad_id(buf *b) {
  static const char *const ids[] = {
      "0",           "-1",      "abc",  "2147483648", "99999999999999999999",
      "1e3",         "1.5",     "0x10", "%zz",        "%",
      "1%00",        "%2F",     "1;2",  "+1x",        "１",
      "1%20x",       "%31%32x", "NaN",  "-0",         "1 ",
      "\xe2\x82\xac"};
  switch (rnd(3)) {
  case 0:
    b_str(b, PICK(ids));
    break;
  case 1: /* digits then junk */
    b_fmt(b, "%zu%s", rnd(100000), rnd(2) ? "x" : "%zz");
    break;
  default: /* a long run of digits */
    b_rep(b, (char)('1' + rnd(9)), 11 + rnd(300));
  }
}

/* Junk path characters: valid and invalid escapes, dots, slashes, UTF-8. */
static void junk_path(buf *b, size_t n) {
  static const char *const parts[] = {
      "%", "%z", "%zz",  "%00", "%2e%2e", "..",     "/", "//", "%2F", "~", "%C3%A9", "\xc3\xa9",
      "a", "Z9", ";x=1", "+",   "%25",    "%ff%fe", ".", "-_", "*",   "'", "(",      "!$&"};
  for (size_t i = 0; i < n; i++)
    b_str(b, PICK(parts));
}

static void req_head(buf *b, const char *method, const char *target_path) {
  b_fmt(b, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n", method, target_path);
}

static void auth_header(buf *b) {
  if (token)
    b_fmt(b, "Authorization: Bearer %s\r\n", token);
}

/* POST /interact with body[0..n) and a correct Content-Length. */
static void post_json(buf *b, const char *body, size_t n) {
  req_head(b, "POST", "/interact");
  auth_header(b);
  b_fmt(b, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", n);
  b_add(b, body, n);
}

static void gen_path(buf *b, int api) {
  buf p = {0};
  if (api) {
    switch (rnd(6)) {
    case 0:
      b_str(&p, "/recommendations/");
      bad_id(&p);
      if (rnd(2))
        b_str(&p, "/sections");
      break;
    case 1:
      b_str(&p, "/movies/");
      bad_id(&p);
      break;
    case 2:
      b_str(&p, "/users/");
      bad_id(&p);
      b_str(&p, "/ratings");
      break;
    case 3: { /* traversal and missing files under /static/ */
      static const char *const t[] = {"../",     "%2e%2e/", "..%2f", "%2e%2e%2f", "./",
                                      "sub/../", "%2fetc",  "..",    ".%2e/",     "\\..\\"};
      b_str(&p, "/static/");
      for (size_t i = 1 + rnd(4); i > 0; i--)
        b_str(&p, PICK(t));
      b_fmt(&p, "zz%zu", rnd(1000));
      break;
    }
    case 4:
      b_str(&p, "/recommendations/1/sections/");
      junk_path(&p, 1 + rnd(5));
      break;
    default:
      b_str(&p, "/zz");
      junk_path(&p, rnd(40));
    }
  } else {
    if (rnd(2)) {
      b_str(&p, "/interact/");
      junk_path(&p, 1 + rnd(10));
    } else {
      b_str(&p, "/zz");
      junk_path(&p, rnd(40));
    }
  }
  const char *m = api ? "GET" : "POST";
  req_head(b, m, p.p);
  if (!api) {
    auth_header(b);
    b_str(b, "Content-Length: 2\r\n\r\n{}");
  } else {
    b_str(b, "\r\n");
  }
  free(p.p);
}

static void gen_method(buf *b, int api) {
  static const char *const methods[] = {"PUT",   "DELETE",   "PATCH", "FOO",  "get",
                                        "POSTX", "PROPFIND", "TRACE", "LOCK", "M-SEARCH"};
  static const char *const api_paths[] = {"/health",   "/recommendations/1", "/movies",
                                          "/movies/1", "/config.js",         "/metrics"};
  static const char *const ev_paths[] = {"/health", "/interact", "/metrics"};
  buf m = {0};
  if (rnd(8) == 0)
    b_rep(&m, 'X', 100 + rnd(2000)); /* an absurdly long method token */
  else
    b_str(&m, PICK(methods));
  /* POST is no method of any API route nor of the event service's GET routes */
  if (rnd(4) == 0) {
    free(m.p);
    m = (buf){0};
    b_str(&m, "POST");
    req_head(b, m.p, api ? PICK(api_paths) : (rnd(2) ? "/health" : "/metrics"));
  } else {
    req_head(b, m.p, api ? PICK(api_paths) : PICK(ev_paths));
  }
  b_str(b, "Content-Length: 0\r\n\r\n");
  free(m.p);
}

static void gen_query(buf *b) {
  static const char *const n_bad[] = {"-1",    "0",        "101", "100000000000000000000",
                                      "abc",   "%zz",      "",    "1.5",
                                      "1e2",   "0x10",     "+5x", "%",
                                      "10%00", "%31%30%31"};
  buf q = {0};
  switch (rnd(6)) {
  case 0:
    b_fmt(&q, "/recommendations/%zu?n=%s", 1 + rnd(2000), PICK(n_bad));
    break;
  case 1:
    b_fmt(&q, "/movies?limit=%s", PICK(n_bad));
    break;
  case 2: /* q over 200 bytes */
    b_str(&q, "/movies?q=");
    b_rep(&q, 'a', 201 + rnd(3000));
    break;
  case 3:
    b_fmt(&q, "/recommendations/%zu/sections?genres=Action,Nope%zu", 1 + rnd(2000), rnd(99));
    break;
  case 4: /* whole URI over 8 KiB */
    b_str(&q, "/movies?q=a&pad=");
    b_rep(&q, 'p', 8200 + rnd(60000));
    break;
  default: /* a valid-looking parameter next to a broken escape */
    b_fmt(&q, "/movies?q=toy&x=%s", rnd(2) ? "%g0" : "%");
  }
  req_head(b, "GET", q.p);
  b_str(b, "\r\n");
  free(q.p);
}

static void gen_json(buf *b) {
  static const char *const bodies[] = {
      "{\"user_id\": 1, \"movie_id\": 50,",
      "not json",
      "{\"user_id\": NaN, \"movie_id\": 50, \"rating\": 4}",
      "{\"user_id\": Infinity, \"movie_id\": 50, \"rating\": 4}",
      "{\"user_id\": 1, \"movie_id\": 50, \"rating\": -Infinity}",
      "{\"user_id\": 1e400, \"movie_id\": 50, \"rating\": 4}",
      "{\"user_id\": 1, \"movie_id\": 50, \"rating\": 4, \"ts\": 99999999999999999999999}",
      "{\"user_id\": 1, \"user_id\": 2, \"movie_id\": 50, \"rating\": 4}",
      "[1, 2, 3]",
      "\"a string\"",
      "null",
      "42",
      "{\"user_id\": \"1\", \"movie_id\": 50, \"rating\": 4}",
      "{\"user_id\": 1, \"movie_id\": [50], \"rating\": 4}",
      "{\"user_id\": 1, \"movie_id\": 50, \"rating\": {\"v\": 4}}",
      "{\"user_id\": 1, \"movie_id\": 50, \"rating\": true}",
      "{\"user_id\": null, \"movie_id\": 50, \"rating\": 4}",
      "{\"user_id\": 1, \"movie_id\": 50, \"rating\": 4} trailing",
      "{\"user_id\": 1, \"movie_id\": 50, \"rating\": 4,}",
      "{'user_id': 1, 'movie_id': 50, 'rating': 4}",
      "{\"user_id\": 1, \"movie_id\": 50, \"rating\": 4, \"x\": \"\xff\xfe\"}",
      "{\"user_id\": 1, \"movie_id\": 50, \"rating\": 4, \"x\": \"\xc3\"}",
      "{\"user_id\": 1, \"movie_id\": 50, \"rating\": 4, \"x\": \"\\ud800\"}",
      "{\"user_id\": 1, \"movie_id\": 50, \"rating\": 4, \"x\": \"\x01\"}",
      "{\"user_\\u0000id\": 1, \"movie_id\": 50}",
      "\xef\xbb\xbf{\"user_id\": 1, \"movie_id\": 50, \"rating\": 4}",
      "{\"movie_id\": 50, \"rating\": 4}",
      "{}",
      "",
      " ",
      "{\"user_id\": 01, \"movie_id\": 50, \"rating\": 4}",
      "{\"user_id\": 1, \"movie_id\": 0x32, \"rating\": 4}",
  };
  buf body = {0};
  switch (rnd(4)) {
  case 0: { /* deep nesting */
    size_t d = 100 + rnd(20000);
    b_str(&body, "{\"user_id\": 1, \"movie_id\": 50, \"rating\": 4, \"x\": ");
    b_rep(&body, rnd(2) ? '[' : '{', d);
    break;
  }
  case 1: /* random bytes starting with a byte no JSON text starts with */
    b_str(&body, "x");
    for (size_t i = rnd(300); i > 0; i--) {
      char c = (char)rnd(256);
      b_add(&body, &c, 1);
    }
    break;
  default:
    b_str(&body, PICK(bodies));
  }
  post_json(b, body.p ? body.p : "", body.len);
  free(body.p);
}

static void gen_ids(buf *b) {
  static const char *const uid[] = {
      "0", "-1", "2147483648", "9223372036854775807", "-9223372036854775808", "1.0", "1e9", "3.5"};
  static const char *const mid[] = {"0",          "-5",         "999999", "1683",
                                    "2147483647", "2147483648", "1.5",    "\"50\""};
  static const char *const rat[] = {"0",  "6", "-1", "4.5", "\"5\"", "null", "99999999999999999999",
                                    "5e0"};
  buf body = {0};
  /* one field out of range, the others fine, so the refusal names that field */
  switch (rnd(4)) {
  case 0:
    b_fmt(&body, "{\"user_id\": %s, \"movie_id\": 50, \"rating\": 4}", PICK(uid));
    break;
  case 1:
    b_fmt(&body, "{\"user_id\": 7, \"movie_id\": %s, \"rating\": 4}", PICK(mid));
    break;
  case 2:
    b_fmt(&body, "{\"user_id\": 7, \"movie_id\": 50, \"rating\": %s}", PICK(rat));
    break;
  default:
    b_fmt(&body, "{\"user_id\": 7, \"movie_id\": 50, \"rating\": 4, \"ts\": %s}",
          rnd(2) ? "0" : "1099511627777");
  }
  post_json(b, body.p, body.len);
  free(body.p);
}

static void gen_auth(buf *b) {
  static const char *const body = "{\"user_id\": 7, \"movie_id\": 50, \"rating\": 4}";
  req_head(b, "POST", "/interact");
  switch (rnd(5)) {
  case 0:
    break; /* none */
  case 1:
    b_fmt(b, "Authorization: Bearer %s%c\r\n", token, (char)('a' + rnd(26)));
    break;
  case 2:
    b_fmt(b, "Authorization: Basic %s\r\n", token);
    break;
  case 3: { /* the right length, one byte off */
    buf t = {0};
    b_str(&t, token);
    t.p[rnd(t.len)] ^= 1;
    b_fmt(b, "Authorization: Bearer %s\r\n", t.p);
    free(t.p);
    break;
  }
  default:
    b_str(b, "Authorization: Bearer\r\n");
  }
  b_fmt(b, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
}

static void gen_headers(buf *b, int api) {
  req_head(b, api ? "GET" : "POST", api ? "/zz/flood" : "/interact");
  auth_header(b);
  for (size_t i = 101 + rnd(400); i > 0; i--)
    b_fmt(b, "X-Flood-%zu: %zu\r\n", i, rnd(1000000));
  b_str(b, api ? "\r\n" : "Content-Length: 1\r\n\r\n{");
}

static void gen_bigheader(buf *b, int api) {
  req_head(b, api ? "GET" : "POST", api ? "/zz/big" : "/interact");
  auth_header(b);
  b_str(b, "X-Big: ");
  b_rep(b, 'h', rnd(20) == 0 ? 450 * 1024 : 9 * 1024 + rnd(56 * 1024));
  b_str(b, api ? "\r\n\r\n" : "\r\nContent-Length: 1\r\n\r\n{");
}

static void gen_clen(buf *b) {
  static const char *const cl[] = {
      "-1", "abc", "1e3", "99999999999999999999", "0x10", "", "18446744073709551616", "5, 6", "+5"};
  req_head(b, "POST", "/interact");
  auth_header(b);
  if (rnd(3) == 0)
    b_str(b, "Content-Length: 5\r\nContent-Length: 7\r\n\r\n{\"a\":1");
  else if (rnd(2) == 0)
    b_str(b, "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n0\r\n\r\n");
  else
    b_fmt(b, "Content-Length: %s\r\n\r\n{\"user_id\":1}", PICK(cl));
}

static void gen_chunked(buf *b) {
  static const char *const bad[] = {"zz\r\n{}\r\n0\r\n\r\n",
                                    "-1\r\n{}\r\n0\r\n\r\n",
                                    "ffffffffffffffffff\r\n{}\r\n0\r\n\r\n",
                                    "2\r\n{}0\r\n\r\n",
                                    "2;ext=\x01\r\n{}\r\n0\r\n\r\n",
                                    "\r\n\r\n"};
  req_head(b, "POST", "/interact");
  auth_header(b);
  b_str(b, "Transfer-Encoding: chunked\r\n\r\n");
  if (rnd(2)) {
    b_str(b, PICK(bad));
  } else { /* valid chunking of a body that is not a valid event */
    static const char *const parts[] = {"{\"user_id\": ", "1, \"movie_id\"", ": 0, ",
                                        "\"rating\": 9}"};
    for (size_t i = 0; i < 4; i++)
      b_fmt(b, "%zx\r\n%s\r\n", strlen(parts[i]), parts[i]);
    b_str(b, "0\r\n\r\n");
  }
}

static void gen_huge(buf *b, int api) {
  size_t n = rnd(50) == 0 ? (1 << 20) + 1 + rnd(100000) : 64 * 1024 + 1 + rnd(140 * 1024);
  req_head(b, "POST", api ? "/recommendations/1" : "/interact");
  if (!api)
    auth_header(b);
  b_fmt(b, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", n);
  b_str(b, "{\"user_id\": 1, \"pad\": \"");
  b_rep(b, 'x', n - 25); /* 23 + (n - 25) + 2 = n bytes */
  b_str(b, "\"}");
}

static void gen_trunc(buf *b) {
  req_head(b, "POST", "/interact");
  auth_header(b);
  size_t n = 10 + rnd(60000);
  b_fmt(b, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", n);
  b_str(b, "{\"user_id\": 1, \"movie_id\": 50, \"rating\"");
  if (rnd(2))
    b_rep(b, ' ', rnd(n / 2));
}

static void gen_reqline(buf *b) {
  static const char *const lines[] = {
      "GARBAGE\r\n\r\n",
      "GET\r\n\r\n",
      "GET /zz HTTP/9.9\r\nHost: x\r\n\r\n",
      "GET /zz HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
      "GET /zz HTTP/1.1\r\nHost: x\r\n: empty-name\r\n\r\n",
      "GET /a b c HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /zz\x01\x02 HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /zz\xff\xfe\x80 HTTP/1.1\r\nHost: x\r\n\r\n",
      "\r\n\r\n\r\n\r\n",
      "GET /zz HTTP/1.1\nHost: x\n\n",
      "GET /zz HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
      "GET http://evil.example/zz HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET zz HTTP/1.1\r\nHost: x\r\n\r\n",
  };
  if (rnd(4) == 0) { /* random bytes, NULs included */
    for (size_t i = 1 + rnd(200); i > 0; i--) {
      char c = (char)rnd(256);
      b_add(b, &c, 1);
    }
    b_str(b, "\r\n\r\n");
  } else {
    b_str(b, PICK(lines));
  }
}

/* ---- the exchange ----------------------------------------------------------------------- */

static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {10, 0};
  struct linger lg = {1, 0}; /* close with RST: no TIME_WAIT pile-up over 100k requests */
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

enum { R_ANSWER, R_CLOSED, R_TIMEOUT };

/* Reads one response: its status into *status; *keep = 0 when the connection must not be
 * reused. Returns R_ANSWER, R_CLOSED (EOF/reset before a whole head) or R_TIMEOUT. */
static int read_response(int fd, int *status, int *keep, size_t *got_any) {
  static char rb[1 << 16];
  size_t n = 0;
  char *head_end = NULL;
  *keep = 1;
  *got_any = 0;
  while (!head_end) {
    if (n == sizeof(rb) - 1)
      return R_CLOSED; /* a head that large is not ours to parse: treat as broken */
    ssize_t r = recv(fd, rb + n, sizeof(rb) - 1 - n, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return R_TIMEOUT;
    if (r <= 0)
      return R_CLOSED;
    n += (size_t)r;
    *got_any = n;
    rb[n] = '\0';
    head_end = strstr(rb, "\r\n\r\n");
  }
  if (sscanf(rb, "HTTP/1.%*d %d", status) != 1)
    return R_CLOSED;
  size_t head_len = (size_t)(head_end + 4 - rb);
  long clen = -1;
  int chunked = 0;
  for (char *line = strstr(rb, "\r\n") + 2; line < head_end; line = strstr(line, "\r\n") + 2) {
    if (!strncasecmp(line, "content-length:", 15))
      clen = strtol(line + 15, NULL, 10);
    else if (!strncasecmp(line, "transfer-encoding:", 18) && strstr(line, "chunked"))
      chunked = 1;
    else if (!strncasecmp(line, "connection:", 11) && strcasestr(line, "close") &&
             strcasestr(line, "close") < strstr(line, "\r\n"))
      *keep = 0;
  }
  if (!strncmp(rb, "HTTP/1.0", 8))
    *keep = 0;
  /* the body: by length, by chunks (until the last-chunk marker), or until EOF */
  size_t have = n - head_len;
  if (clen >= 0) {
    while ((long)have < clen) {
      ssize_t r = recv(fd, rb, sizeof(rb), 0);
      if (r <= 0)
        return r < 0 && errno == EAGAIN ? R_TIMEOUT : R_ANSWER;
      have += (size_t)r;
    }
  } else if (chunked) {
    /* enough for our servers' answers: read until the last-chunk marker "0\r\n\r\n" */
    char win[6] = "";
    for (size_t i = head_len;; i++) {
      if (i >= n) {
        ssize_t r = recv(fd, rb, sizeof(rb) - 1, 0);
        if (r <= 0)
          return r < 0 && errno == EAGAIN ? R_TIMEOUT : R_ANSWER;
        n = (size_t)r;
        i = 0;
      }
      memmove(win, win + 1, 4);
      win[4] = rb[i];
      if (!memcmp(win, "0\r\n\r\n", 5))
        break;
    }
  } else {
    *keep = 0;
    for (;;) {
      ssize_t r = recv(fd, rb, sizeof(rb), 0);
      if (r <= 0)
        break;
    }
  }
  return R_ANSWER;
}

/* Sends req on t's connection (re-made when needed) and classifies the answer. A reused
 * connection the server had already closed gets one retry on a fresh one. */
static int exchange(target *t, const buf *req, int half_close, int once, int *status) {
  for (int attempt = 0; attempt < 2; attempt++) {
    int reused = t->fd >= 0;
    if (t->fd < 0) {
      t->fd = connect_to(t->port);
      t->conns++;
      if (t->fd < 0)
        return R_CLOSED;
    }
    size_t off = 0;
    int send_failed = 0;
    while (off < req->len) {
      ssize_t w = send(t->fd, req->p + off, req->len - off, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0) {
        send_failed = 1;
        break;
      }
      off += (size_t)w;
    }
    if (half_close && !send_failed)
      shutdown(t->fd, SHUT_WR);
    int keep;
    size_t got;
    int rc = read_response(t->fd, status, &keep, &got);
    if (rc != R_ANSWER || !keep || half_close || once) {
      close(t->fd);
      t->fd = -1;
    }
    /* nothing at all came back on a connection that had served before: the server closed it
     * between requests (its keep-alive timeout); the request never reached a handler */
    if (rc == R_CLOSED && reused && got == 0 && attempt == 0 && !half_close)
      continue;
    return rc;
  }
  return R_CLOSED;
}

/* ---- process checks --------------------------------------------------------------------- */

static long rss_kb(pid_t pid) {
  char path[64], line[256];
  long kb = -1;
  snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  while (fgets(line, sizeof(line), f))
    if (!strncmp(line, "VmRSS:", 6))
      kb = strtol(line + 6, NULL, 10);
  fclose(f);
  return kb;
}

static int health(target *t) {
  buf b = {0};
  int status = 0;
  req_head(&b, "GET", "/health");
  b_str(&b, "\r\n");
  int rc = exchange(t, &b, 0, 0, &status);
  free(b.p);
  return rc == R_ANSWER ? status : 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: mr_http_fuzz --api PORT --api-pid PID --events PORT --events-pid PID\n"
          "                    [--count N (100000)] [--seed S (1)] [--token T]\n"
          "                    [--max-rss-growth-kb K]  (fail when either RSS grows more than K\n"
          "                                              between the end of the warm-up and the "
          "end)\n");
  exit(2);
}

int main(int argc, char **argv) {
  target tg[2] = {{"api", 0, 0, -1, 0}, {"events", 0, 0, -1, 0}};
  long count = 100000, max_growth = -1;
  unsigned long long seed = 1;
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc)
      usage();
    const char *a = argv[i], *v = argv[++i];
    if (!strcmp(a, "--api"))
      tg[0].port = atoi(v);
    else if (!strcmp(a, "--api-pid"))
      tg[0].pid = (pid_t)atoi(v);
    else if (!strcmp(a, "--events"))
      tg[1].port = atoi(v);
    else if (!strcmp(a, "--events-pid"))
      tg[1].pid = (pid_t)atoi(v);
    else if (!strcmp(a, "--count"))
      count = atol(v);
    else if (!strcmp(a, "--seed"))
      seed = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--token"))
      token = *v ? v : NULL;
    else if (!strcmp(a, "--max-rss-growth-kb"))
      max_growth = atol(v);
    else
      usage();
  }
  if (!tg[0].port || !tg[1].port || !tg[0].pid || !tg[1].pid || count < 1)
    usage();
  mr_rng_seed(&rng, seed);
  signal(SIGPIPE, SIG_IGN);

  stats st[2][C_N];
  memset(st, 0, sizeof(st));
  long status_hist[2][600];
  memset(status_hist, 0, sizeof(status_hist));
  long rss0[2], rss_warm[2] = {0, 0}, rss_peak[2];
  for (int k = 0; k < 2; k++)
    rss_peak[k] = rss0[k] = rss_kb(tg[k].pid);
  long warm = count / 10, shown = 0, failures = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  buf req = {0};

  for (long i = 0; i < count; i++) {
    int k = (int)rnd(2); /* 0 = api, 1 = events */
    req_class c;
    do {
      c = (req_class)rnd(C_N);
    } while ((c == C_AUTH && !token) ||
             (k == 0 && (c == C_JSON || c == C_IDS || c == C_AUTH || c == C_CLEN ||
                         c == C_CHUNKED || c == C_TRUNC)) ||
             (k == 1 && c == C_QUERY));
    req.len = 0;
    if (req.p)
      req.p[0] = '\0';
    int half = 0;
    switch (c) {
    case C_PATH:
      gen_path(&req, k == 0);
      break;
    case C_METHOD:
      gen_method(&req, k == 0);
      break;
    case C_QUERY:
      gen_query(&req);
      break;
    case C_JSON:
      gen_json(&req);
      break;
    case C_IDS:
      gen_ids(&req);
      break;
    case C_AUTH:
      gen_auth(&req);
      break;
    case C_HEADERS:
      gen_headers(&req, k == 0);
      break;
    case C_BIGHEADER:
      gen_bigheader(&req, k == 0);
      break;
    case C_CLEN:
      gen_clen(&req);
      break;
    case C_CHUNKED:
      gen_chunked(&req);
      break;
    case C_HUGE:
      gen_huge(&req, k == 0);
      break;
    case C_TRUNC:
      gen_trunc(&req);
      half = 1;
      break;
    case C_REQLINE:
      gen_reqline(&req);
      break;
    default:
      break;
    }
    /* a broken head leaves the connection in an unknown state: always a fresh one for these */
    if (may_close[c] && tg[k].fd >= 0) {
      close(tg[k].fd);
      tg[k].fd = -1;
    }
    int status = 0;
    /* and it is not reused after them either (bytes past a bad Content-Length would be read as
     * the next request) */
    int rc = exchange(&tg[k], &req, half, may_close[c], &status);
    stats *s = &st[k][c];
    s->sent++;
    int bad = 0;
    if (rc == R_TIMEOUT) {
      s->timeouts++;
      bad = 1;
    } else if (rc == R_CLOSED) {
      s->closed++;
      bad = !may_close[c];
    } else if (status >= 400 && status < 500) {
      s->r4xx++;
      status_hist[k][status]++;
    } else {
      s->other++;
      if (status >= 0 && status < 600)
        status_hist[k][status]++;
      bad = 1;
    }
    if (bad) {
      failures++;
      if (shown++ < 10)
        fprintf(stderr, "http_fuzz: request %ld (%s, %s): %s %d; request starts: %.160s\n", i,
                tg[k].name, class_name[c],
                rc == R_TIMEOUT  ? "timeout"
                : rc == R_CLOSED ? "closed"
                                 : "status",
                status, req.p);
    }
    if (i + 1 == warm)
      for (int j = 0; j < 2; j++)
        rss_warm[j] = rss_kb(tg[j].pid);
    if ((i + 1) % (count / 20 + 1) == 0)
      for (int j = 0; j < 2; j++) {
        long r = rss_kb(tg[j].pid);
        if (r > rss_peak[j])
          rss_peak[j] = r;
      }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  free(req.p);

  long rss1[2];
  int alive[2], hstat[2];
  for (int k = 0; k < 2; k++) {
    alive[k] = kill(tg[k].pid, 0) == 0;
    hstat[k] = alive[k] ? health(&tg[k]) : 0;
    rss1[k] = rss_kb(tg[k].pid);
    if (rss1[k] > rss_peak[k])
      rss_peak[k] = rss1[k];
    if (!rss_warm[k])
      rss_warm[k] = rss0[k];
  }

  /* the report: per service and class, then the totals */
  stats tot = {0};
  printf("%-7s %-10s %8s %8s %8s %6s %8s\n", "service", "class", "sent", "4xx", "closed", "other",
         "timeout");
  for (int k = 0; k < 2; k++)
    for (int c = 0; c < C_N; c++) {
      stats *s = &st[k][c];
      if (!s->sent)
        continue;
      printf("%-7s %-10s %8ld %8ld %8ld %6ld %8ld\n", tg[k].name, class_name[c], s->sent, s->r4xx,
             s->closed, s->other, s->timeouts);
      tot.sent += s->sent;
      tot.r4xx += s->r4xx;
      tot.closed += s->closed;
      tot.other += s->other;
      tot.timeouts += s->timeouts;
    }
  for (int k = 0; k < 2; k++) {
    printf("%s statuses:", tg[k].name);
    for (int s = 0; s < 600; s++)
      if (status_hist[k][s])
        printf(" %d=%ld", s, status_hist[k][s]);
    printf("\n");
  }
  printf("http_fuzz: seed=%llu requests=%ld 4xx=%ld closed=%ld other=%ld timeouts=%ld "
         "duration_s=%.1f req_per_s=%.0f connections=%ld\n",
         seed, tot.sent, tot.r4xx, tot.closed, tot.other, tot.timeouts, secs,
         (double)tot.sent / secs, tg[0].conns + tg[1].conns);
  int ok = failures == 0;
  for (int k = 0; k < 2; k++) {
    printf("http_fuzz: %s pid=%d alive=%s health=%d rss_kb before=%ld after_warmup=%ld after=%ld "
           "peak=%ld\n",
           tg[k].name, (int)tg[k].pid, alive[k] ? "yes" : "NO", hstat[k], rss0[k], rss_warm[k],
           rss1[k], rss_peak[k]);
    if (!alive[k] || hstat[k] != 200)
      ok = 0;
    if (max_growth >= 0 && rss1[k] - rss_warm[k] > max_growth) {
      printf("http_fuzz: %s RSS grew %ld kB after the warm-up (limit %ld)\n", tg[k].name,
             rss1[k] - rss_warm[k], max_growth);
      ok = 0;
    }
  }
  printf("http_fuzz: %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
