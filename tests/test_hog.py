"""The batched HOG extractor computes skimage's ``hog`` on each centre-cropped face.

Tolerance: features are at most 1 (every block norm divides by a sum at least as large as the
values). Ours uses float32 gradient magnitudes summed in float64, skimage float64 magnitudes
summed in float32, and both round the result to float32: a feature may differ by a few float32
roundings of 1, measured at most 6e-7 on these faces; 1e-5 leaves room for larger cells. Every
pixel is in skimage's orientation bin (the float64 angle decides near a bin edge), so there is
no exception for pixels on an edge: a pixel's magnitude in the wrong bin would move a feature
by about magnitude / cell area, well above 1e-5 for the cells below.
"""

import numpy as np
import pytest

from auflow.demo import generate_demo_dataset
from auflow.features.descriptors import HOG_BLOCK_NORMS, Hog, skimage_hog
from auflow.io.images import load_faces

from conftest import face_like

TOLERANCE = 1e-5


def assert_equals_skimage(model: Hog, faces: np.ndarray, rtol: float = 0.0) -> None:
    ours = model.transform(faces)
    reference = skimage_hog(model, faces)
    assert ours.shape == reference.shape == (len(faces), len(model.get_feature_names_out()))
    np.testing.assert_allclose(ours, reference, rtol=rtol, atol=TOLERANCE)


@pytest.mark.parametrize("block_norm", HOG_BLOCK_NORMS)
def test_equals_skimage_on_demo_faces(tmp_path, block_norm):
    (subject,) = generate_demo_dataset(tmp_path, n_subjects=1, n_frames=4, size=96, seed=0)
    paths = sorted((tmp_path / "croppedImg" / subject).glob("*.png"))
    for size in (96, 128):  # 128: resized, so grey levels are no longer multiples of 1/255
        faces = load_faces(paths, size)
        assert_equals_skimage(Hog(block_norm=block_norm).fit(), faces)


@pytest.mark.parametrize("block_norm", HOG_BLOCK_NORMS)
@pytest.mark.parametrize(
    ("size", "orientations", "grid", "cells_per_block"),
    [
        ((64, 64), 9, 8, (2, 2)),  # the default on an evenly divisible face
        ((67, 53), 9, 8, (2, 2)),  # cropped to 64 x 48
        ((100, 37), 7, [5, 4], (3, 2)),  # unequal cell sides; bin edges not whole degrees
        ((24, 17), 12, 8, (2, 3)),  # 3 x 2 px cells
        ((9, 11), 4, [9, 5], (1, 1)),  # 1 x 2 px cells, one cell per block
        ((16, 16), 1, 16, (4, 4)),  # 1 px cells, a single orientation bin
    ],
)
def test_equals_skimage_on_random_faces(size, orientations, grid, cells_per_block, block_norm):
    rng = np.random.default_rng(sum(size) + orientations)
    faces = rng.random((3, *size), dtype=np.float32)
    model = Hog(
        orientations=orientations, grid=grid, cells_per_block=cells_per_block, block_norm=block_norm
    ).fit()
    assert_equals_skimage(model, faces)


def test_equals_skimage_over_several_chunks():
    # 64 x 64 faces are extracted 16 at a time, in buffers reused by each chunk: 16, 16, then 9
    faces = np.stack([face_like(64, 64, seed=s) for s in range(41)])
    assert_equals_skimage(Hog().fit(), faces)


@pytest.mark.parametrize("orientations", [4, 8, 9])
def test_pixels_on_a_bin_edge_go_to_skimages_bin(orientations):
    # 8-bit ramps along rows, columns (both ways) and both diagonals: many gradients at exactly
    # 0, 45, 90, 135 and 180 degrees, the edges of 4 and 8 bins (and 0 and 180 of every count).
    # An edge pixel counted in the neighbouring bin would move a feature by ~0.1 here (1 px
    # cells of 2 x 2 px blocks).
    y, x = np.mgrid[0:32, 0:32]
    ramps = [y, x, 31 - x, y + x, y - x + 31, (y // 4) * 4 + x % 3]
    faces = np.stack([np.float32(r % 64) / np.float32(255) for r in ramps])
    for grid in (32, 8):
        model = Hog(orientations=orientations, grid=grid, cells_per_block=(2, 2), block_norm="L1")
        assert_equals_skimage(model.fit(), faces)


def test_tiny_gradients_are_binned_as_skimage_bins_them():
    # Grey levels below 1e-12 give gradients where OpenCV's fast arctangent is off by degrees;
    # eps = 1e-5 then dominates the L1 norm, so the features are ~1e-9 and compared relative
    # to their size.
    faces = np.stack([face_like(48, 48, seed=s) * np.float32(1e-12) for s in range(2)])
    model = Hog(block_norm="L1").fit()
    ours = model.transform(faces)
    assert 1e-10 < ours.max() < 1e-7
    np.testing.assert_allclose(ours, skimage_hog(model, faces), rtol=1e-4, atol=1e-15)


def test_unknown_block_norm_is_an_error_at_fit():
    with pytest.raises(ValueError, match="block_norm must be one of L1, L1-sqrt, L2, L2-Hys"):
        Hog(block_norm="L3").fit()


def test_grid_finer_than_the_face_is_an_error():
    with pytest.raises(ValueError, match="faces of 6x20 px cannot be split into a 8x8 grid"):
        Hog().fit().transform(np.zeros((1, 6, 20), np.float32))
