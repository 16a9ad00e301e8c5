/* Tests for the blocking HTTP client (http_client.c) and `movierec populate`'s retries, against
 * a scripted HTTP server on a thread. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_cmds.h"
#include "core/mr_error.h"
#include "infra/http_client.h"

/* The server answers connection k with script[min(k, n-1)]: a raw HTTP response, "CLOSE" (close
 * without answering) or "HANG" (never answer). It records each request. */
typedef struct fake_server {
  int lfd, port;
  const char *const *script;
  int n_script;
  pthread_t thread;
  pthread_mutex_t mu;
  int requests;
  char last[4096];
  char bodies[64][256];
  volatile int stop;
} fake_server;

static void *fake_serve(void *arg) {
  fake_server *s = arg;
  for (int k = 0; !s->stop; k++) {
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
      break;
    if (s->stop) {
      close(fd);
      break;
    }
    char buf[4096];
    size_t n = 0;
    /* read the head, then Content-Length bytes */
    for (;;) {
      ssize_t r = recv(fd, buf + n, sizeof(buf) - 1 - n, 0);
      if (r <= 0)
        break;
      n += (size_t)r;
      buf[n] = 0;
      char *e = strstr(buf, "\r\n\r\n");
      if (e) {
        char *cl = strcasestr(buf, "content-length:");
        size_t want = (size_t)(e - buf) + 4 + (cl ? strtoul(cl + 15, NULL, 10) : 0);
        if (n >= want)
          break;
      }
    }
    const char *resp = s->script[k < s->n_script ? k : s->n_script - 1];
    pthread_mutex_lock(&s->mu);
    snprintf(s->last, sizeof(s->last), "%s", buf);
    char *body = strstr(buf, "\r\n\r\n");
    if (s->requests < 64)
      snprintf(s->bodies[s->requests], 256, "%s", body ? body + 4 : "");
    s->requests++;
    pthread_mutex_unlock(&s->mu);
    if (!strcmp(resp, "HANG")) {
      struct timespec t = {0, 600 * 1000000L};
      nanosleep(&t, NULL);
    } else if (strcmp(resp, "CLOSE")) {
      ssize_t w = send(fd, resp, strlen(resp), MSG_NOSIGNAL);
      (void)w;
    }
    close(fd);
  }
  return NULL;
}

static void fake_start(fake_server *s, const char *const *script, int n) {
  memset(s, 0, sizeof(*s));
  s->script = script;
  s->n_script = n;
  pthread_mutex_init(&s->mu, NULL);
  s->lfd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(s->lfd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(listen(s->lfd, 16), 0);
  socklen_t al = sizeof(a);
  assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
  s->port = ntohs(a.sin_port);
  assert_int_equal(pthread_create(&s->thread, NULL, fake_serve, s), 0);
}

static void fake_stop(fake_server *s) {
  s->stop = 1;
  shutdown(s->lfd, SHUT_RDWR); /* wakes accept */
  pthread_join(s->thread, NULL);
  close(s->lfd);
  pthread_mutex_destroy(&s->mu);
}

#define R202                                                                                       \
  "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: "                    \
  "21\r\n\r\n{\"status\":\"accepted\"}"
#define R503 "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 16\r\n\r\n{\"error\":\"down\"}"
#define R422 "HTTP/1.1 422 Unprocessable Entity\r\nContent-Length: 18\r\n\r\n{\"error\":\"rating\"}"

static void test_post_and_read(void **state) {
  (void)state;
  static const char *const script[] = {R202};
  fake_server s;
  fake_start(&s, script, 1);
  char url[128], err[256] = "";
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/interact", s.port);
  httpc_response r;
  const char *body = "{\"user_id\": 1, \"movie_id\": 2, \"rating\": 3}";
  assert_int_equal(httpc_request("POST", url, "application/json", body, strlen(body), 2000, &r, err,
                                 sizeof(err)),
                   MR_OK);
  assert_int_equal(r.status, 202);
  assert_string_equal(r.body, "{\"status\":\"accepted\"}");
  assert_int_equal(r.len, 21);
  httpc_response_free(&r);
  fake_stop(&s);
  assert_non_null(strstr(s.last, "POST /interact HTTP/1.1\r\n"));
  assert_non_null(strstr(s.last, "Content-Type: application/json\r\n"));
  assert_non_null(strstr(s.last, "\r\n\r\n{\"user_id\": 1, \"movie_id\": 2, \"rating\": 3}"));
  httpc_response_free(NULL);
}

static void test_chunked_and_eof_bodies(void **state) {
  (void)state;
  static const char *const script[] = {"HTTP/1.1 200 OK\r\nTransfer-Encoding: "
                                       "chunked\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n",
                                       "HTTP/1.0 404 Not Found\r\n\r\nno length, read to EOF",
                                       "garbage that is not HTTP\r\n\r\n",
                                       "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"};
  fake_server s;
  fake_start(&s, script, 4);
  char url[128], err[256] = "";
  snprintf(url, sizeof(url), "http://127.0.0.1:%d", s.port);
  httpc_response r;
  assert_int_equal(httpc_request("GET", url, NULL, NULL, 0, 2000, &r, err, sizeof(err)), MR_OK);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.body, "hello, world");
  httpc_response_free(&r);
  assert_int_equal(httpc_request("GET", url, NULL, NULL, 0, 2000, &r, err, sizeof(err)), MR_OK);
  assert_int_equal(r.status, 404);
  assert_string_equal(r.body, "no length, read to EOF");
  httpc_response_free(&r);
  assert_int_equal(httpc_request("GET", url, NULL, NULL, 0, 2000, &r, err, sizeof(err)),
                   MR_EFORMAT);
  assert_non_null(strstr(err, "HTTP/1.x"));
  assert_int_equal(httpc_request("GET", url, NULL, NULL, 0, 2000, &r, err, sizeof(err)), MR_EIO);
  assert_non_null(strstr(err, "mid-body"));
  fake_stop(&s);
  assert_non_null(strstr(s.last, "GET / HTTP/1.1\r\n"));
}

