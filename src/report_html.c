/* report_html.c - report.md -> self-contained report.html (see report_html.h). */
#include "report_html.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

/* ---- a growable string ---- */

typedef struct Str {
    char *s;
    size_t len, cap;
} Str;

static void str_add(Str *b, const char *p, size_t n) {
    if (n == 0 || n > ((size_t)1 << 40)) return; /* nothing, or not a length */
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2 + 256;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void str_puts(Str *b, const char *p) { str_add(b, p, strlen(p)); }

static void str_printf(Str *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void str_printf(Str *b, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        str_add(b, tmp, (size_t)n);
        return;
    }
    char *big = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    str_add(b, big, (size_t)n);
    free(big);
}

static void str_escape(Str *b, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        switch (p[i]) {
        case '&': str_puts(b, "&amp;"); break;
        case '<': str_puts(b, "&lt;"); break;
        case '>': str_puts(b, "&gt;"); break;
        case '"': str_puts(b, "&quot;"); break;
        default: str_add(b, p + i, 1);
        }
    }
}

/* ---- figures ---- */

typedef struct Ctx {
    const char *base_dir;
    int n_figures;
} Ctx;

static void base64(Str *b, const uint8_t *p, size_t n) {
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        char q[4] = {T[v >> 18 & 63], T[v >> 12 & 63], i + 1 < n ? T[v >> 6 & 63] : '=',
                     i + 2 < n ? T[v & 63] : '='};
        str_add(b, q, 4);
    }
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* An SVG document inline: from its <svg element on, with class and label
 * added and every id (and reference to one) prefixed "fN-", so that the
 * glyphs and clips of several figures do not collide in one page. */
static void inline_svg(Str *b, const char *svg, const char *alt, size_t alt_len, int fig) {
    const char *p = strstr(svg, "<svg");
    if (!p) return;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "f%d-", fig);
    str_puts(b, "<svg class=\"figure\" role=\"img\" aria-label=\"");
    str_escape(b, alt, alt_len);
    str_puts(b, "\"");
    p += 4;
    static const char *const PATTERNS[] = {" id=\"", "href=\"#", "url(#"};
    while (*p) {
        const char *next = NULL;
        size_t plen = 0;
        for (int k = 0; k < 3; k++) {
            const char *q = strstr(p, PATTERNS[k]);
            if (q && (!next || q < next)) next = q, plen = strlen(PATTERNS[k]);
        }
        if (!next) {
            str_puts(b, p);
            break;
        }
        str_add(b, p, (size_t)(next - p) + plen);
        str_puts(b, prefix);
        p = next + plen;
    }
}

/* ![alt](src): the SVG twin inline, else the file as a data: URI, else a
 * visible note. */
static void figure(Str *b, Ctx *c, const char *alt, size_t alt_len, const char *src,
                   size_t src_len) {
    char name[1024];
    snprintf(name, sizeof name, "%.*s", (int)src_len, src);
    char *path = path_join(c->base_dir, name);
    char *svg_path = ends_with(path, ".svg") ? xstrdup(path) : plot_svg_path(path);
    uint8_t *data = NULL;
    size_t len = 0;
    Err ignored;
    str_puts(b, "<figure>");
    if (ends_with(path, ".png") || ends_with(path, ".svg")) {
        if (file_read_all(svg_path, &data, &len, &ignored) == 0 && strstr((char *)data, "<svg")) {
            inline_svg(b, (const char *)data, alt, alt_len, ++c->n_figures);
            free(data);
            data = NULL;
            goto caption;
        }
        free(data);
        data = NULL;
    }
    if (file_read_all(path, &data, &len, &ignored) == 0) {
        const char *mime = ends_with(path, ".png")                                  ? "image/png"
                           : ends_with(path, ".jpg") || ends_with(path, ".jpeg")   ? "image/jpeg"
                           : ends_with(path, ".svg")                               ? "image/svg+xml"
                           : ends_with(path, ".gif")                               ? "image/gif"
                                                                                   : "application/octet-stream";
        str_printf(b, "<img alt=\"");
        str_escape(b, alt, alt_len);
        str_printf(b, "\" src=\"data:%s;base64,", mime);
        base64(b, data, len);
        str_puts(b, "\">");
        c->n_figures++;
    } else {
        str_puts(b, "<span class=\"missing\">[missing figure: ");
        str_escape(b, src, src_len);
        str_puts(b, "]</span>");
    }
caption:
    free(data);
    if (alt_len) {
        str_puts(b, "<figcaption>");
        str_escape(b, alt, alt_len);
        str_puts(b, "</figcaption>");
    }
    str_puts(b, "</figure>");
    free(path);
    free(svg_path);
}

