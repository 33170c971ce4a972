/* http_date.c — gr_http_date_parse (net/http.h): the IMF-fixdate form only, which is what servers
 * send (RFC 9110 section 5.6.7); the obsolete RFC 850 and asctime forms are refused. */
#include "net/http.h"

#include "core/error.h"

#include <stdbool.h>
#include <string.h>

static bool digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static long long days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

gr_status gr_http_date_parse(const char *s, double *epoch_s) {
    static const char *const months = "JanFebMarAprMayJunJulAugSepOctNovDec";
    /* "Sun, 06 Nov 1994 08:49:37 GMT": fixed positions, 29 characters */
    if (!s || strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || s[25] != ' ' || strcmp(s + 26, "GMT"))
        return GR_E_FORMAT;
    int day, year, hh, mm, ss, mon = -1;
    for (int i = 0; i < 12; i++)
        if (!memcmp(s + 8, months + 3 * i, 3)) mon = i + 1;
    if (mon < 0 || !digits(s + 5, 2, &day) || !digits(s + 12, 4, &year) || !digits(s + 17, 2, &hh) ||
        !digits(s + 20, 2, &mm) || !digits(s + 23, 2, &ss) || day < 1 || day > 31 || hh > 23 ||
        mm > 59 || ss > 60)
        return GR_E_FORMAT;
    *epoch_s = (double)(days_from_civil(year, mon, day) * 86400LL + hh * 3600 + mm * 60 + ss);
    return GR_OK;
}
