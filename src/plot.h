/* plot.h - PNG figures drawn with cairo: line charts in panels (training
 * curves, accuracy against depth) and image grids (augmentation preview).
 * Every figure x.png gets an SVG twin x.svg beside it, the same drawing on
 * cairo's SVG surface (vector for the charts; the grid's pixels for image
 * grids): report.html inlines them. A path ending in .svg gets the SVG
 * alone. Files are written atomically (temp file + rename). */
#ifndef AUGPROBE_PLOT_H
#define AUGPROBE_PLOT_H

#include <stdint.h>

#include "common.h"

typedef struct PlotSeries {
    const char *label;
    const double *x, *y; /* n points; NaN y values are gaps; x NULL: 0..n-1 */
    int n;
    const double *ylo, *yhi; /* optional: an interval bar at each point */
} PlotSeries;

/* A horizontal band across a panel (a floor): its interval shaded, its
 * value dashed. Band k is drawn in palette colour n_series + k. */
typedef struct PlotBand {
    const char *label;
    double value, lo, hi;
} PlotBand;

typedef struct PlotPanel {
    const char *title, *xlabel, *ylabel;
    const PlotSeries *series;
    int n_series;
    const char *const *xtick_labels; /* optional: category names at x = 0..n-1 */
    int n_xticks;
    const PlotBand *bands;           /* optional */
    int n_bands;
    double ymin, ymax;               /* a fixed y range when ymin < ymax */
} PlotPanel;

/* Layout, in pixels (tests and callers may rely on it). */
enum {
    PLOT_PANEL_W = 480, /* each line panel */
    PLOT_PANEL_H = 360,
    PLOT_GRID_PAD = 8,      /* image grid: around and between cells */
    PLOT_GRID_CAPTION = 20, /* image grid: caption band under each image */
};

/* Panels side by side, each with axes, ticks, labels and a legend: a PNG of
 * n_panels * PLOT_PANEL_W x PLOT_PANEL_H. Series colours: the tab10 palette
 * in order (first 0x1f77b4). With xtick_labels, x is the category index. */
int plot_panels_png(const char *path, const PlotPanel *panels, int n_panels, Err *e);

/* Panels in a grid of `cols` columns, and one legend for all of them (the
 * first panel's series and bands) in a strip under the grid, where it can
 * cover no data: cols * PLOT_PANEL_W wide, rows * PLOT_PANEL_H +
 * PLOT_LEGEND_H high. With several series at a category x, the series are
 * spread a little sideways so their interval bars do not hide each other. */
enum { PLOT_LEGEND_H = 40 };
int plot_grid_png(const char *path, const PlotPanel *panels, int n_panels, int cols, Err *e);

/* n RGB uint8 HWC images of h x w in a grid of `cols` columns, each
 * enlarged `scale` times (nearest), with a caption under each (captions may
 * be NULL: no caption band). Image k (row k / cols, column k % cols) has its
 * top-left corner at x = PAD + col * (w*scale + PAD),
 * y = PAD + row * (h*scale + CAP + PAD), CAP = PLOT_GRID_CAPTION or 0; the
 * PNG is cols * (w*scale + PAD) + PAD wide and rows * (h*scale + CAP + PAD)
 * + PAD high, white behind. */
int plot_image_grid_png(const char *path, const uint8_t *images, int n, int cols, int h, int w,
                        const char *const *captions, int scale, Err *e);

/* The SVG twin's path: ".png" replaced by ".svg" (else ".svg" appended; a
 * path ending in ".svg" is its own twin, and then only the SVG is written).
 * A new string. */
char *plot_svg_path(const char *png_path);

#endif
