/* report_html.h - report.md -> report.html: one self-contained page to open
 * in a browser, offline, and to print. No scripts, nothing fetched: the
 * figures are inlined, each `![alt](x.png)` as the SVG twin x.svg that
 * plot.c writes beside every PNG (its ids prefixed per figure so several
 * SVGs share one document), else as the image itself in a data: URI.
 *
 * It converts the Markdown the study writes, whatever the report says:
 * ATX headings (#..######), paragraphs, bullet and numbered lists (one
 * level; indented lines continue an item), pipe tables (header row, then
 * |---| with optional :--- / ---: / :---: alignment), fenced code blocks,
 * block quotes, horizontal rules (---), and inline `code`, **bold**,
 * *italic*, [links](url), images and backslash escapes. Anything else is
 * shown as text (HTML-escaped). */
#ifndef AUGPROBE_REPORT_HTML_H
#define AUGPROBE_REPORT_HTML_H

#include "common.h"

/* Converts md_path to html_path (atomically). Figures are looked up
 * relative to md_path's directory. A missing figure is shown as a visible
 * "[missing figure: x.png]" and is not an error; a missing or unreadable
 * report.md, or a failed write, is (one line in e). */
int report_html_write(const char *md_path, const char *html_path, Err *e);

/* dir/report.md -> dir/report.html. */
int report_html_dir(const char *dir, Err *e);

/* The same conversion into a new NUL-terminated string (*out; free it).
 * base_dir: where figures are looked up. */
int report_html_render(const char *md, const char *base_dir, char **out, Err *e);

#endif
