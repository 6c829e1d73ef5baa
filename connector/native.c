/* Byte kernels for the unquoted fast path (see connector/native.py and sources/raw_rows.py).
 *
 * Each function does one pass that the numpy version does in several, and answers only
 * what it is sure of: a negative result means "irregular, ask the general path", never a
 * guess. Cells are addressed as in RawRows: commas_t holds (per_row, rows) comma positions,
 * one cell boundary per line; starts/ends hold each row's first byte and the end of its
 * last cell.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define IRREGULAR (-1)

static inline void cell_bounds(int64_t rows, int64_t per_row, const int64_t *commas_t,
                               const int64_t *starts, const int64_t *ends, int64_t cell, int64_t row,
                               int64_t *start, int64_t *end) {
    *start = cell == 0 ? starts[row] : commas_t[(cell - 1) * rows + row] + 1;
    *end = cell == per_row ? ends[row] : commas_t[cell * rows + row];
}

/* How many times `byte` occurs in data[0:n]. */
int64_t icx_count(const uint8_t *data, int64_t n, int32_t byte) {
    int64_t count = 0;
    const uint8_t *p = data, *stop = data + n;
    while (p < stop) {
        const uint8_t *hit = memchr(p, byte, (size_t)(stop - p));
        if (hit == NULL) break;
        count++;
        p = hit + 1;
    }
    return count;
}

/* One row ends at `at` (its LF): it must hold per_row commas and end as the first row did. */
static inline int close_row(const uint8_t *data, int64_t at, int64_t *row, int64_t *row_start, int64_t *found,
                            int64_t rows, int64_t per_row, int *crlf, int64_t *starts, int64_t *ends) {
    if (*found != per_row || *row >= rows - 1) return 0;
    int has_cr = at > *row_start && data[at - 1] == '\r';
    if (*crlf < 0) *crlf = has_cr;
    if (has_cr != *crlf) return 0;
    starts[*row] = *row_start;
    ends[*row] = has_cr ? at - 1 : at;
    (*row)++;
    *row_start = at + 1;
    *found = 0;
    return 1;
}

/* Rows and commas of data[0:n] (trailing line breaks already cut off), `rows` being one
 * more than its count of LF. Every row must hold exactly per_row commas and end as the
 * first does (CRLF or LF). Returns 1 for CRLF rows, 0 for LF rows, IRREGULAR otherwise.
 * One pass: 16 bytes at a time where SSE2 exists (every x86-64), a byte at a time else. */
int64_t icx_locate(const uint8_t *data, int64_t n, int64_t rows, int64_t per_row,
                   int64_t *commas_t, int64_t *starts, int64_t *ends) {
    int64_t row = 0, row_start = 0, found = 0, i = 0;
    int crlf = -1;
#if defined(__SSE2__)
    const __m128i comma = _mm_set1_epi8(','), lf = _mm_set1_epi8('\n');
    for (; i + 16 <= n; i += 16) {
        __m128i block = _mm_loadu_si128((const __m128i *)(data + i));
        unsigned commas = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(block, comma));
        unsigned breaks = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(block, lf));
        for (unsigned both = commas | breaks; both; both &= both - 1) {
            unsigned bit = both & (0u - both);
            int64_t at = i + __builtin_ctz(both);
            if (breaks & bit) {
                if (!close_row(data, at, &row, &row_start, &found, rows, per_row, &crlf, starts, ends))
                    return IRREGULAR;
            } else {
                if (found == per_row) return IRREGULAR;
                commas_t[found * rows + row] = at;
                found++;
            }
        }
    }
#endif
    for (; i < n; i++) {
        if (data[i] == '\n') {
            if (!close_row(data, i, &row, &row_start, &found, rows, per_row, &crlf, starts, ends))
                return IRREGULAR;
        } else if (data[i] == ',') {
            if (found == per_row) return IRREGULAR;
            commas_t[found * rows + row] = i;
            found++;
        }
    }
    if (row != rows - 1 || found != per_row) return IRREGULAR;
    starts[row] = row_start;
    ends[row] = n;
    return crlf > 0 ? 1 : 0;
}

/* (row, cell, end) of every float cell written as a whole number: non-empty, with neither
 * '.' nor 'e' (where '.0' goes). `cells` is sorted; results come by row, then cell. Writes
 * at most `cap` and returns how many there are. */