/* ---- inline ---- */

/* The position of the `close` that ends a span opened at p, or NULL. */
static const char *find_close(const char *p, const char *end, const char *close) {
    size_t k = strlen(close);
    for (const char *q = p; q + k <= end; q++) {
        if (*q == '\\' && q + 1 < end) {
            q++;
            continue;
        }
        if (!memcmp(q, close, k)) return q;
    }
    return NULL;
}

static int has_image(const char *p, size_t n) {
    for (size_t i = 0; i + 1 < n; i++)
        if (p[i] == '!' && p[i + 1] == '[') return 1;
    return 0;
}

/* Markdown inline text p[0..n) as HTML. */
static void inline_md(Str *b, Ctx *c, const char *p, size_t n) {
    const char *end = p + n;
    while (p < end) {
        if (*p == '\\' && p + 1 < end && strchr("\\`*_{}[]()#+-.!|", p[1])) {
            str_escape(b, p + 1, 1);
            p += 2;
        } else if (end - p >= 4 && !strncmp(p, "<br>", 4)) { /* a line break in a table cell */
            str_puts(b, "<br>");
            p += 4;
        } else if (*p == '`') {
            const char *q = memchr(p + 1, '`', (size_t)(end - p - 1));
            if (!q) {
                str_escape(b, p, 1);
                p++;
                continue;
            }
            str_puts(b, "<code>");
            str_escape(b, p + 1, (size_t)(q - p - 1));
            str_puts(b, "</code>");
            p = q + 1;
        } else if ((*p == '!' && p + 1 < end && p[1] == '[') || *p == '[') {
            int img = *p == '!';
            const char *t = p + 1 + img;
            const char *tc = find_close(t, end, "]");
            const char *u = tc && tc + 1 < end && tc[1] == '(' ? tc + 2 : NULL;
            const char *uc = u ? find_close(u, end, ")") : NULL;
            if (!uc) {
                str_escape(b, p, 1);
                p++;
                continue;
            }
            if (img) {
                figure(b, c, t, (size_t)(tc - t), u, (size_t)(uc - u));
            } else {
                str_puts(b, "<a href=\"");
                str_escape(b, u, (size_t)(uc - u));
                str_puts(b, "\">");
                inline_md(b, c, t, (size_t)(tc - t));
                str_puts(b, "</a>");
            }
            p = uc + 1;
        } else if (*p == '*' && p + 1 < end && p[1] == '*' && p + 2 < end && p[2] != ' ') {
            const char *q = find_close(p + 2, end, "**");
            if (!q || q[-1] == ' ') {
                str_puts(b, "**");
                p += 2;
                continue;
            }
            str_puts(b, "<strong>");
            inline_md(b, c, p + 2, (size_t)(q - p - 2));
            str_puts(b, "</strong>");
            p = q + 2;
        } else if (*p == '*' && p + 1 < end && p[1] != ' ' && p[1] != '*') {
            const char *q = find_close(p + 1, end, "*");
            if (!q || q[-1] == ' ') {
                str_escape(b, p, 1);
                p++;
                continue;
            }
            str_puts(b, "<em>");
            inline_md(b, c, p + 1, (size_t)(q - p - 1));
            str_puts(b, "</em>");
            p = q + 1;
        } else {
            str_escape(b, p, 1);
            p++;
        }
    }
}

/* ---- blocks ---- */

typedef struct Line {
    const char *s;
    size_t n;
} Line;

static int blank(Line l) {
    for (size_t i = 0; i < l.n; i++)
        if (l.s[i] != ' ' && l.s[i] != '\t' && l.s[i] != '\r') return 0;
    return 1;
}

static size_t indent(Line l) {
    size_t i = 0;
    while (i < l.n && l.s[i] == ' ') i++;
    return i;
}

/* Heading level 1..6 of "### text", else 0. */
static int heading(Line l) {
    size_t i = 0;
    while (i < l.n && l.s[i] == '#') i++;
    return i >= 1 && i <= 6 && i < l.n && l.s[i] == ' ' ? (int)i : 0;
}

/* Bullet ("- ", "* ", "+ ") or ordered ("12. ") item: its text offset, else 0;
 * *ordered says which. */
