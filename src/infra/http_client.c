/* Blocking HTTP/1.1 client: non-blocking connect with a deadline, poll-driven send/receive. */
#include "infra/http_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/mr_error.h"

static void httpc_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static long long httpc_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Waits for events on fd until deadline; 1 ready, 0 timed out, -1 error. */
static int httpc_wait(int fd, short events, long long deadline) {
  for (;;) {
    long long left = deadline - httpc_ms();
    if (left <= 0)
      return 0;
    struct pollfd p = {fd, events, 0};
    int r = poll(&p, 1, (int)left);
    if (r < 0 && errno == EINTR)
      continue;
    return r < 0 ? -1 : r;
  }
}

static int httpc_connect(const char *host, const char *port, long long deadline, char *err,
                         size_t errlen) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int g = getaddrinfo(host, port, &hints, &res);
  if (g) {
    httpc_err(err, errlen, "cannot resolve %s: %s", host, gai_strerror(g));
    return -1;
  }
  int fd = -1;
  for (struct addrinfo *a = res; a; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0)
      continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
      break;
    if (errno == EINPROGRESS && httpc_wait(fd, POLLOUT, deadline) == 1) {
      int soerr = 0;
      socklen_t sl = sizeof(soerr);
      if (!getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) && !soerr)
        break;
      errno = soerr;
    } else if (errno == EINPROGRESS) {
      errno = ETIMEDOUT;
    }
    httpc_err(err, errlen, "cannot connect to %s:%s: %s", host, port, strerror(errno));
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  return fd;
}

/* Decodes a chunked body in place; returns the decoded length or -1 when malformed/short. */
static long httpc_dechunk(char *b, size_t n) {
  size_t in = 0, out = 0;
  for (;;) {
    char *end;
    if (in >= n)
      return -1;
    unsigned long sz = strtoul(b + in, &end, 16);
    char *crlf = memmem(b + in, n - in, "\r\n", 2);
    if (!crlf || end == b + in)
      return -1;
    in = (size_t)(crlf - b) + 2;
    if (sz == 0)
      return (long)out;
    if (in + sz + 2 > n)
      return -1;
    memmove(b + out, b + in, sz);
    out += sz;
    in += sz + 2;
  }
}

int httpc_request(const char *method, const char *url, const char *content_type, const char *body,
                  size_t body_len, int timeout_ms, httpc_response *resp, char *err, size_t errlen) {
  return httpc_request_hdr(method, url, NULL, content_type, body, body_len, timeout_ms, resp, err,
                           errlen);
}

