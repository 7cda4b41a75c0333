/* plot.c - PNG line charts and image grids drawn with cairo. The PNG is
 * encoded into memory and written with file_write_atomic, so a figure is
 * either complete or absent; the same drawing then goes to an SVG surface,
 * the figure's SVG twin (x.png -> x.svg, written the same way). */
#include "plot.h"

#include <cairo/cairo.h> /* full path: builds without pkg-config flags (check-asan) */
#include <cairo/cairo-svg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double PI = 3.14159265358979323846;

/* tab10, as matplotlib. */
static const uint32_t PALETTE[10] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                     0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};

static void set_rgb(cairo_t *cr, uint32_t rgb) {
    cairo_set_source_rgb(cr, ((rgb >> 16) & 255) / 255.0, ((rgb >> 8) & 255) / 255.0,
                         (rgb & 255) / 255.0);
}

/* ---- PNG to memory, then atomic write ---- */

typedef struct Buf {
    uint8_t *data;
    size_t len, cap;
} Buf;

static cairo_status_t buf_write(void *closure, const unsigned char *data, unsigned int len) {
    Buf *b = closure;
    if (b->len + len > b->cap) {
        b->cap = (b->len + len) * 2 + 4096;
        b->data = xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return CAIRO_STATUS_SUCCESS;
}

static int is_svg(const char *path) {
    size_t n = strlen(path);
    return n > 4 && !strcmp(path + n - 4, ".svg");
}

static int save_png(cairo_surface_t *s, cairo_t *cr, const char *path, Err *e) {
    if (is_svg(path)) return 0; /* x.svg: the SVG alone (save_svg) */
    cairo_status_t st = cr ? cairo_status(cr) : CAIRO_STATUS_SUCCESS;
    if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(s);
    if (st != CAIRO_STATUS_SUCCESS)
        return err_set(e, "%s: drawing failed: %s", path, cairo_status_to_string(st));
    cairo_surface_flush(s);
    Buf b = {0};
    st = cairo_surface_write_to_png_stream(s, buf_write, &b);
    if (st != CAIRO_STATUS_SUCCESS) {
        free(b.data);
        return err_set(e, "%s: PNG encoding failed: %s", path, cairo_status_to_string(st));
    }
    int rc = file_write_atomic(path, b.data, b.len, e);
    free(b.data);
    return rc;
}

/* The SVG twin of a figure: draw(cr, ctx) on a W x H SVG surface (units
 * px), written atomically to png_path with ".png" replaced by ".svg". */
typedef void (*DrawFn)(cairo_t *cr, const void *ctx);

char *plot_svg_path(const char *png_path) {
    if (is_svg(png_path)) return xstrdup(png_path);
    size_t n = strlen(png_path);
    if (n > 4 && !strcmp(png_path + n - 4, ".png")) n -= 4;
    char *out = xmalloc(n + sizeof ".svg");
    memcpy(out, png_path, n);
    memcpy(out + n, ".svg", sizeof ".svg");
    return out;
}

static int save_svg(const char *png_path, int W, int H, DrawFn draw, const void *ctx, Err *e) {
    char *path = plot_svg_path(png_path);
    Buf b = {0};
    cairo_surface_t *s = cairo_svg_surface_create_for_stream(buf_write, &b, W, H);
    cairo_svg_surface_set_document_unit(s, CAIRO_SVG_UNIT_PX);
    cairo_t *cr = cairo_create(s);
    draw(cr, ctx);
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    cairo_surface_finish(s); /* writes the document to b */
    if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(s);
    cairo_surface_destroy(s);
    int rc = st == CAIRO_STATUS_SUCCESS
                 ? file_write_atomic(path, b.data, b.len, e)
                 : err_set(e, "%s: SVG drawing failed: %s", path, cairo_status_to_string(st));
    free(b.data);
    free(path);
    return rc;
}

/* ---- axes ---- */

/* A "nice" tick step (1, 2 or 5 times a power of ten) for about `target` ticks. */
static double nice_step(double range, int target) {
    double raw = range / target;
    double p = pow(10.0, floor(log10(raw)));
    double f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void text_at(cairo_t *cr, const char *s, double x, double y, double ax, double ay) {
    cairo_text_extents_t te;
    cairo_text_extents(cr, s, &te);
    cairo_move_to(cr, x - te.width * ax - te.x_bearing, y - te.height * ay - te.y_bearing);
    cairo_show_text(cr, s);
}

static double series_x(const PlotSeries *s, int i) { return s->x ? s->x[i] : i; }

/* Sideways spread of series s of n at a category x (grid figures). */
static double spread(int s, int n, int on) { return on && n > 1 ? (s - (n - 1) / 2.0) * 0.08 : 0; }

static void draw_panel(cairo_t *cr, const PlotPanel *p, double ox, double oy, int legend_inside) {
    const double W = PLOT_PANEL_W, H = PLOT_PANEL_H;
    const double L = ox + 64, R = ox + W - 16, T = oy + 34, B = oy + H - 52;
    const int spread_on = !legend_inside && p->n_xticks > 0;
    /* data range */
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int s = 0; s < p->n_series; s++)
        for (int i = 0; i < p->series[s].n; i++) {
            double x = series_x(&p->series[s], i), y = p->series[s].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
        }
    for (int k = 0; k < p->n_bands; k++)
        if (isfinite(p->bands[k].value))
            y0 = fmin(y0, p->bands[k].value), y1 = fmax(y1, p->bands[k].value);
    if (p->n_xticks > 0) x0 = -0.5, x1 = p->n_xticks - 0.5;
    if (!(x0 <= x1)) x0 = 0, x1 = 1;
    if (!(y0 <= y1)) y0 = 0, y1 = 1;
    if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
    if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
    double ypad = 0.05 * (y1 - y0), xpad = p->n_xticks > 0 ? 0 : 0.03 * (x1 - x0);
    y0 -= ypad, y1 += ypad, x0 -= xpad, x1 += xpad;
    double ystep = nice_step(y1 - y0, 5);
    y0 = floor(y0 / ystep) * ystep, y1 = ceil(y1 / ystep) * ystep;
    if (p->ymin < p->ymax) {
        y0 = p->ymin, y1 = p->ymax;
        ystep = nice_step(y1 - y0, 6);
    }
#define PX(x) (L + ((x) - x0) / (x1 - x0) * (R - L))
#define PY(y) (B - ((y) - y0) / (y1 - y0) * (B - T))

    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 11);
    cairo_set_line_width(cr, 1);
    /* grid and y ticks */
    char lab[64];
    for (double y = y0; y <= y1 + ystep * 1e-6; y += ystep) {
        double py = PY(y);
        set_rgb(cr, 0xe6e6e6);
        cairo_move_to(cr, L, py), cairo_line_to(cr, R, py), cairo_stroke(cr);
        set_rgb(cr, 0x000000);
        cairo_move_to(cr, L - 4, py), cairo_line_to(cr, L, py), cairo_stroke(cr);
        snprintf(lab, sizeof lab, "%g", fabs(y) < ystep * 1e-6 ? 0.0 : y);
        text_at(cr, lab, L - 7, py, 1.0, 0.5);
    }
    /* x ticks: categories or nice numbers */
    if (p->n_xticks > 0) {
        for (int i = 0; i < p->n_xticks; i++) {
            double px = PX(i);
            set_rgb(cr, 0x000000);
            cairo_move_to(cr, px, B), cairo_line_to(cr, px, B + 4), cairo_stroke(cr);
            text_at(cr, p->xtick_labels[i] ? p->xtick_labels[i] : "", px, B + 7, 0.5, 0.0);
        }
    } else {
        double xstep = nice_step(x1 - x0, 6);
        for (double x = ceil(x0 / xstep - 1e-9) * xstep; x <= x1 + xstep * 1e-6; x += xstep) {
            double px = PX(x);
            set_rgb(cr, 0x000000);
            cairo_move_to(cr, px, B), cairo_line_to(cr, px, B + 4), cairo_stroke(cr);
            snprintf(lab, sizeof lab, "%g", fabs(x) < xstep * 1e-6 ? 0.0 : x);
            text_at(cr, lab, px, B + 7, 0.5, 0.0);
        }
    }
    /* frame */
    set_rgb(cr, 0x000000);
    cairo_rectangle(cr, L, T, R - L, B - T);
    cairo_stroke(cr);
    /* series: lines broken at NaN, with point markers */
    cairo_save(cr);
    cairo_rectangle(cr, L, T, R - L, B - T);
    cairo_clip(cr);
    /* bands under everything: the interval shaded, the value dashed */
    for (int k = 0; k < p->n_bands; k++) {
        const PlotBand *b = &p->bands[k];
        uint32_t col = PALETTE[(p->n_series + k) % 10];
        if (isfinite(b->lo) && isfinite(b->hi)) {
            cairo_set_source_rgba(cr, ((col >> 16) & 255) / 255.0, ((col >> 8) & 255) / 255.0,
                                  (col & 255) / 255.0, 0.18);
            double ya = PY(b->hi), yb = PY(b->lo);
            cairo_rectangle(cr, L, ya, R - L, fmax(yb - ya, 1.0));
            cairo_fill(cr);
        }
        if (isfinite(b->value)) {
            set_rgb(cr, col);
            double dash[] = {6, 4};
            cairo_set_dash(cr, dash, 2, 0);
            cairo_set_line_width(cr, 1.5);
            cairo_move_to(cr, L, PY(b->value)), cairo_line_to(cr, R, PY(b->value));
            cairo_stroke(cr);
            cairo_set_dash(cr, NULL, 0, 0);
        }
    }
    cairo_set_line_width(cr, 2);
    for (int s = 0; s < p->n_series; s++) {
        const PlotSeries *se = &p->series[s];
        const double dx = spread(s, p->n_series, spread_on);
        set_rgb(cr, PALETTE[s % 10]);
        if (se->ylo && se->yhi) { /* interval bars with caps */
            cairo_set_line_width(cr, 1.5);
            for (int i = 0; i < se->n; i++) {
                double x = series_x(se, i) + dx, lo = se->ylo[i], hi = se->yhi[i];
                if (!isfinite(x) || !isfinite(lo) || !isfinite(hi)) continue;
                cairo_move_to(cr, PX(x), PY(lo)), cairo_line_to(cr, PX(x), PY(hi));
                cairo_move_to(cr, PX(x) - 4, PY(lo)), cairo_line_to(cr, PX(x) + 4, PY(lo));
                cairo_move_to(cr, PX(x) - 4, PY(hi)), cairo_line_to(cr, PX(x) + 4, PY(hi));
                cairo_stroke(cr);
            }
            cairo_set_line_width(cr, 2);
        }
        int pen = 0;
        for (int i = 0; i < se->n; i++) {
            double x = series_x(se, i) + dx, y = se->y[i];
            if (!isfinite(x) || !isfinite(y)) {
                pen = 0;
                continue;
            }
            if (pen)
                cairo_line_to(cr, PX(x), PY(y));
            else
                cairo_move_to(cr, PX(x), PY(y));
            pen = 1;
        }
        cairo_stroke(cr);
        if (se->n <= 40)
            for (int i = 0; i < se->n; i++) {
                double x = series_x(se, i) + dx, y = se->y[i];
                if (!isfinite(x) || !isfinite(y)) continue;
                cairo_arc(cr, PX(x), PY(y), 3, 0, 2 * PI);
                cairo_fill(cr);
            }
    }
    cairo_restore(cr);
    /* labels and title */
    set_rgb(cr, 0x000000);
    cairo_set_font_size(cr, 12);
    if (p->xlabel) text_at(cr, p->xlabel, (L + R) / 2, oy + H - 8, 0.5, 1.0);
    if (p->ylabel) {
        cairo_save(cr);
        cairo_translate(cr, ox + 14, (T + B) / 2);
        cairo_rotate(cr, -PI / 2);
        text_at(cr, p->ylabel, 0, 0, 0.5, 0.5);
        cairo_restore(cr);
    }
    if (p->title) {
        cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
        cairo_set_font_size(cr, 13);
        text_at(cr, p->title, (L + R) / 2, T - 10, 0.5, 1.0);
        cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    }
    if (!legend_inside) return;
    /* legend: inside the axes, in the corner that covers the fewest points */
    cairo_set_font_size(cr, 11);
    double lw = 0;
    int nl = 0;
    for (int s = 0; s < p->n_series; s++) {
        if (!p->series[s].label) continue;
        cairo_text_extents_t te;
        cairo_text_extents(cr, p->series[s].label, &te);
        lw = fmax(lw, te.x_advance);
        nl++;
    }
    if (nl) {
        double bw = lw + 38, bh = nl * 16 + 8, bx = R - bw - 6, by = T + 6;
        int fewest = -1;
        for (int corner = 0; corner < 4; corner++) { /* TR, TL, BR, BL */
            double cx = corner % 2 ? L + 6 : R - bw - 6, cy = corner < 2 ? T + 6 : B - bh - 6;
            int covered = 0;
            for (int s = 0; s < p->n_series; s++)
                for (int i = 0; i < p->series[s].n; i++) {
                    double x = series_x(&p->series[s], i), y = p->series[s].y[i];
                    if (!isfinite(x) || !isfinite(y)) continue;
                    double qx = PX(x), qy = PY(y);
                    covered += qx >= cx - 4 && qx <= cx + bw + 4 && qy >= cy - 4 && qy <= cy + bh + 4;
                }
            if (fewest < 0 || covered < fewest) {
                fewest = covered;
                bx = cx;
                by = cy;
            }
        }
        cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
        cairo_rectangle(cr, bx, by, bw, bh);
        cairo_fill_preserve(cr);
        set_rgb(cr, 0xbbbbbb);
        cairo_set_line_width(cr, 1);
        cairo_stroke(cr);
        int k = 0;
        for (int s = 0; s < p->n_series; s++) {
            if (!p->series[s].label) continue;
            double ly = by + 12 + 16 * k++;
            set_rgb(cr, PALETTE[s % 10]);
            cairo_set_line_width(cr, 2);
            cairo_move_to(cr, bx + 6, ly), cairo_line_to(cr, bx + 26, ly), cairo_stroke(cr);
            set_rgb(cr, 0x000000);
            text_at(cr, p->series[s].label, bx + 32, ly, 0.0, 0.5);
        }
    }
#undef PX
#undef PY
}

