/* test_report_html.c - report.md -> report.html: the Markdown the study
 * writes (headings, tables, lists, code, emphasis, figures) becomes one
 * self-contained page with the figures' SVG twins inline (ids unique in the
 * page), no scripts and nothing fetched; errors name the file. Then a tiny
 * study's report.html, copied alone into an empty directory, is rendered by
 * a real headless browser (chromium; skipped with the reason where absent),
 * which must draw every figure and log no error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/common.h"
#include "../src/plot.h"
#include "../src/report_html.h"
#include "test.h"

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* Every id="..." in html occurs once. Returns the number of duplicates. */
static int duplicate_ids(const char *html) {
    int dup = 0, n = 0, cap = 1024;
    char **ids = malloc(sizeof(char *) * (size_t)cap);
    for (const char *p = html; (p = strstr(p, " id=\"")); p += 5) {
        const char *q = strchr(p + 5, '"');
        if (!q) break;
        size_t len = (size_t)(q - p - 5);
        for (int i = 0; i < n; i++)
            if (strlen(ids[i]) == len && !memcmp(ids[i], p + 5, len)) {
                dup++;
                break;
            }
        if (n == cap) ids = realloc(ids, sizeof(char *) * (size_t)(cap *= 2));
        ids[n] = malloc(len + 1);
        memcpy(ids[n], p + 5, len);
        ids[n++][len] = 0;
    }
    for (int i = 0; i < n; i++) free(ids[i]);
    free(ids);
    return dup;
}

/* Two line charts (PNG + SVG twin each) and a PNG without a twin in dir. */
static int make_figures(const char *dir) {
    double y1[3] = {0.5, 0.7, 0.9}, y2[3] = {0.9, 0.6, 0.5};
    PlotSeries s[2] = {{.label = "zoom", .y = y1, .n = 3}, {.label = "hue", .y = y2, .n = 3}};
    PlotPanel p = {.title = "network: aug", .xlabel = "tap", .ylabel = "accuracy", .series = s,
                   .n_series = 2};
    PlotPanel q = {.title = "network: random", .xlabel = "tap", .ylabel = "accuracy",
                   .series = s, .n_series = 1};
    char a[1024], b[1024], c[1024], svg[1024];
    snprintf(a, sizeof a, "%s/depth.png", dir);
    snprintf(b, sizeof b, "%s/sub/curves.png", dir);
    snprintf(c, sizeof c, "%s/raster.png", dir);
    snprintf(svg, sizeof svg, "%s/raster.svg", dir);
    Err e = {{0}};
    uint8_t img[2 * 2 * 3] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
    char sub[1024];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    if (mkdir_p(sub, &e) || plot_panels_png(a, &p, 1, &e) || plot_panels_png(b, &q, 1, &e) ||
        plot_image_grid_png(c, img, 1, 1, 2, 2, NULL, 4, &e) || remove(svg)) {
        test_fail(__FILE__, __LINE__, "figures: %s", e.msg);
        return -1;
    }
    return 0;
}

static const char MD[] =
    "# Do CNNs encode *data* augmentations?\n"
    "\n"
    "## Setup\n"
    "\n"
    "- Data: `../shared/data` (unverified)\n"
    "- Taps: block1_pool, `flatten`; a & b < c\n"
    "  continued on the next line\n"
    "\n"
    "Plain **bold** and *italic* text, 2 * 3, a [link](https://example.org/x?a=1&b=2).\n"
    "\n"
    "```\n"
    "where a has more aug :  1  /  3 <x>\n"
    "```\n"
    "\n"
    "| network | augmentation | flatten (2048) |\n"
    "|---|:---:|---:|\n"
    "| aug | zoom | 0.714 ± 0.010 |\n"
    "| random | hue \\| x | 0.429 |\n"
    "\n"
    "![accuracy against depth](depth.png)\n"
    "\n"
    "Training curves:\n"
    "\n"
    "- `aug`, seed 1: ![training curves aug seed 1](sub/curves.png)\n"
    "- raster: ![a raster](raster.png)\n"
    "- gone: ![gone](nope.png)\n"
    "\n"
    "1. first\n"
    "2. second\n"
    "\n"
    "> a quote\n"
    "\n"
    "---\n";

