/* Unit tests for common/log: level names and parsing, level filtering, and the exact line
 * format ("<prefix>YYYY/MM/DD HH:MM:SS.uuuuuu LEVEL: msg\n") captured from stderr through a
 * pipe, including lines longer than the internal stack buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

static void test_level_parse(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        log_level_t lvl;
    } ok[] = {
        {"debug", LOG_DEBUG}, {"info", LOG_INFO},   {"warn", LOG_WARN},   {"warning", LOG_WARN},
        {"error", LOG_ERROR}, {"fatal", LOG_FATAL}, {"DEBUG", LOG_DEBUG}, {"Info", LOG_INFO},
        {"WARN", LOG_WARN},   {"Warning", LOG_WARN},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        log_level_t lvl = 0;
        assert_int_equal(log_level_parse(ok[i].s, &lvl), 0);
        assert_int_equal(lvl, ok[i].lvl);
    }
    log_level_t lvl = LOG_INFO;
    assert_int_equal(log_level_parse("verbose", &lvl), -1);
    assert_int_equal(log_level_parse("", &lvl), -1);
    assert_int_equal(log_level_parse("info ", &lvl), -1);
    assert_int_equal(log_level_parse(NULL, &lvl), -1);
    assert_int_equal(lvl, LOG_INFO);
}

static void test_level_names(void **state)
{
    (void)state;
    assert_string_equal(log_level_name(LOG_DEBUG), "DEBUG");
    assert_string_equal(log_level_name(LOG_INFO), "INFO");
    assert_string_equal(log_level_name(LOG_WARN), "WARNING");
    assert_string_equal(log_level_name(LOG_ERROR), "ERROR");
    assert_string_equal(log_level_name(LOG_FATAL), "FATAL");
    assert_string_equal(log_level_name((log_level_t)0), "invalid");
    assert_string_equal(log_level_name((log_level_t)9), "invalid");
}

static void test_set_get_enabled(void **state)
{
    (void)state;
    log_setup(LOG_WARN, "");
    assert_int_equal(log_get_level(), LOG_WARN);
    assert_false(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_WARN));
    assert_true(log_enabled(LOG_FATAL));
    log_set_level(LOG_DEBUG);
    assert_true(log_enabled(LOG_DEBUG));
    log_set_level(LOG_INFO);
}

/* Runs fn with stderr going into a pipe; returns what was written (malloc'd). */
static char *capture_stderr(void (*fn)(void))
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        if (len + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        ssize_t n = read(fds[0], buf + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fds[0]);
    buf[len] = '\0';
    return buf;
}

static void assert_matches(const char *text, const char *pattern)
{
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    int rc = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    if (rc != 0)
        fail_msg("\"%s\" does not match /%s/", text, pattern);
}

static void emit_lines(void)
{
    log_setup(LOG_INFO, "[nsqd] ");
    log_info("TCP: listening on %s", "127.0.0.1:4150");
    log_debug("not shown %d", 1);
    log_warn("careful %d", 2);
    log_error("bad");
    log_fatal("dead %s", "end");
}

static void test_line_format(void **state)
{
    (void)state;
    char *out = capture_stderr(emit_lines);
    const char *ts = "[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}";
    char pattern[512];
    snprintf(pattern, sizeof(pattern),
             "^\\[nsqd\\] %s INFO: TCP: listening on 127\\.0\\.0\\.1:4150\n"
             "\\[nsqd\\] %s WARNING: careful 2\n"
             "\\[nsqd\\] %s ERROR: bad\n"
             "\\[nsqd\\] %s FATAL: dead end\n$",
             ts, ts, ts, ts);
    assert_matches(out, pattern);
    free(out);
}

static void emit_long(void)
{
    static char big[10000];
    memset(big, 'x', sizeof(big) - 1);
    log_setup(LOG_DEBUG, "");
    log_debug("<%s>", big);
    log_set_level(LOG_INFO);
}

static void test_long_line(void **state)
{
    (void)state;
    char *out = capture_stderr(emit_long);
    size_t len = strlen(out);
    assert_true(len > 10000);
    assert_int_equal(out[len - 1], '\n');
    assert_int_equal(out[len - 2], '>');
    assert_non_null(strstr(out, " DEBUG: <xxxx"));
    assert_ptr_equal(strchr(out, '\n'), out + len - 1); /* one line */
    free(out);
}

static void emit_empty_prefix(void)
{
    log_setup(LOG_INFO, NULL);
    log_info("%s", "");
}

static void test_no_prefix(void **state)
{
    (void)state;
    char *out = capture_stderr(emit_empty_prefix);
    assert_matches(out, "^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9:]{8}\\.[0-9]{6} INFO: \n$");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_parse),    cmocka_unit_test(test_level_names),
        cmocka_unit_test(test_set_get_enabled), cmocka_unit_test(test_line_format),
        cmocka_unit_test(test_long_line),      cmocka_unit_test(test_no_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
