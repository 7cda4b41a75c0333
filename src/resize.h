/* resize.h - bringing CIFAR-10's 32x32 images to a network's own input:
 * bilinear resizing (PyTorch's F.interpolate(mode='bilinear',
 * align_corners=False, antialias=False), so a model trained in PyTorch at
 * 224x224 sees what it would there) and a per-channel normalisation
 * (ImageNet's mean and standard deviation for torchvision's weights).
 * Images are HWC floats. */
#ifndef AUGPROBE_RESIZE_H
#define AUGPROBE_RESIZE_H

/* ImageNet's per-channel mean and sd (torchvision's transforms.Normalize). */
extern const float RESIZE_IMAGENET_MEAN[3], RESIZE_IMAGENET_STD[3];

/* dst[oh][ow][c] from src[h][w][c]: output pixel (y, x) samples the input at
 * ((y + 0.5) h / oh - 0.5, (x + 0.5) w / ow - 0.5), clamped below at 0, by
 * bilinear weights between the two neighbours (the last row/column repeats). */
void resize_bilinear(const float *src, int h, int w, int c, float *dst, int oh, int ow);

/* x[n][3] <- (x - mean) / std per channel. */
void resize_normalize(float *x, long n_pixels, const float mean[3], const float std[3]);

#endif