static size_t list_item(Line l, int *ordered) {
    size_t i = indent(l);
    if (i + 1 < l.n && strchr("-*+", l.s[i]) && l.s[i + 1] == ' ') {
        *ordered = 0;
        return i + 2;
    }
    size_t d = i;
    while (d < l.n && l.s[d] >= '0' && l.s[d] <= '9') d++;
    if (d > i && d - i < 10 && d + 1 < l.n && l.s[d] == '.' && l.s[d + 1] == ' ') {
        *ordered = 1;
        return d + 2;
    }
    return 0;
}

static int hrule(Line l) {
    int n = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (l.s[i] == '-' || l.s[i] == '*' || l.s[i] == '_') n++;
        else if (l.s[i] != ' ') return 0;
    }
    return n >= 3;
}

static int fence(Line l) { return indent(l) < 4 && l.n - indent(l) >= 3 && !strncmp(l.s + indent(l), "```", 3); }

/* Splits a table row "| a | b |" into cells (trimmed); returns the count. */
static int table_cells(Line l, Line *cells, int max) {
    const char *p = l.s, *end = l.s + l.n;
    while (end > p && (end[-1] == ' ' || end[-1] == '\r')) end--;
    while (p < end && *p == ' ') p++;
    if (p < end && *p == '|') p++;
    if (end > p && end[-1] == '|' && !(end - 1 > p && end[-2] == '\\')) end--;
    int n = 0;
    const char *start = p;
    int in_code = 0;
    for (const char *q = p; q <= end; q++) {
        if (q < end && *q == '`') in_code = !in_code;
        if (q < end && *q == '\\' && q + 1 < end) {
            q++;
            continue;
        }
        if (q == end || (*q == '|' && !in_code)) {
            const char *a = start, *z = q;
            while (a < z && *a == ' ') a++;
            while (z > a && z[-1] == ' ') z--;
            if (n < max) cells[n++] = (Line){a, (size_t)(z - a)};
            start = q + 1;
        }
    }
    return n;
}

/* "|---|:--:|" (alignments into align: 'l', 'c', 'r' or 0), else 0. */
static int table_sep(Line l, char *align, int max) {
    Line cells[64];
    int n = table_cells(l, cells, 64);
    if (n < 1 || indent(l) >= l.n || l.s[indent(l)] != '|') return 0;
    for (int i = 0; i < n; i++) {
        Line c = cells[i];
        size_t dashes = 0;
        for (size_t k = 0; k < c.n; k++) {
            if (c.s[k] == '-') dashes++;
            else if (c.s[k] != ':') return 0;
        }
        if (!dashes) return 0;
        int left = c.s[0] == ':', right = c.s[c.n - 1] == ':';
        if (i < max) align[i] = left && right ? 'c' : right ? 'r' : left ? 'l' : 0;
    }
    return n;
}

static void table_row(Str *b, Ctx *c, Line l, const char *tag, const char *align, int ncols) {
    Line cells[64];
    int n = table_cells(l, cells, 64);
    str_puts(b, "<tr>");
    for (int i = 0; i < ncols; i++) {
        char a = i < 64 ? align[i] : 0;
        if (a)
            str_printf(b, "<%s style=\"text-align:%s\">", tag,
                       a == 'c' ? "center" : a == 'r' ? "right" : "left");
        else
            str_printf(b, "<%s>", tag);
        if (i < n) inline_md(b, c, cells[i].s, cells[i].n);
        str_printf(b, "</%s>", tag);
    }
    str_puts(b, "</tr>\n");
}

/* Joins lines [from, to) (their text from offset skip of the first and
 * indent of the others) with newlines and renders them inline. A paragraph
 * holding a figure becomes a div (a figure cannot sit inside <p>). */
static void text_block(Str *b, Ctx *c, const Line *lines, int from, int to, size_t skip,
                       const char *tag) {
    Str t = {0};
    for (int i = from; i < to; i++) {
        size_t n = lines[i].n, k = i == from ? skip : indent(lines[i]);
        if (k > n) k = n;
        while (n > k && (lines[i].s[n - 1] == '\r')) n--;
        if (i > from) str_add(&t, "\n", 1);
        str_add(&t, lines[i].s + k, n - k);
    }
    const char *text = t.s ? t.s : "";
    int img = has_image(text, t.len);
    if (tag && !strcmp(tag, "p") && img) tag = "div";
    if (tag) str_printf(b, "<%s%s>", tag, img && !strcmp(tag, "div") ? " class=\"para\"" : "");
    inline_md(b, c, text, t.len);
    if (tag) str_printf(b, "</%s>\n", tag);
    free(t.s);
}

