"""Both label formats, read by the real labels rule, give the same table."""

from __future__ import annotations

import json

import yaml

from auflow.demo import DISFA_AUS
from auflow.io.parquet import read_table

from conftest import TINY_CONFIG, make_workdir, snakemake


def write_disfa_txt(json_path, folder, subject):
    """DISFA's layout: <folder>/<subject>/<subject>_au<N>.txt with lines 'frame,intensity'."""
    elements = json.loads(json_path.read_text())
    (folder / subject).mkdir(parents=True, exist_ok=True)
    for au in DISFA_AUS:
        lines = [f"{frame},{element[f'au{au}']}" for frame, element in enumerate(elements, 1)]
        (folder / subject / f"{subject}_au{au}.txt").write_text("\n".join(lines) + "\n")


def test_disfa_txt_labels_equal_json_labels(tmp_path):
    workdir = make_workdir(tmp_path / "work")
    snakemake(workdir, "--cores", "1", "results/labels/SN004.parquet")
    from_json = read_table(workdir / "results/labels/SN004.parquet")

    for subject in ("SN001", "SN002", "SN003", "SN004"):
        write_disfa_txt(
            workdir / f"data/json/{subject}.json", workdir / "data/ActionUnit_Labels", subject
        )
    config = {
        **TINY_CONFIG,
        "dataset": {"root": "data", "labels": "ActionUnit_Labels", "label_format": "disfa_txt"},
    }
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(workdir, "--cores", "1", "--force", "results/labels/SN004.parquet")
    from_txt = read_table(workdir / "results/labels/SN004.parquet")

    assert from_txt.equals(from_json)
    assert from_txt[[f"AU{au:02d}" for au in DISFA_AUS]].to_numpy().max() >= 2


def test_out_of_range_intensity_is_named(tmp_path):
    workdir = make_workdir(tmp_path / "work")
    path = workdir / "data/json/SN001.json"
    elements = json.loads(path.read_text())
    elements[6]["au12"] = 7
    path.write_text(json.dumps(elements))
    result = snakemake(workdir, "--cores", "1", "results/labels/SN001.parquet", check=False)
    assert result.returncode != 0
    log = (workdir / "logs/labels/SN001.log").read_text()
    assert "data/json/SN001.json: element 6 au12=7 is outside 0-5" in log
    assert not (workdir / "results/labels/SN001.parquet").exists()