int64_t icx_whole_floats(const uint8_t *data, int64_t rows, int64_t per_row, const int64_t *commas_t,
                         const int64_t *starts, const int64_t *ends, const int64_t *cells, int64_t ncells,
                         int64_t *out_row, int64_t *out_cell, int64_t *out_end, int64_t cap) {
    int64_t count = 0;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t k = 0; k < ncells; k++) {
            int64_t start, end;
            cell_bounds(rows, per_row, commas_t, starts, ends, cells[k], r, &start, &end);
            if (end <= start) continue;
            int whole = 1;
            for (int64_t i = start; i < end; i++) {
                if (data[i] == '.' || data[i] == 'e') { whole = 0; break; }
            }
            if (!whole) continue;
            if (count < cap) {
                out_row[count] = r;
                out_cell[count] = cells[k];
                out_end[count] = end;
            }
            count++;
        }
    }
    return count;
}

static inline int digits(const uint8_t *p, int count, int *value) {
    int v = 0;
    for (int i = 0; i < count; i++) {
        if (p[i] < '0' || p[i] > '9') return 0;
        v = v * 10 + (p[i] - '0');
    }
    *value = v;
    return 1;
}

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : days[m - 1];
}

/* One RFC 3339 time, YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+HH:MM|-HH:MM), as ns since the epoch.
 * Anything else, or a time near the ends of int64 ns, is left to Arrow (returns 0). */
static int rfc3339(const uint8_t *p, int64_t len, int64_t *ns) {
    int y, mo, d, h, mi, s;
    if (len < 20 || p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':' || p[16] != ':') return 0;
    if (!digits(p, 4, &y) || !digits(p + 5, 2, &mo) || !digits(p + 8, 2, &d) || !digits(p + 11, 2, &h) ||
        !digits(p + 14, 2, &mi) || !digits(p + 17, 2, &s))
        return 0;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59) return 0;
    int64_t i = 19, fraction = 0;
    if (p[i] == '.') {
        int n = 0;
        i++;
        while (i < len && p[i] >= '0' && p[i] <= '9') {
            if (++n > 9) return 0;
            fraction = fraction * 10 + (p[i] - '0');
            i++;
        }
        if (n == 0) return 0;
        for (; n < 9; n++) fraction *= 10;
    }
    int64_t offset = 0;
    if (i == len - 1 && p[i] == 'Z') {
        offset = 0;
    } else if (i == len - 6 && (p[i] == '+' || p[i] == '-') && p[i + 3] == ':') {
        int oh, om;
        if (!digits(p + i + 1, 2, &oh) || !digits(p + i + 4, 2, &om) || oh > 23 || om > 59) return 0;
        offset = (oh * 60 + om) * 60 * (p[i] == '+' ? 1 : -1);
    } else {
        return 0;
    }
    int64_t seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset;
    if (seconds < -9223372035LL || seconds > 9223372035LL) return 0;
    *ns = seconds * 1000000000LL + fraction;
    return 1;
}

/* A decimal integer as int64 (1.x's epoch=ns times); 0 when it is anything else. */
static int integer(const uint8_t *p, int64_t len, int64_t *value) {
    int negative = len > 0 && p[0] == '-';
    int64_t i = negative;
    if (len - i < 1 || len - i > 19) return 0;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') return 0;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX) return 0;
    *value = negative ? -(int64_t)v : (int64_t)v;
    return 1;
}

/* One cell of every row as ns: RFC 3339 text (text=1) or integer ns. 0, or IRREGULAR when
 * a cell is empty or not in a form read here. */
int64_t icx_times(const uint8_t *data, int64_t rows, int64_t per_row, const int64_t *commas_t,
                  const int64_t *starts, const int64_t *ends, int64_t cell, int32_t text, int64_t *out) {
    for (int64_t r = 0; r < rows; r++) {
        int64_t start, end;
        cell_bounds(rows, per_row, commas_t, starts, ends, cell, r, &start, &end);
        int ok = text ? rfc3339(data + start, end - start, &out[r]) : integer(data + start, end - start, &out[r]);
        if (!ok) return IRREGULAR;
    }
    return 0;
}