typedef struct PanelsDraw {
    const PlotPanel *panels;
    int n, cols;
    int legend_below; /* one legend for all, in a strip under the grid */
} PanelsDraw;

static void draw_panels(cairo_t *cr, const void *ctx) {
    const PanelsDraw *pd = ctx;
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    for (int i = 0; i < pd->n; i++)
        draw_panel(cr, &pd->panels[i], (i % pd->cols) * PLOT_PANEL_W,
                   (i / pd->cols) * PLOT_PANEL_H, !pd->legend_below);
    if (!pd->legend_below) return;
    int rows = (pd->n + pd->cols - 1) / pd->cols;
    /* the shared legend, in its own strip */
    const PlotPanel *p = &pd->panels[0];
    double x = 16, y = rows * PLOT_PANEL_H + PLOT_LEGEND_H / 2.0;
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 12);
    for (int k = 0; k < p->n_series + p->n_bands; k++) {
        const char *label = k < p->n_series ? p->series[k].label : p->bands[k - p->n_series].label;
        if (!label) continue;
        set_rgb(cr, PALETTE[k % 10]);
        if (k < p->n_series) {
            cairo_set_line_width(cr, 2);
            cairo_move_to(cr, x, y), cairo_line_to(cr, x + 24, y), cairo_stroke(cr);
            cairo_arc(cr, x + 12, y, 3, 0, 2 * PI);
            cairo_fill(cr);
        } else {
            uint32_t col = PALETTE[k % 10];
            cairo_set_source_rgba(cr, ((col >> 16) & 255) / 255.0, ((col >> 8) & 255) / 255.0,
                                  (col & 255) / 255.0, 0.18);
            cairo_rectangle(cr, x, y - 7, 24, 14);
            cairo_fill(cr);
            set_rgb(cr, col);
            double dash[] = {6, 4};
            cairo_set_dash(cr, dash, 2, 0);
            cairo_set_line_width(cr, 1.5);
            cairo_move_to(cr, x, y), cairo_line_to(cr, x + 24, y), cairo_stroke(cr);
            cairo_set_dash(cr, NULL, 0, 0);
        }
        set_rgb(cr, 0x000000);
        text_at(cr, label, x + 30, y, 0.0, 0.5);
        cairo_text_extents_t te;
        cairo_text_extents(cr, label, &te);
        x += 30 + te.x_advance + 24;
    }
}

