"""Bad input stops with a clear error naming the file, and loses nothing."""

from __future__ import annotations

import json

from auflow.io.parquet import read_table

from conftest import TINY_CONFIG, make_workdir, snakemake


def test_label_count_mismatch_names_both_files_and_counts(tmp_path):
    workdir = make_workdir(tmp_path / "work")
    labels_path = workdir / "data/json/SN002.json"
    elements = json.loads(labels_path.read_text())
    labels_path.write_text(json.dumps(elements[:-1]))

    result = snakemake(
        workdir,
        "--cores",
        "2",
        "--keep-going",
        "results/labels/SN001.parquet",
        "results/labels/SN002.parquet",
        check=False,
    )

    assert result.returncode != 0
    log = (workdir / "logs/labels/SN002.log").read_text()
    assert "data/json/SN002.json has 39 frames" in log
    assert "data/croppedImg/SN002 has 40 images" in log
    assert not (workdir / "results/labels/SN002.parquet").exists()
    # the healthy subject's labels were written and survive
    assert len(read_table(workdir / "results/labels/SN001.parquet")) == 40

    # once the file is fixed, a re-run does only what is missing
    labels_path.write_text(json.dumps(elements))
    result = snakemake(
        workdir, "--dry-run", "results/labels/SN001.parquet", "results/labels/SN002.parquet"
    )
    assert "results/labels/SN002.parquet" in result.stdout
    assert "output: results/labels/SN001.parquet" not in result.stdout


def test_config_typo_is_caught_before_any_job(tmp_path):
    config = {**TINY_CONFIG, "evaluation": {"split": "group_kfld"}}
    workdir = make_workdir(tmp_path / "work", config)
    result = snakemake(workdir, "--dry-run", check=False)
    assert result.returncode != 0
    assert "group_kfld" in result.stdout + result.stderr
    assert not (workdir / "results").exists()


def test_missing_image_folder_is_named(tmp_path):
    config = {**TINY_CONFIG, "dataset": {"root": "nowhere"}}
    workdir = make_workdir(tmp_path / "work", config)
    result = snakemake(workdir, "--dry-run", check=False)
    assert result.returncode != 0
    assert "nowhere/croppedImg" in result.stdout + result.stderr


def test_frequency_above_nyquist_is_a_config_error(tmp_path):
    features = {
        **TINY_CONFIG["features"],
        "extractors": ["gabor_energy"],
        "params": {"gabor_energy": {"frequencies": [0.2, 0.6]}},
    }
    workdir = make_workdir(tmp_path / "work", {**TINY_CONFIG, "features": features})
    result = snakemake(workdir, "--dry-run", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "gabor_energy" in output and "Nyquist" in output and "0.6" in output