TEST(report_html_converts_the_markdown_and_inlines_the_figures) {
    const char *dir = test_tmpdir();
    REQUIRE(make_figures(dir) == 0);
    char *html = NULL;
    Err e = {{0}};
    /* plot.c's SVG twin: the chart's size in px, drawn as vector paths */
    char svg[1024];
    snprintf(svg, sizeof svg, "%s/depth.svg", dir);
    uint8_t *twin = NULL;
    size_t len = 0;
    REQUIRE(file_read_all(svg, &twin, &len, &e) == 0);
    CHECK_STR_CONTAINS((char *)twin, "width=\"480px\" height=\"360px\" viewBox=\"0 0 480 360\"");
    CHECK(count((char *)twin, "<path") > 20);
    free(twin);
    /* a path ending in .svg: the SVG alone */
    double y[2] = {1, 2};
    PlotSeries s1 = {.label = "a", .y = y, .n = 2};
    PlotPanel p1 = {.title = "t", .xlabel = "x", .ylabel = "y", .series = &s1, .n_series = 1};
    snprintf(svg, sizeof svg, "%s/only.svg", dir);
    REQUIRE(plot_panels_png(svg, &p1, 1, &e) == 0);
    REQUIRE(file_read_all(svg, &twin, &len, &e) == 0);
    CHECK(!strncmp((char *)twin, "<?xml", 5) && strstr((char *)twin, "<svg"));
    free(twin);
    snprintf(svg, sizeof svg, "%s/only.png", dir);
    CHECK(!path_exists(svg));
    snprintf(svg, sizeof svg, "%s/only.svg.svg", dir);
    CHECK(!path_exists(svg));
    REQUIRE(report_html_render(MD, dir, &html, &e) == 0);
    CHECK_STR_CONTAINS(html, "<!DOCTYPE html>");
    CHECK_STR_CONTAINS(html, "<meta charset=\"utf-8\">");
    CHECK_STR_CONTAINS(html, "<title>Do CNNs encode data augmentations?</title>");
    CHECK_STR_CONTAINS(html, "<h1 id=\"do-cnns-encode-data-augmentations\">Do CNNs encode "
                             "<em>data</em> augmentations?</h1>");
    CHECK_STR_CONTAINS(html, "<h2 id=\"setup\">Setup</h2>");
    CHECK_STR_CONTAINS(html, "<li>Data: <code>../shared/data</code> (unverified)</li>");
    CHECK_STR_CONTAINS(html, "<li>Taps: block1_pool, <code>flatten</code>; a &amp; b &lt; c\n"
                             "continued on the next line</li>");
    CHECK_STR_CONTAINS(html, "<p>Plain <strong>bold</strong> and <em>italic</em> text, 2 * 3, a "
                             "<a href=\"https://example.org/x?a=1&amp;b=2\">link</a>.</p>");
    CHECK_STR_CONTAINS(html, "<pre><code>where a has more aug :  1  /  3 &lt;x&gt;\n</code></pre>");
    CHECK_STR_CONTAINS(html, "<tr><th>network</th><th style=\"text-align:center\">augmentation"
                             "</th><th style=\"text-align:right\">flatten (2048)</th></tr>");
    CHECK_STR_CONTAINS(html, "<tr><td>aug</td><td style=\"text-align:center\">zoom</td>"
                             "<td style=\"text-align:right\">0.714 ± 0.010</td></tr>");
    CHECK_STR_CONTAINS(html, "<td style=\"text-align:center\">hue | x</td>");
    CHECK_STR_CONTAINS(html, "<ol>\n<li>first</li>\n<li>second</li>\n</ol>");
    CHECK_STR_CONTAINS(html, "<blockquote>\n<p>a quote\n</p>\n</blockquote>");
    CHECK_STR_CONTAINS(html, "<hr>");
    /* figures: the two SVG twins inline, the raster as a data: URI, the
     * missing one named; a paragraph holding a figure is a div */
    CHECK_INT_EQ(count(html, "<figure>"), 4);
    CHECK_INT_EQ(count(html, "<svg class=\"figure\" role=\"img\""), 2);
    CHECK_STR_CONTAINS(html, "aria-label=\"accuracy against depth\"");
    CHECK_STR_CONTAINS(html, "<div class=\"para\"><figure><svg class=\"figure\"");
    CHECK_STR_CONTAINS(html, "<img alt=\"a raster\" src=\"data:image/png;base64,iVBORw0KGgo");
    CHECK_STR_CONTAINS(html, "<span class=\"missing\">[missing figure: nope.png]</span>");
    CHECK_STR_CONTAINS(html, "<figcaption>training curves aug seed 1</figcaption>");
    CHECK(!strstr(html, "<?xml"));
    /* the SVGs' glyphs are drawn (<use> of per-figure <symbol>s), their ids
     * prefixed per figure and unique in the page */
    CHECK(count(html, "xlink:href=\"#f1-glyph") > 10);
    CHECK(count(html, "xlink:href=\"#f2-glyph") > 10);
    CHECK_INT_EQ(count(html, "href=\"#glyph"), 0);
    CHECK_INT_EQ(duplicate_ids(html), 0);
    /* nothing runs, nothing is fetched */
    CHECK_INT_EQ(count(html, "<script"), 0);
    CHECK_INT_EQ(count(html, "src=\"http"), 0);
    CHECK_INT_EQ(count(html, "<link"), 0);
    free(html);
}

