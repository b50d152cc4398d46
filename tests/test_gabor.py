"""The fast Gabor bank against skimage.filters.gabor, which the seed notebook used."""

import math
import warnings

import numpy as np
import pytest
from skimage.filters import gabor, gabor_kernel

from auflow.features.gabor import (
    NYQUIST,
    SEED_FREQUENCIES,
    SEED_ORIENTATIONS_DEG,
    GaborBank,
    reflected_range,
    sample_positions,
    separable_gabor_kernel,
    validate_frequencies,
)

from conftest import face_like

RELATIVE_TOLERANCE = 1e-4  # the bar; measured differences are ~1e-6 (float32 passes)


IMAGES = {
    "random": np.random.default_rng(1).random((48, 40), dtype=np.float32),
    "face": face_like(64, 64),
}


def seed_bank() -> GaborBank:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 0.6 and 0.8 are above Nyquist: that is the seed's bank
        return GaborBank(SEED_FREQUENCIES, SEED_ORIENTATIONS_DEG, allow_above_nyquist=True)


def relative(ours: np.ndarray, reference: np.ndarray) -> float:
    """max|ours - reference| / max|reference|, the issue's per-filter relative difference."""
    return float(np.abs(ours - reference).max() / np.abs(reference).max())


@pytest.mark.parametrize("frequency", [*SEED_FREQUENCIES, 0.05, 0.3])
@pytest.mark.parametrize("orientation", [*SEED_ORIENTATIONS_DEG, 30.0, 200.0])
def test_separable_factors_rebuild_skimage_kernel(frequency, orientation):
    ky, kx = separable_gabor_kernel(frequency, np.deg2rad(orientation))
    kernel = gabor_kernel(frequency, np.deg2rad(orientation))
    assert kernel.shape == (len(ky), len(kx))  # same support, same centre
    np.testing.assert_allclose(np.outer(ky, kx), kernel, rtol=0, atol=1e-12 * abs(kernel).max())


@pytest.mark.parametrize("name", IMAGES)
def test_seed_bank_matches_skimage_for_every_filter(name):
    image = IMAGES[name]
    bank = seed_bank()
    responses = bank.responses(image)
    assert responses.shape == (16, *image.shape) and responses.dtype == np.complex64
    for k, flt in enumerate(bank.filters):
        real, imag = gabor(image, flt.frequency, theta=np.deg2rad(flt.orientation_deg))
        reference = real.astype(np.float64) + 1j * imag
        label = f"{name} {flt.name}"
        assert relative(responses[k], reference) <= RELATIVE_TOLERANCE, label
        assert relative(responses[k].real, real) <= RELATIVE_TOLERANCE, label
        assert relative(responses[k].imag, imag) <= RELATIVE_TOLERANCE, label


def test_other_banks_and_kernels_larger_than_the_image():
    # f = 0.05 has a 69 px kernel: the reflection must fold more than once across 20 px,
    # as scipy's mode='reflect' does; 30 and 100 deg have rectangular kernels, no shared passes
    image = face_like(20, 30, seed=3)
    bank = GaborBank((0.05, 0.15, 0.45), (0.0, 30.0, 100.0), bandwidth=1.5)
    responses = bank.responses(image)
    for k, flt in enumerate(bank.filters):
        real, imag = gabor(
            image, flt.frequency, theta=np.deg2rad(flt.orientation_deg), bandwidth=1.5
        )
        assert relative(responses[k], real + 1j * imag.astype(np.float64)) <= RELATIVE_TOLERANCE


def test_bank_order_and_names():
    bank = GaborBank((0.1, 0.25), (0, 45))
    assert bank.names == ["t000_f0.10", "t000_f0.25", "t045_f0.10", "t045_f0.25"]
    assert GaborBank((0.0625,), (22.5,)).names == ["t22.5_f0.0625"]
    assert len(bank) == 4


@pytest.mark.parametrize("width", [64, 30])
def test_a_batch_filters_like_one_face_at_a_time(width):
    # the same bits: the passes along columns filter 64 px faces side by side in one call and
    # 30 px faces face by face (OpenCV's tail loops would round differently side by side);
    # 0.1's 37 px kernel is longer than the 30 px side
    faces = np.stack([face_like(96, width, seed=s) for s in range(9)])
    bank = GaborBank((0.1, 0.2, 0.3), (0, 45, 90, 135))
    batch = bank.responses(faces)
    assert batch.shape == (9, 12, 96, width)
    for i, face in enumerate(faces):
        np.testing.assert_array_equal(batch[i], bank.responses(face))


@pytest.mark.parametrize("taps", [21, 29, 41, 55, 69])
@pytest.mark.parametrize("rows, width", [(96, 96), (7 * 96, 96), (64, 5 * 128), (16, 80)])
def test_banded_passes_are_filter2d_bit_for_bit(taps, rows, width):
    # the bank's long kernels run as band-matrix products only where the BLAS gives filter2D's
    # bits (checked once per process); with the pinned numpy's OpenBLAS the check passes (else
    # the bank would quietly fall back to filter2D, a third slower), and the products must give
    # filter2D's bits for any kernel, batch and face size
    import cv2

    from auflow.features import gabor

    assert gabor._band_matches_filter2d()
    rng = np.random.default_rng(taps)
    kernel = rng.standard_normal(taps).astype(np.float32)
    image = rng.random((rows, width), dtype=np.float32)
    work = gabor._Workspace()
    reflect = {"borderType": cv2.BORDER_REFLECT}
    if taps <= width:
        along_rows = gabor._banded_rows(image, kernel[None, :], np.empty_like(image), work)
        expected = cv2.filter2D(image, cv2.CV_32F, kernel[None, :], **reflect)
        np.testing.assert_array_equal(along_rows, expected)
    if taps <= rows:
        along_columns = gabor._banded_columns(image, kernel[:, None], np.empty_like(image), work)
        expected = cv2.filter2D(image, cv2.CV_32F, kernel[:, None], **reflect)
        np.testing.assert_array_equal(along_columns, expected)


