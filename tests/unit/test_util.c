/* Unit tests for common/util: names, strict parsing, clocks, host:port and listeners. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

static bool valid(const char *s) { return name_is_valid(s, strlen(s)); }

/* ---- names ------------------------------------------------------------------------------------- */

static void test_name_lengths(void **state)
{
    char buf[80];
    memset(buf, 'a', sizeof buf);
    assert_false(name_is_valid(buf, 0));
    assert_true(name_is_valid(buf, 1));
    assert_true(name_is_valid(buf, 64));
    assert_false(name_is_valid(buf, 65));
    assert_false(name_is_valid(NULL, 0));
    /* the suffix counts toward the 64 */
    memcpy(buf + 54, "#ephemeral", 10);
    assert_true(name_is_valid(buf, 64));
    memset(buf, 'a', sizeof buf);
    memcpy(buf + 55, "#ephemeral", 10);
    assert_false(name_is_valid(buf, 65));
}

static void test_name_chars(void **state)
{
    assert_true(valid("abc.DEF_123-xyz"));
    assert_true(valid("."));
    assert_true(valid("-_-"));
    assert_false(valid("a b"));
    assert_false(valid("a/b"));
    assert_false(valid("a:b"));
    assert_false(valid("a*"));
    assert_false(valid("caf\xc3\xa9"));
    assert_false(valid("a\tb"));
    assert_false(name_is_valid("a\0b", 3));
    assert_false(valid("a#b"));
}

static void test_name_ephemeral(void **state)
{
    assert_true(valid("ch#ephemeral"));
    assert_true(name_is_ephemeral("ch#ephemeral", 12));
    assert_false(name_is_ephemeral("ch", 2));
    assert_false(name_is_ephemeral("ephemeral", 9));
    assert_false(valid("#ephemeral")); /* needs a name before the suffix */
    assert_false(valid("#ephemeralch"));
    assert_false(valid("ch#ephemeralx"));
    assert_false(valid("ch#ephemeral#ephemeral"));
    assert_false(valid("ch#Ephemeral"));
    assert_false(valid("a#ephemeral.b"));
    assert_false(name_is_ephemeral("ch#ephemeral", 11)); /* length is honoured */
}

/* ---- numbers ------------------------------------------------------------------------------- */

static int pi(const char *s, int64_t *v) { return parse_i64(s, strlen(s), v); }
static int pu(const char *s, uint64_t *v) { return parse_u64(s, strlen(s), v); }

