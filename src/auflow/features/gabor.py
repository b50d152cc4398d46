"""Gabor filtering: the seed notebook's exact method (the reference) and a fast separable bank.

The seed called ``skimage.filters.gabor`` 16 times per face, i.e. 32 full 2-D convolutions with
``scipy.ndimage.convolve``. :class:`GaborBank` computes the same complex responses (same kernels,
same half-sample-symmetric border) with 1-D OpenCV passes:

* with the default isotropic envelope (``sigma_x == sigma_y``) skimage's kernel is exactly the
  outer product of two complex 1-D kernels, ``g(y, x) = ky(y) * kx(x)``, because
  ``x'^2 + y'^2 == x^2 + y^2`` for any rotation and the carrier
  ``exp(i 2 pi f (x cos t + y sin t))`` factorises. A rectangular truncation of a separable
  kernel stays separable, so skimage's square support (``n_stds`` sigmas) is reproduced exactly;
* a complex separable filter is at most 2 column passes and 4 row passes of real 1-D kernels, and
  those passes are shared between filters (0 deg has a real column kernel, 90 deg a real row
  kernel, 45 and 135 deg differ only by the sign of the row sine kernel);
* ``ndi.convolve`` is a convolution and OpenCV filters correlate: flipping a Gabor kernel
  conjugates it (Gaussian even, phase odd), so the bank correlates with the conjugate kernels;
* scipy's ``mode='reflect'`` is half-sample symmetric (``d c b a | a b c d``), OpenCV's
  ``BORDER_REFLECT`` (not ``BORDER_REFLECT_101``). A batch of n faces of h x w is held with
  their rows interleaved, as an (h, n, w) array: read as n h rows of w pixels, every row is one
  face's, and read as h rows of n w pixels, every column is one face's. So a pass along rows and
  a pass along columns are each one OpenCV call for the whole batch, with OpenCV's border being
  each face's own, and nothing is filtered twice or padded;
* a pass with a long kernel is faster as matrix products, by blocks of outputs, of the padded
  plane by the kernel's band matrix: ``filter2D`` is bound by the latency of its one chain of
  fused multiply-adds per output, and OpenBLAS computes the same chain (the zeros of the band
  add nothing), so the bits are ``filter2D``'s (checked once per process: :func:`_banded`);
* every pass writes into reused scratch arrays: allocating fresh 256 kB arrays costs as much in
  page faults as the filtering itself.

A frequency's responses can also be evaluated only at every ``step``-th row and column
(:func:`sample_positions`), each sampled value being the full-resolution response there. The
column pass is then needed only at the sampled rows and the row pass only at the sampled
columns; OpenCV cannot skip outputs, so both passes are matrix products, by blocks of sampled
outputs whose input rows (or columns) overlap by the kernel's length: the banded matrix of one
block is the same for every block, and numpy multiplies all blocks of all faces in one call.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

SEED_ORIENTATIONS_DEG = (0.0, 45.0, 90.0, 135.0)
SEED_FREQUENCIES = (0.2, 0.4, 0.6, 0.8)
NYQUIST = 0.5

# Faces are filtered in chunks of about this many pixels (one 256 px face, seven 96 px faces):
# enough to amortise the ~10 us per OpenCV call on small faces, small enough for the ~20 planes
# of a chunk's workspace to stay in cache. Measured best among 2^15..2^18 at 96, 128, 256 px.
CHUNK_PIXELS = 1 << 16
# Kernel parts smaller than this (relative to the kernel's peak) are numerical noise, e.g. the sine
# part of the 90 deg row kernel, scaled by cos(pi / 2) = 6e-17: dropping it saves a pass.
_NEGLIGIBLE = 1e-9
# OpenCV's BORDER_REFLECT is scipy's mode='reflect'; with the faces' rows interleaved every row
# and every column belongs to one face, so OpenCV's border is that face's border.
_REFLECT = {"borderType": cv2.BORDER_REFLECT}
# Passes with kernels of at least _BAND_MIN_TAPS taps run as products by band matrices
# (_banded), _BAND_BLOCK outputs a block: 1.2-2.2x as fast as filter2D for 21-55 taps at 96 px
# (columns, faces side by side, gain the most), slower below about 20 taps. Measured with
# OpenBLAS 0.3.31 on one core: 16 was the best block of 8, 16, 24 and 32.
_BAND_MIN_TAPS = 21
_BAND_BLOCK = 16
# A pass along columns filters the faces side by side, one call, only when their width is a
# multiple of this; else face by face. OpenCV's vector loops give every pixel the same fused
# multiply-adds whatever its place in a row, its tail loops do not (measured with AVX2: widths
# of 8k pixels gave the same bits face by face and side by side, 20, 28, 36... did not), and a
# face's features must not depend on its neighbours in a batch.
_SIDE_BY_SIDE_WIDTH = 16
# Sampled outputs per block of the sampled passes' matrix products: small blocks waste less of
# the band (a block reads (block - 1) * step + kernel length inputs), large ones make larger,
# more efficient products. 8 was the fastest of 8, 16 and 32 at steps 2 and 4 (256 px faces).
_SAMPLED_BLOCK = 8


def seed_gabor_histogram(
    image: np.ndarray,
    orientations_deg=SEED_ORIENTATIONS_DEG,
    frequencies=SEED_FREQUENCIES,
    bins: int = 20,
) -> np.ndarray:
    """The notebook's ``extract_gabor_features`` on an image already loaded as grey.

    Parameters
    ----------
    image : (h, w) float array, grey levels in [0, 1].

    Returns
    -------
    (bins,) float64 histogram of ``|real response|`` over all filters, normalised to sum 1, with
    the range taken from this image's own min and max (as the notebook did).
    """
    # the reference only: skimage's gabor imports scipy.ndimage (0.4 s an extraction job)
    from skimage.filters import gabor

    magnitudes = []
    for theta in np.deg2rad(orientations_deg):
        for frequency in frequencies:
            real, _ = gabor(image, frequency=frequency, theta=theta)
            magnitudes.append(np.abs(real).ravel())
    hist, _ = np.histogram(np.concatenate(magnitudes), bins=bins)
    return hist.astype(float) / hist.sum()


def validate_frequencies(
    frequencies: Sequence[float], allow_above_nyquist: bool = False
) -> tuple[float, ...]:
    """Check Gabor frequencies (cycles/pixel) and return them as a tuple of floats.

    A frequency at or above the Nyquist limit (0.5 cycles/pixel) cannot be represented on the
    pixel grid: its response aliases to a lower frequency. That is an error, unless
    ``allow_above_nyquist`` (meant only for reproducing the seed notebook), then a warning.

    Raises
    ------
    ValueError
        If the list is empty, a frequency is not a positive finite number, or one is at or above
        Nyquist and ``allow_above_nyquist`` is false.
    """
    if isinstance(frequencies, int | float):
        frequencies = (frequencies,)
    values = tuple(float(f) for f in frequencies)
    if not values:
        raise ValueError("Gabor frequencies: the list is empty")
    bad = [f for f in values if not (math.isfinite(f) and f > 0)]
    if bad:
        raise ValueError(f"Gabor frequencies must be positive cycles/pixel, got {bad}")
    above = [f for f in values if f >= NYQUIST]
    if above:
        message = (
            f"Gabor frequencies {above} cycles/pixel are at or above the Nyquist limit "
            f"({NYQUIST} cycles/pixel) and alias to lower frequencies"
        )
        if not allow_above_nyquist:
            raise ValueError(
                f"{message}; use frequencies below {NYQUIST}. Only the seed reproduction option "
                "(allow_above_nyquist=True, extractor gabor_hist_seed) allows them."
            )
        warnings.warn(f"{message}; allowed only to reproduce the seed notebook.", stacklevel=2)
    return values


def gabor_sigma(frequency: float, bandwidth: float = 1.0) -> float:
    """skimage's Gaussian sigma (pixels) for a frequency and a bandwidth in octaves."""
    b = bandwidth
    prefactor = 1.0 / np.pi * math.sqrt(math.log(2) / 2.0) * (2.0**b + 1) / (2.0**b - 1)
    return prefactor / frequency


