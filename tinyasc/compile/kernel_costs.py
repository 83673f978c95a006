"""Estimated instructions of the conv kernels, so kernels.py can run the cheapest that applies.

A 1-D conv in 2-D form (raw audio: a filter as wide as the input) can run three DSP kernels:
tas_conv2d_rows_s8_dsp reads each window in place one output row at a time, the first-layer kernel
(1-4 input channels) reads windows in place too but in pixel pairs against int16 weights, and
im2col gathers a pixel pair's windows widened to int16. Which is cheapest depends on the shape,
so each kernel record carries one of these estimates (ops/conv.py: Kernel.cost) and the cheapest
runs. Each is linear in a few counts of the prepared conv (duck-typed Conv2DParams):

    macs         MACs as the kernel computes them: windows padded to a word, and for the
                 first-layer kernel the channels to a pair (its weight layout)
    window_reads output pixels × padded window bytes: widened (first-layer kernel, in place for
                 1-D windows), or gathered and widened (im2col), per group
    outputs      output values (requantization, clamp, store)

Every term is per output pixel, so a conv and one block of its rows (fusion.py) get the same
kernel. The constants are fitted to per-layer QEMU counts (-icount, `tinyasc emulate --profile`,
op at a time) of single-conv models on the Cortex-M4 twin (nrf52840 → mps2-an386; 1-D: T 150-4000,
k 3-64, stride 1-4, 1-32 → 7-64 channels; 2-D: KWS's and ResNet-8's first layers) and the M3
twin for the portable kernels. They rank kernels; real counts come from QEMU.
"""

from __future__ import annotations

# Cortex-M4 twin, op at a time (fits within -18 %..+5 % per layer, most within 5 %):
# (per MAC, per output value): tas_conv2d_rows_s8_dsp, 4 channels x 1 row per pass, one weight load
# per SMLAD and the full requantization per output. (Run fused with a max pool, the anchor's
# layers measured 1.9-2.4 per MAC.)
ROWS_DSP = (2.2, 34.0)
# tas_conv2d_rows_s8 on tas_mat_mult_s8.h (portable, 4 channels x 2 rows; Cortex-M3 twin, KWS DS-CNN
# pointwise layers: `benchmarks/layer_profile.py ds_cnn_kws --board cortex-m3`)
ROWS_PORTABLE = (2.35, 28.0)
# (per padded MAC, per window byte read in place, per window byte gathered, per output value):
# tas_conv2d_first_s8_dsp, 2 channels x 2 pixels per pass (4 LDRD + 8 SMLAD per 16 MACs), the
# padded MACs counting its channels in pairs.
FIRST_DSP = (0.82, 0.16, 1.93, 18.1)
# (per padded MAC, per window byte gathered and widened, per output value): tas_conv2d_im2col_s8_dsp.
IM2COL_DSP = (0.80, 4.7, 36.4)
# tas_conv2d_im2col_s8: the portable matrix product of tas_conv2d_rows_s8 (ROWS_PORTABLE) after
# gathering each window: per byte (Cortex-M3 twin, 5 1-D layers: 2.0-5.2 more than the rows kernel).
IM2COL_PORTABLE_GATHER = 3.0


def _pixels(p) -> int:
    return p.output_height * p.output_width


def _padded_window(p) -> int:
    return (p.filter_height * p.filter_width * p.filter_depth + 3) // 4 * 4


def windows_are_runs(p) -> bool:
    """Each window is one run of input bytes the first-layer kernel reads in place (1-D convs)."""
    return (p.filter_width == p.input_width and p.output_width == 1 and p.pad_width == 0
            and p.dilation_height == 1 and p.dilation_width == 1)


def rows_dsp(p) -> float:
    per_mac, per_output = ROWS_DSP
    return p.macs * per_mac + _pixels(p) * p.output_depth * per_output


def rows_portable(p) -> float:
    per_mac, per_output = ROWS_PORTABLE
    return p.macs * per_mac + _pixels(p) * p.output_depth * per_output


def first_dsp(p) -> float:
    per_mac, in_place, gathered, per_output = FIRST_DSP
    paired = p.output_depth + p.output_depth % 2
    reads = _pixels(p) * _padded_window(p)
    return (_pixels(p) * paired * _padded_window(p) * per_mac + reads * (in_place if windows_are_runs(p) else gathered)
            + _pixels(p) * p.output_depth * per_output)


def im2col_dsp(p) -> float:
    per_mac, per_byte, per_output = IM2COL_DSP
    return (_pixels(p) * p.output_depth * _padded_window(p) * per_mac + _pixels(p) * p.groups * _padded_window(p) * per_byte
            + _pixels(p) * p.output_depth * per_output)


def im2col_portable(p) -> float:
    return rows_portable(p) + _pixels(p) * p.groups * _padded_window(p) * IM2COL_PORTABLE_GATHER