/* The image grid's SVG twin: its pixels, enlarged no further (nearest). */
static void paint_surface(cairo_t *cr, const void *ctx) {
    cairo_set_source_surface(cr, (cairo_surface_t *)ctx, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_paint(cr);
}

int plot_panels_png(const char *path, const PlotPanel *panels, int n_panels, Err *e) {
    if (n_panels < 1 || n_panels > 16)
        return err_set(e, "%s: %d panels (need 1..16)", path, n_panels);
    for (int i = 0; i < n_panels; i++) {
        if (panels[i].n_series < 0 || (panels[i].n_series && !panels[i].series))
            return err_set(e, "%s: panel %d has a bad series list", path, i);
        for (int s = 0; s < panels[i].n_series; s++)
            if (panels[i].series[s].n < 0 || (panels[i].series[s].n && !panels[i].series[s].y))
                return err_set(e, "%s: panel %d series %d has no data", path, i, s);
        if (panels[i].n_xticks > 0 && !panels[i].xtick_labels)
            return err_set(e, "%s: panel %d has n_xticks without labels", path, i);
    }
    cairo_surface_t *s =
        cairo_image_surface_create(CAIRO_FORMAT_RGB24, n_panels * PLOT_PANEL_W, PLOT_PANEL_H);
    cairo_t *cr = cairo_create(s);
    PanelsDraw pd = {panels, n_panels, n_panels, 0};
    draw_panels(cr, &pd);
    int rc = save_png(s, cr, path, e);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    if (rc == 0) rc = save_svg(path, n_panels * PLOT_PANEL_W, PLOT_PANEL_H, draw_panels, &pd, e);
    return rc;
}

int plot_grid_png(const char *path, const PlotPanel *panels, int n_panels, int cols, Err *e) {
    if (n_panels < 1 || n_panels > 16 || cols < 1)
        return err_set(e, "%s: %d panels in %d columns (need 1..16, >= 1)", path, n_panels, cols);
    for (int i = 0; i < n_panels; i++)
        if (panels[i].n_series < 0 || (panels[i].n_series && !panels[i].series) ||
            panels[i].n_bands < 0 || (panels[i].n_bands && !panels[i].bands) ||
            (panels[i].n_xticks > 0 && !panels[i].xtick_labels))
            return err_set(e, "%s: panel %d is malformed", path, i);
    if (cols > n_panels) cols = n_panels;
    int rows = (n_panels + cols - 1) / cols;
    int W = cols * PLOT_PANEL_W, H = rows * PLOT_PANEL_H + PLOT_LEGEND_H;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(s);
    PanelsDraw pd = {panels, n_panels, cols, 1};
    draw_panels(cr, &pd);
    int rc = save_png(s, cr, path, e);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    if (rc == 0) rc = save_svg(path, W, H, draw_panels, &pd, e);
    return rc;
}

int plot_image_grid_png(const char *path, const uint8_t *images, int n, int cols, int h, int w,
                        const char *const *captions, int scale, Err *e) {
    if (n < 1 || cols < 1 || h < 1 || w < 1 || scale < 1 || !images)
        return err_set(e, "%s: bad image grid (n %d, cols %d, %dx%d, scale %d)", path, n, cols, h,
                       w, scale);
    if (cols > n) cols = n;
    int rows = (n + cols - 1) / cols;
    int cap = captions ? PLOT_GRID_CAPTION : 0;
    long cw = (long)w * scale, ch = (long)h * scale;
    long W = cols * (cw + PLOT_GRID_PAD) + PLOT_GRID_PAD;
    long H = rows * (ch + cap + PLOT_GRID_PAD) + PLOT_GRID_PAD;
    if (W > 32767 || H > 32767)
        return err_set(e, "%s: image grid of %ldx%ld pixels is too large", path, W, H);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)W, (int)H);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_surface_flush(s);
    if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS) {
        /* Pixels straight into the surface: nearest enlargement, exact colours. */
        uint8_t *data = cairo_image_surface_get_data(s);
        int stride = cairo_image_surface_get_stride(s);
        for (int k = 0; k < n; k++) {
            long x0 = PLOT_GRID_PAD + (k % cols) * (cw + PLOT_GRID_PAD);
            long y0 = PLOT_GRID_PAD + (k / cols) * (ch + cap + PLOT_GRID_PAD);
            const uint8_t *img = images + (size_t)k * h * w * 3;
            for (long y = 0; y < ch; y++) {
                uint32_t *row = (uint32_t *)(data + (size_t)(y0 + y) * stride) + x0;
                const uint8_t *src = img + (size_t)(y / scale) * w * 3;
                for (long x = 0; x < cw; x++) {
                    const uint8_t *px = src + (x / scale) * 3;
                    row[x] = (uint32_t)px[0] << 16 | (uint32_t)px[1] << 8 | px[2];
                }
            }
        }
        cairo_surface_mark_dirty(s);
    }
    if (captions) {
        cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
        set_rgb(cr, 0x000000);
        for (int k = 0; k < n; k++) {
            if (!captions[k]) continue;
            double size = 12;
            cairo_set_font_size(cr, size);
            cairo_text_extents_t te;
            cairo_text_extents(cr, captions[k], &te);
            if (te.width > cw) cairo_set_font_size(cr, fmax(6, size * cw / te.width));
            double x0 = PLOT_GRID_PAD + (k % cols) * (cw + PLOT_GRID_PAD);
            double y0 = PLOT_GRID_PAD + (k / cols) * (ch + cap + PLOT_GRID_PAD) + ch;
            text_at(cr, captions[k], x0 + cw / 2.0, y0 + cap / 2.0, 0.5, 0.5);
        }
    }
    int rc = save_png(s, cr, path, e);
    cairo_destroy(cr);
    if (rc == 0) rc = save_svg(path, (int)W, (int)H, paint_surface, s, e);
    cairo_surface_destroy(s);
    return rc;
}
