"""The demo dataset generator: layout, determinism, label statistics, faces that move with AUs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from auflow.demo import (
    DISFA_AUS,
    Identity,
    generate_demo_dataset,
    render_face,
    sample_identity,
    sample_intensities,
)

KEYS = [f"au{au}" for au in DISFA_AUS]


def read_labels(root: Path, subject: str) -> np.ndarray:
    rows = json.loads((root / "json" / f"{subject}.json").read_text())
    return np.array([[row[key] for key in KEYS] for row in rows])


def all_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> tuple[Path, list[str]]:
    """The dataset with every default: 6 subjects x 120 frames of 96 px."""
    root = tmp_path_factory.mktemp("demo_default")
    return root, generate_demo_dataset(root)


@pytest.fixture(scope="module")
def long_run(tmp_path_factory) -> tuple[Path, list[str]]:
    """Enough frames for label statistics, at a small size to stay fast."""
    root = tmp_path_factory.mktemp("demo_long")
    return root, generate_demo_dataset(root, n_subjects=6, n_frames=300, size=48, seed=3)


# ---------------------------------------------------------------------------------------------
# Layout


def test_layout_of_the_default_run(default_run):
    root, subjects = default_run
    assert subjects == ["SN001", "SN002", "SN003", "SN004", "SN005", "SN006"]
    assert sorted(p.name for p in (root / "croppedImg").iterdir()) == subjects
    assert sorted(p.name for p in (root / "json").iterdir()) == [f"{s}.json" for s in subjects]
    for subject in subjects:
        names = {p.name for p in (root / "croppedImg" / subject).iterdir()}
        assert names == {f"{frame}.png" for frame in range(1, 121)}  # no zero padding, no temps
        rows = json.loads((root / "json" / f"{subject}.json").read_text())
        assert len(rows) == 120
        for row in rows:
            assert list(row) == KEYS
            assert all(type(v) is int and 0 <= v <= 5 for v in row.values())
    for frame in (1, 7, 120):
        image = cv2.imread(
            str(root / "croppedImg" / "SN004" / f"{frame}.png"), cv2.IMREAD_UNCHANGED
        )
        assert image.shape == (96, 96)
        assert image.dtype == np.uint8
        assert 20 < image.mean() < 235 and image.std() > 10  # a picture, not a blank


def test_every_au_occurs_in_the_default_run(default_run):
    root, subjects = default_run
    labels = np.concatenate([read_labels(root, s) for s in subjects])
    active = (labels >= 2).mean(axis=0)
    assert (active > 0).all(), dict(zip(DISFA_AUS, active, strict=True))
    assert ((active >= 0.02) & (active <= 0.25)).sum() >= 9, dict(
        zip(DISFA_AUS, active, strict=True)
    )


def test_size_and_frame_count_are_honoured(tmp_path):
    generate_demo_dataset(tmp_path, n_subjects=1, n_frames=3, size=40, seed=5)
    images = sorted((tmp_path / "croppedImg" / "SN001").iterdir())
    assert [p.name for p in images] == ["1.png", "2.png", "3.png"]
    assert {cv2.imread(str(p), cv2.IMREAD_UNCHANGED).shape for p in images} == {(40, 40)}
    assert len(read_labels(tmp_path, "SN001")) == 3


def test_a_rerun_removes_frames_it_no_longer_labels_and_temp_files(tmp_path):
    generate_demo_dataset(tmp_path, n_subjects=1, n_frames=12, size=32)
    for leftover in (".3.png.999.tmp", ".9.png.tmp"):  # what crashed writes leave
        (tmp_path / "croppedImg" / "SN001" / leftover).write_bytes(b"half a png")
    generate_demo_dataset(tmp_path, n_subjects=1, n_frames=4, size=32)
    names = sorted(p.name for p in (tmp_path / "croppedImg" / "SN001").iterdir())
    assert names == ["1.png", "2.png", "3.png", "4.png"]
    assert len(read_labels(tmp_path, "SN001")) == 4


@pytest.mark.parametrize(
    "kwargs", [{"n_subjects": 0}, {"n_frames": 0}, {"size": 31}, {"n_frames": 2.5}, {"seed": -1}]
)
def test_bad_arguments_are_refused(tmp_path, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        generate_demo_dataset(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------
# Determinism


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    args = {"n_subjects": 2, "n_frames": 6, "size": 32}
    generate_demo_dataset(tmp_path / "a", seed=7, **args)
    generate_demo_dataset(tmp_path / "b", seed=7, **args)
    generate_demo_dataset(tmp_path / "c", seed=8, **args)
    first, again, other = (all_files(tmp_path / d) for d in "abc")
    assert len(first) == 2 * 6 + 2
    assert first == again
    assert first.keys() == other.keys()
    # Every picture differs; a 6-frame label file may be all zeros under either seed.
    assert all(first[name] != other[name] for name in first if name.endswith(".png"))


def test_no_two_frames_are_identical(long_run):
    root, _ = long_run
    frames = [p.read_bytes() for p in (root / "croppedImg" / "SN002").iterdir()]
    assert len(set(frames)) == len(frames) == 300


def test_a_subject_does_not_depend_on_how_many_are_generated(tmp_path):
    generate_demo_dataset(tmp_path / "one", n_subjects=1, n_frames=5, size=32, seed=2)
    generate_demo_dataset(tmp_path / "three", n_subjects=3, n_frames=5, size=32, seed=2)
    one, three = all_files(tmp_path / "one"), all_files(tmp_path / "three")
    assert all(three[name] == data for name, data in one.items())


# ---------------------------------------------------------------------------------------------
# Labels


def test_base_rates_are_imbalanced_but_present(long_run):
    root, subjects = long_run
    labels = np.concatenate([read_labels(root, s) for s in subjects])
    assert labels.shape == (1800, 12)
    active = labels >= 2
    rates = dict(zip(DISFA_AUS, active.mean(axis=0), strict=True))
    assert all(0.01 <= r <= 0.30 for r in rates.values()), rates
    assert (labels == 1).mean() > 0.01  # trace intensities exist too, as in DISFA


def test_aus_co_occur_like_real_expressions(long_run):
    root, subjects = long_run
    active = np.concatenate([read_labels(root, s) for s in subjects]) >= 2
    col = {au: i for i, au in enumerate(DISFA_AUS)}

    def lift(a: int, b: int) -> float:
        """P(a and b) / (P(a) P(b)): 1 for independent AUs."""
        x, y = active[:, col[a]], active[:, col[b]]
        return (x & y).mean() / (x.mean() * y.mean())

    assert lift(6, 12) > 3
    assert lift(1, 2) > 2
    assert lift(25, 26) > 2


def test_labels_come_in_smooth_episodes(long_run):
    root, subjects = long_run
    for subject in subjects:
        labels = read_labels(root, subject)
        steps = np.abs(np.diff(labels, axis=0))
        assert (steps <= 1).mean() > 0.99
        assert (steps == 0).mean() > 0.85
        # Episodes last tens of frames: an AU that turns on stays on for a while.
        on = np.diff(np.vstack([np.zeros(12), labels >= 1, np.zeros(12)]).astype(int), axis=0)
        starts, stops = np.nonzero(on.T == 1), np.nonzero(on.T == -1)
        lengths = stops[1] - starts[1]
        assert np.median(lengths) >= 10


def test_episode_rate_scales_with_sequence_length():
    """Longer sequences keep the base rates instead of diluting a fixed number of episodes."""

    def rate(n_frames: int, subjects: int) -> float:
        runs = [
            sample_intensities(n_frames, np.random.default_rng(s), 1.0) for s in range(subjects)
        ]
        return float((np.concatenate(runs) >= 2).mean())

    short, long = rate(120, 200), rate(4845, 5)
    assert 0.6 < long / short < 1.6


def test_intensities_shape_and_range():
    labels = sample_intensities(500, np.random.default_rng(0), 1.3)
    assert labels.shape == (500, 12)
    assert labels.dtype == np.int8
    assert labels.min() == 0 and labels.max() <= 5


# ---------------------------------------------------------------------------------------------
# Faces


def boxes(f: Identity) -> dict[str, tuple[float, float, float, float]]:
    """Face regions (x0, x1, y0, y1) as fractions of the image, from the identity's layout."""
    eyes = f.eye_dx + f.eye_w + 0.04
    return {
        "brows": (f.face_cx - 0.3, f.face_cx + 0.3, f.eye_y - f.brow_gap - 0.12, f.eye_y - 0.035),
        "eyes": (f.face_cx - eyes, f.face_cx + eyes, f.eye_y - 0.035, f.eye_y + 0.05),
        "nose": (f.face_cx - 0.06, f.face_cx + 0.06, f.eye_y, f.nose_y + 0.03),
        "mouth": (
            f.face_cx - 0.2,
            f.face_cx + 0.2,
            f.nose_y + 0.03,
            f.face_cy + f.face_bottom + 0.08,
        ),
    }


