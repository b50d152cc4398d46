"""Descriptors: a face batch in, one float32 feature row per face out.

Every extractor follows the scikit-learn transformer contract (``__init__`` only stores its
keyword arguments, ``fit`` validates them and returns ``self``) and is chosen by name through
:func:`make_extractor`. ``transform`` takes ``(n, h, w)`` float32 faces with grey levels in
[0, 1] and returns ``(n, n_features)`` float32; ``get_feature_names_out`` names the columns and
does not depend on the face size, so a feature table's columns are known before any image is read.

Extractors (name: class, features):

- ``gabor_energy`` (default): :class:`GaborEnergy`, mean and standard deviation of the Gabor
  modulus per filter and per cell of a grid over the face.
- ``gabor_hist``: :class:`GaborHist`, per filter, a histogram of the Gabor modulus over a fixed
  range shared by all images.
- ``gabor_hist_seed``: :class:`GaborHistSeed`, the seed notebook's histogram, to reproduce it.
- ``hog``: :class:`Hog`, skimage's HOG on a fixed grid of cells.
- ``lbp``: :class:`Lbp`, histograms of uniform local binary patterns per grid cell.
"""

from __future__ import annotations

import inspect
import re
import warnings
from dataclasses import dataclass

import cv2
import numpy as np

from auflow.features.gabor import (
    SEED_FREQUENCIES,
    SEED_ORIENTATIONS_DEG,
    GaborBank,
    gabor_sigma,
    iter_chunks,
    sample_positions,
    validate_frequencies,
)

DEFAULT_EXTRACTOR = "gabor_energy"
# One octave apart (wavelengths 16, 8 and 4 px), all below Nyquist. The lowest frequency costs
# the most (kernel length ~ 1 / f): with (0.05, 0.1, 0.2, 0.3) a 256 px face takes ~40% longer
# and a DISFA-sized extraction would take ~12 instead of ~9 minutes on 2 cores, over the 10-minute
# goal (docs/performance.md).
DEFAULT_FREQUENCIES = (0.0625, 0.125, 0.25)
DEFAULT_ORIENTATIONS_DEG = SEED_ORIENTATIONS_DEG
# gabor_energy's sampling: "auto" evaluates each frequency's modulus every s pixels, s the largest
# power of two with at most sigma / _SIGMA_PER_STEP (the modulus varies on the scale of the
# envelope's sigma) and at least _MIN_CELL_SAMPLES samples along every cell side (so the shipped
# 96 px faces, 16 px cells, keep every pixel); "every_pixel" uses them all. docs/performance.md
# ("Sampled Gabor modulus") measures what auto changes and saves.
GABOR_SAMPLING = ("auto", "every_pixel")
_SIGMA_PER_STEP = 2.0
_MIN_CELL_SAMPLES = 10


def check_faces(faces) -> np.ndarray:
    """``faces`` as a C-contiguous (n, h, w) float32 array; ValueError if it is not 3-D."""
    faces = np.ascontiguousarray(faces, dtype=np.float32)
    if faces.ndim != 3:
        raise ValueError(f"faces must be an (n, h, w) array of grey faces, got shape {faces.shape}")
    return faces


def _grid(grid, what: str = "grid") -> tuple[int, int]:
    """``4`` or ``[4, 4]`` -> (4, 4): rows and columns of cells, each at least 1."""
    cells = (grid, grid) if np.ndim(grid) == 0 else tuple(grid)
    if len(cells) != 2 or any(int(c) != c or c < 1 for c in cells):
        raise ValueError(f"{what} must be a positive integer or [rows, cols], got {grid!r}")
    return int(cells[0]), int(cells[1])


def _cell_edges(size: int, cells: int, what: str) -> np.ndarray:
    """Integer cell boundaries splitting ``size`` pixels into ``cells`` near-equal cells."""
    if size < cells:
        raise ValueError(f"faces of {size} px cannot be split into {cells} {what}")
    return np.round(np.linspace(0, size, cells + 1)).astype(np.intp)


