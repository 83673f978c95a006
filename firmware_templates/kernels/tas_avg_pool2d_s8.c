/* int8 average pooling, TFLite reference semantics: the mean over the window clipped to the
 * image, rounded half away from zero. */
#include "tas_kernels.h"
#include "tas_pool2d_common.h"
#include "tas_requantize.h"

TAS_KERNEL void tas_avg_pool2d_s8(const tas_pool2d_params *p, const int8_t *input, int8_t *output)
{
    for (int32_t out_y = 0; out_y < p->output_height; ++out_y) {
        const int32_t in_y_origin = out_y * p->stride_height - p->pad_height;
        int32_t y_start, y_end;
        tas_pool_window(in_y_origin, p->filter_height, p->input_height, &y_start, &y_end);
        for (int32_t out_x = 0; out_x < p->output_width; ++out_x) {
            const int32_t in_x_origin = out_x * p->stride_width - p->pad_width;
            int32_t x_start, x_end;
            tas_pool_window(in_x_origin, p->filter_width, p->input_width, &x_start, &x_end);
            const int32_t count = (y_end - y_start) * (x_end - x_start);
            for (int32_t c = 0; c < p->depth; ++c) {
                int32_t sum = 0;
                for (int32_t filter_y = y_start; filter_y < y_end; ++filter_y) {
                    for (int32_t filter_x = x_start; filter_x < x_end; ++filter_x) {
                        const int32_t in_y = in_y_origin + filter_y;
                        const int32_t in_x = in_x_origin + filter_x;
                        sum += input[(in_y * p->input_width + in_x) * p->depth + c];
                    }
                }
                const int32_t mean = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                output[(out_y * p->output_width + out_x) * p->depth + c] = (int8_t)tas_clamp(mean, p->act_min, p->act_max);
            }
        }
    }
}
