"""Renode scripts for boards that have a Renode platform: `export/<name>/renode/<board>.resc`.

Renode is not installable on the build machine, so tinyasc only writes the script (machine, the
board's platform description, the real-board project's ELF, a UART analyzer and an RTT macro);
QEMU remains the emulator that tests run on.
"""

from pathlib import Path

import jinja2

from tinyasc.paths import TEMPLATES_DIR
from tinyasc.artifacts.boards import Board, comment_safe
from tinyasc.artifacts.export_folder import RENODE_DIR
from tinyasc.artifacts.manifest import atomic_write_text
from tinyasc.firmware.project import RTT_BUFFER_SIZE, _manifest_or_empty, project_name

TEMPLATE = TEMPLATES_DIR / "renode" / "board.resc.j2"
# The console UART each platform description names (other platforms: uart0).
PLATFORM_UARTS = {
    "platforms/cpus/nrf52840.repl": "sysbus.uart0",
    "platforms/boards/arduino_nano_33_ble.repl": "sysbus.uart0",
    "platforms/cpus/stm32f4.repl": "sysbus.usart2",
    "platforms/cpus/stm32h743.repl": "sysbus.usart3",
}
DEFAULT_UART = "sysbus.uart0"


def renode_script_path(export_dir, board: Board) -> Path:
    return Path(export_dir) / RENODE_DIR / f"{board.name}.resc"


def render_renode_script(export_dir, board: Board) -> Path | None:
    """Write renode/<board>.resc; None (and nothing written) when the board has no platform."""
    if not board.renode_platform:
        return None
    export_dir = Path(export_dir)
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    environment.filters["comment_safe"] = comment_safe  # board text in a '#' comment: no new lines
    template = environment.from_string(TEMPLATE.read_text())
    text = template.render(
        board_name=board.name,
        description=board.description,
        project_name=project_name(export_dir),
        renode_platform=board.renode_platform,
        uart=PLATFORM_UARTS.get(board.renode_platform, DEFAULT_UART),
        rtt_buffer_size=RTT_BUFFER_SIZE,
        num_vectors=_manifest_or_empty(export_dir).get("export", {}).get("test_vectors", "the"),
    )
    path = renode_script_path(export_dir, board)
    atomic_write_text(path, text)
    return path
