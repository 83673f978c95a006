"""WS_CONV, WSNet's weight-sampling convolution in int8: reference arithmetic and operation counts.

One int8 condensed filter Φ (L*, M*) with a single per-tensor scale stands for the sampled kernel
K[l, m, n] = Φ[n·s + l, m mod M*] (DESIGN §4). The reference here builds K explicitly and runs the
int8 convolution TFLite would run on it (int32 accumulation of w·(x − zero_point), bias, per-channel
requantization, clamp), so it is the oracle for the C kernels:
- direct: the ordinary conv kernel on the explicitly sampled int8 weights;
- integral image (`tas_ws_conv_integral_s8`): F' = channel pre-sum, P = F'·Φᵀ, I = diagonal cumulative
  sum of P, every output one subtraction. Exact in integer arithmetic (uint32 wrap-around included).
`op_counts` gives both costs per output step (DESIGN §4's R); `estimated_instructions` models what
the C kernels actually execute, and the compiler picks the cheaper kernel per layer by it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyasc.compile import quant


@dataclass(frozen=True)
class WSConvShape:
    input_length: int  # T
    input_channels: int  # M
    kernel_size: int  # L
    filters: int  # N (sampled filters: D·N for denser sampling; the 1×1 is a separate op)
    sampling_stride: int  # s
    channel_repeat: int  # C
    stride: int = 1  # convolution stride over time
    padding: str = "valid"

    @property
    def condensed_channels(self) -> int:
        return self.input_channels // self.channel_repeat

    @property
    def condensed_length(self) -> int:
        return self.kernel_size + (self.filters - 1) * self.sampling_stride

    @property
    def output_length(self) -> int:
        if self.padding == "same":
            return -(-self.input_length // self.stride)
        return (self.input_length - self.kernel_size) // self.stride + 1

    @property
    def pad_before(self) -> int:
        """TFLite SAME padding: the odd extra row goes after."""
        if self.padding == "valid":
            return 0
        total = max(0, (self.output_length - 1) * self.stride + self.kernel_size - self.input_length)
        return total // 2


def sampled_kernel(condensed: np.ndarray, shape: WSConvShape) -> np.ndarray:
    """K as OHWI int8 [N, L, 1, M], the layout of TFLite's CONV_2D filter."""
    rows = np.arange(shape.filters)[:, None] * shape.sampling_stride + np.arange(shape.kernel_size)[None, :]
    columns = np.arange(shape.input_channels) % shape.condensed_channels
    return condensed[rows][:, :, columns][:, :, None, :]


def reference_accumulators(x: np.ndarray, condensed: np.ndarray, shape: WSConvShape, input_zero_point: int) -> np.ndarray:
    """int32 [T', N]: Σ K·(x − zero_point) before bias, for int8 x [T, M] and int8 Φ."""
    kernel = sampled_kernel(condensed, shape)[:, :, 0, :].astype(np.int64)  # [N, L, M]
    shifted = x.astype(np.int64) - input_zero_point
    padded = np.zeros((shape.input_length + shape.kernel_size * 2 + shape.stride, shape.input_channels), np.int64)
    padded[shape.pad_before : shape.pad_before + shape.input_length] = shifted
    windows = np.stack([padded[t * shape.stride : t * shape.stride + shape.kernel_size] for t in range(shape.output_length)])
    return np.einsum("tlm,nlm->tn", windows, kernel)


def reference_output(x, condensed, bias, multipliers, shifts, shape: WSConvShape, input_zero_point: int,
                     output_zero_point: int, act_min: int = -128, act_max: int = 127) -> np.ndarray:
    """int8 [T', N]: the int8 convolution on the sampled kernel, requantized as TFLite does."""
    acc = reference_accumulators(x, condensed, shape, input_zero_point)
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64)
    y = quant.multiply_by_quantized_multiplier(acc, np.asarray(multipliers)[None, :], np.asarray(shifts)[None, :])
    return np.clip(y + output_zero_point, act_min, act_max).astype(np.int8)