static void test_errors(void **state) {
  (void)state;
  httpc_response r;
  char err[256];
  const char *bad[] = {"https://x/", "http://", "http://h:/x", "http://h:99999999/",
                       "http://h:8a/"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(httpc_request("GET", bad[i], NULL, NULL, 0, 100, &r, err, sizeof(err)),
                     MR_EINVAL);
  /* refused: nothing listens on port 1 */
  assert_int_equal(
      httpc_request("GET", "http://127.0.0.1:1/", NULL, NULL, 0, 1000, &r, err, sizeof(err)),
      MR_EIO);
  assert_non_null(strstr(err, "cannot connect"));
  /* a server that never answers: bounded by the timeout */
  static const char *const script[] = {"HANG"};
  fake_server s;
  fake_start(&s, script, 1);
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(httpc_request("GET", url, NULL, NULL, 0, 200, &r, err, sizeof(err)), MR_EIO);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
  assert_true(dt < 0.5);
  assert_non_null(strstr(err, "timed out"));
  fake_stop(&s);
}

static int run_populate(int port, const char *count) {
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
  char *argv[] = {"--url", url,      "--count", (char *)count, "--users",
                  "2",     "--seed", "7",       "--data",      MR_FIXTURES "/mini"};
  return cmd_populate(10, argv);
}

static void test_populate_retries(void **state) {
  (void)state;
  /* 503, a dropped connection, then accepted: every rating retried until accepted */
  static const char *const script[] = {R503, "CLOSE", R202};
  fake_server s;
  fake_start(&s, script, 3);
  assert_int_equal(run_populate(s.port, "6"), 0);
  fake_stop(&s);
  assert_int_equal(s.requests, 8);
  int users[2] = {0, 0};
  for (int i = 2; i < 8; i++) {
    json_error_t e;
    json_t *j = json_loads(s.bodies[i], 0, &e);
    assert_non_null(j);
    json_int_t u = json_integer_value(json_object_get(j, "user_id"));
    json_int_t m = json_integer_value(json_object_get(j, "movie_id"));
    json_int_t rt = json_integer_value(json_object_get(j, "rating"));
    json_decref(j);
    /* new users: above the mini data set's largest user id (4) */
    assert_true(u == 5 || u == 6);
    users[u - 5]++;
    assert_true(m >= 1 && m <= 7); /* the mini data set's movies */
    assert_true(rt >= 1 && rt <= 5);
  }
  assert_int_equal(users[0], 3);
  assert_int_equal(users[1], 3);
  /* a 422 is final: not retried, counted as failed, non-zero exit */
  static const char *const bad[] = {R422};
  fake_start(&s, bad, 1);
  assert_int_equal(run_populate(s.port, "2"), 1);
  fake_stop(&s);
  assert_int_equal(s.requests, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_post_and_read),
      cmocka_unit_test(test_chunked_and_eof_bodies),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_populate_retries),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