def test_real_only_gives_the_same_real_parts():
    image = IMAGES["face"]
    bank = seed_bank()
    full = bank.responses(image)
    for index, real, imag in bank.iter_responses(image, real_only=True):
        assert imag is None
        np.testing.assert_array_equal(real, full[index].real)


def test_sample_positions_start_near_the_middle_of_the_first_step():
    np.testing.assert_array_equal(sample_positions(5, 1), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(sample_positions(10, 2), [0, 2, 4, 6, 8])
    np.testing.assert_array_equal(sample_positions(10, 4), [1, 5, 9])
    np.testing.assert_array_equal(sample_positions(9, 3), [1, 4, 7])
    for bad in (0, -2, 1.5):
        with pytest.raises(ValueError, match="step"):
            sample_positions(10, bad)


@pytest.mark.parametrize("step", [2, 3, 4])
@pytest.mark.parametrize(
    "shape, frequencies, orientations",
    [
        # the default bank on a face: 45 and 135 deg share their parts
        ((3, 96, 80), (0.0625, 0.125, 0.25), (0, 45, 90, 135)),
        # odd sizes, rectangular kernels; 0.05 has a 69 px kernel on a 30 px side: its
        # reflection folds more than once
        ((2, 61, 30), (0.05, 0.15), (0, 30, 100)),
    ],
)
def test_sampled_responses_are_the_full_responses_at_the_sampled_pixels(
    step, shape, frequencies, orientations
):
    n, h, w = shape
    faces = np.stack([face_like(h, w, seed=s) for s in range(n)])
    bank = GaborBank(frequencies, orientations)
    full = bank.responses(faces)
    rows, cols = sample_positions(h, step), sample_positions(w, step)
    steps = [step, 1] + [step] * (len(frequencies) - 2)  # a full-resolution one among them
    seen = set()
    for index, real, imag in bank.iter_responses(faces, steps=steps):
        frequency = bank.filters[index].frequency
        sampled = steps[bank.frequencies.index(frequency)] > 1
        expected = full[:, index][:, rows][:, :, cols] if sampled else full[:, index]
        assert real.shape == imag.shape == expected.shape
        label = f"{bank.filters[index].name} step {step}"
        assert relative(real + 1j * imag.astype(np.float64), expected) <= RELATIVE_TOLERANCE, label
        seen.add(index)
    assert seen == set(range(len(bank)))


def test_sampled_real_only_and_one_face():
    face = face_like(64, 48, seed=2)
    bank = GaborBank((0.1, 0.2), (0, 45))
    full = bank.responses(face)
    rows, cols = sample_positions(64, 2), sample_positions(48, 2)
    for index, real, imag in bank.iter_responses(face, real_only=True, steps=(2, 2)):
        assert imag is None and real.shape == (len(rows), len(cols))
        assert relative(real, full[index].real[np.ix_(rows, cols)]) <= RELATIVE_TOLERANCE
    with pytest.raises(ValueError, match="one per frequency"):
        next(bank.iter_responses(face, steps=(2,)))


@pytest.mark.parametrize("n, pad", [(5, 2), (5, 5), (3, 8), (1, 4)])
def test_reflected_range_is_scipy_reflect(n, pad):
    from scipy import ndimage as ndi

    line = np.arange(n, dtype=float)
    weights = np.zeros(2 * pad + 1)
    for shift in range(-pad, pad + 1):  # a one-tap kernel reads the border values
        weights[:] = 0
        weights[pad + shift] = 1
        # correlate1d with mode='reflect' is what ndi.convolve (skimage's gabor) uses
        expected = ndi.correlate1d(line, weights, mode="reflect")
        got = line[reflected_range(n, -pad, n + 2 * pad)][pad + shift : pad + shift + n]
        np.testing.assert_array_equal(got, expected)


def test_nyquist_is_an_error_by_default():
    with pytest.raises(ValueError, match="Nyquist") as error:
        validate_frequencies([0.1, 0.6])
    message = str(error.value)
    assert "0.6" in message and "allow_above_nyquist" in message and "seed" in message
    with pytest.raises(ValueError, match="Nyquist"):
        GaborBank([NYQUIST])


def test_nyquist_with_allow_is_a_warning_naming_the_frequencies():
    with pytest.warns(UserWarning, match=r"\[0\.6, 0\.8\].*Nyquist"):
        assert validate_frequencies(SEED_FREQUENCIES, allow_above_nyquist=True) == (
            0.2,
            0.4,
            0.6,
            0.8,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # below Nyquist: silent
        assert validate_frequencies((0.1, 0.25)) == (0.1, 0.25)


@pytest.mark.parametrize("bad", [[], [0.0], [-0.1], [math.nan]])
def test_invalid_frequencies(bad):
    with pytest.raises(ValueError, match="frequencies"):
        validate_frequencies(bad)


def test_repeated_filters():
    with pytest.raises(ValueError, match="repeat"):
        GaborBank((0.1, 0.1), (0,))
    with pytest.raises(ValueError, match="repeat"):
        GaborBank((0.1,), (0, 45, 0))


def test_bad_input_shape():
    with pytest.raises(ValueError, match=r"\(n, h, w\)"):
        next(GaborBank((0.1,), (0,)).iter_responses(np.zeros((2, 3, 4, 5), np.float32)))