def magnitude(x: np.ndarray, y: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``sqrt(x**2 + y**2)`` of float32 arrays into ``out``, the same bits wherever ``out`` sits.

    ``cv2.magnitude`` with Intel IPP off for the call. OpenCV's wheels hand the function to
    IPP, whose ``ippsMagnitude_32f`` computes the elements before the first 32-byte aligned
    address of ``out`` another way than the rest, a last-bit difference: the address of a buffer
    changes from run to run, and so did HOG and gabor_energy features (by up to 3e-8, after which
    the HOG baseline's scores differed by up to 7e-4; issue #26). OpenCV's own loop gives each
    element the same fused multiply-add and square root wherever it sits, as fast.

    Parameters
    ----------
    x, y : float32 arrays of one shape
    out : float32 array of that shape

    Returns
    -------
    ``out``
    """
    previous = cv2.ipp.useIPP()  # a per-thread setting in OpenCV
    cv2.ipp.setUseIPP(False)
    try:
        return cv2.magnitude(x, y, out)
    finally:
        cv2.ipp.setUseIPP(previous)


def rows_of(responses: np.ndarray) -> np.ndarray:
    """(n, h, w) responses of :meth:`GaborBank.iter_responses` as the (h n, w) rows it holds
    them in, the faces' rows interleaved (a view; a copy only for other arrays)."""
    n, h, w = responses.shape
    return responses.transpose(1, 0, 2).reshape(h * n, w)


class _Extractor:
    """Common scikit-learn plumbing: ``fit`` validates and records the output columns.

    The scikit-learn transformer contract without importing scikit-learn: ``get_params``,
    ``set_params`` and ``fit_transform`` behave as ``BaseEstimator``'s and ``TransformerMixin``'s
    (so ``sklearn.base.clone``, Pipelines and searches work), and the not-fitted error is
    scikit-learn's ``NotFittedError``. Importing scikit-learn takes ~2 s (it loads scipy.stats),
    which every extraction job paid for nothing: 27 subjects x 2 extractors are 54 jobs.
    """

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """The keyword arguments of ``__init__``, sorted (as scikit-learn lists them)."""
        signature = inspect.signature(cls.__init__)
        return sorted(name for name in signature.parameters if name != "self")

    def get_params(self, deep: bool = True) -> dict:
        """{parameter: value} as given to ``__init__`` (extractors hold no nested estimators,
        so ``deep`` changes nothing)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set parameters by name, as ``BaseEstimator.set_params``; returns ``self``."""
        known = self._get_param_names()
        for name, value in params.items():
            if name not in known:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {self!r}. "
                    f"Valid parameters are: {known!r}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            name: parameter.default
            for name, parameter in inspect.signature(type(self).__init__).parameters.items()
        }
        changed = [
            f"{name}={value!r}"
            for name, value in self.get_params().items()
            if not _same_value(value, defaults.get(name, inspect.Parameter.empty))
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        from sklearn.utils import Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(),
        )

    def fit(self, X=None, y=None):
        """Validate the parameters; no data is needed (``X`` and ``y`` are ignored)."""
        self._validate()
        self.feature_names_out_ = np.asarray(self._names(), dtype=object)
        self.n_features_out_ = len(self.feature_names_out_)
        return self

    def fit_transform(self, X, y=None) -> np.ndarray:
        """``fit(X, y).transform(X)``."""
        return self.fit(X, y).transform(X)

    def _check_is_fitted(self, attribute: str = "feature_names_out_") -> None:
        if not hasattr(self, attribute):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """(n_features,) object array of column names, the same for every face size."""
        self._check_is_fitted()
        return self.feature_names_out_

    def transform(self, X) -> np.ndarray:
        """Features of a batch of faces.

        Parameters
        ----------
        X : (n, h, w) float32 array (other float types are converted), grey levels in [0, 1].

        Returns
        -------
        (n, n_features) float32, columns as :meth:`get_feature_names_out`. Each row depends only
        on its own face: a batch gives the rows of its faces taken one at a time.
        """
        self._check_is_fitted()
        faces = check_faces(X)
        out = np.empty((len(faces), self.n_features_out_), np.float32)
        if len(faces):
            self._transform(faces, out)
        return out

    def _validate(self):
        raise NotImplementedError

    def _names(self) -> list[str]:
        raise NotImplementedError

    def _transform(self, faces: np.ndarray, out: np.ndarray) -> None:
        raise NotImplementedError


def _same_value(value, default) -> bool:
    try:
        return bool(value == default) and type(value) is type(default)
    except (TypeError, ValueError):  # e.g. arrays, whose == is elementwise
        return value is default


@dataclass(frozen=True)
class Responses:
    """How the features figure (:func:`auflow.plots.gabor_profile`) reads an extractor's filter
    responses: the feature columns matching ``pattern`` are averaged per subject and grouped by
    its ``key`` group, a bin number (``numbered``) or a filter's name, along an axis labelled
    ``axis``; ``value`` says what the averages are."""

    pattern: str
    axis: str
    numbered: bool
    value: str = "mean share of responses"

    def key(self, column: str):
        """The group of a response column (a bin number or a filter), None for another."""
        match = re.match(self.pattern, column)
        if match is None:
            return None
        return int(match.group("key")) if self.numbered else match.group("key")


class _GaborExtractor(_Extractor):
    """An extractor on a :class:`GaborBank` (``bank_``), built by ``fit`` from its parameters."""

    RESPONSES: Responses

    def _validate(self):
        # the bank validates the frequencies (an error, or a warning with allow_above_nyquist)
        self.bank_ = GaborBank(
            self.frequencies,
            self.orientations_deg,
            bandwidth=getattr(self, "bandwidth", 1.0),
            allow_above_nyquist=self.allow_above_nyquist,
        )


class GaborHistSeed(_GaborExtractor):
    """The notebook's 20-bin histogram of |real Gabor response|, each image binned on its own range.

    Kept only to reproduce the notebook: a bin does not mean the same thing in two images, and
    the default frequencies 0.6 and 0.8 cycles/pixel are above Nyquist (a warning at ``fit``).

    Parameters
    ----------
    orientations_deg : sequence of float, default (0, 45, 90, 135)
    frequencies : sequence of float, default (0.2, 0.4, 0.6, 0.8), cycles/pixel
    bins : int, default 20
    allow_above_nyquist : bool, default True
        The seed's frequencies need it; set False to turn the warning into an error.
    notebook_uint8 : bool, default False
        Compute what the notebook computed on 8-bit grey image files (see Notes). On in
        ``configs/seed_notebook.yaml``; leave it off for colour images, which the notebook read
        as floats.

    Notes
    -----
    As the notebook, this keeps only the real part of each response (``filtered, _ = gabor(...)``)
    and histograms ``|real|`` of all filters together with ``np.histogram(values, bins)`` on the
    image's own min and max, normalised to sum 1. Responses come from :class:`GaborBank` (equal
    to skimage's to ~1e-6 relative) and the binning is done with OpenCV: counts can differ from
    ``np.histogram`` for values within float32 rounding of a bin edge, measured at about one
    count in a million values (see docs/performance.md).

    The notebook read images with ``skimage.io.imread(path, as_gray=True)``, which returns an
    8-bit grey file unchanged as uint8 (colour files become float64 in [0, 1]). skimage's
    ``gabor`` does not convert integer images: ``scipy.ndimage.convolve`` computes in float64
    and stores the result in the input's dtype, uint8, by a C cast that on x86-64 truncates
    toward zero and wraps modulo 256 (-3.7 -> -3 -> 253); ``np.abs`` of uint8 changes nothing.
    So the notebook's histogram on grey files is of wrapped integer responses 0-255: small
    negative responses land at the top of the range. With ``notebook_uint8`` the faces are
    taken back to their 8-bit levels (``round(255 * face)``: exact for 8-bit files read at
    native size, as the seed config does), filtered, truncated and wrapped the same way, and
    binned exactly as ``np.histogram`` bins integers. Responses within float32 rounding of an
    integer may truncate to the neighbouring one: a few counts per image (tested).
    """

    RESPONSES = Responses(r"^gabor_hist_seed_bin(?P<key>\d+)$", "histogram bin", True)

    def __init__(
        self,
        orientations_deg=SEED_ORIENTATIONS_DEG,
        frequencies=SEED_FREQUENCIES,
        bins=20,
        allow_above_nyquist=True,
        notebook_uint8=False,
    ):
        self.orientations_deg = orientations_deg
        self.frequencies = frequencies
        self.bins = bins
        self.allow_above_nyquist = allow_above_nyquist
        self.notebook_uint8 = notebook_uint8

    def _validate(self):
        if int(self.bins) != self.bins or not 1 <= self.bins <= 254:
            raise ValueError(f"bins must be an integer from 1 to 254, got {self.bins!r}")
        if not isinstance(self.notebook_uint8, bool | np.bool_):
            raise ValueError(f"notebook_uint8 must be true or false, got {self.notebook_uint8!r}")
        super()._validate()

    def _names(self) -> list[str]:
        return [f"gabor_hist_seed_bin{b:02d}" for b in range(self.bins)]

    def _transform(self, faces, out):
        if self.notebook_uint8:
            self._transform_uint8(faces, out)
            return
        n, h, w = faces.shape
        per_chunk = _chunk_size(n, h, w)
        values = np.empty((per_chunk, len(self.bank_), h, w), np.float32)
        codes = np.empty((1, values[0].size), np.uint8)
        for chunk in iter_chunks(n, (h, w)):
            part = values[: chunk.stop - chunk.start]
            for index, real, _ in self.bank_.iter_responses(faces[chunk], real_only=True):
                np.abs(real, out=part[:, index])
            for i, face_values in enumerate(part, start=chunk.start):
                counts = own_range_histogram(face_values, int(self.bins), codes)
                out[i] = counts / counts.sum()

    def _transform_uint8(self, faces, out):
        """The notebook on 8-bit grey files: wrapped uint8 responses, binned as np.histogram."""
        n, h, w = faces.shape
        levels = np.rint(faces * np.float32(255))
        wrapped = np.empty((h, w), np.uint8)
        for chunk in iter_chunks(n, (h, w)):
            counts = np.zeros((chunk.stop - chunk.start, 256))
            for _, real, _ in self.bank_.iter_responses(levels[chunk], real_only=True):
                for i, response in enumerate(real):
                    # truncation toward zero, then the low byte: the C cast scipy stores with
                    np.bitwise_and(response.astype(np.int32), 255, out=wrapped, casting="unsafe")
                    counts[i] += cv2.calcHist([wrapped], [0], None, [256], [0, 256]).ravel()
            for i, value_counts in enumerate(counts, start=chunk.start):
                out[i] = integer_histogram(value_counts, int(self.bins))


def integer_histogram(value_counts: np.ndarray, bins: int) -> np.ndarray:
    """``np.histogram(values, bins)`` of integer values given as counts per value, normalised.

    Parameters
    ----------
    value_counts : (256,) counts of the values 0 to 255 (at least one non-zero).
    bins : int

    Returns
    -------
    (bins,) float64 fractions summing to 1, binned on the values' own min and max exactly as
    ``np.histogram`` bins them (numpy's own binning, weighted by the counts).
    """
    present = np.flatnonzero(value_counts)
    lo, hi = int(present[0]), int(present[-1])
    values = np.arange(lo, hi + 1, dtype=np.uint8)
    counts, _ = np.histogram(values, bins, range=(lo, hi), weights=value_counts[lo : hi + 1])
    return counts / counts.sum()


def _chunk_size(n: int, h: int, w: int) -> int:
    """Faces per chunk of :func:`iter_chunks` for a batch of n faces of h x w."""
    return max((c.stop - c.start for c in iter_chunks(n, (h, w))), default=0)


def own_range_histogram(
    values: np.ndarray, bins: int, codes: np.ndarray | None = None
) -> np.ndarray:
    """Counts of ``np.histogram(values, bins)`` (range = the values' own min and max), fast.

    Parameters
    ----------
    values : C-contiguous float32 array of any shape.
    bins : int, 1 to 254.
    codes : optional (1, values.size) uint8 scratch array.

    Returns
    -------
    (bins,) float64 counts. Bin ``k`` is ``floor((v - min) * bins / (max - min))``, evaluated in
    float32 by OpenCV; the maximum goes in the last bin, and when all values are equal they go in
    the middle bin, as with ``np.histogram``. Values within float32 rounding of an edge may fall
    on the other side of it than with ``np.histogram`` (about 1 in 10^6 values).
    """
    flat = values.reshape(1, -1)
    lo, hi, _, _ = cv2.minMaxLoc(flat)
    if hi <= lo:  # np.histogram widens an empty range by 0.5 on both sides
        lo, hi = lo - 0.5, hi + 0.5
    scale = bins / (hi - lo)
    # |t - 1/2| rounded to the nearest integer is floor(t) for t >= 0: one fused OpenCV pass to
    # uint8 bin codes, 7x faster than np.histogram; t == bins (the maximum) gives code `bins`,
    # folded into the last bin.
    codes = cv2.convertScaleAbs(flat, dst=codes, alpha=scale, beta=-lo * scale - 0.5)
    counts = cv2.calcHist([codes], [0], None, [bins + 1], [0, bins + 1]).ravel().astype(np.float64)
    counts[bins - 1] += counts[bins]
    return counts[:bins]


class GaborHist(_GaborExtractor):
    """Per Gabor filter, a histogram of the complex modulus over a fixed range.

    The range is the same for every image, so bin ``k`` of a filter means the same modulus
    interval in every image (unlike the seed's histogram).

    Parameters
    ----------
    frequencies : sequence of float, default (0.0625, 0.125, 0.25), cycles/pixel, below 0.5
    orientations_deg : sequence of float, default (0, 45, 90, 135)
    bins : int, default 20, at most 254
    range : [lo, hi], default (0.0, 0.08)
        Modulus range of the bins, equal bins of width ``(hi - lo) / bins``. Values at or above
        ``hi`` count in the last bin, values below ``lo`` in the first. The default is about the
        99.9th percentile of the modulus at the lowest default frequency on demo faces with grey
        levels in [0, 1] (docs/performance.md).
    bandwidth : float, default 1.0, skimage's bandwidth (octaves)
    allow_above_nyquist : bool, default False

    Output
    ------
    ``len(orientations) * len(frequencies) * bins`` fractions of the face's pixels, each
    filter's bins summing to 1; names ``gabor_hist_t045_f0.20_b07``.
    """

    RESPONSES = Responses(
        r"^gabor_hist_t[^_]+_f[^_]+_b(?P<key>\d+)$", "histogram bin (mean over filters)", True
    )

    def __init__(
        self,
        frequencies=DEFAULT_FREQUENCIES,
        orientations_deg=DEFAULT_ORIENTATIONS_DEG,
        bins=20,
        range=(0.0, 0.08),  # the config's name for it, though it shadows the builtin here
        bandwidth=1.0,
        allow_above_nyquist=False,
    ):
        self.frequencies = frequencies
        self.orientations_deg = orientations_deg
        self.bins = bins
        self.range = range
        self.bandwidth = bandwidth
        self.allow_above_nyquist = allow_above_nyquist

    def _validate(self):
        if int(self.bins) != self.bins or not 1 <= self.bins <= 254:
            raise ValueError(f"bins must be an integer from 1 to 254, got {self.bins!r}")
        lo, hi = (float(v) for v in self.range)
        if not (np.isfinite(lo) and np.isfinite(hi) and 0 <= lo < hi):
            raise ValueError(f"range must be [lo, hi] with 0 <= lo < hi, got {self.range!r}")
        super()._validate()

    def _names(self) -> list[str]:
        return [f"gabor_hist_{f}_b{b:02d}" for f in self.bank_.names for b in range(self.bins)]

    def _transform(self, faces, out):
        bins = int(self.bins)
        lo, hi = (float(v) for v in self.range)
        scale = bins / (hi - lo)
        n, h, w = faces.shape
        per_chunk = _chunk_size(n, h, w)
        modulus_buffer = np.empty((per_chunk * h, w), np.float32)
        codes_buffer = np.empty((per_chunk * h, w), np.uint8)
        view = out.reshape(n, len(self.bank_), bins)
        for chunk in iter_chunks(n, (h, w)):
            m = chunk.stop - chunk.start
            for index, real, imag in self.bank_.iter_responses(faces[chunk]):
                # the faces' rows interleaved, as the bank holds them
                modulus = magnitude(rows_of(real), rows_of(imag), modulus_buffer[: m * h])
                if lo > 0:
                    np.maximum(modulus, np.float32(lo), out=modulus)
                # floor((m - lo) * scale) as uint8, saturating at 255: codes >= `bins` are the
                # values at or above hi, folded into the last bin
                codes = cv2.convertScaleAbs(
                    modulus, dst=codes_buffer[: m * h], alpha=scale, beta=-lo * scale - 0.5
                )
                for i, face_codes in enumerate(codes.reshape(h, m, w).transpose(1, 0, 2)):
                    counts = cv2.calcHist([face_codes], [0], None, [256], [0, 256])
                    counts = counts.ravel()
                    counts[bins - 1] += counts[bins:].sum()
                    view[chunk.start + i, index] = counts[:bins] / (h * w)


class GaborEnergy(_GaborExtractor):
    """Mean and standard deviation of the Gabor modulus per filter and per cell of a grid.

    The grid keeps where on the face the energy is (brows, eyes, nose, mouth...), which Action
    Units need; unlike histograms, the statistics do not depend on a choice of bins or range.

    Parameters
    ----------
    frequencies : sequence of float, default (0.0625, 0.125, 0.25), cycles/pixel, below 0.5
    orientations_deg : sequence of float, default (0, 45, 90, 135)
    grid : int or [rows, cols], default 6
        Cells over the face; cell boundaries are rounded to whole pixels.
    bandwidth : float, default 1.0, skimage's bandwidth (octaves)
    allow_above_nyquist : bool, default False
    sampling : {"auto", "every_pixel"}, default "auto"
        Which pixels of the modulus the statistics are taken over. ``every_pixel``: all of
        them. ``auto``: for each frequency, every ``s``-th row and column
        (:func:`~auflow.features.gabor.sample_positions`), ``s`` the largest power of two at
        most ``sigma / 2`` (the envelope's sigma, 9 px at 0.0625 cycles/px: the modulus varies
        on that scale) with at least 10 samples along every cell side; the sampled values are
        the full-resolution modulus there. With the default frequencies and grid: every pixel
        for faces below 120 px (so at the shipped 96 px ``auto`` is ``every_pixel``), steps
        2, 2, 1 from 120 px and 4, 2, 1 from 240 px. At 256 px it is about 1.5x as fast; a
        feature moves by a median 0.6 % of its value (0.016 of its standard deviation over
        frames) and the F1 by at most 0.004 (docs/performance.md, "Sampled Gabor modulus").

    Output
    ------
    ``len(orientations) * len(frequencies) * rows * cols * 2`` features (384 by default), named
    ``gabor_t045_f0.20_c2_3_mean`` and ``..._std`` (orientation in degrees, frequency in
    cycles/pixel, cell row_col counted from the top left, statistic), in the order filter
    (orientation outer, frequency inner), cell row, cell column, statistic. The standard
    deviation is the population one (``ddof=0``) over the cell's (sampled) pixels.
    """

    RESPONSES = Responses(
        r"^gabor_(?P<key>t[^_]+_f[^_]+)_c\d+_\d+_mean$",
        "Gabor filter (orientation in degrees, frequency in cycles/pixel)",
        False,
        "mean Gabor energy",
    )

    def __init__(
        self,
        frequencies=DEFAULT_FREQUENCIES,
        orientations_deg=DEFAULT_ORIENTATIONS_DEG,
        grid=6,
        bandwidth=1.0,
        allow_above_nyquist=False,
        sampling="auto",
    ):
        self.frequencies = frequencies
        self.orientations_deg = orientations_deg
        self.grid = grid
        self.bandwidth = bandwidth
        self.allow_above_nyquist = allow_above_nyquist
        self.sampling = sampling

    def _validate(self):
        self.grid_ = _grid(self.grid)
        if self.sampling not in GABOR_SAMPLING:
            raise ValueError(
                f"sampling must be one of {', '.join(GABOR_SAMPLING)}, got {self.sampling!r}"
            )
        super()._validate()

    def sampling_steps(self, face_shape: tuple[int, int]) -> tuple[int, ...]:
        """The sampling step of each frequency of ``bank_`` (its order) for faces of
        ``face_shape`` (h, w): all 1 with ``sampling="every_pixel"``; see the class docstring."""
        self._check_is_fitted("bank_")
        if self.sampling == "every_pixel":
            return (1,) * len(self.bank_.frequencies)
        (h, w), (rows, cols) = face_shape, self.grid_
        smallest_cell = min(
            np.diff(_cell_edges(h, rows, "grid rows")).min(),
            np.diff(_cell_edges(w, cols, "grid columns")).min(),
        )
        steps = []
        for frequency in self.bank_.frequencies:
            largest = min(
                gabor_sigma(frequency, self.bandwidth) / _SIGMA_PER_STEP,
                smallest_cell / _MIN_CELL_SAMPLES,
            )
            step = 1
            while 2 * step <= largest:
                step *= 2
            steps.append(step)
        return tuple(steps)

    def _names(self) -> list[str]:
        rows, cols = self.grid_
        return [
            f"gabor_{f}_c{r}_{c}_{stat}"
            for f in self.bank_.names
            for r in range(rows)
            for c in range(cols)
            for stat in ("mean", "std")
        ]

    def _transform(self, faces, out):
        n, h, w = faces.shape
        rows, cols = self.grid_
        row_edges = _cell_edges(h, rows, "grid rows")
        col_edges = _cell_edges(w, cols, "grid columns")
        steps = self.sampling_steps((h, w))
        n_filters = len(self.bank_)
        # per frequency: the cell edges counted in sampled rows and columns, and the number of
        # samples of each cell
        sampled = []
        for step in steps:
            row_samples, col_samples = sample_positions(h, step), sample_positions(w, step)
            sample_rows = np.searchsorted(row_samples, row_edges)
            sample_cols = np.searchsorted(col_samples, col_edges)
            count = np.outer(np.diff(sample_rows), np.diff(sample_cols)).astype(np.float64)
            sampled.append((sample_rows, sample_cols, count))
        frequency_of = {f: k for k, f in enumerate(self.bank_.frequencies)}
        edges = [sampled[frequency_of[f.frequency]][:2] for f in self.bank_.filters]
        counts = np.stack([sampled[frequency_of[f.frequency]][2] for f in self.bank_.filters])
        counts = counts[:, :, None, :]  # (filter, cell row, face, cell column), as the sums
        view = out.reshape(n, n_filters, rows, cols, 2)
        per_chunk = _chunk_size(n, h, w)
        planes = np.empty(2 * per_chunk * h * w, np.float32)  # a filter's modulus, its square
        # per filter: the sums of the modulus and of its square over each cell, in float64 (the
        # variance is a difference of sums), by cell row, face and cell column
        sums = np.empty((n_filters, 2, rows, per_chunk, cols))
        row_sums_buffer = np.empty(2 * per_chunk * h * cols)
        for chunk in iter_chunks(n, (h, w)):
            m = chunk.stop - chunk.start
            cell_sums = sums[:, :, :, :m]
            for index, real, imag in self.bank_.iter_responses(faces[chunk], steps=steps):
                sample_rows, sample_cols = edges[index]
                _, h_s, w_s = real.shape
                # the faces' rows interleaved, as the bank holds them: (h_s m, w_s)
                both = planes[: 2 * m * h_s * w_s].reshape(2, h_s * m, w_s)  # contiguous
                magnitude(rows_of(real), rows_of(imag), both[0])
                np.square(both[0], out=both[1])
                # over each cell's part of each row, then over the cell's rows
                row_sums = row_sums_buffer[: 2 * h_s * m * cols].reshape(2 * h_s * m, cols)
                _row_cell_sums(both.reshape(-1, w_s), sample_cols, out=row_sums)
                row_sums = row_sums.reshape(2, h_s, m, cols)
                np.add.reduceat(row_sums, sample_rows[:-1], axis=1, out=cell_sums[index])
            mean = cell_sums[:, 0] / counts
            power = cell_sums[:, 1] / counts
            std = np.sqrt(np.maximum(power - mean * mean, 0.0))
            view[chunk, :, :, :, 0] = mean.transpose(2, 0, 1, 3)
            view[chunk, :, :, :, 1] = std.transpose(2, 0, 1, 3)


def _row_cell_sums(
    image: np.ndarray, col_edges: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """(rows, len(col_edges) - 1) float64 sums of each row of a 2-D float32 image between
    consecutive column edges, in ``out`` (C-contiguous) if given. (OpenCV's REDUCE_SUM2 would
    save the squaring pass but is 20x slower than REDUCE_SUM.)"""
    rows, width = image.shape
    cells = len(col_edges) - 1
    if out is None:
        out = np.empty((rows, cells))
    if width % cells == 0:  # equal cells: one OpenCV call on a (rows * cells, width / cells) view
        # into ``out``: a fresh 64 kB result a call cost a third of the call (7 faces of 96 px)
        segments = image.reshape(-1, width // cells)
        cv2.reduce(segments, 1, cv2.REDUCE_SUM, dst=out.reshape(-1, 1), dtype=cv2.CV_64F)
        return out
    for cell, (a, b) in enumerate(zip(col_edges[:-1], col_edges[1:], strict=True)):
        out[:, cell] = cv2.reduce(image[:, a:b], 1, cv2.REDUCE_SUM, dtype=cv2.CV_64F)[:, 0]
    return out


HOG_BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")
# cv2.phase's polynomial arctangent is within 0.0096 degree of numpy's float64 one for gradients
# above 1e-8 (measured on 2 million random gradients from 1e-8 to 1); near 1e-12 its guard
# against division by zero dominates and it is off by degrees. Pixels closer than this margin
# to a bin edge, or with such a small gradient, are binned again from the float64 angle, as
# skimage computes it.
_PHASE_MARGIN_DEG = 0.05
_PHASE_MIN_MAGNITUDE = 1e-8


class Hog(_Extractor):
    """Histogram of oriented gradients on a fixed grid of cells, equal to skimage's ``hog``.

    Parameters
    ----------
    orientations : int, default 9
    grid : int or [rows, cols], default 8
        Cells over the face: ``pixels_per_cell = (h // rows, w // cols)``; the face is
        centre-cropped to a whole number of cells, so the feature count does not depend on the
        face size.
    cells_per_block : [rows, cols], default (2, 2)
    block_norm : {"L1", "L1-sqrt", "L2", "L2-Hys"}, default "L2-Hys"

    Output
    ------
    ``(rows - br + 1) * (cols - bc + 1) * br * bc * orientations`` features in skimage's order,
    named ``hog_b{block row}_{block col}_c{cell row}_{cell col}_o{orientation bin}``.

    Notes
    -----
    Computes what ``skimage.feature.hog(face, orientations, pixels_per_cell, cells_per_block,
    block_norm, feature_vector=True)`` returns for each centre-cropped face (skimage 0.26), on
    a batch of faces at once and about 10x faster: central differences with zero gradient on
    the crop's border rows and columns; the unsigned orientation ``degrees(arctan2(g_row,
    g_col)) % 180``, in bin ``i`` if ``180 / orientations * i <= angle < 180 / orientations
    * (i + 1)`` (computed in float64; an angle at or above the last edge, possible only by
    rounding, counts in no bin, as in skimage); each cell's histogram of gradient magnitudes
    divided by the cell's pixel count; and each block normalised with skimage's formulas and
    ``eps = 1e-5``. Bins come from OpenCV's fast arctangent, except near a bin edge where the
    float64 angle decides, so every pixel lands in skimage's bin. Magnitudes are float32 and
    cell sums float64 where skimage has float64 magnitudes and float32 sums: features differ
    by float32 rounding, at most ~1e-6 (tested).
    """

    def __init__(self, orientations=9, grid=8, cells_per_block=(2, 2), block_norm="L2-Hys"):
        self.orientations = orientations
        self.grid = grid
        self.cells_per_block = cells_per_block
        self.block_norm = block_norm

    def _validate(self):
        self.grid_ = _grid(self.grid)
        self.cells_per_block_ = _grid(self.cells_per_block, "cells_per_block")
        if any(b > g for b, g in zip(self.cells_per_block_, self.grid_, strict=True)):
            raise ValueError(f"cells_per_block {self.cells_per_block} exceeds grid {self.grid}")
        if int(self.orientations) != self.orientations or self.orientations < 1:
            raise ValueError(f"orientations must be a positive integer, got {self.orientations}")
        if self.block_norm not in HOG_BLOCK_NORMS:
            raise ValueError(
                f"block_norm must be one of {', '.join(HOG_BLOCK_NORMS)}, got {self.block_norm!r}"
            )

    def _names(self) -> list[str]:
        (rows, cols), (br, bc) = self.grid_, self.cells_per_block_
        return [
            f"hog_b{r}_{c}_c{i}_{j}_o{o}"
            for r in range(rows - br + 1)
            for c in range(cols - bc + 1)
            for i in range(br)
            for j in range(bc)
            for o in range(int(self.orientations))
        ]

    def _transform(self, faces, out):
        n, h, w = faces.shape
        rows, cols = self.grid_
        ph, pw = h // rows, w // cols
        if ph < 1 or pw < 1:
            raise ValueError(f"faces of {h}x{w} px cannot be split into a {rows}x{cols} grid")
        top, left = (h - ph * rows) // 2, (w - pw * cols) // 2
        height, width = ph * rows, pw * cols
        n_bins = int(self.orientations)
        workspace = _HogWorkspace(_chunk_size(n, height, width), (rows, cols), (ph, pw), n_bins)
        for chunk in iter_chunks(n, (height, width)):
            crop = faces[chunk, top : top + height, left : left + width]
            histograms = workspace.cell_histograms(crop) / (ph * pw)
            blocks = _hog_normalised_blocks(histograms, self.cells_per_block_, self.block_norm)
            out[chunk] = blocks.reshape(len(crop), -1)


class _HogWorkspace:
    """Cell histograms of chunks of faces, as skimage bins them, in buffers reused by every chunk.

    Fresh arrays of a chunk's size are mapped and zeroed by the system at each call (glibc
    serves them by mmap), which made the 256 px extraction up to 3x slower; reused buffers
    make the time independent of what the process allocated before.

    Parameters
    ----------
    per_chunk : int, the most faces of a chunk
    grid : (rows, cols) cells of a face
    cell_size : (ph, pw) pixels of a cell
    n_bins : int, orientation bins over 180 degrees
    """

    def __init__(self, per_chunk: int, grid, cell_size, n_bins: int):
        (rows, cols), (ph, pw) = grid, cell_size
        self.grid, self.n_bins = (rows, cols), n_bins
        plane = (per_chunk * ph * rows, pw * cols)
        # g_row and g_col are zero on each face's border, which is never written
        self.g_row, self.g_col = np.zeros(plane, np.float32), np.zeros(plane, np.float32)
        self.magnitude, self.position = np.empty(plane, np.float32), np.empty(plane, np.float32)
        self.lower = np.empty(plane, np.float32)
        self.weights = np.empty(plane)  # float64, as np.bincount wants them
        self.bins = np.empty(plane, np.intp)
        self.doubtful, self.mask = np.empty(plane, bool), np.empty(plane, bool)
        # index of each pixel's (face in the chunk, cell, bin 0) in the flattened histograms
        cell = (np.arange(ph * rows) // ph)[:, None] * cols + (np.arange(pw * cols) // pw)
        faces = np.arange(per_chunk)[:, None, None] * rows * cols
        self.first_bin = ((faces + cell) * n_bins).reshape(plane)

    def cell_histograms(self, faces: np.ndarray) -> np.ndarray:
        """Sums of gradient magnitudes per face, cell and orientation bin.

        Parameters
        ----------
        faces : (m, height, width) float32 cropped faces, m at most ``per_chunk``

        Returns
        -------
        (m, rows, cols, n_bins) float64 sums (not yet divided by the cell's pixel count).
        """
        m, height, width = faces.shape
        n_bins, used = self.n_bins, slice(0, m * height)
        g_row, g_col = self.g_row[used], self.g_col[used]
        np.subtract(faces[:, 2:], faces[:, :-2], out=g_row.reshape(m, height, width)[:, 1:-1])
        np.subtract(faces[..., 2:], faces[..., :-2], out=g_col.reshape(m, height, width)[..., 1:-1])
        magnitudes = magnitude(g_col, g_row, self.magnitude[used])
        # the angle in degrees, [0, 360]; opposite gradients are one orientation: angles from
        # 180 up less 180 (exact in float32)
        position = cv2.phase(g_col, g_row, self.position[used], angleInDegrees=True)
        above = np.greater_equal(position, 180, out=self.mask[used])
        np.subtract(position, 180, out=position, where=above)
        position *= np.float32(n_bins / 180)  # now in bin widths, [0, n_bins]
        lower = np.floor(position, out=self.lower[used])
        bins = self.bins[used]
        np.copyto(bins, lower, casting="unsafe")
        position -= lower  # the fraction of a bin above the pixel's lower edge
        margin = np.float32(_PHASE_MARGIN_DEG * n_bins / 180)
        doubtful, mask = self.doubtful[used], self.mask[used]
        np.less(position, margin, out=doubtful)
        doubtful |= np.greater(position, 1 - margin, out=mask)
        doubtful |= np.less(magnitudes, _PHASE_MIN_MAGNITUDE, out=mask)
        # A horizontal gradient (g_row == 0: often 8% of a face's pixels, and all flat ones) is
        # at 0 or 180 degrees by cv2.phase, so in bin 0 here, and at degrees(pi) % 180 == 0 by
        # skimage: it needs no float64 angle. Any other pixel in bin n_bins (a position of
        # n_bins by rounding) has a fraction of 0, so is doubtful and rebinned.
        doubtful &= np.not_equal(g_row, 0, out=mask)
        weights = self.weights[used]
        np.copyto(weights, magnitudes)
        recheck = np.flatnonzero(doubtful)
        if len(recheck):
            row64 = g_row.ravel()[recheck].astype(np.float64)
            col64 = g_col.ravel()[recheck].astype(np.float64)
            angle = np.rad2deg(np.arctan2(row64, col64)) % 180
            edges = 180.0 / n_bins * np.arange(n_bins + 1)
            exact = np.searchsorted(edges, angle, side="right") - 1
            beyond = exact == n_bins  # 180 by rounding, or above a last edge rounded below 180
            exact[beyond] = 0
            weights.ravel()[recheck[beyond]] = 0
            bins.ravel()[recheck] = exact
        bins += self.first_bin[used]
        length = m * self.grid[0] * self.grid[1] * n_bins
        sums = np.bincount(bins.ravel(), weights=weights.ravel(), minlength=length)
        return sums.reshape(m, *self.grid, n_bins)


def _hog_normalised_blocks(histograms: np.ndarray, cells_per_block, block_norm: str) -> np.ndarray:
    """skimage's block normalisation of cell histograms, all faces and blocks at once.

    Parameters
    ----------
    histograms : (m, rows, cols, n_bins) float64 cell histograms
    cells_per_block : (br, bc)
    block_norm : one of :data:`HOG_BLOCK_NORMS`

    Returns
    -------
    (m, rows - br + 1, cols - bc + 1, br, bc, n_bins) float64 normalised blocks.
    """
    eps = 1e-5
    windows = np.lib.stride_tricks.sliding_window_view(histograms, cells_per_block, axis=(1, 2))
    blocks = windows.transpose(0, 1, 2, 4, 5, 3)
    within = (3, 4, 5)
    if block_norm in ("L1", "L1-sqrt"):
        blocks = blocks / (np.abs(blocks).sum(axis=within, keepdims=True) + eps)
        return np.sqrt(blocks) if block_norm == "L1-sqrt" else blocks
    blocks = blocks / np.sqrt(np.square(blocks).sum(axis=within, keepdims=True) + eps**2)
    if block_norm == "L2-Hys":
        blocks = np.minimum(blocks, 0.2)
        blocks /= np.sqrt(np.square(blocks).sum(axis=within, keepdims=True) + eps**2)
    return blocks


def skimage_hog(extractor: Hog, faces: np.ndarray) -> np.ndarray:
    """(n, n_features) scikit-image's ``hog`` of each face, cropped and parametrised as a fitted
    :class:`Hog` documents: the face-by-face reference its batched transform reproduces (the
    tests and ``bench/hog.py`` compare against it)."""
    from skimage.feature import hog

    _, h, w = faces.shape
    rows, cols = extractor.grid_
    ph, pw = h // rows, w // cols
    top, left = (h - ph * rows) // 2, (w - pw * cols) // 2
    return np.stack(
        [
            hog(
                face[top : top + ph * rows, left : left + pw * cols],
                orientations=int(extractor.orientations),
                pixels_per_cell=(ph, pw),
                cells_per_block=extractor.cells_per_block_,
                block_norm=extractor.block_norm,
                feature_vector=True,
            )
            for face in faces
        ]
    )


class Lbp(_Extractor):
    """Histograms of uniform local binary patterns per cell of a grid over the face.

    Parameters
    ----------
    P : int, default 8, neighbours
    R : float, default 1.0, radius (pixels)
    grid : int or [rows, cols], default 4
    method : {"uniform", "nri_uniform"}, default "uniform"
        skimage's codes: ``P + 2`` (rotation-invariant uniform patterns and one code for all
        non-uniform ones) or ``P (P - 1) + 3``.

    Output
    ------
    ``rows * cols * n_codes`` fractions of the cell's pixels, named ``lbp_c1_2_u03`` (cell
    row_col, code). Faces are quantised to 8 bits first (the images are 8-bit; skimage's LBP
    on floats is sensitive to rounding noise between equal neighbours).
    """

    def __init__(self, P=8, R=1.0, grid=4, method="uniform"):
        self.P = P
        self.R = R
        self.grid = grid
        self.method = method

    def _validate(self):
        self.grid_ = _grid(self.grid)
        if int(self.P) != self.P or self.P < 1:
            raise ValueError(f"P must be a positive integer, got {self.P!r}")
        if not self.R > 0:
            raise ValueError(f"R must be positive, got {self.R!r}")
        codes = {"uniform": self.P + 2, "nri_uniform": self.P * (self.P - 1) + 3}
        if self.method not in codes:
            raise ValueError(f"method must be one of {sorted(codes)}, got {self.method!r}")
        self.n_codes_ = int(codes[self.method])

    def _names(self) -> list[str]:
        rows, cols = self.grid_
        width = len(str(self.n_codes_ - 1))
        return [
            f"lbp_c{r}_{c}_u{u:0{max(2, width)}d}"
            for r in range(rows)
            for c in range(cols)
            for u in range(self.n_codes_)
        ]

    def _transform(self, faces, out):
        from skimage.feature import local_binary_pattern

        n, h, w = faces.shape
        rows, cols = self.grid_
        row_edges = _cell_edges(h, rows, "grid rows")
        col_edges = _cell_edges(w, cols, "grid columns")
        cell = (np.searchsorted(row_edges, np.arange(h), side="right") - 1)[:, None] * cols + (
            np.searchsorted(col_edges, np.arange(w), side="right") - 1
        )[None, :]
        offset = (cell * self.n_codes_).ravel()
        area = np.outer(np.diff(row_edges), np.diff(col_edges)).reshape(-1, 1)
        grey = np.round(np.clip(faces, 0, 1) * 255).astype(np.uint8)
        for i in range(n):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                codes = local_binary_pattern(grey[i], int(self.P), float(self.R), self.method)
            counts = np.bincount(
                offset + codes.astype(np.intp).ravel(), minlength=rows * cols * self.n_codes_
            )
            out[i] = (counts.reshape(rows * cols, self.n_codes_) / area).ravel()


EXTRACTORS = {
    "gabor_energy": GaborEnergy,
    "gabor_hist": GaborHist,
    "gabor_hist_seed": GaborHistSeed,
    "hog": Hog,
    "lbp": Lbp,
}

# Extractors whose responses the features figure can show (their ``RESPONSES``), in order of
# preference: the seed's plot was a Gabor response histogram, so a histogram extractor comes
# first.
GABOR_EXTRACTORS = ("gabor_hist_seed", "gabor_hist", "gabor_energy")


def gabor_extractor(extractors) -> str | None:
    """The configured extractor whose responses the features figure shows (a histogram one when
    configured, else ``gabor_energy``), or None when no Gabor extractor is configured."""
    for name in GABOR_EXTRACTORS:
        if name in extractors:
            return name
    return None


def make_extractor(name: str, params: dict | None = None):
    """Build the extractor registered as ``name`` with ``params`` (its config section).

    Unknown names and unknown parameters are errors that name the valid ones.
    """
    try:
        cls = EXTRACTORS[name]
    except KeyError:
        raise ValueError(
            f"unknown feature extractor {name!r}; known: {', '.join(sorted(EXTRACTORS))}"
        ) from None
    params = dict(params or {})
    known = cls._get_param_names()
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(
            f"feature extractor {name!r}: unknown parameters {unknown}; known: {', '.join(known)}"
        )
    return cls(**params)


__all__ = [
    "DEFAULT_EXTRACTOR",
    "EXTRACTORS",
    "GaborEnergy",
    "GaborHist",
    "GaborHistSeed",
    "Hog",
    "Lbp",
    "check_faces",
    "make_extractor",
    "own_range_histogram",
    "validate_frequencies",
]
