/* clog: JSON-lines logging to stderr. See clog.h. */
#include "clog.h"
#include "cfg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char s_service[64] = "caisson";
static char s_instance[64] = "";
static clog_level_t s_min = CLOG_INFO;
static const char *level_names[] = { "debug", "info", "warn", "error" };

void
clog_init (const char *service, const char *instance)
{
    snprintf (s_service, sizeof s_service, "%s", service);
    snprintf (s_instance, sizeof s_instance, "%s", instance ? instance : "");
    const char *lvl = cfg_str ("CAISSON_LOG_LEVEL");
    for (int i = CLOG_DEBUG; i <= CLOG_ERROR; i++)
        if (strcmp (lvl, level_names[i]) == 0)
            s_min = (clog_level_t) i;
}

size_t
clog_escape (char *out, size_t outlen, const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 7 < outlen; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char) c;
        }
        else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        }
        else if (c < 0x20 || c == 0x7f)
            o += (size_t) snprintf (out + o, outlen - o, "\\u%04x", c);
        else
            out[o++] = (char) c;
    }
    if (outlen)
        out[o < outlen ? o : outlen - 1] = '\0';
    return o;
}

void
clog_write (clog_level_t level, const char *corr, const char *fmt, ...)
{
    if (level < s_min)
        return;
    char msg[2048], esc[4096], line[5120];
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    if (n < 0)
        return;
    clog_escape (esc, sizeof esc, msg, strnlen (msg, sizeof msg));

    struct timeval tv;
    gettimeofday (&tv, NULL);
    struct tm tm;
    gmtime_r (&tv.tv_sec, &tm);
    char when[40];
    strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);

    int len = snprintf (line, sizeof line,
                        "{\"ts\":\"%s.%06ldZ\",\"level\":\"%s\",\"service\":\"%s\","
                        "\"instance\":\"%s\",\"pid\":%d%s%s%s,\"msg\":\"%s\"}\n",
                        when, (long) tv.tv_usec, level_names[level], s_service,
                        s_instance, (int) getpid (), corr ? ",\"corr\":\"" : "",
                        corr ? corr : "", corr ? "\"" : "", esc);
    if (len > (int) sizeof line - 1) {
        len = (int) sizeof line - 1;
        line[len - 1] = '\n';
    }
    ssize_t w = write (STDERR_FILENO, line, (size_t) len);
    (void) w;
}
