"""Descriptors: shapes, names, the seed's histogram, the estimator contract, extraction."""

import json
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.io
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from auflow.demo import generate_demo_dataset
from auflow.features.descriptors import (
    DEFAULT_EXTRACTOR,
    EXTRACTORS,
    GABOR_EXTRACTORS,
    GaborEnergy,
    GaborHist,
    GaborHistSeed,
    magnitude,
    make_extractor,
    own_range_histogram,
)
from auflow.features.extract import extract_shard, extraction_metadata
from auflow.features.gabor import GaborBank, sample_positions, seed_gabor_histogram
from auflow.io.images import load_faces

from conftest import face_like

FACES = np.stack([face_like(64, 64, seed=s) for s in range(5)])


def fitted(name: str, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gabor_hist_seed's above-Nyquist warning
        return make_extractor(name, params).fit()


EXPECTED = {  # name: (n_features with defaults, some feature names)
    "gabor_energy": (3 * 4 * 36 * 2, ["gabor_t000_f0.0625_c0_0_mean", "gabor_t045_f0.25_c2_3_std"]),
    "gabor_hist": (3 * 4 * 20, ["gabor_hist_t000_f0.0625_b00", "gabor_hist_t135_f0.25_b19"]),
    "gabor_hist_seed": (20, ["gabor_hist_seed_bin00", "gabor_hist_seed_bin19"]),
    "hog": (7 * 7 * 2 * 2 * 9, ["hog_b0_0_c0_0_o0", "hog_b6_6_c1_1_o8"]),
    "lbp": (4 * 4 * 10, ["lbp_c0_0_u00", "lbp_c1_2_u03", "lbp_c3_3_u09"]),
}


def test_every_extractor_is_tested():
    assert set(EXTRACTORS) == set(EXPECTED)
    assert DEFAULT_EXTRACTOR == "gabor_energy"


@pytest.mark.parametrize("name", EXPECTED)
def test_shapes_dtypes_and_names(name):
    n_features, some_names = EXPECTED[name]
    model = fitted(name)
    names = model.get_feature_names_out()
    assert len(names) == n_features == len(set(names))
    assert set(some_names) <= set(names)
    for size in (48, 64):  # the columns do not depend on the face size
        faces = FACES[:, :size, :size].copy() if size < 64 else FACES
        features = model.transform(faces)
        assert features.shape == (len(faces), n_features)
        assert features.dtype == np.float32
        assert np.isfinite(features).all()
    assert model.transform(np.empty((0, 64, 64), np.float32)).shape == (0, n_features)


@pytest.mark.parametrize("name", EXPECTED)
def test_a_batch_gives_the_features_of_one_face_at_a_time(name):
    faces = np.stack([face_like(32, 40, seed=s) for s in range(7)])  # several faces per chunk
    model = fitted(name)
    batch = model.transform(faces)
    one_by_one = np.concatenate([model.transform(faces[i : i + 1]) for i in range(len(faces))])
    np.testing.assert_allclose(batch, one_by_one, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("width", [96, 30])
def test_gabor_energy_of_a_face_does_not_depend_on_its_batch(width):
    # bit for bit, as auflow predict (batches of 256) must give the pipeline's features
    # (batches of 64): 96 px faces are filtered side by side, 30 px ones face by face
    faces = np.stack([face_like(96, width, seed=s) for s in range(9)])
    model = fitted("gabor_energy")
    batch = model.transform(faces)
    np.testing.assert_array_equal(batch[2:7], model.transform(faces[2:7]))
    for i in (0, 8):
        np.testing.assert_array_equal(batch[i], model.transform(faces[i : i + 1])[0])


@pytest.mark.parametrize("name", EXPECTED)
def test_scikit_learn_contract(name):
    model = make_extractor(name)
    params = model.get_params()
    assert clone(model).get_params() == params
    assert make_extractor(name, params).get_params() == params  # round trip through the config
    model.set_params(**params)
    with pytest.raises(NotFittedError):
        model.transform(FACES)
    model = fitted(name)
    restored = pickle.loads(pickle.dumps(model))
    # the same features; float32 sums may round a value 1 ulp apart between two banks (their
    # workspaces' alignment picks other SIMD paths: seen once in 4,320 values under CI)
    np.testing.assert_allclose(restored.transform(FACES), model.transform(FACES), rtol=3e-7)


def test_the_extraction_job_does_not_import_scikit_learn():
    # importing scikit-learn takes seconds (it loads scipy.stats), once per extraction job
    code = (
        "import sys\n"
        "import auflow.features.extract, auflow.io.discovery, auflow.io.parquet, auflow.workflow\n"
        "from auflow.features.extract import extract_shard\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy'}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == "[]"


def test_extractors_keep_scikit_learns_parameter_handling():
    model = GaborEnergy(grid=4)
    assert repr(model) == "GaborEnergy(grid=4)"
    assert model.set_params(grid=5) is model and model.grid == 5
    with pytest.raises(ValueError, match="Invalid parameter 'grids'.*'grid'"):
        model.set_params(grids=5)
    faces = FACES[:2]
    # to float32 rounding: two banks may round a sum 1 ulp apart (the pickle test above)
    np.testing.assert_allclose(
        GaborEnergy().fit_transform(faces), fitted("gabor_energy").transform(faces), rtol=3e-7
    )


def test_parameters_are_stored_untouched():
    frequencies = [0.1, 0.2]
    model = GaborEnergy(frequencies=frequencies, grid=[2, 3])
    assert model.get_params()["frequencies"] is frequencies
    model.fit()
    assert len(model.get_feature_names_out()) == 4 * 2 * 2 * 3 * 2
    assert model.get_feature_names_out()[-1] == "gabor_t135_f0.20_c1_2_std"


def test_unknown_extractor_or_parameter():
    with pytest.raises(ValueError, match="unknown feature extractor 'gabor'.*gabor_energy"):
        make_extractor("gabor")
    with pytest.raises(ValueError, match="unknown parameters \\['frequency'\\].*frequencies"):
        make_extractor("gabor_energy", {"frequency": [0.1]})


@pytest.mark.parametrize("name", ["gabor_energy", "gabor_hist"])
def test_above_nyquist_is_an_error_unless_allowed(name):
    with pytest.raises(ValueError, match=r"Nyquist.*allow_above_nyquist"):
        make_extractor(name, {"frequencies": [0.1, 0.5]}).fit()
    with pytest.warns(UserWarning, match=r"\[0\.5\]"):
        make_extractor(name, {"frequencies": [0.1, 0.5], "allow_above_nyquist": True}).fit()


def test_seed_extractor_warns_about_its_frequencies():
    with pytest.warns(UserWarning, match=r"\[0\.6, 0\.8\].*Nyquist"):
        GaborHistSeed().fit()
    with pytest.raises(ValueError, match="Nyquist"):
        GaborHistSeed(allow_above_nyquist=False).fit()


def test_seed_histogram_reproduces_the_notebook():
    # Our responses differ from skimage's by ~1e-6 of their range (float32 separable passes
    # against float64 2-D convolutions) and the bins are computed in float32, so a value lying
    # that close to a bin edge may change bin: a few counts of 16 x 64 x 64 = 65,536.
    model = fitted("gabor_hist_seed")
    ours = model.transform(FACES)
    counts = 16 * 64 * 64
    for face, row in zip(FACES, ours, strict=True):
        reference = seed_gabor_histogram(face)
        assert np.abs(row - reference).max() * counts <= 4
        assert row.sum() == pytest.approx(1, abs=1e-6)


def test_seed_histogram_on_8bit_grey_files_is_the_notebooks_uint8_computation(tmp_path):
    # The notebook's imread(as_gray=True) keeps an 8-bit grey PNG as uint8, and skimage's gabor
    # then filters it in uint8 (responses truncated and wrapped modulo 256): notebook_uint8
    # reproduces that from the face as the pipeline loads it.
    (subject,) = generate_demo_dataset(tmp_path, n_subjects=1, n_frames=2, size=64, seed=0)
    paths = [tmp_path / "croppedImg" / subject / f"{frame}.png" for frame in (1, 2)]
    faces = load_faces(paths)
    ours = fitted("gabor_hist_seed", notebook_uint8=True).transform(faces)
    floats = fitted("gabor_hist_seed").transform(faces)
    counts = 16 * 64 * 64
    for path, row, float_row in zip(paths, ours, floats, strict=True):
        image = skimage.io.imread(path, as_gray=True)
        assert image.dtype == np.uint8
        reference = seed_gabor_histogram(image)
        # measured: the same counts on 16 demo images; a response within float32 rounding of
        # an integer could truncate to its neighbour, moving one count
        assert np.abs(np.rint(row * counts) - np.rint(reference * counts)).max() <= 1
        assert np.abs(float_row - reference).max() > 0.01  # the difference the option removes


def test_seed_histogram_on_colour_files_is_the_notebooks_float_computation(tmp_path):
    # imread(as_gray=True) turns colour into float64 grey in [0, 1]: the default path
    colour = (np.stack([face_like(64, 64, seed=s) for s in range(3)], axis=-1) * 255).astype(
        np.uint8
    )
    path = tmp_path / "colour.png"
    cv2.imwrite(str(path), colour)
    image = skimage.io.imread(path, as_gray=True)
    assert image.dtype == np.float64
    row = fitted("gabor_hist_seed").transform(load_faces([path]))[0]
    assert np.abs(row - seed_gabor_histogram(image)).max() * 16 * 64 * 64 <= 4


def test_seed_histogram_option_must_be_a_boolean():
    with pytest.raises(ValueError, match="notebook_uint8 must be true or false"):
        fitted("gabor_hist_seed", notebook_uint8="yes")


def test_own_range_histogram_counts_like_numpy():
    rng = np.random.default_rng(0)
    mismatched, total = 0, 0
    for _ in range(6):  # |Gabor response|-like: many small values, a long tail
        values = (rng.random(1 << 18, dtype=np.float32) ** 4 * rng.random()).astype(np.float32)
        expected, _ = np.histogram(values, bins=20)
        got = own_range_histogram(values, 20)
        assert got.sum() == values.size
        mismatched += np.abs(got - expected).sum() / 2
        total += values.size
    assert mismatched <= 10  # measured: about 1 value in 10^6 crosses an edge
    constant = np.full(100, 0.3, np.float32)  # np.histogram: everything in the middle bin
    np.testing.assert_array_equal(own_range_histogram(constant, 20), np.histogram(constant, 20)[0])
    np.testing.assert_array_equal(own_range_histogram(constant[:7], 1), [7])


def test_gabor_energy_is_the_cell_mean_and_std_of_the_modulus():
    faces = np.stack([face_like(30, 26, seed=s) for s in range(2)])  # cells of unequal sizes
    model = GaborEnergy(frequencies=(0.1, 0.3), orientations_deg=(0, 60), grid=(3, 4)).fit()
    features = model.transform(faces).reshape(2, 4, 3, 4, 2)
    modulus = np.abs(GaborBank((0.1, 0.3), (0, 60)).responses(faces)).astype(np.float64)
    rows, cols = np.round(np.linspace(0, 30, 4)).astype(int), np.round(np.linspace(0, 26, 5))
    cols = cols.astype(int)
    for r in range(3):
        for c in range(4):
            cell = modulus[:, :, rows[r] : rows[r + 1], cols[c] : cols[c + 1]]
            np.testing.assert_allclose(features[:, :, r, c, 0], cell.mean(axis=(2, 3)), rtol=1e-5)
            np.testing.assert_allclose(
                features[:, :, r, c, 1], cell.std(axis=(2, 3)), rtol=1e-4, atol=1e-7
            )


def test_sampling_steps_follow_the_envelope_and_the_cell_size():
    model = GaborEnergy().fit()
    # 16 px cells at the shipped 96 px: every pixel; 42 px cells at 256 px: sigma / 2 decides
    assert model.sampling_steps((96, 96)) == (1, 1, 1)
    assert model.sampling_steps((128, 128)) == (2, 2, 1)
    assert model.sampling_steps((256, 256)) == (4, 2, 1)
    assert GaborEnergy(sampling="every_pixel").fit().sampling_steps((256, 256)) == (1, 1, 1)
    with pytest.raises(ValueError, match="sampling must be one of auto, every_pixel"):
        GaborEnergy(sampling="coarse").fit()


def test_auto_sampling_keeps_every_pixel_at_the_shipped_size():
    faces = np.stack([face_like(96, 96, seed=s) for s in range(2)])
    np.testing.assert_array_equal(
        GaborEnergy().fit().transform(faces),
        GaborEnergy(sampling="every_pixel").fit().transform(faces),
    )


def test_sampled_gabor_energy_is_the_cell_mean_and_std_of_the_sampled_modulus():
    # 2 x 3 cells of 32 to 43 px: steps 2, 2, 1 for frequencies 0.0625, 0.125, 0.25
    faces = np.stack([face_like(64, 128, seed=s) for s in range(2)])
    model = GaborEnergy(orientations_deg=(0, 45), grid=(2, 3)).fit()
    steps = model.sampling_steps((64, 128))
    assert steps == (2, 2, 1)
    features = model.transform(faces).reshape(2, 6, 2, 3, 2)
    modulus = np.abs(model.bank_.responses(faces)).astype(np.float64)
    row_edges, col_edges = (0, 32, 64), (0, 43, 85, 128)
    for k, flt in enumerate(model.bank_.filters):
        step = steps[model.bank_.frequencies.index(flt.frequency)]
        rows, cols = sample_positions(64, step), sample_positions(128, step)
        for r in range(2):
            for c in range(3):
                in_rows = rows[(rows >= row_edges[r]) & (rows < row_edges[r + 1])]
                in_cols = cols[(cols >= col_edges[c]) & (cols < col_edges[c + 1])]
                cell = modulus[:, k][:, in_rows][:, :, in_cols]
                np.testing.assert_allclose(features[:, k, r, c, 0], cell.mean(axis=(1, 2)), 1e-4)
                np.testing.assert_allclose(
                    features[:, k, r, c, 1], cell.std(axis=(1, 2)), rtol=1e-3, atol=1e-7
                )


def test_auto_sampling_stays_close_to_every_pixel_at_256_px():
    faces = np.stack([face_like(256, 256, seed=s) for s in range(2)])
    shape = (2, 12, 36, 2)  # face, filter, cell, statistic
    exact = GaborEnergy(sampling="every_pixel").fit().transform(faces).reshape(shape)
    auto = GaborEnergy().fit().transform(faces).reshape(shape)
    # the highest frequency (every third filter) keeps every pixel: its features do not move
    np.testing.assert_array_equal(auto[:, 2::3], exact[:, 2::3])
    # the others, relative to the largest value of the same filter and statistic over the
    # cells (measured on these faces: at most 5% for means and 7% for standard deviations,
    # medians 0.13% and 0.15%)
    difference = np.abs(auto - exact) / np.abs(exact).max(axis=2, keepdims=True)
    assert difference.max() < 0.1
    assert np.median(difference[:, np.r_[0:12:3, 1:12:3]]) < 0.005


@pytest.mark.parametrize("lo, hi", [(0.0, 0.02), (0.004, 0.02)])
def test_gabor_hist_uses_a_fixed_range_and_clips_to_the_end_bins(lo, hi):
    bins = 10
    model = GaborHist(frequencies=(0.1,), orientations_deg=(0, 90), bins=bins, range=(lo, hi))
    features = model.fit().transform(FACES[:2]).reshape(2, 2, bins)
    modulus = np.abs(GaborBank((0.1,), (0, 90)).responses(FACES[:2]))
    for i in range(2):
        for k in range(2):
            clipped = np.clip(modulus[i, k], lo, hi * 0.999999)  # outside: into the end bins
            expected, _ = np.histogram(clipped, bins, (lo, hi))
            assert np.abs(features[i, k] * modulus[i, k].size - expected).max() <= 2
            assert features[i, k].sum() == pytest.approx(1)


def test_extract_shard_layout_and_metadata(tmp_path):
    folder = tmp_path / "SN001"
    folder.mkdir()
    for frame in (10, 2, 1):  # written out of order
        image = np.round(face_like(40, 40, seed=frame) * 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"{frame}.png"), image)
    paths = list(folder.glob("*.png"))
    table = extract_shard("SN001", paths, "gabor_energy", {"grid": 2}, face_size=32, batch_size=2)
    assert list(table.columns[:2]) == ["subject", "frame"]
    assert table["frame"].tolist() == [1, 2, 10] and table["frame"].dtype == np.int64
    assert (table["subject"] == "SN001").all()
    features = table.iloc[:, 2:]
    assert (features.dtypes == np.float32).all() and features.shape == (3, 3 * 4 * 4 * 2)
    one_batch = extract_shard("SN001", paths, "gabor_energy", {"grid": 2}, 32, batch_size=64)
    np.testing.assert_array_equal(one_batch.iloc[:, 2:].to_numpy(), features.to_numpy())

    meta = extraction_metadata("gabor_energy", {"grid": 2}, 32)
    json.dumps(meta)  # stored as JSON alongside the table
    assert meta["extractor"] == "gabor_energy" and meta["face_size"] == 32
    assert meta["params"]["grid"] == 2
    assert meta["params"]["frequencies"] == [0.0625, 0.125, 0.25]  # defaults recorded too
    assert {"auflow_version", "package_versions"} <= set(meta)


def test_the_gradient_magnitude_is_the_same_bits_wherever_its_output_sits():
    # HOG's and the Gabor modulus' buffers sit at other addresses from run to run; OpenCV's
    # IPP-backed cv2.magnitude computed the elements before an aligned address another way
    rng = np.random.default_rng(0)
    x, y = (rng.normal(size=100_000).astype(np.float32) for _ in range(2))
    raw = np.empty(x.nbytes + 128, np.uint8)
    start = -raw.ctypes.data % 64

    def at(offset: int) -> np.ndarray:
        out = raw[start + offset : start + offset + x.nbytes].view(np.float32)
        return magnitude(x, y, out).copy()

    first = at(0)
    np.testing.assert_allclose(first, np.hypot(x, y), rtol=2e-7)
    assert [offset for offset in range(4, 64, 4) if not np.array_equal(at(offset), first)] == []


@pytest.mark.parametrize("name", GABOR_EXTRACTORS)
def test_the_features_figure_finds_the_responses_of_every_gabor_extractor(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the seed's frequencies above Nyquist
        names = make_extractor(name).fit().get_feature_names_out()
    responses = EXTRACTORS[name].RESPONSES
    keys = [key for key in map(responses.key, names) if key is not None]
    # several bins (numbers) or filters (each over several face cells)
    assert len(set(keys)) > 1
    assert all(isinstance(key, int) for key in keys) == responses.numbered
    assert responses.numbered or len(keys) > len(set(keys))