def separable_gabor_kernel(
    frequency: float, theta: float, bandwidth: float = 1.0, n_stds: float = 3
) -> tuple[np.ndarray, np.ndarray]:
    """The 1-D factors of ``skimage.filters.gabor_kernel(frequency, theta, bandwidth, n_stds)``.

    Returns
    -------
    ky : (2 * y0 + 1,) complex128, the column factor, carrying the ``1 / (2 pi sigma^2)`` norm.
    kx : (2 * x0 + 1,) complex128, the row factor.
        ``np.outer(ky, kx)`` equals skimage's kernel (same size, offsets and normalisation) to
        float64 rounding.
    """
    sigma = gabor_sigma(frequency, bandwidth)
    ct, st = math.cos(theta), math.sin(theta)  # as skimage computes them, for the same sizes
    x0 = math.ceil(max(abs(n_stds * sigma * ct), abs(n_stds * sigma * st), 1))
    y0 = math.ceil(max(abs(n_stds * sigma * ct), abs(n_stds * sigma * st), 1))
    x = np.arange(-x0, x0 + 1)
    y = np.arange(-y0, y0 + 1)
    kx = np.exp(-0.5 * x**2 / sigma**2 + 1j * 2 * np.pi * frequency * ct * x)
    ky = np.exp(-0.5 * y**2 / sigma**2 + 1j * 2 * np.pi * frequency * st * y)
    return ky / (2 * np.pi * sigma * sigma), kx


@functools.lru_cache(maxsize=256)
def reflected_range(n: int, start: int, count: int) -> np.ndarray:
    """Indices of ``range(start, start + count)`` folded into ``[0, n)`` as scipy's
    ``mode='reflect'``.

    Half-sample symmetric and periodic with period ``2 n``, so ranges reaching further than
    ``n`` beyond either end work too. Returns (count,) intp, read-only (shared by the cache).
    """
    m = np.mod(np.arange(start, start + count), 2 * n)
    index = np.where(m < n, m, 2 * n - 1 - m)
    index.flags.writeable = False
    return index