TEST(report_html_errors_name_the_file) {
    const char *dir = test_tmpdir();
    char md[1024], html[1024];
    Err e = {{0}};
    snprintf(md, sizeof md, "%s/report.md", dir);
    snprintf(html, sizeof html, "%s/report.html", dir);
    CHECK_INT_EQ(report_html_write(md, html, &e), -1);
    CHECK_STR_CONTAINS(e.msg, "report.md: cannot open");
    REQUIRE(file_write_atomic(md, "# t\n", 4, &e) == 0);
    snprintf(html, sizeof html, "%s/no/report.html", dir);
    CHECK_INT_EQ(report_html_write(md, html, &e), -1);
    CHECK_STR_CONTAINS(e.msg, "no/report.html");
    /* an existing report.html is replaced whole */
    snprintf(html, sizeof html, "%s/report.html", dir);
    REQUIRE(file_write_atomic(html, "old", 3, &e) == 0);
    REQUIRE(report_html_dir(dir, &e) == 0);
    uint8_t *got = NULL;
    size_t len = 0;
    REQUIRE(file_read_all(html, &got, &len, &e) == 0);
    CHECK_STR_CONTAINS((char *)got, "<h1 id=\"t\">t</h1>");
    CHECK_STR_CONTAINS((char *)got, "</html>\n");
    free(got);
}

/* The headless browser: $AUGPROBE_CHROMIUM, else chromium on PATH. */
static const char *browser(void) {
    static char path[512];
    const char *env = getenv("AUGPROBE_CHROMIUM");
    if (env) return *env && access(env, X_OK) == 0 ? env : NULL;
    static const char *const names[] = {"chromium", "chromium-browser", "google-chrome"};
    char out[512];
    for (int i = 0; i < 3; i++) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "command -v %s", names[i]);
        if (test_run(cmd, out, sizeof out) == 0 && out[0] == '/') {
            out[strcspn(out, "\n")] = 0;
            snprintf(path, sizeof path, "%s", out);
            return path;
        }
    }
    return NULL;
}

/* Put first in <head>: records errors (scripts, resources, console.error)
 * and, once the page has loaded, writes one line into the page: how many
 * figures, how many drawn (an SVG with a non-empty box, every <use> resolved
 * inside it; an <img> decoded), duplicate ids, errors. */
static const char CHECK_SCRIPT[] =
    "<script>(function(){var errs=[];"
    "window.addEventListener('error',function(e){var t=e.target;errs.push('error '+(e.message||"
    "(t&&(t.src||t.href||t.tagName))||'?'));},true);"
    "var ce=console.error;console.error=function(){errs.push('console.error '+"
    "Array.prototype.join.call(arguments,' '));ce.apply(console,arguments);};"
    "window.addEventListener('load',function(){var figs=document.querySelectorAll('figure'),"
    "drawn=0,bad=[];for(var i=0;i<figs.length;i++){var f=figs[i],s=f.querySelector('svg'),"
    "im=f.querySelector('img'),ok=false;if(s){var r=s.getBoundingClientRect(),b=s.getBBox();"
    "ok=r.width>50&&r.height>50&&b.width>0&&b.height>0&&s.querySelectorAll('path,use,image')"
    ".length>0;var us=s.querySelectorAll('use');for(var k=0;k<us.length;k++){var h=us[k]"
    ".getAttribute('xlink:href')||us[k].getAttribute('href');var t=h&&document.getElementById("
    "h.slice(1));if(!t||!s.contains(t))ok=false;}}else if(im){ok=im.complete&&im.naturalWidth>0;}"
    "if(ok)drawn++;else bad.push(i);}var ids={},dup=0,all=document.querySelectorAll('[id]');"
    "for(var j=0;j<all.length;j++){if(ids[all[j].id])dup++;ids[all[j].id]=1;}"
    "var o=document.createElement('pre');o.textContent='AUGPROBE-'+'CHECK figures '+figs.length+"
    "' drawn '+drawn+' bad ['+bad.join(',')+'] dupids '+dup+' errors '+errs.length+' END '+"
    "errs.join(' | ');document.body.appendChild(o);});})();</script>";