static void render_blocks(Str *b, Ctx *c, const Line *L, int n) {
    int i = 0;
    while (i < n) {
        Line l = L[i];
        if (blank(l)) {
            i++;
            continue;
        }
        int h = heading(l), ordered = 0;
        char align[64];
        if (fence(l)) {
            str_puts(b, "<pre><code>");
            int j = i + 1;
            for (; j < n && !fence(L[j]); j++) {
                str_escape(b, L[j].s, L[j].n);
                str_puts(b, "\n");
            }
            str_puts(b, "</code></pre>\n");
            i = j < n ? j + 1 : j;
        } else if (h) {
            size_t k = (size_t)h + 1, m = l.n;
            while (m > k && (l.s[m - 1] == ' ' || l.s[m - 1] == '#' || l.s[m - 1] == '\r')) m--;
            /* an anchor: the heading's letters and digits, lower case, '-' between words */
            str_printf(b, "<h%d id=\"", h);
            int dash = 0;
            for (size_t q = k; q < m; q++) {
                char ch = l.s[q];
                if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
                if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
                    if (dash) str_puts(b, "-");
                    str_add(b, &ch, 1);
                    dash = 0;
                } else if (b->s[b->len - 1] != '"') {
                    dash = 1;
                }
            }
            str_puts(b, "\">");
            inline_md(b, c, l.s + k, m - k);
            str_printf(b, "</h%d>\n", h);
            i++;
        } else if (hrule(l)) {
            str_puts(b, "<hr>\n");
            i++;
        } else if (indent(l) < l.n && l.s[indent(l)] == '|' && i + 1 < n &&
                   table_sep(L[i + 1], memset(align, 0, sizeof align), 64)) {
            Line cells[64];
            int ncols = table_cells(l, cells, 64);
            str_puts(b, "<table>\n<thead>\n");
            table_row(b, c, l, "th", align, ncols);
            str_puts(b, "</thead>\n<tbody>\n");
            int j = i + 2;
            for (; j < n && !blank(L[j]) && L[j].s[indent(L[j])] == '|'; j++)
                table_row(b, c, L[j], "td", align, ncols);
            str_puts(b, "</tbody>\n</table>\n");
            i = j;
        } else if (l.s[indent(l)] == '>') {
            int j = i;
            Str q = {0};
            while (j < n && !blank(L[j]) && L[j].s[indent(L[j])] == '>') {
                size_t k = indent(L[j]) + 1;
                if (k < L[j].n && L[j].s[k] == ' ') k++;
                str_add(&q, L[j].s + k, L[j].n - k);
                str_add(&q, "\n", 1);
                j++;
            }
            str_puts(b, "<blockquote>\n");
            Line sub[1] = {{q.s ? q.s : "", q.len}};
            text_block(b, c, sub, 0, 1, 0, "p");
            str_puts(b, "</blockquote>\n");
            free(q.s);
            i = j;
        } else if (list_item(l, &ordered)) {
            int ord = ordered;
            str_puts(b, ord ? "<ol>\n" : "<ul>\n");
            int j = i;
            while (j < n) {
                int o2;
                size_t off = list_item(L[j], &o2);
                if (!off || o2 != ord) break;
                /* the item: this line, then indented or lazy lines up to a
                 * blank line or the next item */
                int k = j + 1;
                while (k < n && !blank(L[k]) && !list_item(L[k], &o2) && !heading(L[k]) &&
                       !fence(L[k]))
                    k++;
                str_puts(b, "<li>");
                text_block(b, c, L, j, k, off, NULL);
                str_puts(b, "</li>\n");
                j = k;
                /* a blank line between items keeps the list going */
                if (j + 1 < n && blank(L[j]) && list_item(L[j + 1], &o2) && o2 == ord) j++;
            }
            str_puts(b, ord ? "</ol>\n" : "</ul>\n");
            i = j;
        } else {
            int j = i + 1;
            int o2;
            while (j < n && !blank(L[j]) && !heading(L[j]) && !fence(L[j]) &&
                   !list_item(L[j], &o2) && !hrule(L[j]) &&
                   !(L[j].s[indent(L[j])] == '|' && j + 1 < n && table_sep(L[j + 1], align, 64)))
                j++;
            text_block(b, c, L, i, j, indent(l), "p");
            i = j;
        }
    }
}