def sample_positions(size: int, step: int) -> np.ndarray:
    """Pixels kept along a side of ``size`` pixels when sampling every ``step`` pixels.

    The first is ``(step - 1) // 2``, near the middle of the first ``step`` pixels; ``step``
    1 keeps every pixel. Returns (ceil((size - (step - 1) // 2) / step),) intp.
    """
    if int(step) != step or step < 1:
        raise ValueError(f"a sampling step must be a positive integer, got {step!r}")
    return np.arange((int(step) - 1) // 2, size, int(step))


@dataclass(frozen=True)
class GaborFilter:
    """One filter of a bank: orientation (degrees), frequency (cycles/pixel), sigma (pixels)."""

    orientation_deg: float
    frequency: float
    sigma: float
    half_size: tuple[int, int]  # (y0, x0): the kernel is (2 y0 + 1, 2 x0 + 1)

    @property
    def name(self) -> str:
        """``t045_f0.20``: orientation in degrees (3 digits when whole), frequency in
        cycles/pixel (2 decimals, more when needed: ``f0.0625``)."""
        return f"t{_format_orientation(self.orientation_deg)}_f{_format_frequency(self.frequency)}"


def _format_orientation(degrees: float) -> str:
    return f"{int(degrees):03d}" if degrees == int(degrees) else f"{degrees:g}"


def _format_frequency(frequency: float) -> str:
    text = f"{frequency:.2f}"
    return text if float(text) == frequency else f"{frequency:g}"


class _Parts:
    """Interns real 1-D kernels up to sign, so that passes shared by filters run once."""

    def __init__(self):
        self.kernels: list[np.ndarray] = []
        self._keys: dict[bytes, int] = {}

    def add(self, part: np.ndarray, peak: float) -> tuple[int, int] | None:
        """(sign, id) with ``part == sign * kernels[id]``; None when the part is negligible."""
        if np.max(np.abs(part)) <= _NEGLIGIBLE * peak:
            return None
        # Orientations such as 45 and 135 deg give kernels equal up to sign and float64 rounding
        # (cos 45 and -cos 135 differ in the last bit), so the key is a rounded copy.
        pivot = part[np.argmax(np.abs(part))]
        sign = 1 if pivot > 0 else -1
        canonical = (sign * part).astype(np.float32)
        key = np.round(canonical / abs(pivot) * 2**24).astype(np.int64).tobytes()
        if key not in self._keys:
            self._keys[key] = len(self.kernels)
            self.kernels.append(canonical)
        return sign, self._keys[key]


@dataclass
class _Group:
    """The filters of one frequency: they share some passes.

    A term is one real separable product ``C(a) R(b)``, computed in one of two orders: ``"cr"``
    (column pass, then row pass) or ``"rc"`` (row pass, then column pass). First passes are
    shared by the terms that start with the same kernel.
    """

    first: list[tuple[str, np.ndarray]]  # (order, kernel): (k, 1) column or (1, k) row, float32
    terms: list[tuple[int, np.ndarray]]  # (first-pass id, second-pass kernel)
    # per filter: (bank index, real terms, imaginary terms), term = (sign, term id)
    filters: list[tuple[int, list[tuple[int, int]], list[tuple[int, int]]]]
    _schedules: dict = field(default_factory=dict, repr=False)

    def schedule(self, real_only: bool) -> tuple[int, list[tuple]]:
        """The passes and outputs of this frequency, in order, on numbered planes.

        Each pass is computed when a filter first needs it, and its plane numbered again once
        no remaining filter needs it (a smaller cache footprint); worked out once, so that
        filtering a chunk of faces runs the list without the bookkeeping.

        Returns
        -------
        planes : int, how many planes the steps use.
        steps : ``("pass", along_columns, kernel, source, target)`` (``source`` -1: the faces)
            and ``("filter", index, real terms, imaginary terms or None, real plane, imaginary
            plane)``, a term being (sign, plane).
        """
        if real_only in self._schedules:
            return self._schedules[real_only]
        free: list[int] = []
        planes = 0

        def take() -> int:
            nonlocal planes
            if free:
                return free.pop()
            planes += 1
            return planes - 1

        uses = [re + ([] if real_only else im) for _, re, im in self.filters]
        term_uses: dict[int, int] = {}
        for filter_terms in uses:
            for _, t in filter_terms:
                term_uses[t] = term_uses.get(t, 0) + 1
        first_uses: dict[int, int] = {}
        for t in term_uses:
            first_uses[self.terms[t][0]] = first_uses.get(self.terms[t][0], 0) + 1
        firsts: dict[int, int] = {}  # first pass -> its plane
        terms: dict[int, int] = {}  # term -> its plane
        steps: list[tuple] = []
        for (index, re, im), filter_terms in zip(self.filters, uses, strict=True):
            # the terms of one first pass one after the other: its padding serves them all
            for _, t in sorted(filter_terms, key=lambda term: self.terms[term[1]][0]):
                if t in terms:
                    continue
                f, kernel = self.terms[t]
                order, first_kernel = self.first[f]
                if f not in firsts:
                    firsts[f] = take()
                    steps.append(("pass", order == "cr", first_kernel, -1, firsts[f]))
                terms[t] = take()
                steps.append(("pass", order == "rc", kernel, firsts[f], terms[t]))
                first_uses[f] -= 1
                if not first_uses[f]:
                    free.append(firsts.pop(f))
            real, imag = take(), None if real_only else take()
            real_terms = [(sign, terms[t]) for sign, t in re]
            imag_terms = None if real_only else [(sign, terms[t]) for sign, t in im]
            steps.append(("filter", index, real_terms, imag_terms, real, imag))
            # free once the filter's responses have been used (the caller's next step)
            free.extend(plane for plane in (real, imag) if plane is not None)
            for _, t in filter_terms:
                term_uses[t] -= 1
                if not term_uses[t]:
                    free.append(terms.pop(t))
        self._schedules[real_only] = planes, steps
        return planes, steps


@dataclass
class _SampledGroup:
    """The filters of one frequency, planned for responses at sampled pixels only.

    Every real 1-D part is zero-padded to ``2 half + 1`` taps, centred. Column parts are
    numbered stage by stage: a stage is the column parts that meet the same row parts (0 deg:
    the Gaussian meets the cosine and sine; 45 and 135 deg: their cosine and sine meet their
    shared cosine and sine; 90 deg: the cosine and sine meet the Gaussian), so only the
    products that some filter needs are computed.
    """

    half: int
    columns: np.ndarray  # (P, 2 half + 1) float32
    rows: np.ndarray  # (R, 2 half + 1) float32
    stages: list[tuple[slice, list[int]]]  # (column parts, row parts they meet)
    # per filter: (bank index, real terms, imaginary terms), term = (sign, column, row part)
    filters: list[tuple[int, list[tuple[int, int, int]], list[tuple[int, int, int]]]]


def _block_matrix(parts: np.ndarray, step: int, block: int) -> np.ndarray:
    """(P block, (block - 1) step + taps) float32: row ``p block + j`` is part ``p`` shifted by
    ``j step``, so that one product evaluates the correlation at ``block`` sampled outputs."""
    n_parts, taps = parts.shape
    matrix = np.zeros((n_parts, block, (block - 1) * step + taps), np.float32)
    for j in range(block):
        matrix[:, j, j * step : j * step + taps] = parts
    return matrix.reshape(n_parts * block, -1)


class GaborBank:
    """A bank of Gabor filters giving the responses of ``skimage.filters.gabor``, fast.

    Parameters
    ----------
    frequencies : sequence of float
        Cycles/pixel. At or above Nyquist (0.5) only with ``allow_above_nyquist`` (a warning).
    orientations_deg : sequence of float
        Orientations in degrees (skimage's ``theta``, in radians there).
    bandwidth : float
        skimage's ``bandwidth`` (octaves), which sets sigma from the frequency.
    n_stds : float
        skimage's ``n_stds``: the kernel extends this many sigmas.
    allow_above_nyquist : bool
        See :func:`validate_frequencies`.

    Attributes
    ----------
    filters : list of GaborFilter
        In skimage loop order of the seed: orientation outer, frequency inner.

    Notes
    -----
    Responses are float32 and equal skimage's (float64 arithmetic on the same kernels, mode
    'reflect') to about 1e-6 of each filter's largest response.
    """

    def __init__(
        self,
        frequencies: Sequence[float] = SEED_FREQUENCIES,
        orientations_deg: Sequence[float] = SEED_ORIENTATIONS_DEG,
        bandwidth: float = 1.0,
        n_stds: float = 3,
        allow_above_nyquist: bool = False,
    ):
        frequencies = validate_frequencies(frequencies, allow_above_nyquist)
        orientations = tuple(float(o) for o in orientations_deg)
        if not orientations:
            raise ValueError("Gabor orientations: the list is empty")
        for what, values in (("frequencies", frequencies), ("orientations", orientations)):
            if len(set(values)) != len(values):
                raise ValueError(f"Gabor {what} repeat a value: {list(values)}")
        if not bandwidth > 0:
            raise ValueError(f"Gabor bandwidth must be positive, got {bandwidth}")
        self.filters: list[GaborFilter] = []
        kernels = []
        for orientation in orientations:
            for frequency in frequencies:
                ky, kx = separable_gabor_kernel(
                    frequency, np.deg2rad(orientation), bandwidth, n_stds
                )
                sigma = gabor_sigma(frequency, bandwidth)
                half = (len(ky) // 2, len(kx) // 2)
                self.filters.append(GaborFilter(orientation, frequency, sigma, half))
                # correlating with the flipped kernel is convolving: flipping conjugates it
                kernels.append((np.conj(ky), np.conj(kx)))
        self.frequencies = frequencies
        self._groups = []
        self._sampled_groups = []
        for frequency in frequencies:
            members = [
                (i, *kernels[i]) for i, f in enumerate(self.filters) if f.frequency == frequency
            ]
            self._groups.append(self._plan(members))
            self._sampled_groups.append(self._plan_sampled(members))

    @staticmethod
    def _plan(members) -> _Group:
        """Decompose each complex separable filter into shared real 1-D passes.

        With ``ky = cy + i sy`` and ``kx = cx + i sx``:
        ``Re = C(cy) R(cx) - C(sy) R(sx)`` and ``Im = C(sy) R(cx) + C(cy) R(sx)``.
        A filter whose column kernel is real (0 deg) runs its column pass first, one whose row
        kernel is real (90 deg) its row pass first: 3 passes instead of 4; 45 and 135 deg share
        all 6 of theirs.
        """
        columns, rows = _Parts(), _Parts()
        first_ids: dict[tuple[str, int], int] = {}
        term_ids: dict[tuple[str, int, int], int] = {}
        filters = []
        for index, ky, kx in members:
            peak_y, peak_x = np.max(np.abs(ky)), np.max(np.abs(kx))
            cy, sy = columns.add(ky.real, peak_y), columns.add(ky.imag, peak_y)
            cx, sx = rows.add(kx.real, peak_x), rows.add(kx.imag, peak_x)
            n_col = (cy is not None) + (sy is not None)
            n_row = (cx is not None) + (sx is not None)
            order = "rc" if n_row < n_col else "cr"

            def term(col, row, sign, order=order):
                if col is None or row is None:
                    return []
                first, second = (col[1], row[1]) if order == "cr" else (row[1], col[1])
                first_ids.setdefault((order, first), len(first_ids))
                key = (order, first, second)
                term_ids.setdefault(key, len(term_ids))
                return [(sign * col[0] * row[0], term_ids[key])]

            real = term(cy, cx, 1) + term(sy, sx, -1)
            imag = term(sy, cx, 1) + term(cy, sx, 1)
            filters.append((index, real, imag))
        # filters sharing passes (45 and 135 deg) one after the other: their planes are recycled
        # sooner
        filters.sort(key=lambda f: min(t for _, t in f[1] + f[2]))

        def kernel(kind, k):
            return columns.kernels[k][:, None] if kind == "c" else rows.kernels[k][None, :]

        return _Group(
            first=[(o, kernel(o[0], k)) for (o, k) in first_ids],
            terms=[(first_ids[(o, f)], kernel(o[1], k)) for (o, f, k) in term_ids],
            filters=filters,
        )

    @staticmethod
    def _plan_sampled(members) -> _SampledGroup:
        """Decompose each complex separable filter into products of real column and row parts,
        as :meth:`_plan` does, for :meth:`_iter_sampled_group`."""
        columns, rows = _Parts(), _Parts()
        filters = []
        for index, ky, kx in members:
            peak_y, peak_x = np.max(np.abs(ky)), np.max(np.abs(kx))
            cy, sy = columns.add(ky.real, peak_y), columns.add(ky.imag, peak_y)
            cx, sx = rows.add(kx.real, peak_x), rows.add(kx.imag, peak_x)

            def term(col, row, sign):
                if col is None or row is None:
                    return []
                return [(sign * col[0] * row[0], col[1], row[1])]

            real = term(cy, cx, 1) + term(sy, sx, -1)
            imag = term(sy, cx, 1) + term(cy, sx, 1)
            filters.append((index, real, imag))
        meets: dict[int, set[int]] = {}
        for _, real, imag in filters:
            for _, col, row in real + imag:
                meets.setdefault(col, set()).add(row)
        by_rows: dict[tuple[int, ...], list[int]] = {}
        for col, row_parts in meets.items():
            by_rows.setdefault(tuple(sorted(row_parts)), []).append(col)
        renumber, stages = {}, []
        for row_parts, cols in by_rows.items():
            first = len(renumber)
            renumber.update({col: first + k for k, col in enumerate(cols)})
            stages.append((slice(first, len(renumber)), list(row_parts)))
        half = max(len(k) // 2 for k in columns.kernels + rows.kernels)

        def padded(kernels):
            out = np.zeros((len(kernels), 2 * half + 1), np.float32)
            for k, kernel in enumerate(kernels):
                out[k, half - len(kernel) // 2 : half + len(kernel) // 2 + 1] = kernel
            return out

        order = sorted(renumber, key=renumber.get)
        return _SampledGroup(
            half=half,
            columns=padded([columns.kernels[c] for c in order]),
            rows=padded(rows.kernels),
            stages=stages,
            filters=[
                (
                    index,
                    [(sign, renumber[c], r) for sign, c, r in real],
                    [(sign, renumber[c], r) for sign, c, r in imag],
                )
                for index, real, imag in filters
            ],
        )

    def __len__(self) -> int:
        return len(self.filters)

    @property
    def names(self) -> list[str]:
        """``t045_f0.20`` per filter, in bank order."""
        return [f.name for f in self.filters]

    def iter_responses(
        self, faces: np.ndarray, real_only: bool = False, steps: Sequence[int] | None = None
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
        """Filter a batch; yield each filter's responses as soon as its frequency is done.

        Parameters
        ----------
        faces : (n, h, w) or (h, w) array, converted to C-contiguous float32.
        real_only : bool
            Compute only the real parts (what the seed used): fewer passes.
        steps : sequence of int, one per frequency of :attr:`frequencies`, or None (all 1)
            A frequency with step ``s`` has its responses evaluated only at the rows
            ``sample_positions(h, s)`` and the columns ``sample_positions(w, s)``: the same
            values as at full resolution there (to float32 rounding), for about ``1 / s`` of
            the work.

        Yields
        ------
        index : int, the filter's position in :attr:`filters` (bank order; frequencies are
            done one after the other, so indices do not come in order).
        real, imag : (n, h_s, w_s) float32, or (h_s, w_s) for one face, the numbers of sampled
            rows and columns (h, w with step 1); ``imag`` is None if ``real_only``. Their
            memory holds the faces' rows interleaved: ``real.transpose(1, 0, 2)``, (h_s, n,
            w_s), is C-contiguous (see the module docstring). They are views of the bank's
            reusable workspace: use or copy them before the next iteration and do not write to
            them. (Fresh 256 kB arrays for every pass cost as much as the filtering itself, in
            page faults.) For the same reason a bank is not thread-safe: use one per thread.
        """
        faces = np.ascontiguousarray(faces, dtype=np.float32)
        single = faces.ndim == 2
        if single:
            faces = faces[None]
        if faces.ndim != 3:
            raise ValueError(f"faces must be (n, h, w) or (h, w), got shape {faces.shape}")
        steps = (1,) * len(self.frequencies) if steps is None else tuple(steps)
        if len(steps) != len(self.frequencies):
            raise ValueError(
                f"steps: one per frequency {list(self.frequencies)} expected, got {list(steps)}"
            )
        n, h, w = faces.shape
        work = self._work
        interleaved = None
        for group, sampled, step in zip(self._groups, self._sampled_groups, steps, strict=True):
            if step > 1:
                yield from self._iter_sampled_group(sampled, faces, step, real_only, work, single)
                continue
            if interleaved is None:
                interleaved = work.get("faces", (h * n, w))
                np.copyto(interleaved.reshape(h, n, w), faces.transpose(1, 0, 2))
            yield from self._iter_group(group, interleaved, n, real_only, work, single)

    def _iter_sampled_group(self, group: _SampledGroup, faces, step, real_only, work, single):
        """The responses of one frequency's filters at every ``step``-th row and column.

        Column pass: the faces with ``half`` reflected rows above (and enough below for whole
        blocks), read as overlapping windows of ``(block - 1) step + 2 half + 1`` rows, one per
        block of ``block`` sampled rows, times the block matrix of every column part: one
        matrix product. Row pass: the same along the rows of that result (every row of it is a
        face row, wherever it came from), for each stage's row parts.
        """
        n, h, w = faces.shape
        half, block = group.half, _SAMPLED_BLOCK
        taps = 2 * half + 1
        window = (block - 1) * step + taps
        rows, cols = sample_positions(h, step), sample_positions(w, step)
        h_s, w_s = len(rows), len(cols)
        row_blocks, col_blocks = -(-h_s // block), -(-w_s // block)
        padded_h = (row_blocks - 1) * block * step + window
        padded = work.get("sampled_rows", (n, padded_h, w))
        np.take(faces, reflected_range(h, int(rows[0]) - half, padded_h), axis=1, out=padded)
        item = padded.itemsize
        windows = np.lib.stride_tricks.as_strided(
            padded,
            shape=(n, row_blocks, window, w),
            strides=(padded_h * w * item, block * step * w * item, w * item, item),
            writeable=False,
        )
        padded_w = (col_blocks - 1) * block * step + window
        left = half - int(cols[0])  # padding columns before the first sampled one's window
        right = padded_w - w - left
        terms = {}
        for columns, row_parts in group.stages:
            c = columns.stop - columns.start
            m = n * row_blocks * c * block
            first = work.get("sampled_first", (m, w))
            np.matmul(
                _cached_block_matrix(group.columns[columns], step, block),
                windows,
                out=first.reshape(n, row_blocks, c * block, w),
            )
            # every row of `first` is a face row (wherever it came from): all padded at once
            if min(left, right) >= 0 and max(left, right) <= w:
                first = cv2.copyMakeBorder(
                    first,
                    0,
                    0,
                    left,
                    right,
                    cv2.BORDER_REFLECT,
                    dst=work.get("sampled_padded", (m, padded_w)),
                )
            else:  # a kernel longer than the face: fold as often as needed
                first = np.take(first, reflected_range(w, -left, padded_w), axis=1)
            row_windows = np.lib.stride_tricks.as_strided(
                first,
                shape=(col_blocks, m, window),
                strides=(block * step * item, padded_w * item, item),
                writeable=False,
            )
            matrix = _cached_block_matrix(group.rows[row_parts], step, block, transposed=True)
            second = np.matmul(row_windows, matrix)  # (col_blocks, m, parts block)
            second = second.reshape(col_blocks, n, row_blocks, c, block, len(row_parts), block)
            # -> (c, row parts, n, sampled rows, sampled columns)
            second = second.transpose(3, 5, 1, 2, 4, 0, 6).reshape(
                c, len(row_parts), n, row_blocks * block, col_blocks * block
            )
            for k in range(c):
                for r, row_part in enumerate(row_parts):
                    terms[(columns.start + k, row_part)] = second[k, r, :, :h_s, :w_s]
        for index, real_terms, imag_terms in group.filters:
            real = work.get("sampled_real", (h_s, n, w_s))
            _combine_sampled(real_terms, terms, real.transpose(1, 0, 2))
            imag = None
            if not real_only:
                imag = work.get("sampled_imag", (h_s, n, w_s))
                _combine_sampled(imag_terms, terms, imag.transpose(1, 0, 2))
                imag = _by_face(imag, n, single)
            yield index, _by_face(real, n, single), imag

    def _iter_group(self, group: _Group, faces, n, real_only, work, single):
        """The responses of one frequency's filters, by :meth:`_Group.schedule`.

        ``faces``: (h n, w), the rows of n faces interleaved; every plane is laid out so.
        """
        count, steps = group.schedule(real_only)
        planes = [work.get(("plane", k), faces.shape) for k in range(count)]
        work.padded.clear()  # new faces
        for step in steps:
            if step[0] == "pass":
                _, along_columns, kernel, source, target = step
                # passes of one plane and kernel length in a row pad it once (the key)
                key = (source, kernel.size)
                source = faces if source < 0 else planes[source]
                if along_columns:
                    _column_pass(source, kernel, planes[target], n, work, key)
                else:
                    _row_pass(source, kernel, planes[target], work, key)
                work.forget_padding(target)
                continue
            _, index, real_terms, imag_terms, real, imag = step
            work.forget_padding(real, imag)
            real = _by_face(_combine(real_terms, planes, planes[real]), n, single)
            if imag_terms is not None:
                imag = _by_face(_combine(imag_terms, planes, planes[imag]), n, single)
            yield index, real, imag

    @property
    def _work(self) -> _Workspace:
        if getattr(self, "_workspace", None) is None:
            self._workspace = _Workspace()
        return self._workspace

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_workspace"] = None  # scratch memory: not worth pickling
        return state

    def responses(self, faces: np.ndarray) -> np.ndarray:
        """Complex responses of every filter.

        Parameters
        ----------
        faces : (n, h, w) or (h, w) float array.

        Returns
        -------
        (n, len(bank), h, w) complex64, or (len(bank), h, w) for one face; ``[..., k, :, :]`` is
        ``real + 1j * imag`` of ``skimage.filters.gabor`` with filter ``k`` of :attr:`filters`.
        """
        faces = np.asarray(faces)
        out = np.empty((*faces.shape[:-2], len(self), *faces.shape[-2:]), np.complex64)
        for index, real, imag in self.iter_responses(faces):
            out[..., index, :, :].real = real
            out[..., index, :, :].imag = imag
        return out


class _Workspace:
    """float32 scratch arrays reused from call to call, by name, grown on demand.

    ``padded`` says what the band passes' padding arrays hold: {name: (plane, kernel length)}
    of the plane (-1: the faces) padded for that length, so that the next pass of the same
    plane and length does not pad it again; a plane's entry goes once the plane is written.
    """

    def __init__(self):
        self._arrays: dict = {}
        self.padded: dict = {}

    def get(self, key, shape: tuple[int, ...]) -> np.ndarray:
        size = math.prod(shape)
        array = self._arrays.get(key)
        if array is None or array.size < size:
            array = self._arrays[key] = np.empty(size, np.float32)
            self.padded.pop(key, None)
        return array[:size].reshape(shape)

    def forget_padding(self, *planes) -> None:
        """The planes are being written: their padding is no longer theirs."""
        for name, (plane, _) in list(self.padded.items()):
            if plane in planes:
                del self.padded[name]


def _by_face(interleaved: np.ndarray, n: int, single: bool) -> np.ndarray:
    """An (h n, w) or (h, n, w) plane of n faces' interleaved rows as the (n, h, w) view of
    its faces, or (h, w) for one face."""
    w = interleaved.shape[-1]
    by_face = interleaved.reshape(-1, n, w).transpose(1, 0, 2)
    return by_face[0] if single else by_face


def _row_pass(faces: np.ndarray, kernel: np.ndarray, out: np.ndarray, work, key=None) -> np.ndarray:
    """Correlate every row of an (h n, w) plane with a (1, k) kernel into ``out``: by banded
    matrix products for a long kernel (:func:`_banded`), else with ``cv2.filter2D``. ``key``:
    see :func:`_banded_rows`."""
    if _banded(kernel.size, faces.shape[1]):
        return _banded_rows(faces, kernel, out, work, key)
    return cv2.filter2D(faces, cv2.CV_32F, kernel, dst=out, **_REFLECT)


def _column_pass(
    faces: np.ndarray, kernel: np.ndarray, out: np.ndarray, n: int, work, key=None
) -> np.ndarray:
    """Correlate every column of n faces' interleaved rows, an (h n, w) plane, with a (k, 1)
    kernel into ``out``: the faces side by side, by banded matrix products for a long kernel
    (:func:`_banded`) or in one ``cv2.filter2D`` call, or face by face when their width would
    not give every pixel the same arithmetic side by side (:data:`_SIDE_BY_SIDE_WIDTH`)."""
    rows, w = faces.shape
    h = rows // n
    side_by_side, result = faces.reshape(h, n * w), out.reshape(h, n * w)
    if w % _SIDE_BY_SIDE_WIDTH:
        # face by face, as filter2D filters one face: side by side or by banded products its
        # last columns would get the vector loops' arithmetic instead of the tail loops'
        for i in range(0, n * w, w):  # strided views: OpenCV writes into them in place
            face = side_by_side[:, i : i + w]
            cv2.filter2D(face, cv2.CV_32F, kernel, dst=result[:, i : i + w], **_REFLECT)
    elif _banded(kernel.size, h):
        _banded_columns(side_by_side, kernel, result, work, key)
    else:
        cv2.filter2D(side_by_side, cv2.CV_32F, kernel, dst=result, **_REFLECT)
    return out


def _banded(taps: int, size: int) -> bool:
    """Whether a pass of a ``taps``-long kernel along a side of ``size`` pixels runs as banded
    matrix products: a long kernel (:data:`_BAND_MIN_TAPS`) no longer than the side, whole
    blocks, and a BLAS that gives ``cv2.filter2D``'s bits (:func:`_band_matches_filter2d`)."""
    return _BAND_MIN_TAPS <= taps <= size and size % _BAND_BLOCK == 0 and _band_matches_filter2d()


def _banded_rows(
    faces: np.ndarray, kernel: np.ndarray, out: np.ndarray, work, key=None
) -> np.ndarray:
    """:func:`_row_pass` as products of each block of ``_BAND_BLOCK`` outputs' input window
    (the rows padded by reflection) by the band matrix of the kernel. ``key``: what ``faces``
    is, (plane, kernel length), to pad it only if the padding array does not hold it already
    (``work.padded``); None: pad it."""
    rows, w = faces.shape
    half, block = kernel.size // 2, _BAND_BLOCK
    padded = work.get("band_columns", (rows, w + 2 * half))
    if key is None or work.padded.get("band_columns") != key:
        cv2.copyMakeBorder(faces, 0, 0, half, half, cv2.BORDER_REFLECT, dst=padded)
        work.padded.pop("band_columns", None)
        if key is not None:
            work.padded["band_columns"] = key
    band = _cached_block_matrix(kernel, 1, block, transposed=True)  # (block + k - 1, block)
    for start in range(0, w, block):
        window = padded[:, start : start + block + 2 * half]
        np.matmul(window, band, out=out[:, start : start + block])
    return out


def _banded_columns(
    side_by_side: np.ndarray, kernel: np.ndarray, out: np.ndarray, work, key=None
) -> np.ndarray:
    """A pass along the columns of an (h, m) image, as :func:`_banded_rows` along its rows."""
    h, width = side_by_side.shape
    half, block = kernel.size // 2, _BAND_BLOCK
    padded = work.get("band_rows", (h + 2 * half, width))
    if key is None or work.padded.get("band_rows") != key:
        cv2.copyMakeBorder(side_by_side, half, half, 0, 0, cv2.BORDER_REFLECT, dst=padded)
        work.padded.pop("band_rows", None)
        if key is not None:
            work.padded["band_rows"] = key
    band = _cached_block_matrix(kernel.reshape(1, -1), 1, block)  # (block, block + k - 1)
    for start in range(0, h, block):
        np.matmul(band, padded[start : start + block + 2 * half], out=out[start : start + block])
    return out


@functools.lru_cache(maxsize=1)
def _band_matches_filter2d() -> bool:
    """Whether this process's BLAS computes banded matrix products with ``cv2.filter2D``'s
    arithmetic, checked once on random faces.

    ``cv2.filter2D`` computes each output as one chain of fused multiply-adds, tap after tap,
    from zero; a product by a band matrix whose row holds the kernel between zeros is the same
    chain when the BLAS accumulates each output along its inner dimension in order, as
    OpenBLAS's kernels do (the zeros add nothing). Another BLAS (or an OpenBLAS kernel for
    another processor) may sum in another order: then every pass stays with ``cv2.filter2D``,
    so that the features do not depend on the BLAS.
    """
    rng = np.random.default_rng(0)
    work = _Workspace()
    for taps in (_BAND_MIN_TAPS, 55):
        kernel = rng.standard_normal(taps).astype(np.float32)
        for rows, width in ((64, 96), (3 * 96, 64), (96, 7 * 96), (7 * 96, 96)):
            image = rng.random((rows, width), dtype=np.float32)
            along_rows = _banded_rows(image, kernel[None, :], np.empty_like(image), work)
            along_columns = _banded_columns(image, kernel[:, None], np.empty_like(image), work)
            if not (
                np.array_equal(along_rows, cv2.filter2D(image, -1, kernel[None, :], **_REFLECT))
                and np.array_equal(
                    along_columns, cv2.filter2D(image, -1, kernel[:, None], **_REFLECT)
                )
            ):
                return False
    return True


def _combine(terms: list[tuple[int, int]], computed: dict, out: np.ndarray) -> np.ndarray:
    """Sum of ``sign * computed[id]`` over 0, 1 or 2 terms, in ``out`` (or a lone + term)."""
    if not terms:
        out.fill(0)
        return out
    (s1, a), *rest = terms
    if not rest:
        return computed[a] if s1 > 0 else np.negative(computed[a], out=out)
    ((s2, b),) = rest
    a, b = computed[a], computed[b]
    if s1 > 0:
        return cv2.add(a, b, dst=out) if s2 > 0 else cv2.subtract(a, b, dst=out)
    if s2 > 0:
        return cv2.subtract(b, a, dst=out)
    return np.negative(cv2.add(a, b, dst=out), out=out)


@functools.lru_cache(maxsize=64)
def _block_matrix_of(parts: bytes, shape, step: int, block: int, transposed: bool) -> np.ndarray:
    matrix = _block_matrix(np.frombuffer(parts, np.float32).reshape(shape), step, block)
    # BLAS on a C-contiguous operand: a transposed view was ~20% slower
    matrix = np.ascontiguousarray(matrix.T if transposed else matrix)
    matrix.flags.writeable = False  # shared through the cache
    return matrix


def _cached_block_matrix(
    parts: np.ndarray, step: int, block: int, transposed: bool = False
) -> np.ndarray:
    """:func:`_block_matrix` (or its transpose, C-contiguous), built once per arguments."""
    parts = np.ascontiguousarray(parts, np.float32)
    return _block_matrix_of(parts.tobytes(), parts.shape, step, block, transposed)


def _combine_sampled(terms: list[tuple[int, int, int]], computed: dict, out: np.ndarray):
    """Sum of ``sign * computed[(column, row)]`` over the terms, in ``out`` (C-contiguous)."""
    if not terms:
        out.fill(0)
        return out
    (sign, c, r), *rest = terms
    if sign > 0:
        np.copyto(out, computed[(c, r)])
    else:
        np.negative(computed[(c, r)], out=out)
    for sign, c, r in rest:
        (np.add if sign > 0 else np.subtract)(out, computed[(c, r)], out=out)
    return out


def iter_chunks(n_faces: int, face_shape: tuple[int, int], chunk_pixels: int = CHUNK_PIXELS):
    """Slices of a batch of ``n_faces`` faces holding about ``chunk_pixels`` pixels each."""
    per_chunk = max(1, chunk_pixels // max(1, face_shape[0] * face_shape[1]))
    for start in range(0, n_faces, per_chunk):
        yield slice(start, min(start + per_chunk, n_faces))