def region_change(a: np.ndarray, b: np.ndarray, box) -> float:
    size = a.shape[0]
    x0, x1, y0, y1 = (round(v * size) for v in box)
    return float(np.abs(a[y0:y1, x0:x1].astype(float) - b[y0:y1, x0:x1]).mean())


REGION_OF = {1: "brows", 2: "brows", 4: "brows", 5: "eyes", 6: "eyes", 9: "nose"} | {
    au: "mouth" for au in (12, 15, 17, 20, 25, 26)
}


@pytest.mark.parametrize("subject", range(3))
def test_each_au_moves_its_own_part_of_the_face(subject):
    face = sample_identity(np.random.default_rng([11, subject]))
    neutral = render_face(face, {}, 96)
    regions = boxes(face)
    for au, region in REGION_OF.items():
        moved = render_face(face, {au: 5}, 96)
        change = {name: region_change(moved, neutral, box) for name, box in regions.items()}
        assert max(change, key=change.get) == region, (au, change)
        assert change[region] > 1.0, (au, change)


def test_smile_changes_the_mouth_and_brow_raise_the_brows():
    face = sample_identity(np.random.default_rng(4))
    regions = boxes(face)
    neutral = render_face(face, None, 96)
    smile = render_face(face, {12: 5}, 96)
    brows_up = render_face(face, {1: 5, 2: 5}, 96)
    assert region_change(smile, neutral, regions["mouth"]) > 5 * max(
        region_change(smile, neutral, regions["brows"]), 0.1
    )
    assert region_change(brows_up, neutral, regions["brows"]) > 5 * max(
        region_change(brows_up, neutral, regions["mouth"]), 0.1
    )