static const char STYLE[] =
    "body{margin:0;background:#fff;color:#1b1b1b;font:16px/1.5 system-ui,-apple-system,"
    "'Segoe UI',Roboto,'DejaVu Sans',sans-serif}\n"
    "main{max-width:62rem;margin:0 auto;padding:1.5rem 1.25rem 3rem}\n"
    "h1{font-size:1.7rem;line-height:1.25;margin:0 0 1rem}\n"
    "h2{font-size:1.3rem;margin:2rem 0 .6rem;padding-bottom:.2rem;border-bottom:1px solid #ddd}\n"
    "h3{font-size:1.1rem;margin:1.5rem 0 .5rem}\n"
    "code{font:.9em/1.4 ui-monospace,'DejaVu Sans Mono',monospace;background:#f3f3f3;"
    "padding:0 .2em;border-radius:3px}\n"
    "pre{background:#f6f6f6;border:1px solid #e2e2e2;border-radius:4px;padding:.6rem .8rem;"
    "overflow-x:auto}\n"
    "pre code{background:none;padding:0}\n"
    "table{border-collapse:collapse;margin:.8rem 0;font-size:.9rem;display:block;overflow-x:auto}\n"
    "th,td{border:1px solid #d0d0d0;padding:.25rem .55rem;text-align:left;"
    "font-variant-numeric:tabular-nums}\n"
    "th{background:#f0f0f0}\n"
    "tbody tr:nth-child(even){background:#fafafa}\n"
    "figure{margin:.8rem 0}\n"
    "figure svg,figure img{display:block;max-width:100%;height:auto}\n"
    "figcaption{font-size:.85rem;color:#555;margin-top:.2rem}\n"
    ".missing{color:#b00;font-weight:bold}\n"
    "blockquote{margin:.8rem 0;padding:.1rem 1rem;border-left:4px solid #ddd;color:#444}\n"
    "footer{margin-top:3rem;font-size:.8rem;color:#777}\n"
    "@media print{body{font-size:11pt}main{max-width:none;padding:0}"
    "figure,table,pre{break-inside:avoid}h2,h3{break-after:avoid}"
    "table{display:table}a{color:inherit}}\n";

int report_html_render(const char *md, const char *base_dir, char **out, Err *e) {
    (void)e;
    /* lines */
    int cap = 256, n = 0;
    Line *L = xmalloc(sizeof(Line) * (size_t)cap);
    for (const char *p = md; *p;) {
        const char *q = strchr(p, '\n');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (n == cap) L = xrealloc(L, sizeof(Line) * (size_t)(cap *= 2));
        L[n++] = (Line){p, len};
        p += len + (q ? 1 : 0);
    }
    Ctx c = {base_dir, 0};
    Str body = {0}, title = {0};
    for (int i = 0; i < n; i++)
        if (heading(L[i]) == 1) {
            size_t m = L[i].n;
            while (m > 2 && L[i].s[m - 1] == '\r') m--;
            for (size_t k = 2; k < m; k++)
                if (!strchr("`*", L[i].s[k])) str_escape(&title, L[i].s + k, 1);
            break;
        }
    render_blocks(&body, &c, L, n);
    free(L);
    Str b = {0};
    str_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    str_printf(&b, "<meta name=\"generator\" content=\"augprobe %s\">\n", AUGPROBE_VERSION);
    str_printf(&b, "<title>%s</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n",
               title.s ? title.s : "augprobe report", STYLE);
    if (body.s) str_puts(&b, body.s);
    str_printf(&b, "<footer>Made from report.md by augprobe %s; the figures are inline (SVG), "
                   "so this file stands alone.</footer>\n</main>\n</body>\n</html>\n",
               AUGPROBE_VERSION);
    free(body.s);
    free(title.s);
    *out = b.s;
    return 0;
}

int report_html_write(const char *md_path, const char *html_path, Err *e) {
    uint8_t *md = NULL;
    size_t len = 0;
    if (file_read_all(md_path, &md, &len, e)) return -1;
    if (memchr(md, 0, len)) {
        free(md);
        return err_set(e, "%s: not a text file (NUL byte)", md_path);
    }
    char *dir = xstrdup(md_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, strlen(dir) + 1, ".");
    char *html = NULL;
    int rc = report_html_render((const char *)md, dir, &html, e);
    if (rc == 0) rc = file_write_atomic(html_path, html, strlen(html), e);
    free(html);
    free(dir);
    free(md);
    return rc;
}

int report_html_dir(const char *dir, Err *e) {
    char *md = path_join(dir, "report.md"), *html = path_join(dir, "report.html");
    int rc = report_html_write(md, html, e);
    free(md);
    free(html);
    return rc;
}
