"""Bad input stops with a clear error naming the file, and loses nothing."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from auflow.checks import check_once
from auflow.io.parquet import read_metadata, read_table

from conftest import REPO, TINY_CONFIG, face_like, make_workdir, snakemake

EXTRACTOR = TINY_CONFIG["features"]["extractors"][0]
SHARDS = ["SN001/000", "SN002/001"]  # frames 1-16 of SN001, 17-32 of SN002


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


def test_a_parameter_made_wrong_after_a_run_that_passed_is_still_named_before_any_job(tmp_path):
    features = {**TINY_CONFIG["features"], "extractors": ["gabor_energy"]}
    config = {**TINY_CONFIG, "features": features}
    workdir = make_workdir(tmp_path / "work", config)
    snakemake(workdir, "--dry-run")
    features["params"] = {"gabor_energy": {"frequencies": [0.2, 0.6]}}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))

    result = snakemake(workdir, "--dry-run", check=False)

    assert result.returncode != 0
    assert "Nyquist" in result.stdout + result.stderr


def test_a_check_that_passed_runs_again_only_for_other_values(tmp_path):
    checked = []

    def check():
        checked.append(True)

    assert check_once(check, {"C": 0.1}, tmp_path / "stamps")
    assert not check_once(check, {"C": 0.1}, tmp_path / "stamps")
    assert check_once(check, {"C": 1.0}, tmp_path / "stamps")
    assert len(checked) == 2


def test_a_check_that_failed_fails_again(tmp_path):
    def check():
        raise ValueError("C must be positive")

    for _ in range(2):
        with pytest.raises(ValueError, match="C must be positive"):
            check_once(check, {"C": -1}, tmp_path / "stamps")
    assert not (tmp_path / "stamps").exists()


def last_lines(result, n=15):
    return (result.stdout + result.stderr).splitlines()[-n:]


def test_subjects_and_label_files_that_do_not_pair_stop_before_any_job(tmp_path):
    workdir = make_workdir(tmp_path / "work")
    (workdir / "data/json/SN003.json").rename(workdir / "data/json/SN03.json")

    result = snakemake(workdir, "--cores", "1", check=False)

    assert result.returncode != 0
    tail = "\n".join(last_lines(result))
    assert "subject SN003 (data/croppedImg/SN003) has no label file data/json/SN003.json" in tail
    assert "label file data/json/SN03.json has no subject folder data/croppedImg/SN03" in tail
    assert not (workdir / "results").exists() and not (workdir / "logs").exists()


def test_a_subject_folder_with_a_space_is_refused_before_any_job(tmp_path):
    workdir = make_workdir(tmp_path / "work")
    (workdir / "data/croppedImg/SN002").rename(workdir / "data/croppedImg/SN 002")
    (workdir / "data/json/SN002.json").rename(workdir / "data/json/SN 002.json")

    result = snakemake(workdir, "--dry-run", check=False)

    assert result.returncode != 0
    tail = "\n".join(last_lines(result))
    assert "data/croppedImg/SN 002: 'SN 002' cannot be a subject name" in tail
    assert "Snakemake wildcards" in tail and "rename the folder" in tail
    assert not (workdir / "results").exists()


@pytest.mark.parametrize(
    ("section", "value", "expected"),
    [
        ("classifiers", {"svm_linar": {}}, "'svm_linar' is not one of ['"),
        (
            "features",
            {"extractors": ["gabr"]},
            "'gabr' is not one of ['gabor_energy'",
        ),
    ],
)
def test_unknown_classifier_or_extractor_is_named_before_any_job(
    tmp_path, section, value, expected
):
    config = {**TINY_CONFIG, section: {**TINY_CONFIG[section], **value}}
    if section == "classifiers":
        config[section] = value
    workdir = make_workdir(tmp_path / "work", config)

    result = snakemake(workdir, "--dry-run", check=False)

    assert result.returncode != 0
    assert expected in result.stdout + result.stderr
    assert not (workdir / "results").exists()


@pytest.mark.parametrize(
    ("section", "value", "expected"),
    [
        ("features", {"shard_size": "big"}, "'big' is not of type 'integer'"),
        ("features", {"shard_size": 0}, "0 is less than the minimum of 1"),
        ("features", {"face_size": 8}, "8 is less than the minimum of 16"),
        ("dataset", {"missing_au": "maybe"}, "'maybe' is not one of ['zero', 'error']"),
        ("dataset", {"strict_frames": "yes"}, "'yes' is not of type 'boolean'"),
        ("aus", [1, 0], "0 is less than the minimum of 1"),
        ("occurrence_threshold", 9, "9 is greater than the maximum of 5"),
    ],
)
def test_config_values_of_wrong_type_or_out_of_range_are_named(section, value, expected):
    # the Snakefile's own check, run in-process: snakemake.utils.validate with the schema
    config = {**TINY_CONFIG, section: value}
    if isinstance(value, dict):
        config[section] = {**TINY_CONFIG.get(section, {}), **value}
    with pytest.raises(WorkflowError) as error:
        validate(config, str(REPO / "schemas/config.schema.yaml"))
    assert expected in str(error.value)


def test_a_failed_job_says_what_failed_in_the_last_lines(tmp_path):
    workdir = make_workdir(tmp_path / "work")
    image = workdir / "data/croppedImg/SN002/20.png"  # frame 20: the second shard of 16
    original = image.read_bytes()
    image.write_bytes(original[: len(original) // 2])
    targets = [f"results/features/{EXTRACTOR}/SN002/{shard:03d}.parquet" for shard in range(2)]

    # as a user runs it: no --profile, no --show-failed-logs
    result = snakemake(workdir, "--cores", "2", *targets, check=False)

    assert result.returncode != 0
    tail = last_lines(result)
    assert any("data/croppedImg/SN002/20.png: truncated PNG" in line for line in tail), tail
    assert any(f"logs/extract_features/{EXTRACTOR}/SN002/001.log" in line for line in tail)
    assert max(len(line) for line in tail) <= 200, tail
    # the job's inputs are not printed: one manifest, not 16 image paths
    assert "SN002/17.png" not in result.stdout + result.stderr
    # nothing of the failed job is left; the other jobs' outputs are
    shards = workdir / f"results/features/{EXTRACTOR}/SN002"
    assert sorted(p.name for p in shards.iterdir()) == ["000.parquet"]

    # once the image is fixed, a re-run does only what is missing
    image.write_bytes(original)
    result = snakemake(workdir, "--dry-run", *targets)
    scheduled = re.findall(r"output: (\S+)", result.stdout)
    assert scheduled == [f"results/features/{EXTRACTOR}/SN002/001.parquet"]


def test_a_frame_far_smaller_than_its_subjects_faces_is_named_and_a_speck_is_refused(tmp_path):
    workdir = make_workdir(tmp_path / "work")
    faces = workdir / "data/croppedImg"
    for name, side in (("SN001/5.png", 20), ("SN001/6.png", 30), ("SN002/20.png", 1)):
        cv2.imwrite(str(faces / name), (face_like(side, side) * 255).astype(np.uint8))
    targets = [f"results/features/{EXTRACTOR}/{shard}.parquet" for shard in SHARDS]

    result = snakemake(workdir, "--cores", "2", "--keep-going", *targets, check=False)

    # 20 px among 48-px faces: warned, with both sizes, and extracted; 30 px is not far smaller
    log = (workdir / f"logs/extract_features/{EXTRACTOR}/SN001/000.log").read_text()
    assert "data/croppedImg/SN001/5.png is 20x20 pixels (width x height), far smaller " in log
    assert "other frames of SN001 (median 48x48): resized to 48x48 like them" in log
    assert "SN001/6.png" not in log
    table = read_table(workdir / f"results/features/{EXTRACTOR}/SN001/000.parquet")
    assert table["frame"].tolist() == list(range(1, 17))
    # 1 px: refused, nothing written
    assert result.returncode != 0
    tail = "\n".join(last_lines(result, 30))
    assert (
        "data/croppedImg/SN002/20.png: 1x1 pixels (width x height) is too small to be a face"
        in (tail)
    )
    assert "at least 8 pixels a side" in tail and "replace it with the face crop" in tail
    assert not (workdir / f"results/features/{EXTRACTOR}/SN002/001.parquet").exists()


def test_missing_au_keys_are_intensity_zero_recorded_or_with_error_refused(tmp_path):
    workdir = make_workdir(tmp_path / "work")
    path = workdir / "data/json/SN001.json"
    elements = json.loads(path.read_text())
    for element in elements[:5]:
        del element["au12"]
    path.write_text(json.dumps(elements))

    snakemake(workdir, "--cores", "1", "results/labels/SN001.parquet")

    labels = read_table(workdir / "results/labels/SN001.parquet")
    assert (labels.loc[labels["frame"] <= 5, "AU12"] == 0).all()
    metadata = read_metadata(workdir / "results/labels/SN001.parquet")
    assert metadata["missing_au"] == "zero" and metadata["filled_in_total"] == 5
    assert metadata["filled_in"]["AU12"] == 5 and metadata["filled_in"]["AU01"] == 0
    log = (workdir / "logs/labels/SN001.log").read_text()
    assert "SN001.json: 5 AU values missing, read as intensity 0" in log and "AU12: 5" in log

    config = {**TINY_CONFIG, "dataset": {**TINY_CONFIG["dataset"], "missing_au": "error"}}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "--cores", "1", "results/labels/SN001.parquet", check=False)

    assert result.returncode != 0
    tail = "\n".join(last_lines(result))
    assert "data/json/SN001.json: element 0 has no 'au12' (5 of 40 elements lack it)" in tail
    assert not (workdir / "results/labels/SN001.parquet").exists()