@pytest.mark.parametrize("au", [2, 12, 26])
def test_change_grows_with_intensity(au):
    face = sample_identity(np.random.default_rng(9))
    box = boxes(face)[REGION_OF[au]]
    neutral = render_face(face, {}, 96)
    changes = [region_change(render_face(face, {au: i}, 96), neutral, box) for i in range(6)]
    assert changes[0] == 0
    assert all(a < b for a, b in zip(changes, changes[1:], strict=False)), changes


def test_faces_scale_with_size():
    face = sample_identity(np.random.default_rng(1))
    big = render_face(face, {12: 3, 6: 3}, 256)
    small = render_face(face, {12: 3, 6: 3}, 64)
    assert big.shape == (256, 256)
    shrunk = cv2.resize(big, (64, 64), interpolation=cv2.INTER_AREA)
    # The same face, up to how line widths round to whole pixels.
    assert np.corrcoef(shrunk.ravel(), small.ravel())[0, 1] > 0.9
    assert np.median(np.abs(shrunk.astype(float) - small)) <= 2


def test_array_and_mapping_intensities_agree():
    face = sample_identity(np.random.default_rng(2))
    row = np.zeros(12, dtype=np.int8)
    row[DISFA_AUS.index(12)] = 4
    assert np.array_equal(render_face(face, row, 64), render_face(face, {12: 4}, 64))
    with pytest.raises(ValueError, match="DISFA"):
        render_face(face, {10: 3}, 64)


def test_identities_differ(default_run):
    root, subjects = default_run

    def mean_face(subject: str) -> np.ndarray:
        paths = sorted((root / "croppedImg" / subject).iterdir())
        return np.mean([cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in paths], axis=0)

    means = [mean_face(s) for s in subjects[:3]]
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.abs(means[i] - means[j]).mean() > 5