static const double POWERS[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                                1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A short decimal as sensors give it, digits with at most one dot inside and 1-8 bytes
 * in all (no sign, no exponent), read as one 8-byte word, with no loop over its digits
 * (with rows taken in blocks, 10.5 -> 8.5 ns a value on telemetry). 1 with *value set; 0
 * when the text is not of that form, and the byte loop below decides. p[0..8) must be readable. The digits make the same exact mantissa
 * and power of ten as the byte loop does, so the double is the same, bit for bit. */
static inline int short_decimal(const uint8_t *p, int64_t len, double *value) {
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    (void)p; (void)len; (void)value;
    return 0;  /* the word arithmetic below assumes the first byte is the lowest */
#else
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t word;
    memcpy(&word, p, 8);  /* little-endian (x86-64, aarch64): the first byte is the lowest */
    uint64_t text = len == 8 ? ~0ULL : (1ULL << (8 * len)) - 1;  /* the bytes that are the cell's */
    word &= text;
    uint64_t x = word ^ (ones * '.');  /* a zero byte where a dot is */
    uint64_t dots = (x - ones) & ~x & highs & text;
    int64_t n = len, fraction = 0;
    if (dots) {  /* the first dot (exact: a false hit can only follow a real one) */
        int64_t dot = __builtin_ctzll(dots) / 8;
        if (dot == 0 || dot == len - 1) return 0;  /* ".5", "12.": the byte loop declines them */
        word = (word & ((1ULL << (8 * dot)) - 1)) | ((word >> (8 * (dot + 1))) << (8 * dot));
        n = len - 1;
        fraction = n - dot;
    }
    uint64_t used = n == 8 ? highs : highs & ((1ULL << (8 * n)) - 1);
    if (word & used) return 0;  /* a byte >= 0x80: no digit, and it would carry below */
    /* every used byte is '0'..'9': + 0x50 reaches 0x80 from '0', + 0x46 from ':' */
    if (((word + ones * 0x50) & used) != used || ((word + ones * 0x46) & used) != 0) return 0;
    word <<= 8 * (8 - n);  /* the digits in the top bytes: the empty bytes read as leading zeros */
    word = ((word & (ones * 0x0F)) * (10 * 256 + 1)) >> 8;  /* pairs of digits */
    word = ((word & 0x00FF00FF00FF00FFULL) * (100 * 65536 + 1)) >> 16;  /* fours */
    uint64_t mantissa = ((word & 0x0000FFFF0000FFFFULL) * (10000 * 4294967296ULL + 1)) >> 32;  /* eight */
    double v = (double)mantissa;
    *value = fraction ? v / POWERS[fraction] : v;
    return 1;
#endif
}

/* One decimal float as InfluxDB writes it: -?digits[.digits][(e|E)[+-]?digits]. With at
 * most 19 significant digits, a mantissa up to 2**53 and a power of ten up to 22, one IEEE
 * multiply or divide of two exact numbers is the correctly rounded value (Clinger's fast
 * path); other numbers go to strtod, which rounds correctly too. 0 when the text is not
 * such a number (Arrow then decides). */
static int decimal(const uint8_t *p, int64_t len, double *value) {
    int negative = len > 0 && p[0] == '-';
    int64_t i = negative, first = i, dot = -1;
    uint64_t mantissa = 0;
    int digits = 0;
    for (; i < len; i++) {  /* every digit, the dot skipped: exact while digits <= 19 */
        unsigned d = (unsigned)p[i] - '0';
        if (d < 10) {
            mantissa = mantissa * 10 + d;
            digits++;
        } else if (p[i] == '.' && dot < 0) {
            dot = i;
        } else {
            break;
        }
    }
    int64_t whole_digits = (dot < 0 ? i : dot) - first;
    int64_t exponent = dot < 0 ? 0 : -(i - dot - 1);
    if (whole_digits == 0 || (dot >= 0 && exponent == 0)) return 0;  /* "12." and ".5" are not read here */
    if (i < len && (p[i] == 'e' || p[i] == 'E')) {
        int exp_negative = 0, exp_digits = 0;
        int64_t e = 0;
        i++;
        if (i < len && (p[i] == '+' || p[i] == '-')) exp_negative = p[i++] == '-';
        for (; i < len && p[i] >= '0' && p[i] <= '9'; i++, exp_digits++) {
            if (e < 100000) e = e * 10 + (p[i] - '0');
        }
        if (exp_digits == 0) return 0;
        exponent += exp_negative ? -e : e;
    }
    if (i != len) return 0;
    if (digits <= 19 && mantissa <= (1ULL << 53) && exponent >= -22 && exponent <= 22) {
        double v = (double)mantissa;
        v = exponent < 0 ? v / POWERS[-exponent] : v * POWERS[exponent];
        *value = negative ? -v : v;
        return 1;
    }
    char copy[512];
    if (len >= (int64_t)sizeof(copy)) return 0;
    memcpy(copy, p, (size_t)len);
    copy[len] = 0;
    char *stop = NULL;
    *value = strtod(copy, &stop);
    return stop == copy + len;
}

/* The output rows, in `order`, each its pieces in turn (buffer, start, length), with ".0"
 * inserted at each of the row's cuts that lies inside one of its pieces from the cut's
 * buffer (start < position <= start + length). A row's cuts are sorted by position.
 * Returns the bytes written, or IRREGULAR when they would pass `cap` or a piece lies
 * outside its buffer. */
int64_t icx_gather(const uint8_t *const *buffers, const int64_t *buffer_size, const int32_t *piece_buffer,
                   const int64_t *piece_start, const int64_t *piece_length, const int64_t *row_first,
                   const int64_t *row_count, const int64_t *order, int64_t rows, const int64_t *cut_first,
                   const int64_t *cut_position, const int32_t *cut_buffer, uint8_t *out, int64_t cap) {
    int64_t written = 0;
    for (int64_t k = 0; k < rows; k++) {
        int64_t r = order ? order[k] : k;
        int64_t first_cut = cut_first[r], cuts_end = cut_first[r + 1];
        for (int64_t j = row_first[r], stop = row_first[r] + row_count[r]; j < stop; j++) {
            const uint8_t *source = buffers[piece_buffer[j]];
            int64_t from = piece_start[j], to = from + piece_length[j];
            if (from < 0 || piece_length[j] < 0 || to > buffer_size[piece_buffer[j]]) return IRREGULAR;
            for (int64_t cut = first_cut; cut < cuts_end; cut++) {
                int64_t at = cut_position[cut];
                if (cut_buffer[cut] != piece_buffer[j] || at <= from || at > to) continue;
                int64_t n = at - from;
                if (written + n + 2 > cap) return IRREGULAR;
                memcpy(out + written, source + from, (size_t)n);
                written += n;
                out[written++] = '.';
                out[written++] = '0';
                from = at;
            }
            int64_t n = to - from;
            if (written + n > cap) return IRREGULAR;
            memcpy(out + written, source + from, (size_t)n);
            written += n;
        }
    }
    return written;
}

static inline void put2(uint8_t *p, int64_t v) {
    p[0] = (uint8_t)('0' + v / 10);
    p[1] = (uint8_t)('0' + v % 10);
}

/* ns since the epoch -> 'YYYY-MM-DDTHH:MM:SS.fffffffffZ' (width 30), or with each
 * instant's UTC offset in seconds, local time ending '+HH:MM' (width 35). */
void icx_iso_time(const int64_t *ns, int64_t count, const int64_t *offsets_s, uint8_t *out, int64_t width) {
    uint8_t date[10];
    int64_t last_days = INT64_MIN;
    for (int64_t i = 0; i < count; i++) {
        uint8_t *p = out + i * width;
        int64_t value = ns[i];  /* the offset is already added: it only picks the suffix */
        if (i > 0 && value == ns[i - 1] && (offsets_s == NULL || offsets_s[i] == offsets_s[i - 1])) {
            memcpy(p, p - width, (size_t)width);  /* the series of one instant, in a row: the text once */
            continue;
        }
        int64_t seconds = value / 1000000000LL, fraction = value % 1000000000LL;
        if (fraction < 0) { fraction += 1000000000LL; seconds -= 1; }
        int64_t days = seconds / 86400, second = seconds % 86400;
        if (second < 0) { second += 86400; days -= 1; }
        if (days != last_days) {  /* a window's rows share a few days: the date is made once a day */
            /* H. Hinnant's civil_from_days */
            int64_t z = days + 719468;
            int64_t era = (z >= 0 ? z : z - 146096) / 146097;
            int64_t doe = z - era * 146097;
            int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
            int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
            int64_t mp = (5 * doy + 2) / 153;
            int64_t day = doy - (153 * mp + 2) / 5 + 1;
            int64_t month = mp < 10 ? mp + 3 : mp - 9;
            int64_t year = yoe + era * 400 + (month <= 2);
            put2(date, year / 100);
            put2(date + 2, year % 100);
            date[4] = '-';
            put2(date + 5, month);
            date[7] = '-';
            put2(date + 8, day);
            last_days = days;
        }
        memcpy(p, date, 10);
        p[10] = 'T';
        put2(p + 11, second / 3600);
        p[13] = ':';
        put2(p + 14, second / 60 % 60);
        p[16] = ':';
        put2(p + 17, second % 60);
        p[19] = '.';
        if (fraction == 0) {  /* whole seconds, the usual sampling */
            memcpy(p + 20, "000000000", 9);
        } else {
            for (int k = 28; k >= 20; k--) { p[k] = (uint8_t)('0' + fraction % 10); fraction /= 10; }
        }
        if (offsets_s == NULL) {
            p[29] = 'Z';
        } else {
            int64_t offset = offsets_s[i] < 0 ? -offsets_s[i] : offsets_s[i];
            p[29] = offsets_s[i] < 0 ? '-' : '+';
            put2(p + 30, offset / 3600);
            p[32] = ':';
            put2(p + 33, offset / 60 % 60);
        }
    }
}

/* The rows where any of `cells` holds other bytes than in the row before (row 0 always):
 * where a run of one series starts. Writes the starts and returns their count, or
 * IRREGULAR as soon as there would be more than `cap` (series interleaved row by row). */
int64_t icx_runs(const uint8_t *data, int64_t rows, int64_t per_row, const int64_t *commas_t,
                 const int64_t *starts, const int64_t *ends, const int64_t *cells, int64_t ncells,
                 int64_t *out, int64_t cap) {
    int64_t count = 0;
    for (int64_t r = 0; r < rows; r++) {
        int differs = r == 0;
        for (int64_t k = 0; k < ncells && !differs; k++) {
            int64_t start, end, before_start, before_end;
            cell_bounds(rows, per_row, commas_t, starts, ends, cells[k], r, &start, &end);
            cell_bounds(rows, per_row, commas_t, starts, ends, cells[k], r - 1, &before_start, &before_end);
            differs = end - start != before_end - before_start ||
                      memcmp(data + start, data + before_start, (size_t)(end - start)) != 0;
        }
        if (differs) {
            if (count == cap) return IRREGULAR;
            out[count++] = r;
        }
    }
    return count;
}

/* Several float cells of every row in one pass over the rows (one column at a time would
 * walk the window's bytes once per column): out is (ncells, rows), NaN where empty, and
 * empty[k] says whether cell k had an empty one. 0, or IRREGULAR when a cell is not a
 * plain decimal number. */
int64_t icx_floats_many(const uint8_t *data, int64_t rows, int64_t per_row, const int64_t *commas_t,
                        const int64_t *starts, const int64_t *ends, const int64_t *cells, int64_t ncells,
                        double *out, uint8_t *empty) {
    memset(empty, 0, (size_t)ncells);
    int64_t readable = 0;  /* the data reach at least the last end: 8-byte reads stay below it */
    for (int64_t r = 0; r < rows; r++) readable = ends[r] > readable ? ends[r] : readable;
    for (int64_t block = 0; block < rows; block += 256)  /* a block's bytes stay in cache for every cell */
        for (int64_t k = 0; k < ncells; k++)
        for (int64_t r = block; r < rows && r < block + 256; r++) {
            int64_t start, end;
            cell_bounds(rows, per_row, commas_t, starts, ends, cells[k], r, &start, &end);
            double *value = &out[k * rows + r];
            const uint8_t *p = data + start;
            int64_t len = end - start, negative = len > 1 && p[0] == '-';
            if (len <= 0) {
                *value = __builtin_nan("");
                empty[k] = 1;
            } else if (len - negative <= 8 && start + negative + 8 <= readable &&
                       short_decimal(p + negative, len - negative, value)) {
                if (negative) *value = -*value;
            } else if (!decimal(p, len, value)) {
                return IRREGULAR;
            }
        }
    return 0;
}
