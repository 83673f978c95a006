"""Render the C of the fixed-point log-mel front-end for one LogMelSettings.

    render_frontend_sources(settings) -> {"tas_logmel.h": ..., "tas_logmel_tables.c": ...,
                                          "tas_logmel_s16.c": ...}

The kernel (tas_logmel_s16.c) is the same for every setting; the header and the tables are
rendered from firmware_templates/frontend/*.j2 with the numbers of fixed_point_tables.py, so the
C and the numpy twin read identical tables. Drop the three files into an export's src/.
"""

from __future__ import annotations

import functools

import jinja2
import numpy as np

from tinyasc.frontend.fixed_point_tables import (
    LN2_Q16,
    OUTPUT_FRAC_BITS,
    SQRT_SEED_FIRST,
    FrontendTables,
    frontend_tables,
)
from tinyasc.frontend.logmel import LogMelSettings
from tinyasc.paths import TEMPLATES_DIR

FRONTEND_TEMPLATES = TEMPLATES_DIR / "frontend"
KERNEL_FILE = "tas_logmel_s16.c"
HEADER_FILE = "tas_logmel.h"
TABLES_FILE = "tas_logmel_tables.c"


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(FRONTEND_TEMPLATES)),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)


def _c_values(values: np.ndarray, per_line: int = 12) -> str:
    """Comma-separated C initialiser lines; INT32_MIN is spelled (-2147483647 - 1) to stay int-typed."""
    flat = [int(v) for v in np.asarray(values).reshape(-1)]
    text = ["(-2147483647 - 1)" if v == -(1 << 31) else str(v) for v in flat]
    return "\n".join("    " + ", ".join(text[i:i + per_line]) + "," for i in range(0, len(text), per_line))


def radix4_stage_list(tables: FrontendTables) -> list[tuple[int, int]]:
    """(quarter, offset of the stage's twiddles in int32 words) per radix-4 stage."""
    stages, quarter, offset = [], 1 << tables.radix2_stages, 0
    for _ in range(tables.radix4_stages):
        stages.append((quarter, offset))
        offset += 6 * (quarter - 1)
        quarter *= 4
    return stages


def template_context(tables: FrontendTables) -> dict:
    s = tables.settings
    return {
        "sample_rate": s.sample_rate,
        "n_fft": s.n_fft,
        "window_length": s.window_length,
        "window_offset": tables.window_offset,
        "hop_length": s.hop_length,
        "n_mels": s.n_mels,
        "fmin": f"{s.fmin:g}",
        "fmax": f"{(s.fmax if s.fmax is not None else s.sample_rate / 2):g}",
        "log_floor": f"{s.log_floor:g}",
        "log_floor_q10": tables.log_floor_q10,
        "output_frac_bits": OUTPUT_FRAC_BITS,
        "scratch_words": tables.scratch_words,
        "fft_points": tables.fft_points,
        "radix2_stages": tables.radix2_stages,
        "radix4_stages": tables.radix4_stages,
        "radix4_stage_calls": " ".join(f"STAGE({q}, {o})" for q, o in radix4_stage_list(tables)),
        "window_shift": tables.window_shift,
        "ln2_q16": LN2_Q16,
        "sqrt_seed_first": SQRT_SEED_FIRST,
        "bit_reverse_type": "uint8_t" if tables.fft_points <= 256 else "uint16_t",
        "twiddle_count": max(3 * len(tables.stage_twiddles_q31), 1),
        "split_count": len(tables.split_q31),
        "weight_count": max(len(tables.mel_rise_q15), 1),
        "sqrt_count": len(tables.sqrt_q16),
        "ln_count": len(tables.ln_q16),
        "table_bytes": sum(tables.table_bytes().values()),
        "window": _c_values(tables.window_q31),
        "twiddles": _c_values(tables.stage_twiddles_q31 if len(tables.stage_twiddles_q31) else np.zeros(2)),
        "split_twiddles": _c_values(tables.split_q31),
        "bit_reverse": _c_values(tables.bit_reverse, 16),
        "mel_points": _c_values(tables.mel_points, 16),
        "mel_rise": _c_values(tables.mel_rise_q15 if len(tables.mel_rise_q15) else np.zeros(1), 16),
        "band_offset": _c_values(tables.band_offset_q16),
        "sqrt_seeds": _c_values(tables.sqrt_q16, 16),
        "ln_table": _c_values(tables.ln_q16, 16),
    }


def render_frontend_sources(settings: LogMelSettings | FrontendTables) -> dict[str, str]:
    """The front-end's C for `settings`: file name → text (header, tables, kernel)."""
    tables = settings if isinstance(settings, FrontendTables) else frontend_tables(settings)
    context = template_context(tables)
    environment = _environment()
    return {
        HEADER_FILE: environment.get_template(f"{HEADER_FILE}.j2").render(context),
        TABLES_FILE: environment.get_template(f"{TABLES_FILE}.j2").render(context),
        KERNEL_FILE: (FRONTEND_TEMPLATES / KERNEL_FILE).read_text(),
    }