TEST(report_html_of_a_study_renders_in_a_headless_browser) {
    if (!test_data_dir()) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    const char *chrome = browser();
    if (!chrome)
        SKIP("no headless browser: install Debian's chromium (apt-get install chromium) "
             "or set AUGPROBE_CHROMIUM");
    const char *dir = test_tmpdir();
    static char out[1 << 16];
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "%s study --data %s --out %s/study --quiet --threads 2 --train-limit 64 --epochs 1 "
             "--eval-limit 16 --probe-limit 8 --passes 1 --probe-epochs 1 --networks aug,random "
             "--families zoom,hue --taps block1_pool,flatten",
             test_bin(), test_data_dir(), dir);
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    char path[1024];
    snprintf(path, sizeof path, "%s/study/report.md", dir);
    uint8_t *md = NULL, *html = NULL;
    size_t len = 0;
    Err e = {{0}};
    REQUIRE(file_read_all(path, &md, &len, &e) == 0);
    int want_figs = count((char *)md, "![");
    free(md);
    CHECK(want_figs >= 3); /* preview, depth, the aug network's curves */
    snprintf(path, sizeof path, "%s/study/report.html", dir);
    REQUIRE(file_read_all(path, &html, &len, &e) == 0);
    CHECK_INT_EQ(count((char *)html, "<figure>"), want_figs);
    CHECK_INT_EQ(count((char *)html, "<svg class=\"figure\""), want_figs);
    CHECK_INT_EQ(count((char *)html, "<script"), 0);
    /* the page alone, in an empty directory, with the check script */
    char *head = strstr((char *)html, "<head>");
    REQUIRE(head);
    snprintf(path, sizeof path, "%s/alone", dir);
    REQUIRE(mkdir_p(path, &e) == 0);
    snprintf(path, sizeof path, "%s/alone/check.html", dir);
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    size_t pre = (size_t)(head - (char *)html) + 6;
    fwrite(html, 1, pre, f);
    fputs(CHECK_SCRIPT, f);
    fwrite(html + pre, 1, len - pre, f);
    REQUIRE(fclose(f) == 0);
    free(html);
    snprintf(cmd, sizeof cmd,
             "cd %s/alone && HOME=%s/alone timeout 120 '%s' --headless --no-sandbox --disable-gpu "
             "--no-first-run --disable-dev-shm-usage --user-data-dir=%s/alone/profile --enable-logging=stderr --v=0 "
             "--virtual-time-budget=10000 --window-size=1100,900 --dump-dom "
             "file://%s 2>%s/alone/stderr.txt | grep -o 'AUGPROBE-CHECK.*END.*'",
             dir, dir, chrome, dir, path, dir);
    int rc = test_run(cmd, out, sizeof out);
    if (rc != 0) {
        char log[4096];
        snprintf(cmd, sizeof cmd, "tail -c 3000 %s/alone/stderr.txt", dir);
        test_run(cmd, log, sizeof log);
        test_fail(__FILE__, __LINE__, "the browser gave no result (%d): %s", rc, log);
        return;
    }
    char want[256];
    snprintf(want, sizeof want, "AUGPROBE-CHECK figures %d drawn %d bad [] dupids 0 errors 0 END",
             want_figs, want_figs);
    CHECK_STR_CONTAINS(out, want);
    /* and nothing on the browser's console log */
    snprintf(cmd, sizeof cmd, "grep -E 'CONSOLE|Uncaught' %s/alone/stderr.txt", dir);
    CHECK(test_run(cmd, out, sizeof out) != 0);
}
