"""Dataset layouts: tiny fixtures in each official layout become loader CSVs with the official
folds, and no recording or location ends up on both sides of a split."""

import numpy as np
import pytest
import soundfile as sf

from tinyasc.data import load_csv_dataset
from tinyasc.data.layouts import dataset_csv, detect_layout, esc50_rows, tau_rows, urbansound8k_rows
from tinyasc.errors import DatasetError


def write_wav(path, seconds=0.05, rate=16000, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.random.default_rng(seed).uniform(-0.5, 0.5, int(seconds * rate)), rate, subtype="PCM_16")


@pytest.fixture
def esc50_root(tmp_path):
    root = tmp_path / "ESC-50-master"
    lines = ["filename,fold,target,category,esc10,src_file,take"]
    for fold in range(1, 6):
        for target, category in enumerate(["dog", "rain"]):
            name = f"{fold}-{100 + target}-A-{target}.wav"
            write_wav(root / "audio" / name, seed=fold * 10 + target)
            lines.append(f"{name},{fold},{target},{category},False,{100 + target},A")
    (root / "meta").mkdir()
    (root / "meta" / "esc50.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def urbansound_root(tmp_path):
    root = tmp_path / "UrbanSound8K"
    lines = ["slice_file_name,fsID,start,end,salience,fold,classID,class"]
    for fold in range(1, 11):
        name = f"{fold}00-3-0-0.wav"
        write_wav(root / "audio" / f"fold{fold}" / name, rate=22050, seed=fold)
        lines.append(f"{name},{fold}00,0,0.05,1,{fold},3,dog_bark")
    (root / "metadata").mkdir()
    (root / "metadata" / "UrbanSound8K.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def tau_root(tmp_path):
    root = tmp_path / "TAU-urban-acoustic-scenes-2020-mobile-development"
    meta, train, evaluate = ["filename\tscene_label\tidentifier\tsource_label"], ["filename\tscene_label"], ["filename\tscene_label"]
    for scene in ["airport", "park"]:
        for location in range(4):
            for segment in range(3):
                name = f"audio/{scene}-lisbon-{location}-{segment}-a.wav"
                write_wav(root / name, seed=location * 3 + segment)
                meta.append(f"{name}\t{scene}\tlisbon-{location}\ta")
                (evaluate if location == 3 else train).append(f"{name}\t{scene}")
    (root / "evaluation_setup").mkdir(parents=True)
    (root / "meta.csv").write_text("\n".join(meta) + "\n")
    (root / "evaluation_setup" / "fold1_train.csv").write_text("\n".join(train) + "\n")
    (root / "evaluation_setup" / "fold1_evaluate.csv").write_text("\n".join(evaluate) + "\n")
    return root


def test_layouts_are_detected(esc50_root, urbansound_root, tau_root, tmp_path):
    (tmp_path / "mine" / "dog").mkdir(parents=True)
    assert [detect_layout(p) for p in (esc50_root, urbansound_root, tau_root, tmp_path / "mine")] == [
        "esc50", "urbansound8k", "tau", "folder"]


def test_esc50_uses_the_official_folds(esc50_root):
    rows = esc50_rows(esc50_root, test_fold=3)
    split_of_fold = {int(r["path"].rsplit("/", 1)[1][0]): r["split"] for r in rows}
    assert split_of_fold == {1: "train", 2: "train", 3: "test", 4: "val", 5: "train"}
    with pytest.raises(DatasetError, match="folds 1 to 5"):
        esc50_rows(esc50_root, test_fold=6)


def test_urbansound8k_reads_fold_folders_and_resamples(urbansound_root, tmp_path):
    rows = urbansound8k_rows(urbansound_root)
    assert sum(r["split"] == "test" for r in rows) == 1 and sum(r["split"] == "val" for r in rows) == 1
    dataset = load_csv_dataset(dataset_csv(str(urbansound_root), tmp_path), sample_rate=16000, duration_s=0.05)
    assert dataset.x.shape == (10, 800) and dataset.labels == ["dog_bark"]


def test_tau_keeps_each_location_on_one_side(tau_root):
    rows = tau_rows(tau_root, val_fraction=0.34)
    side = {}
    for r in rows:
        location = r["path"].rsplit("/", 1)[1].rsplit("-", 2)[0]
        side.setdefault(location, set()).add(r["split"])
    assert all(len(splits) == 1 for splits in side.values()), side
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    assert {r["device"] for r in rows} == {"a"}


def test_folder_layout_loads_through_the_one_loader(tmp_path):
    for label in ["car", "bird"]:
        for i in range(7):
            write_wav(tmp_path / "clips" / label / f"{i}.wav", seed=i)
    dataset = load_csv_dataset(dataset_csv(f"folder:{tmp_path / 'clips'}", tmp_path), sample_rate=16000, duration_s=0.05)
    assert sorted(dataset.labels) == ["bird", "car"] and len(dataset) == 14
    assert set(dataset.split) == {"train", "val", "test"}


def test_bad_data_values_are_clear_errors(tmp_path, esc50_root):
    with pytest.raises(DatasetError, match="no such file or folder"):
        dataset_csv(str(tmp_path / "missing"), tmp_path)
    (esc50_root / "meta" / "esc50.csv").write_text("name,fold\nx.wav,1\n")
    with pytest.raises(DatasetError, match="expected columns filename, fold, category"):
        dataset_csv(str(esc50_root), tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no audio files"):
        dataset_csv(str(tmp_path / "empty"), tmp_path)