def op_counts(shape: WSConvShape) -> dict:
    """Operations per output step (DESIGN §4): direct L·M·N MACs vs the integral image's
    M(1 − 1/C) pre-sum adds + L*(M* + 1) for P and the diagonal sums + N subtractions."""
    direct = shape.kernel_size * shape.input_channels * shape.filters
    integral = (
        shape.input_channels - shape.condensed_channels
        + shape.condensed_length * (shape.condensed_channels + 1)
        + shape.filters
    )
    # The integral image runs once per input row; direct convolution once per output row.
    integral_per_output = integral * shape.stride
    return {"direct": direct, "integral": integral_per_output, "ratio": direct / integral_per_output}


def integral_scratch_words(shape: WSConvShape) -> int:
    """int32 words the streaming integral-image kernel needs: F' row, two I rows, the ring of the
    last L rows at columns n·s − 1 (the I rows with one leading zero word each)."""
    return shape.condensed_channels + 2 * (shape.condensed_length + 1) + shape.kernel_size * shape.filters


def integral_fold(shape: WSConvShape) -> int:
    """Time steps per block row of the DSP integral kernel (tas_ws_conv_fold): the conv stride S when
    S divides L and s (the layer then runs on blocks of S rows, F' of the S rows side by side, stride 1), else 1."""
    s = shape.stride
    ok = s > 1 and shape.kernel_size % s == 0 and shape.sampling_stride % s == 0
    return s if ok else 1


# Φ widened into int16 pairs in scratch up to this many words (TAS_WS_WIDENED_WORDS_MAX).
WIDENED_WORDS_MAX = 4096


def integral_dsp_reads_in_place(shape: WSConvShape) -> bool:
    """The DSP integral kernel reads int8 Φ as words (M* a multiple of 4, at least 8, in block rows) when
    Φ widened would take over WIDENED_WORDS_MAX words, else widens it into scratch (tas_ws_in_place)."""
    fold = integral_fold(shape)
    channels, length = shape.condensed_channels * fold, shape.condensed_length // fold
    return channels >= 8 and channels % 4 == 0 and (channels + 1) // 2 * length > WIDENED_WORDS_MAX


def integral_dsp_slabs(shape: WSConvShape) -> bool:
    """Φ in the DSP kernel's flash is stored in slabs of 8 channels (tas_ws_slabs): read in place, M* (in block
    rows) a multiple of 8."""
    return integral_dsp_reads_in_place(shape) and shape.condensed_channels * integral_fold(shape) % 8 == 0