int httpc_request_hdr(const char *method, const char *url, const char *headers,
                      const char *content_type, const char *body, size_t body_len, int timeout_ms,
                      httpc_response *resp, char *err, size_t errlen) {
  char host[256], port[8] = "80";
  const char *path = "/";
  memset(resp, 0, sizeof(*resp));
  if (strncmp(url, "http://", 7)) {
    httpc_err(err, errlen, "URL must start with http://: '%s'", url);
    return MR_EINVAL;
  }
  const char *p = url + 7;
  size_t hl = strcspn(p, ":/");
  if (!hl || hl >= sizeof(host)) {
    httpc_err(err, errlen, "URL has no host: '%s'", url);
    return MR_EINVAL;
  }
  memcpy(host, p, hl);
  host[hl] = 0;
  p += hl;
  if (*p == ':') {
    size_t pl = strcspn(p + 1, "/");
    if (!pl || pl >= sizeof(port) || strspn(p + 1, "0123456789") != pl) {
      httpc_err(err, errlen, "URL has a bad port: '%s'", url);
      return MR_EINVAL;
    }
    memcpy(port, p + 1, pl);
    port[pl] = 0;
    p += 1 + pl;
  }
  if (*p)
    path = p;

  long long deadline = httpc_ms() + (timeout_ms > 0 ? timeout_ms : 5000);
  char *req = NULL, *buf = NULL;
  int rc = MR_EIO, fd = httpc_connect(host, port, deadline, err, errlen);
  if (fd < 0)
    return MR_EIO;
  size_t req_len = 0;
  FILE *f = open_memstream(&req, &req_len);
  if (!f) {
    rc = MR_ENOMEM;
    goto done;
  }
  fprintf(f, "%s %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\nUser-Agent: movierec\r\n",
          method, path, host, port);
  if (headers)
    fputs(headers, f);
  if (body) {
    fprintf(f, "Content-Type: %s\r\nContent-Length: %zu\r\n",
            content_type ? content_type : "application/json", body_len);
  }
  fputs("\r\n", f);
  if (body)
    fwrite(body, 1, body_len, f);
  if (fclose(f)) {
    rc = MR_ENOMEM;
    goto done;
  }
  for (size_t sent = 0; sent < req_len;) {
    ssize_t w = send(fd, req + sent, req_len - sent, MSG_NOSIGNAL);
    if (w > 0) {
      sent += (size_t)w;
    } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (httpc_wait(fd, POLLOUT, deadline) != 1) {
        httpc_err(err, errlen, "timed out sending to %s:%s", host, port);
        goto done;
      }
    } else {
      httpc_err(err, errlen, "send to %s:%s: %s", host, port, strerror(errno));
      goto done;
    }
  }
  size_t cap = 4096, n = 0;
  if (!(buf = malloc(cap))) {
    rc = MR_ENOMEM;
    goto done;
  }
  long long content_length = -1;
  size_t head_len = 0;
  int chunked = 0;
  for (;;) {
    if (n + 1 >= cap) {
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        rc = MR_ENOMEM;
        goto done;
      }
      buf = nb;
      cap *= 2;
    }
    ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
    if (r > 0) {
      n += (size_t)r;
      buf[n] = 0;
      if (!head_len) {
        char *e = memmem(buf, n, "\r\n\r\n", 4);
        if (e) {
          head_len = (size_t)(e - buf) + 4;
          /* header lines start after each CRLF up to the blank line */
          for (char *h = strstr(buf, "\r\n"); h && h < e; h = strstr(h + 2, "\r\n")) {
            char *line = h + 2, *eol = strstr(line, "\r\n");
            if (!strncasecmp(line, "content-length:", 15)) {
              content_length = strtoll(line + 15, NULL, 10);
            } else if (!strncasecmp(line, "transfer-encoding:", 18)) {
              char *c = strcasestr(line + 18, "chunked");
              chunked = c && c < eol;
            }
          }
        }
      }
      if (head_len && !chunked && content_length >= 0 && n >= head_len + (size_t)content_length)
        break;
      continue;
    }
    if (r == 0)
      break;
    if (errno == EAGAIN || errno == EINTR) {
      if (httpc_wait(fd, POLLIN, deadline) != 1) {
        httpc_err(err, errlen, "timed out waiting for %s:%s", host, port);
        goto done;
      }
      continue;
    }
    httpc_err(err, errlen, "receive from %s:%s: %s", host, port, strerror(errno));
    goto done;
  }
  int status = 0;
  if (!head_len || sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || status < 100 || status > 999) {
    httpc_err(err, errlen, "%s:%s did not answer with an HTTP/1.x response", host, port);
    rc = n ? MR_EFORMAT : MR_EIO;
    goto done;
  }
  size_t blen = n - head_len;
  if (!chunked && content_length >= 0 && (size_t)content_length < blen)
    blen = (size_t)content_length;
  if (!chunked && content_length >= 0 && (size_t)content_length > blen) {
    httpc_err(err, errlen, "%s:%s closed the connection mid-body", host, port);
    goto done;
  }
  memmove(buf, buf + head_len, blen);
  if (chunked) {
    long d = httpc_dechunk(buf, blen);
    if (d < 0) {
      httpc_err(err, errlen, "%s:%s sent a malformed chunked body", host, port);
      rc = MR_EFORMAT;
      goto done;
    }
    blen = (size_t)d;
  }
  buf[blen] = 0;
  resp->status = status;
  resp->body = buf;
  resp->len = blen;
  buf = NULL;
  rc = MR_OK;
done:
  free(buf);
  free(req);
  close(fd);
  return rc;
}

void httpc_response_free(httpc_response *r) {
  if (!r)
    return;
  free(r->body);
  r->body = NULL;
  r->len = 0;
}
