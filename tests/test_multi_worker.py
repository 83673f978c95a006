"""Training across processes: MultiWorkerMirroredStrategy with two workers on localhost, driven by
$TF_CONFIG as on several machines. Both train one model (the same final weights, bit for bit);
only the chief writes the run folder."""

import json
import os
import socket
import subprocess
import sys
import textwrap

WORKER_SCRIPT = textwrap.dedent("""
    import hashlib, sys
    import numpy as np
    from tinyasc.data.augment import AugmentSettings
    from tinyasc.data import AudioDataset
    from tinyasc.models import build_model
    from tinyasc.train import make_strategy, seed_everything, train_model

    strategy = make_strategy("multi_worker_mirrored")
    rng = np.random.default_rng(0)
    y = np.tile(np.arange(2), 12)
    x = (rng.normal(size=(24, 3000)) * (1 + y[:, None])).astype(np.float32)  # class = loudness
    split = np.array(["train"] * 16 + ["val"] * 8)
    data = AudioDataset(x=x, y=y, labels=["quiet", "loud"], split=split, paths=[""] * 24, sample_rate=16000)
    seed_everything(0)
    with strategy.scope():
        model = build_model("pajusco_a", num_classes=2, input_samples=3000, channels=1)
    result = train_model(model, data, sys.argv[1], epochs=2, batch_size=8, progress=False, strategy=strategy,
                         input_fn=lambda w: w.reshape(len(w), -1, 1, 1),
                         augmentation=AugmentSettings(sample_rate=16000, noise_probability=0.5, mixup_alpha=0.2))
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(w).tobytes() for w in result.model.get_weights()))
    print("REPLICAS", strategy.num_replicas_in_sync, "EPOCHS", len(result.history["loss"]),
          "WEIGHTS", digest.hexdigest(), "LOSS", result.history["loss"][-1])
""")


def free_ports(count: int) -> list[int]:
    """Ports free now on localhost (bound to 0, the kernel's pick, then released)."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_on_localhost_train_one_model(tmp_path):
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    run_dir = tmp_path / "run"
    workers = []
    for index in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        workers.append(subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, str(run_dir)], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = []
    try:
        for worker in workers:
            stdout, stderr = worker.communicate(timeout=400)
            assert worker.returncode == 0, stderr[-3000:]
            outputs.append(stdout.strip().splitlines()[-1].split())
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    chief, other = (dict(zip(line[::2], line[1::2])) for line in outputs)
    assert chief["REPLICAS"] == other["REPLICAS"] == "2", "each worker sees the other's replica"
    assert chief["EPOCHS"] == other["EPOCHS"] == "2"
    assert chief["WEIGHTS"] == other["WEIGHTS"], "the workers ended with different weights: two models, not one"
    state = json.loads((run_dir / "state.json").read_text())
    assert state["epochs_done"] == 2 and (run_dir / "model.h5").is_file()
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".worker")] == [], "worker 1 left its scratch folder"