def integral_dsp_condensed(condensed: np.ndarray, shape: WSConvShape) -> np.ndarray:
    """int8 Φ as tas_ws_conv_integral_s8_dsp reads it: flat, in block rows [L*', M*'], in slabs of 8 channels
    (slab g: the bytes Φ'[v, 8g … 8g + 7] of every row v) when integral_dsp_slabs, else row by row."""
    flat = np.asarray(condensed, np.int8).reshape(-1)
    if not integral_dsp_slabs(shape):
        return flat
    fold = integral_fold(shape)
    length, channels = shape.condensed_length // fold, shape.condensed_channels * fold
    return flat.reshape(length, channels // 8, 8).transpose(1, 0, 2).reshape(-1).copy()


def integral_dsp_scratch_words(shape: WSConvShape) -> int:
    """int32 words of the DSP integral kernel (tas_ws_conv_dsp_scratch_words), in block rows: F' of two rows
    as int16 pairs, Φ's rows widened the same way unless read in place, the two I rows, the ring, one block row
    of input when folded."""
    fold = integral_fold(shape)
    channels, length = shape.condensed_channels * fold, shape.condensed_length // fold
    pairs = (channels + 1) // 2
    widened = 0 if integral_dsp_reads_in_place(shape) else pairs * length
    edge = (fold * shape.input_channels + 3) // 4 if fold > 1 else 0
    return 2 * pairs + widened + 2 * (length + 1) + (shape.kernel_size // fold) * shape.filters + edge


# Instructions the C kernels execute per unit of work: non-negative least squares over the QEMU -icount
# counts of benchmarks/ws_conv_layers.py (SoundNet-8 S8C4D2/S8C8D2 and WSNet-mini layers and ten small layers;
# DSP kernels on the Cortex-M4 twin, portable ones on the Cortex-M3 twin; results/ws_conv_layers.json; the
# DSP integral fit, on the 22 S8C4D2/S8C8D2/mini layers with the output and ring costs counted in its code
# (per-tensor requantization), is within -9 % … +5 % of every layer). Op
# counts treat a MAC, an add and a requantization alike; the kernels do not: the direct im2col kernel runs
# two MACs per SMLAD, the integral image pays a load and a store of I per column and pass and a full
# requantization per output.
INTEGRAL_COSTS = {  # portable, per input row: column, MAC, input channel (pre-sum), filter (ring); per output
    False: {"column": 2.25, "mac": 2.8, "channel": 18.6, "filter": 6.7, "row": 0.0, "output": 38.1},
}
# The DSP integral kernel: `diagonal` scales the instructions of one column of each diagonal pass as the
# loops of tas_ws_conv_integral_s8_dsp.c run them (counted in its Cortex-M4 code); `presum` the pre-sum's
# counted instructions; then per block row, ring entry, output, Φ word widened and ring word cleared, and per call.
DIAGONAL_PASS = {"widened": {4: 12, 2: 8, 1: 7}, "in_place": {16: 29, 8: 15, 4: 9}}
DIAGONAL_SMALL = {1: 4.5, 2: 7.0, 3: 16.0}  # Φ widened, 1-3 pairs: the two-row loops
PAIR_COLUMN = {"widened": 12.75, "slabs": 16.75}  # two rows a pass: one column of one slab of 8 channels
SINGLE16_COLUMN = 14.75  # one row a pass on Φ widened in slabs of 16 channels: one column of one slab
INTEGRAL_DSP_COSTS = {"diagonal": 1.01, "presum": 1.32, "row": 194.0, "ring": 4.0, "output": 10.6, "setup": 1.58, "call": 0.0}
DIRECT_COSTS = {  # per MAC, window byte (gather), output (requantization), call (the DSP fit, within -22..+11 %)
    True: {"mac": 1.04, "window": 4.07, "output": 30.1, "call": 5746.0},
    False: {"mac": 3.93, "window": 0.0, "output": 1.9, "call": 0.0},
}


def _diagonal_column(channels: int, length: int, slabs: bool, pairing: bool) -> float:
    """Instructions of one column of the DSP kernel's diagonal sum of one row over `channels` condensed channels
    (all passes)."""
    pairs = (channels + 1) // 2
    if slabs:
        return channels // 8 * DIAGONAL_PASS["in_place"][8]
    in_place = channels >= 8 and channels % 4 == 0 and pairs * length > WIDENED_WORDS_MAX
    if not in_place and not pairing and channels % 16 == 0:
        return channels // 16 * SINGLE16_COLUMN
    if in_place:
        chunks, table, left = 0.0, DIAGONAL_PASS["in_place"], channels
        for size in (16, 8, 4):
            chunks += (left // size) * table[size]
            left %= size
        return chunks
    if pairs < 4:
        return DIAGONAL_SMALL[pairs]
    table = DIAGONAL_PASS["widened"]
    return (pairs // 4) * table[4] + (pairs % 4 // 2) * table[2] + (pairs % 2) * table[1]


def integral_dsp_row_passes(shape: WSConvShape) -> tuple[int, int]:
    """(two-row passes, single rows) of tas_ws_conv_integral_s8_dsp: a block row that no output and no ring
    entry reads pairs with the next one when M*' is a multiple of 8 and Φ is in slabs or every row pairs."""
    fold = integral_fold(shape)
    stride, kernel = shape.stride // fold, shape.kernel_size // fold
    channels = shape.condensed_channels * fold
    rows = (shape.output_length - 1) * stride + kernel
    all_pair = channels % 8 == 0 and stride % 2 == 0 and kernel % stride == 0
    if not (all_pair or integral_dsp_slabs(shape)):
        return 0, rows
    passes = singles = r = 0
    while r < rows:
        read = (r >= kernel - 1 and (r - kernel + 1) % stride == 0) or (r + 1) % stride == 0
        if r + 1 < rows and not read:
            passes, r = passes + 1, r + 2
        else:
            singles, r = singles + 1, r + 1
    return passes, singles


def integral_dsp_terms(shape: WSConvShape) -> dict:
    """The units of work of tas_ws_conv_integral_s8_dsp on a layer, keyed like INTEGRAL_DSP_COSTS."""
    fold = integral_fold(shape)
    stride = shape.stride // fold
    channels, length = shape.condensed_channels * fold, shape.condensed_length // fold
    rows = (shape.output_length - 1) * stride + shape.kernel_size // fold
    pairs = (channels + 1) // 2
    in_place, slabs = integral_dsp_reads_in_place(shape), integral_dsp_slabs(shape)
    passes, singles = integral_dsp_row_passes(shape)
    widened = 0 if in_place else pairs * length
    pair_column = PAIR_COLUMN["slabs" if slabs else "widened"] * (channels // 8)
    repeat = shape.channel_repeat
    # Rows in SXTB16 lanes (pairs, and single rows read in place) pre-sum a word of x per 3 instructions.
    simd_rows = 2 * passes + (singles if in_place else 0) if shape.condensed_channels % 4 == 0 else 0
    presum = simd_rows * channels // 4 * (3 * repeat + 5) + (rows - simd_rows) * pairs * (1 if repeat == 1 else repeat) * 12.9
    pairing = slabs or (channels % 8 == 0 and stride % 2 == 0 and shape.kernel_size // fold % stride == 0)
    return {"diagonal": length * (singles * _diagonal_column(channels, length, slabs, pairing) + passes * pair_column),
            "presum": presum, "row": rows,
            "ring": min(rows, (shape.output_length - 1) * stride) / stride * shape.filters,
            "output": shape.output_length * shape.filters,
            "setup": widened + shape.filters + 2 * length, "call": 1}


def direct_terms(shape: WSConvShape) -> dict:
    """The units of work of the direct (im2col) kernels on a layer, keyed like DIRECT_COSTS."""
    window = shape.kernel_size * shape.input_channels
    return {"mac": shape.output_length * window * shape.filters, "window": shape.output_length * window,
            "output": shape.output_length * shape.filters, "call": 1}


def estimated_instructions(shape: WSConvShape, algorithm: str, dsp: bool) -> float:
    """Modelled instructions of the whole layer for the integral-image or direct kernel, on a core with
    (dsp) or without the DSP extension: tas_ws_conv_integral_s8[_dsp] or tas_ws_conv_im2col_s8[_dsp]."""
    if algorithm == "direct":
        return sum(DIRECT_COSTS[dsp][key] * value for key, value in direct_terms(shape).items())
    if dsp:
        return sum(INTEGRAL_DSP_COSTS[key] * value for key, value in integral_dsp_terms(shape).items())
    c, outputs = INTEGRAL_COSTS[False], shape.output_length
    rows = (outputs - 1) * shape.stride + shape.kernel_size
    per_row = (shape.condensed_length * (c["column"] + c["mac"] * shape.condensed_channels)
               + c["channel"] * shape.input_channels + c["filter"] * shape.filters + c["row"])
    return rows * per_row + outputs * c["output"] * shape.filters


def cheaper_algorithm(shape: WSConvShape, dsp: bool) -> str:
    """"integral" or "direct", whichever estimated_instructions says runs fewer instructions."""
    integral = estimated_instructions(shape, "integral", dsp)
    return "integral" if integral < estimated_instructions(shape, "direct", dsp) else "direct"
