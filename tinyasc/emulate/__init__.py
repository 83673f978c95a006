"""Emulation: run a built firmware image on its board's QEMU twin (DESIGN §5).

    qemu.py   run_firmware() self-test with instruction counts, run_batch_in_qemu() eval mode
"""
