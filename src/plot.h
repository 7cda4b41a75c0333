/* plot.h - PNG figures drawn with cairo: line charts in panels (training
 * curves, accuracy against depth) and image grids (augmentation preview).
 * Files are written atomically (temp file + rename). */
#ifndef AUGPROBE_PLOT_H
#define AUGPROBE_PLOT_H

#include <stdint.h>

#include "common.h"

typedef struct PlotSeries {
    const char *label;
    const double *x, *y; /* n points; NaN y values are gaps */
    int n;
} PlotSeries;

typedef struct PlotPanel {
    const char *title, *xlabel, *ylabel;
    const PlotSeries *series;
    int n_series;
    const char *const *xtick_labels; /* optional: category names at x = 0..n-1 */
    int n_xticks;
} PlotPanel;

/* Panels side by side, each with axes, ticks, labels and a legend. */
int plot_panels_png(const char *path, const PlotPanel *panels, int n_panels, Err *e);

/* n RGB uint8 HWC images of h x w in a grid of `cols` columns, each
 * enlarged `scale` times (nearest), with a caption under each (may be NULL). */
int plot_image_grid_png(const char *path, const uint8_t *images, int n, int cols, int h, int w,
                        const char *const *captions, int scale, Err *e);

#endif