static void test_parse_i64_ok(void **state)
{
    int64_t v;
    assert_int_equal(pi("0", &v), 0);
    assert_true(v == 0);
    assert_int_equal(pi("123", &v), 0);
    assert_true(v == 123);
    assert_int_equal(pi("-123", &v), 0);
    assert_true(v == -123);
    assert_int_equal(pi("+5", &v), 0);
    assert_true(v == 5);
    assert_int_equal(pi("007", &v), 0);
    assert_true(v == 7);
    assert_int_equal(pi("9223372036854775807", &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(pi("-9223372036854775808", &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(parse_i64("12345", 3, &v), 0); /* only len bytes are read */
    assert_true(v == 123);
}

static void test_parse_i64_bad(void **state)
{
    static const char *const bad[] = {
        "9223372036854775808", "-9223372036854775809", "99999999999999999999", "", "-", "+",
        " 1", "1 ", "1a", "0x10", "1.0", "--1", "+-1", "1e3", "1_000", "\t1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 42;
        assert_int_equal(pi(bad[i], &v), -1);
        assert_true(v == 42);
    }
    int64_t v;
    assert_int_equal(parse_i64(NULL, 0, &v), -1);
    assert_int_equal(parse_i64("1\0" "2", 3, &v), -1);
}

static void test_parse_u64(void **state)
{
    uint64_t v;
    assert_int_equal(pu("18446744073709551615", &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(pu("9223372036854775808", &v), 0);
    assert_true(v == 9223372036854775808ULL);
    assert_int_equal(pu("18446744073709551616", &v), -1);
    assert_int_equal(pu("-1", &v), -1);
    assert_int_equal(pu("+1", &v), -1);
    assert_int_equal(pu("", &v), -1);
    assert_int_equal(pu(" 1", &v), -1);
    assert_int_equal(pu("1 ", &v), -1);
    assert_int_equal(pu("0", &v), 0);
    assert_true(v == 0);
}

static void test_parse_bool(void **state)
{
    static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const no[] = {"0", "f", "F", "false", "FALSE", "False"};
    static const char *const bad[] = {"", "yes", "no", "tRUE", "2", " true", "true ", "on"};
    bool b;
    for (size_t i = 0; i < 6; i++) {
        b = false;
        assert_int_equal(parse_bool(yes[i], &b), 0);
        assert_true(b);
        b = true;
        assert_int_equal(parse_bool(no[i], &b), 0);
        assert_false(b);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(parse_bool(bad[i], &b), -1);
    assert_int_equal(parse_bool(NULL, &b), -1);
}

/* ---- clocks ---------------------------------------------------------------------------------- */

static void test_clocks(void **state)
{
    int64_t wall = clock_realtime_ns();
    int64_t secs = (int64_t)time(NULL);
    assert_true(wall / 1000000000 >= secs - 1 && wall / 1000000000 <= secs + 1);
    int64_t a = clock_monotonic_ns();
    usleep(2000);
    int64_t b = clock_monotonic_ns();
    assert_true(b - a >= 2000000);
    assert_true(b - a < 2000000000);
}

/* ---- host:port ------------------------------------------------------------------------------- */

static void split_ok(const char *addr, const char *want_host, int want_port)
{
    char host[64], err[128] = "";
    int port = -1;
    assert_int_equal(net_split_hostport(addr, host, sizeof host, &port, err, sizeof err), 0);
    assert_string_equal(host, want_host);
    assert_int_equal(port, want_port);
}

static void split_bad(const char *addr, const char *want_in_err)
{
    char host[64], err[128] = "";
    int port = -1;
    assert_int_equal(net_split_hostport(addr, host, sizeof host, &port, err, sizeof err), -1);
    assert_non_null(strstr(err, want_in_err));
}

static void test_split_hostport_ok(void **state)
{
    split_ok("127.0.0.1:4150", "127.0.0.1", 4150);
    split_ok("localhost:4151", "localhost", 4151);
    split_ok("0.0.0.0:0", "0.0.0.0", 0);
    split_ok(":4150", "", 4150);
    split_ok("[::1]:4150", "::1", 4150);
    split_ok("[::]:65535", "::", 65535);
    split_ok("[fe80::1%eth0]:80", "fe80::1%eth0", 80);
    split_ok("[]:1", "", 1);
}

static void test_split_hostport_bad(void **state)
{
    split_bad("localhost", "missing port");
    split_bad("", "missing port");
    split_bad("[::1]", "missing port");
    split_bad("::1:4150", "too many colons");
    split_bad("[::1:4150", "missing ']'");
    split_bad("[::1]x:4150", "after ']'");
    split_bad("a]:80", "bracket");
    split_bad("a[b:80", "bracket");
    split_bad("host:", "invalid port");
    split_bad("host:65536", "invalid port");
    split_bad("host:-1", "invalid port");
    split_bad("host:http", "invalid port");
    split_bad("host: 80", "invalid port");
    split_bad("[::1]:", "invalid port");

    char small[4], err[128];
    int port;
    assert_int_equal(net_split_hostport("toolong:1", small, sizeof small, &port, err, sizeof err),
                     -1);
    assert_int_equal(net_split_hostport("abc:1", small, sizeof small, &port, err, sizeof err), 0);
    assert_string_equal(small, "abc");
    /* a NULL err buffer is allowed */
    assert_int_equal(net_split_hostport("nope", small, sizeof small, &port, NULL, 0), -1);
}

/* ---- listeners ------------------------------------------------------------------------------- */

static int connect_v4(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static int accept_wait(int lfd)
{
    for (int i = 0; i < 200; i++) {
        int fd = accept(lfd, NULL, NULL);
        if (fd >= 0)
            return fd;
        assert_true(errno == EAGAIN || errno == EWOULDBLOCK); /* non-blocking listener */
        usleep(5000);
    }
    fail_msg("accept timed out");
    return -1;
}

static void test_listen_loopback(void **state)
{
    char err[256] = "";
    int port = 0;
    int lfd = net_listen_tcp("127.0.0.1:0", 16, &port, err, sizeof err);
    assert_true(lfd >= 0);
    assert_true(port > 0 && port <= 65535);
    assert_true(fcntl(lfd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(lfd, F_GETFD) & FD_CLOEXEC);
    int one = 0;
    socklen_t sl = sizeof one;
    assert_int_equal(getsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, &sl), 0);
    assert_int_equal(one, 1);

    /* no client yet: accept must not block */
    assert_int_equal(accept(lfd, NULL, NULL), -1);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);

    int cfd = connect_v4(port);
    int sfd = accept_wait(lfd);
    assert_int_equal(write(cfd, "hi", 2), 2);
    char buf[2];
    for (int i = 0; i < 200 && read(sfd, buf, 2) != 2; i++)
        usleep(5000);
    assert_memory_equal(buf, "hi", 2);

    /* the port is taken while the listener lives */
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    assert_int_equal(net_listen_tcp(addr, 16, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "bind"));
    assert_non_null(strstr(err, addr));

    /* server closes first (TIME_WAIT on its side); SO_REUSEADDR lets a restart rebind at once */
    close(sfd);
    close(cfd);
    close(lfd);
    int again = -1;
    lfd = net_listen_tcp(addr, 16, &again, err, sizeof err);
    assert_true(lfd >= 0);
    assert_int_equal(again, port);
    close(lfd);
}

static void test_listen_wildcard(void **state)
{
    char err[256] = "";
    int port = 0;
    int lfd = net_listen_tcp(":0", 0, &port, err, sizeof err);
    assert_true(lfd >= 0);
    assert_true(port > 0);
    int cfd = connect_v4(port); /* IPv4 reaches the (possibly dual-stack) wildcard listener */
    int sfd = accept_wait(lfd);
    close(sfd);
    close(cfd);
    close(lfd);
}

static void test_listen_ipv6_loopback(void **state)
{
    char err[256] = "";
    int port = 0;
    int lfd = net_listen_tcp("[::1]:0", 16, &port, err, sizeof err);
    if (lfd < 0)
        skip(); /* no IPv6 in this environment */
    assert_true(port > 0);
    close(lfd);
}

static void test_listen_errors(void **state)
{
    char err[256] = "";
    int port = 7;
    assert_int_equal(net_listen_tcp("127.0.0.1", 16, &port, err, sizeof err), -1);
    assert_non_null(strstr(err, "missing port"));
    assert_int_equal(net_listen_tcp("127.0.0.1:70000", 16, &port, err, sizeof err), -1);
    assert_non_null(strstr(err, "invalid port"));
    assert_int_equal(net_listen_tcp("192.0.2.1:0", 16, &port, err, sizeof err), -1); /* not ours */
    assert_non_null(strstr(err, "bind"));
    assert_int_equal(port, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_lengths),
        cmocka_unit_test(test_name_chars),
        cmocka_unit_test(test_name_ephemeral),
        cmocka_unit_test(test_parse_i64_ok),
        cmocka_unit_test(test_parse_i64_bad),
        cmocka_unit_test(test_parse_u64),
        cmocka_unit_test(test_parse_bool),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_split_hostport_ok),
        cmocka_unit_test(test_split_hostport_bad),
        cmocka_unit_test(test_listen_loopback),
        cmocka_unit_test(test_listen_wildcard),
        cmocka_unit_test(test_listen_ipv6_loopback),
        cmocka_unit_test(test_listen_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
