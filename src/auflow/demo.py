"""A deterministic, DISFA-shaped demo dataset of procedurally drawn faces.

The real DISFA dataset is licensed, so the pipeline ships with this stand-in. It has DISFA's
layout and label format::

    OUT/croppedImg/SN001/1.png, 2.png, ..., <n_frames>.png   (8-bit grey, size x size)
    OUT/json/SN001.json                                      ([{"au1": 0, ..., "au26": 0}, ...])

and DISFA's statistical shape: the 12 AUs come in smooth episodes (onset, apex, offset) lasting
tens of frames, co-occur the way real expressions do (AU6 with AU12, AU1 with AU2, AU25 with
AU26, ...), are imbalanced, and subjects differ in how expressive they are. Each face is drawn
with OpenCV, and every AU moves the part of the face that it moves on a real face, in proportion
to its intensity, so a detector has something real (if simple) to learn.

Everything is drawn from ``numpy.random.default_rng`` streams keyed by ``(seed, subject,
purpose)``: the same arguments give byte-identical files, and a subject's identity does not
depend on how many subjects or frames are requested.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from auflow.io.atomic import write_bytes_atomically

__all__ = [
    "DISFA_AUS",
    "FrameJitter",
    "Identity",
    "generate_demo_dataset",
    "generate_subject",
    "render_face",
    "sample_identity",
    "sample_intensities",
    "sample_jitter",
    "subject_name",
]

DISFA_AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)
_AU_COLUMN = {au: i for i, au in enumerate(DISFA_AUS)}
_MAX_INTENSITY = 5

# Random streams of one subject; keys of default_rng([seed, subject, stream]). Subject 0 is the
# dataset-level stream.
_IDENTITY, _LABELS, _JITTER, _NOISE, _DATASET = 0, 1, 2, 3, 4
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0

_NOISE_SD = 2.5  # sensor noise, grey levels
_JAW_DROP = 0.08  # how far AU26 at intensity 5 lowers the chin, fraction of the image
_SHIFT = 4  # fractional bits of the fixed-point coordinates handed to cv2 drawing functions
_ONE = 1 << _SHIFT
_AA = cv2.LINE_AA


# --------------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pattern:
    """A facial expression that recruits several AUs together (one episode = one occurrence).

    ``aus`` holds ``(au, chance to take part, peak relative to the lead AU)``; the first AU leads
    and always takes part. ``duration`` scales how long the episodes last.
    """

    name: str
    per_1000: float  # episodes per 1000 frames for a subject of expressiveness 1
    aus: tuple[tuple[int, float, float], ...]
    duration: float = 1.0


# Rates are per frame so that a 4,845-frame sequence has the same base rates as a 120-frame one.
# Every AU leads one pattern, and every lead rate is >= 2.6 per 1000 frames: with the
# golden-ratio rounding of _episode_counts, any 6 consecutive subjects of >= 120 frames then hold
# every AU at intensity >= 2 at least once. Rare AUs get shorter episodes rather than fewer.
_PATTERNS: tuple[_Pattern, ...] = (
    _Pattern("social smile", 4.0, ((12, 1.0, 1.0), (25, 0.4, 0.7))),
    _Pattern(
        "Duchenne smile", 3.0, ((6, 1.0, 1.0), (12, 1.0, 1.1), (25, 0.5, 0.7), (26, 0.2, 0.5))
    ),
    _Pattern("brow raise", 2.6, ((1, 1.0, 1.0), (2, 0.85, 0.95), (5, 0.2, 0.6))),
    _Pattern(
        "surprise",
        2.6,
        ((2, 1.0, 1.0), (1, 1.0, 1.0), (5, 0.8, 0.9), (26, 0.8, 0.9), (25, 0.9, 0.8)),
        0.6,
    ),
    _Pattern("frown", 4.0, ((4, 1.0, 1.0), (9, 0.25, 0.6), (17, 0.35, 0.7), (15, 0.15, 0.6))),
    _Pattern(
        "disgust",
        2.6,
        ((9, 1.0, 1.0), (4, 0.6, 0.7), (17, 0.3, 0.6), (15, 0.3, 0.6), (25, 0.3, 0.5)),
        0.6,
    ),
    _Pattern("sadness", 2.6, ((15, 1.0, 1.0), (1, 0.7, 0.9), (4, 0.8, 0.9), (17, 0.5, 0.7)), 0.6),
    _Pattern(
        "fear",
        0.8,
        (
            (20, 1.0, 1.0),
            (1, 1.0, 1.0),
            (2, 0.8, 0.9),
            (4, 0.8, 0.8),
            (5, 0.7, 0.8),
            (25, 0.9, 0.8),
        ),
        0.5,
    ),
    _Pattern("lip stretch", 2.6, ((20, 1.0, 1.0), (25, 0.5, 0.7)), 0.4),
    _Pattern("chin raise", 2.6, ((17, 1.0, 1.0), (15, 0.4, 0.7))),
    _Pattern("lid raise", 2.6, ((5, 1.0, 1.0),), 0.3),
    _Pattern("speech", 4.5, ((25, 1.0, 1.0), (26, 0.6, 0.8))),
    _Pattern("jaw drop", 2.6, ((26, 1.0, 1.0), (25, 1.0, 0.9))),
)
_SUBTLE_PER_1000 = 3.0  # intensity-1 flickers of single AUs, as coders mark for trace actions


def _smoothstep(x: np.ndarray) -> np.ndarray:
    return x * x * (3.0 - 2.0 * x)


def _episode_curve(
    t: np.ndarray, centre: float, peak: float, rng: np.random.Generator, duration: float = 1.0
) -> np.ndarray:
    """Continuous intensity of one episode over frame times ``t``: onset ramp, apex, offset.

    Ramps last at least 2 frames per intensity step, so rounded labels change by at most 1 per
    frame within an episode, as in hand-coded sequences. The apex lasts at least 1.2 frames, so
    the frame nearest ``centre`` shows the full peak.
    """
    slope = max(2.0 * peak, 3.0)
    onset = slope + duration * rng.uniform(1.0, 6.0)
    offset = slope + duration * rng.uniform(2.0, 9.0)
    apex = max(1.2, duration * rng.uniform(3.0, 16.0))
    start, end = centre - apex / 2.0, centre + apex / 2.0
    rise = np.clip((t - start + onset) / onset, 0.0, 1.0)
    fall = np.clip((end + offset - t) / offset, 0.0, 1.0)
    # Apex intensity drifts a little, as real apexes do, instead of sitting on one integer;
    # never by more than 8 %, so a lead peak of 2 still rounds to 2.
    drift = 1.0 + 0.08 * np.sin(t / rng.uniform(4.0, 9.0) + rng.uniform(0.0, 2.0 * np.pi))
    return peak * drift * _smoothstep(np.minimum(rise, fall))


def _episode_counts(expected: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Integer episode counts with mean ``expected``: ``floor(expected + phase)``.

    With ``phase`` taken from a golden-ratio sequence over subjects, a pattern expected 0.3 times
    per subject occurs in almost exactly 30 % of subjects instead of at Poisson luck, so even a
    small dataset contains every AU.
    """
    return np.floor(expected + phase).astype(np.int64)


def sample_intensities(
    n_frames: int,
    rng: np.random.Generator,
    expressiveness: float = 1.0,
    phase: np.ndarray | None = None,
) -> np.ndarray:
    """Sample a sequence of DISFA AU intensities made of expression episodes.

    Parameters
    ----------
    n_frames
        Length of the sequence.
    rng
        Source of randomness.
    expressiveness
        How expressive the subject is (about 0.6-1.6; 1 is average). Scales how often
        expressions occur and how intense they get.
    phase
        Optional values in [0, 1), one per expression pattern, used to round expected episode
        counts to integers (see ``_episode_counts``); drawn from ``rng`` if omitted.

    Returns
    -------
    numpy.ndarray
        ``(n_frames, 12)`` int8 intensities 0-5, columns in ``DISFA_AUS`` order.
    """
    if phase is None:
        phase = rng.random(len(_PATTERNS))
    t = np.arange(n_frames, dtype=np.float64)
    level = np.zeros((len(DISFA_AUS), n_frames))
    rates = np.array([p.per_1000 for p in _PATTERNS]) / 1000.0
    counts = _episode_counts(rates * n_frames * math.sqrt(expressiveness), np.asarray(phase))
    for pattern, count in zip(_PATTERNS, counts, strict=True):
        for _ in range(count):
            centre = rng.uniform(0.0, n_frames - 1.0)
            # Every episode's lead AU reaches at least intensity 2 (a scored occurrence).
            lead = float(np.clip(rng.normal(3.1, 0.9) * expressiveness**0.4, 2.0, 5.0))
            for k, (au, chance, relative) in enumerate(pattern.aus):
                if k > 0 and rng.random() >= chance:
                    continue
                peak = min(lead * relative * rng.uniform(0.8, 1.15), 5.0) if k else lead
                # Partner AUs start a few frames apart from the lead, as in real expressions.
                lag = rng.uniform(-3.0, 3.0) if k else 0.0
                curve = _episode_curve(t, centre + lag, peak, rng, pattern.duration)
                np.maximum(level[_AU_COLUMN[au]], curve, out=level[_AU_COLUMN[au]])
    n_subtle = rng.poisson(_SUBTLE_PER_1000 / 1000.0 * n_frames * expressiveness, len(DISFA_AUS))
    for row, count in enumerate(n_subtle):
        for _ in range(count):
            peak = rng.uniform(0.6, 1.45)
            curve = _episode_curve(t, rng.uniform(0.0, n_frames), peak, rng, 0.4)
            np.maximum(level[row], curve, out=level[row])
    return np.clip(np.rint(level.T), 0, _MAX_INTENSITY).astype(np.int8)


# --------------------------------------------------------------------------------------------
# Identities and per-frame nuisances
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """Static appearance of one subject.

    Positions and lengths are fractions of the image size (x right, y down), so one identity
    renders at any resolution. Grey levels are 0-255 albedos before lighting.
    """

    face_cx: float
    face_cy: float  # centre of the face oval, about nose height
    face_rx: float  # half width
    face_top: float  # half height above the centre (forehead)
    face_bottom: float  # half height below the centre (chin)
    jaw: float  # superellipse exponent of the lower face: 2 is an oval, larger is squarer
    skin: int
    background: int
    hair: int
    hairline: float  # y of the hairline at the midline
    eye_y: float
    eye_dx: float  # half the distance between the eye centres
    eye_w: float  # half width of an eye
    eye_h: float  # half height of the upper lid arc above the eye centre
    iris: int
    brow_gap: float  # height of the brows above the eye centres
    brow_thick: float
    brow_len: float
    brow_arch: float
    brow_tone: int
    nose_y: float  # y of the nostrils
    nose_w: float
    mouth_y: float
    mouth_w: float  # half width of the mouth
    lip_upper: float
    lip_lower: float
    lip_tone: int  # how much darker the lips are than the skin
    light: tuple[float, float]  # direction and strength of the side light (x, y)
    texture_seed: int
    expressiveness: float


def sample_identity(rng: np.random.Generator) -> Identity:
    """Draw the appearance and expressiveness of one subject.

    Parameters
    ----------
    rng
        Source of randomness.

    Returns
    -------
    Identity
        Face shape, tones and feature positions within natural-looking ranges.
    """
    u = rng.uniform
    face_cy = u(0.49, 0.53)
    eye_y = face_cy + u(-0.12, -0.09)
    mouth_y = face_cy + u(0.19, 0.24)
    skin = int(u(110, 200))
    return Identity(
        face_cx=0.5 + u(-0.015, 0.015),
        face_cy=face_cy,
        face_rx=u(0.30, 0.36),
        face_top=u(0.40, 0.45),
        face_bottom=u(0.38, 0.42),
        jaw=u(1.8, 2.7),
        skin=skin,
        background=int(u(25, 110)),
        hair=int(u(15, min(110, skin - 30))),
        hairline=face_cy - u(0.30, 0.38),
        eye_y=eye_y,
        eye_dx=u(0.13, 0.16),
        eye_w=u(0.058, 0.072),
        eye_h=u(0.022, 0.03),
        iris=int(u(35, 110)),
        brow_gap=u(0.07, 0.09),
        brow_thick=u(0.02, 0.032),
        brow_len=u(0.11, 0.14),
        brow_arch=u(0.005, 0.02),
        brow_tone=int(max(20, skin - u(55, 100))),
        nose_y=face_cy + u(0.07, 0.1),
        nose_w=u(0.045, 0.06),
        mouth_y=mouth_y,
        mouth_w=u(0.095, 0.12),
        lip_upper=u(0.018, 0.028),
        lip_lower=u(0.022, 0.034),
        lip_tone=int(u(30, 60)),
        light=(float(u(-0.25, 0.25)), float(u(-0.15, 0.05))),
        texture_seed=int(rng.integers(2**31)),
        expressiveness=float(np.clip(rng.lognormal(0.0, 0.3), 0.6, 1.6)),
    )


@dataclass(frozen=True)
class FrameJitter:
    """Nuisances of one frame: head pose, lighting, gaze and blinks (none of them an AU)."""

    dx: float = 0.0  # head shift, fraction of the image size
    dy: float = 0.0
    angle: float = 0.0  # in-plane head rotation, degrees
    scale: float = 1.0
    gain: float = 1.0  # overall brightness
    light_x: float = 0.0  # lighting gradient across the image
    light_y: float = 0.0
    gaze_x: float = 0.0  # -1..1
    gaze_y: float = 0.0
    blink: float = 0.0  # 0 open, 1 closed


def _smooth_track(n: int, rng: np.random.Generator, spread: float, period: float) -> np.ndarray:
    """Slowly wandering values: random knots every ``period`` frames, linearly interpolated."""
    knots = rng.normal(0.0, spread, int(n / period) + 2)
    return np.interp(np.arange(n) / period, np.arange(knots.size), knots)


def sample_jitter(n_frames: int, rng: np.random.Generator) -> list[FrameJitter]:
    """Sample per-frame nuisances of one sequence.

    Head pose, lighting and gaze wander smoothly, as in a video, with a small frame-to-frame
    tremor on top; blinks last a few frames.

    Parameters
    ----------
    n_frames
        Length of the sequence.
    rng
        Source of randomness.

    Returns
    -------
    list of FrameJitter
        One per frame.
    """

    def track(spread: float, period: float, tremor: float) -> np.ndarray:
        return _smooth_track(n_frames, rng, spread, period) + rng.normal(0.0, tremor, n_frames)

    dx, dy = track(0.008, 40, 0.003), track(0.008, 40, 0.003)
    angle = track(1.2, 50, 0.4)
    scale = 1.0 + track(0.01, 60, 0.002)
    gain = 1.0 + track(0.05, 80, 0.01)
    light_x, light_y = track(0.08, 90, 0.0), track(0.05, 90, 0.0)
    gaze_x = np.clip(track(0.35, 25, 0.03), -1.0, 1.0)
    gaze_y = np.clip(track(0.25, 25, 0.03), -1.0, 1.0)
    blink = np.zeros(n_frames)
    profile = np.array([0.5, 1.0, 0.7, 0.3])
    for start in rng.integers(0, n_frames, rng.poisson(n_frames / 90.0)):
        stop = min(start + profile.size, n_frames)
        blink[start:stop] = np.maximum(blink[start:stop], profile[: stop - start])
    return [
        FrameJitter(*(float(v) for v in values))
        for values in zip(
            dx, dy, angle, scale, gain, light_x, light_y, gaze_x, gaze_y, blink, strict=True
        )
    ]


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------


def _strengths(intensities: Mapping[int, int] | np.ndarray | None) -> dict[int, float]:
    """AU -> strength in [0, 1] (intensity / 5) for every DISFA AU."""
    if intensities is None:
        return dict.fromkeys(DISFA_AUS, 0.0)
    if isinstance(intensities, Mapping):
        unknown = set(intensities) - set(DISFA_AUS)
        if unknown:
            raise ValueError(f"not DISFA AUs: {sorted(unknown)} (expected some of {DISFA_AUS})")
        values = [float(intensities.get(au, 0)) for au in DISFA_AUS]
    else:
        values = np.asarray(intensities, dtype=np.float64).ravel().tolist()
        if len(values) != len(DISFA_AUS):
            raise ValueError(f"expected {len(DISFA_AUS)} intensities, got {len(values)}")
    return {
        au: min(max(v, 0.0), _MAX_INTENSITY) / _MAX_INTENSITY
        for au, v in zip(DISFA_AUS, values, strict=True)
    }


def _px(points, size: int) -> np.ndarray:
    """Fractional (x, y) points -> fixed-point pixel coordinates for cv2 (shift=_SHIFT)."""
    return np.rint(np.asarray(points, dtype=np.float64) * (size * _ONE)).astype(np.int32)


def _grey(value: float) -> int:
    return int(min(max(round(value), 0), 255))


def _fill(img: np.ndarray, points, value: float) -> None:
    cv2.fillPoly(img, [_px(points, img.shape[0])], _grey(value), _AA, _SHIFT)


def _line(img: np.ndarray, points, value: float, width: float) -> None:
    """Open polyline of fractional ``width`` (at least one pixel)."""
    thickness = max(1, round(width * img.shape[0]))
    cv2.polylines(img, [_px(points, img.shape[0])], False, _grey(value), thickness, _AA, _SHIFT)


def _ellipse(img, centre, axes, value, angle=0.0, thickness=-1, arc=(0, 360)) -> None:
    size = img.shape[0]
    c, a = _px(centre, size), _px(axes, size)
    th = thickness if thickness < 0 else max(1, round(thickness * size))
    cv2.ellipse(img, c, a, angle, arc[0], arc[1], _grey(value), th, _AA, _SHIFT)


@functools.lru_cache(maxsize=16)
def _bezier_basis(n: int) -> np.ndarray:
    s = np.linspace(0.0, 1.0, n)
    basis = np.stack([(1 - s) ** 2, 2 * s * (1 - s), s**2], axis=1)
    basis.setflags(write=False)
    return basis


def _bezier(p0, p1, p2, n: int = 12) -> np.ndarray:
    """``n`` points of the quadratic Bezier curve p0 -> p2 pulled towards control point p1."""
    return _bezier_basis(n) @ np.array([p0, p1, p2], dtype=np.float64)


def _draw_head(img: np.ndarray, f: Identity, k: dict[int, float]) -> None:
    """Background, hair, neck, ears and the face oval; AU26 (jaw drop) lengthens the lower face."""
    img[:] = f.background
    cx, cy, rx = f.face_cx, f.face_cy, f.face_rx
    hair_c, hair_a = (cx, cy - 0.07), (rx * 1.14, f.face_top * 1.02)
    _ellipse(img, hair_c, hair_a, f.hair)
    neck = [(cx - rx * 0.55, cy + 0.2), (cx + rx * 0.55, cy + 0.2), (cx + rx * 0.62, 1.1)]
    _fill(img, [*neck, (cx - rx * 0.62, 1.1)], f.skin * 0.62)
    for side in (-1, 1):
        _ellipse(img, (cx + side * rx * 0.97, f.eye_y + 0.06), (0.03, 0.07), f.skin * 0.85)
    jaw_drop = _JAW_DROP * k[26]
    theta = np.linspace(0.0, 2.0 * np.pi, 72, endpoint=False)
    c, s = np.cos(theta), np.sin(theta)
    lower = s > 0
    # Superellipse below the centre line gives square or pointed chins; the jaw drop moves the
    # chin most and the cheeks hardly at all.
    shape = np.where(lower, 2.0 / f.jaw, 1.0)
    x = cx + rx * np.sign(c) * np.abs(c) ** shape
    sy = np.abs(s) ** shape
    y = np.where(lower, cy + f.face_bottom * sy + jaw_drop * sy**3, cy - f.face_top * sy)
    _fill(img, np.stack([x, y], axis=1), f.skin)
    # Fringe: the hair in front of the forehead, from a curved hairline up to the hair's outline.
    temple_y = f.hairline + 0.1
    hairline = _bezier(
        (cx - rx * 1.02, temple_y), (cx, f.hairline - 0.06), (cx + rx * 1.02, temple_y), 16
    )
    start = math.asin(max(-1.0, (temple_y - hair_c[1]) / hair_a[1]))
    arc = np.linspace(start, -np.pi - start, 24)
    top = np.stack([hair_c[0] + hair_a[0] * np.cos(arc), hair_c[1] + hair_a[1] * np.sin(arc)], 1)
    _fill(img, np.concatenate([hairline, top]), f.hair)


def _draw_relief(soft: np.ndarray, f: Identity, k: dict[int, float]) -> None:
    """Soft light and shadow of the face's relief, drawn around 128 (no change) on a coarse layer
    that is blurred and multiplied in: eye sockets, cheeks that AU6/AU12 lift, the nose, the chin
    boss of AU17, the dimples of AU20."""
    soft[:] = 128
    cx = f.face_cx
    mouth = _mouth_shape(f, k)
    for side in (-1, 1):
        ex = cx + side * f.eye_dx
        _ellipse(soft, (ex, f.eye_y - 0.006), (f.eye_w * 1.6, f.eye_h * 2.8), 106)
        cheek = (ex + side * 0.015, f.eye_y + 0.1 - 0.035 * k[6] - 0.01 * k[12])
        _ellipse(soft, cheek, (0.07, 0.045 + 0.012 * k[6]), 138 + 28 * k[6] + 8 * k[12])
        _ellipse(soft, (ex, f.eye_y + 0.045 - 0.015 * k[6]), (f.eye_w, 0.012), 128 - 30 * k[6])
        nose_side = [(cx + side * 0.03, f.eye_y + 0.01), (cx + side * f.nose_w, f.nose_y - 0.02)]
        _line(soft, nose_side, 110, 0.03)
        apple = (cx + side * (f.mouth_w + 0.05), f.mouth_y - 0.045 - 0.02 * k[12])
        _ellipse(soft, apple, (0.045, 0.035), 128 + 24 * k[12])
        corner = mouth.top[0 if side < 0 else -1]
        _ellipse(soft, (corner[0] + side * 0.015, corner[1]), (0.012, 0.018), 128 - 40 * k[20])
    _ellipse(soft, (cx, f.nose_y - 0.025 - 0.016 * k[9]), (f.nose_w * 0.5, 0.03), 146)
    _ellipse(soft, (cx, f.nose_y + 0.025), (0.018, 0.02), 116)
    lip_bottom = mouth.lower[8, 1]
    _ellipse(soft, (cx, lip_bottom + 0.014), (f.mouth_w * 0.6, 0.012), 116 - 20 * k[17])
    chin_y = f.face_cy + f.face_bottom + _JAW_DROP * k[26] - 0.065 - 0.015 * k[17]
    _ellipse(soft, (cx, chin_y), (0.07, 0.04 + 0.01 * k[17]), 134 + 34 * k[17])


def _draw_brows(img: np.ndarray, f: Identity, k: dict[int, float]) -> None:
    """Brows and forehead/glabella wrinkles: AU1 lifts the inner ends, AU2 the outer ends, AU4
    lowers the brows and pulls them together, knitting vertical furrows between them."""
    cx, skin = f.face_cx, f.skin
    base = f.eye_y - f.brow_gap
    inner_gap = f.eye_dx - f.eye_w * 0.8 - 0.02 * k[4]
    for side in (-1, 1):
        inner = (cx + side * inner_gap, base + 0.004 - 0.05 * k[1] + 0.035 * k[4])
        outer = (
            cx + side * (inner_gap + f.brow_len),
            base + 0.012 - 0.045 * k[2] + 0.02 * k[4],
        )
        mid_y = base - f.brow_arch * (1.0 - 0.6 * k[4]) - 0.02 * k[1] - 0.03 * k[2] + 0.025 * k[4]
        control = (
            cx + side * (inner_gap + 0.55 * f.brow_len),
            2 * mid_y - (inner[1] + outer[1]) / 2,
        )
        centre = _bezier(inner, control, outer, 10)
        half = f.brow_thick * np.linspace(0.6, 0.3, 10)[:, None] * np.array([0.0, 1.0])
        _fill(img, np.concatenate([centre - half, (centre + half)[::-1]]), f.brow_tone)
    if k[1] > 0 or k[2] > 0:  # horizontal forehead lines: centre from AU1, sides from AU2
        for row in range(3):
            y = base - 0.05 - 0.022 * row - 0.03 * max(k[1], k[2])
            arc = _bezier((cx - 0.2, y + 0.012), (cx, y - 0.01), (cx + 0.2, y + 0.012), 15)
            _line(img, arc[4:11], skin - 45 * k[1], 0.009)
            _line(img, arc[:5], skin - 45 * k[2], 0.009)
            _line(img, arc[10:], skin - 45 * k[2], 0.009)
    if k[4] > 0:
        for side in (-1, 1):
            x = cx + side * 0.018
            _line(img, [(x, base - 0.01), (x + side * 0.004, base + 0.045)], skin - 60 * k[4], 0.01)


def _eye_curves(f: Identity, k: dict[int, float], side: int, blink: float):
    """Upper and lower lid curves of one eye, inner corner first.

    AU5 raises the upper lid, AU6 pushes the lower lid up from below, AU4 lowers the upper lid a
    little (the brow presses on it), and a blink brings the upper lid down to the lower one.
    """
    ex, ey = f.face_cx + side * f.eye_dx, f.eye_y
    inner = (ex - side * f.eye_w, ey + 0.004)
    outer = (ex + side * f.eye_w, ey - 0.002 * (1 - k[6]))
    low = f.eye_h * (0.5 - 0.35 * k[6])
    up = f.eye_h * (1.0 + 0.8 * k[5] - 0.2 * k[4] - 0.15 * k[6])
    up = up * (1.0 - blink) - low * blink * 0.8
    upper = _bezier(inner, (ex - side * 0.1 * f.eye_w, ey - 2.0 * up), outer, 12)
    lower = _bezier(inner, (ex + side * 0.1 * f.eye_w, ey + 2.0 * low), outer, 12)
    return upper, lower


def _draw_eyes(img: np.ndarray, f: Identity, k: dict[int, float], jit: FrameJitter) -> None:
    """Eyes, lids and crow's feet (AU4, AU5, AU6); sclera and iris are clipped to the lids."""
    skin = f.skin
    layer = np.empty_like(img)
    mask = np.zeros_like(img)
    layer[:] = min(skin + 40, 230)
    lids = []
    for side in (-1, 1):
        upper, lower = _eye_curves(f, k, side, jit.blink)
        lids.append((upper, lower))
        _fill(mask, np.concatenate([upper, lower[::-1]]), 255)
        ex = f.face_cx + side * f.eye_dx
        iris = (ex + 0.35 * f.eye_w * jit.gaze_x, f.eye_y + 0.2 * f.eye_h * jit.gaze_y)
        radius = f.eye_h * 1.05
        _ellipse(layer, iris, (radius, radius), f.iris)
        _ellipse(layer, iris, (radius * 0.45, radius * 0.45), 15)
        glint = (iris[0] + 0.3 * radius, iris[1] - 0.3 * radius)
        _ellipse(layer, glint, (radius * 0.2, radius * 0.2), 230)
    alpha = mask.astype(np.uint16)
    img[:] = (img * (255 - alpha) + layer * alpha + 127) // 255
    for side, (upper, lower) in zip((-1, 1), lids, strict=True):
        _line(img, upper, 20, 0.014)  # lash line
        _line(img, lower, skin - 40, 0.006)
        crease = upper + np.array([0.0, -0.5 * f.eye_h])
        _line(img, crease[2:-2], skin - 30, 0.006)
        if k[6] > 0:  # crow's feet fan out from the outer corner
            ex = f.face_cx + side * f.eye_dx
            for tilt in (-0.02, 0.0, 0.025):
                corner = (ex + side * (f.eye_w + 0.012), f.eye_y + tilt * 0.3)
                tip = (ex + side * (f.eye_w + 0.045), f.eye_y + tilt * 1.6)
                _line(img, [corner, tip], skin - 55 * k[6], 0.008)


def _draw_nose(img: np.ndarray, f: Identity, k: dict[int, float]) -> None:
    """Nose; AU9 wrinkles the bridge and pulls the wings and nostrils up."""
    cx, skin = f.face_cx, f.skin
    ny = f.nose_y - 0.016 * k[9]
    wide = 1.0 + 0.3 * k[9]
    for side in (-1, 1):
        wing = (cx + side * f.nose_w * 0.8 * wide, ny - 0.006)
        arc = (90, 270) if side < 0 else (-90, 90)
        _ellipse(img, wing, (f.nose_w * 0.35, 0.022), skin - 35, 0, 0.008, arc)
        nostril = (cx + side * f.nose_w * 0.42 * wide, ny + 0.004)
        _ellipse(img, nostril, (f.nose_w * 0.26 * wide, 0.01), skin * 0.4, side * 15)
    if k[9] > 0:
        for row in range(3):
            y = f.eye_y + 0.025 + 0.02 * row
            wrinkle = _bezier((cx - 0.035, y + 0.006), (cx, y - 0.008), (cx + 0.035, y + 0.006), 8)
            _line(img, wrinkle, skin - 70 * k[9], 0.009)


@dataclass(frozen=True)
class _Mouth:
    """Lip contours, each a left-to-right curve of (x, y) points, and the lip gap at the centre."""

    upper: np.ndarray  # top edge of the upper lip
    top: np.ndarray  # bottom edge of the upper lip (the mouth line when closed)
    bottom: np.ndarray  # top edge of the lower lip
    lower: np.ndarray  # bottom edge of the lower lip
    gap: float


def _mouth_shape(f: Identity, k: dict[int, float]) -> _Mouth:
    """Lip contours for the current AUs.

    AU12 lifts and widens the corners, AU15 pulls them down, AU20 stretches the lips sideways and
    thins them, AU17 pushes the lower lip (and the mouth line's centre) up, AU25 parts the lips,
    AU26 drops the jaw and the lower lip with it, and AU9 lifts the upper lip a little.
    """
    jaw = _JAW_DROP * k[26]
    half = f.mouth_w * (1.0 + 0.22 * k[12] + 0.35 * k[20] - 0.08 * k[15] - 0.06 * k[17])
    corner_y = f.mouth_y - 0.035 * k[12] + 0.032 * k[15] + 0.006 * k[20] + 0.25 * jaw
    centre_y = f.mouth_y - 0.008 * k[17] - 0.007 * k[9] + 0.005 * k[12]
    gap = 0.024 * k[25] + 0.55 * jaw
    upper = f.lip_upper * (1.0 - 0.4 * k[20] - 0.2 * k[12])
    lower = f.lip_lower * (1.0 - 0.35 * k[20] - 0.15 * k[12] + 0.3 * k[17])
    t = np.linspace(-1.0, 1.0, 17)
    x = f.face_cx + half * t
    bulge = 1.0 - t**2
    top_line = corner_y + (centre_y - corner_y) * bulge
    # Cupid's bow: the upper lip is thinnest at the philtrum.
    upper_edge = top_line - upper * np.sqrt(bulge) * (1.0 - 0.3 * np.exp(-((t / 0.18) ** 2)))
    bottom_line = top_line + gap * bulge**0.7
    lower_edge = bottom_line + lower * bulge**0.6

    def xy(y: np.ndarray) -> np.ndarray:
        return np.stack([x, y], axis=1)

    return _Mouth(xy(upper_edge), xy(top_line), xy(bottom_line), xy(lower_edge), gap)


def _draw_mouth(img: np.ndarray, f: Identity, k: dict[int, float]) -> None:
    """Nasolabial folds, lips, mouth opening, teeth, chin crease (AU9, 12, 15, 17, 20, 25, 26)."""
    cx, skin = f.face_cx, f.skin
    m = _mouth_shape(f, k)
    fold = skin - 10 - 40 * k[12] - 25 * k[9] - 10 * k[6]
    for side, corner in ((-1, m.top[0]), (1, m.top[-1])):
        start = (cx + side * f.nose_w * 1.15, f.nose_y - 0.012 * k[9] - 0.012)
        stop = (corner[0] + side * 0.032, corner[1] + 0.018)
        control = (max(start[0], stop[0]) if side > 0 else min(start[0], stop[0]), start[1] + 0.03)
        control = (control[0] + side * 0.015 * (1 + k[12]), control[1])
        _line(img, _bezier(start, control, stop, 10), fold, 0.012)
        if k[15] > 0:  # the corners pull down into short marionette lines
            tip = (corner[0] + side * 0.006, corner[1] + 0.04)
            _line(img, [corner, tip], skin - 45 * k[15], 0.009)
    lip = skin - f.lip_tone
    _fill(img, np.concatenate([m.upper, m.top[::-1]]), lip)
    _fill(img, np.concatenate([m.bottom, m.lower[::-1]]), lip + 8)
    if m.gap > 0.002:
        _fill(img, np.concatenate([m.top, m.bottom[::-1]]), 22)
        teeth = m.top[3:-3]
        depth = np.minimum(0.014, 0.75 * (m.bottom[3:-3, 1] - teeth[:, 1]))
        _fill(img, np.concatenate([teeth, (teeth + np.c_[0 * depth, depth])[::-1]]), 205)
    _line(img, m.top, skin * 0.35, 0.01)
    # The crease under the lower lip deepens as AU17 pushes the chin boss up.
    y = m.lower[8, 1] + 0.024 - 0.006 * k[17]
    crease = _bezier((cx - 0.05, y - 0.006), (cx, y + 0.012), (cx + 0.05, y - 0.006), 9)
    _line(img, crease, skin - 8 - 50 * k[17], 0.011)


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates as fractions of the image, centred on 0 (read-only)."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    x, y = np.meshgrid(c, c)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


@functools.lru_cache(maxsize=8)
def _shading(identity: Identity, size: int) -> np.ndarray:
    """Static per-pixel gain of one identity: skin texture, side light, darker face rim.

    Cached because it costs more than drawing a face and never changes within a subject.
    """
    rng = np.random.default_rng(identity.texture_seed)
    blotches = cv2.resize(
        rng.standard_normal((10, 10)).astype(np.float32),
        (size, size),
        interpolation=cv2.INTER_CUBIC,
    )
    pores = cv2.GaussianBlur(
        rng.standard_normal((size, size)).astype(np.float32), (0, 0), max(0.6, size / 120)
    )
    pores *= 1.0 / max(float(pores.std()), 1e-6)
    x, y = _grid(size)
    dx = (x + 0.5 - identity.face_cx) / identity.face_rx
    dy = (y + 0.5 - identity.face_cy) / identity.face_top
    rim = 1.0 - 0.3 * np.clip(dx * dx + dy * dy - 0.5, 0.0, 1.0)
    side = 1.0 + identity.light[0] * dx * 0.5 + identity.light[1] * dy * 0.5
    gain = (1.0 + 0.035 * blotches + 0.012 * pores) * rim * side
    gain = gain.astype(np.float32)
    gain.setflags(write=False)
    return gain


def render_face(
    identity: Identity,
    intensities: Mapping[int, int] | np.ndarray | None,
    size: int,
    rng: np.random.Generator | None = None,
    jitter: FrameJitter | None = None,
) -> np.ndarray:
    """Draw one face of ``identity`` showing the given AU intensities.

    Parameters
    ----------
    identity
        Who is shown (see ``sample_identity``).
    intensities
        AU -> intensity 0-5 (missing AUs are 0), or 12 intensities in ``DISFA_AUS`` order;
        ``None`` is the neutral face. Fractional intensities are allowed.
    size
        Output width and height in pixels (>= 32).
    rng
        Source of sensor noise; ``None`` renders without noise.
    jitter
        Head pose, lighting, gaze and blink of this frame; ``None`` is a frontal, evenly lit,
        open-eyed face looking ahead.

    Returns
    -------
    numpy.ndarray
        ``(size, size)`` uint8 grey image. With ``rng=None`` the result depends only on the
        arguments, so two renders differ exactly by what the AUs change.
    """
    if size < 32:
        raise ValueError(f"size must be >= 32 pixels, got {size}")
    k = _strengths(intensities)
    jit = jitter if jitter is not None else FrameJitter()
    canvas = np.empty((size, size), np.uint8)
    _draw_head(canvas, identity, k)
    _draw_eyes(canvas, identity, k, jit)
    _draw_brows(canvas, identity, k)
    _draw_nose(canvas, identity, k)
    _draw_mouth(canvas, identity, k)
    canvas = cv2.GaussianBlur(canvas, (0, 0), max(0.5, size / 220))
    # Relief is drawn coarse and blurred: shading has no edges, and a quarter-size layer is cheap.
    soft = np.empty((max(24, size // 4),) * 2, np.uint8)
    _draw_relief(soft, identity, k)
    soft = cv2.GaussianBlur(soft, (0, 0), soft.shape[0] / 40)
    relief = cv2.resize(soft, (size, size), interpolation=cv2.INTER_LINEAR)
    image = canvas.astype(np.float32) * _shading(identity, size)
    image *= relief.astype(np.float32) * np.float32(1 / 128)
    if jitter is not None:
        warp = cv2.getRotationMatrix2D((size / 2, size / 2), jit.angle, jit.scale)
        warp[:, 2] += (jit.dx * size, jit.dy * size)
        image = cv2.warpAffine(
            image, warp, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        x, y = _grid(size)
        image *= jit.gain * (1.0 + jit.light_x * x + jit.light_y * y)
    if rng is not None:
        # Triangular rather than Gaussian noise: as good a sensor model here, at half the cost.
        noise = rng.random((2, size, size), dtype=np.float32)
        image += (noise[0] + noise[1] - np.float32(1.0)) * np.float32(_NOISE_SD * math.sqrt(6.0))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------


def subject_name(index: int) -> str:
    """DISFA-style name of the ``index``-th subject (1-based): 1 -> ``SN001``."""
    return f"SN{index:03d}"


def _rng(seed: int, subject: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, subject, stream])


# a frame, or a temporary file a killed run left (named as auflow.io.atomic names them, now or
# before: .3.png.tmp, .3.png.k2x9_a1q.tmp)
_OWN_FILE = re.compile(r"(\d+)\.png|\.\d+\.png(?:\.\w+)?\.tmp")


def _integer(name: str, value, low: int) -> int:
    """``value`` as an int, or a ValueError naming the argument if it is not an integer >= low."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def generate_subject(
    out: str | Path, index: int, n_frames: int = 120, size: int = 96, seed: int = 0
) -> str:
    """Write the frames and labels of the ``index``-th subject (1-based) of a demo dataset.

    Subjects are independent, so ``generate_demo_dataset`` can be split across processes by
    calling this for each index; the output is the same either way.

    Returns
    -------
    str
        The subject name, e.g. ``SN001``.
    """
    index, n_frames = _integer("index", index, 1), _integer("n_frames", n_frames, 1)
    size, seed = _integer("size", size, 32), _integer("seed", seed, 0)
    out = Path(out)
    name = subject_name(index)
    identity = sample_identity(_rng(seed, index, _IDENTITY))
    phase = (_rng(seed, 0, _DATASET).random(len(_PATTERNS)) + index * _GOLDEN) % 1.0
    labels = sample_intensities(
        n_frames, _rng(seed, index, _LABELS), identity.expressiveness, phase
    )
    jitter = sample_jitter(n_frames, _rng(seed, index, _JITTER))
    noise = _rng(seed, index, _NOISE)

    frames = out / "croppedImg" / name
    frames.mkdir(parents=True, exist_ok=True)
    # Frames beyond n_frames from an earlier, longer run would not match the new labels.
    for old in frames.iterdir():
        match = _OWN_FILE.fullmatch(old.name)
        if match and (match.group(1) is None or int(match.group(1)) > n_frames):
            old.unlink()
    for frame in range(n_frames):
        image = render_face(identity, labels[frame], size, noise, jitter[frame])
        # imencode, not imwrite: imwrite picks the format from the file name, and the temporary
        # name must not end in .png (see auflow.io.atomic). The bytes are the same.
        ok, png = cv2.imencode(".png", image)
        if not ok:
            raise RuntimeError(f"OpenCV could not encode frame {frame + 1} of {name} as PNG")
        write_bytes_atomically(frames / f"{frame + 1}.png", png.tobytes())

    rows = [{f"au{au}": int(v) for au, v in zip(DISFA_AUS, row, strict=True)} for row in labels]
    text = "[\n" + ",\n".join(json.dumps(row) for row in rows) + "\n]\n"
    (out / "json").mkdir(parents=True, exist_ok=True)
    write_bytes_atomically(out / "json" / f"{name}.json", text.encode())
    return name


def generate_demo_dataset(
    out: str | Path, n_subjects: int = 6, n_frames: int = 120, size: int = 96, seed: int = 0
) -> list[str]:
    """Write a DISFA-shaped demo dataset of drawn faces.

    Writes ``OUT/croppedImg/<subject>/<frame>.png`` (frames 1..n_frames, no zero padding, 8-bit
    grey, size x size) and ``OUT/json/<subject>.json`` (one object per frame, in frame order,
    keys ``au1``...``au26``, integer intensities 0-5). Every file is written atomically.

    Parameters
    ----------
    out
        Dataset folder; created if missing.
    n_subjects
        Number of subjects, named ``SN001``, ``SN002``, ...
    n_frames
        Frames per subject (DISFA has 4,845).
    size
        Image width and height in pixels (>= 32).
    seed
        Seed of every random choice (>= 0); the same arguments give byte-identical files.

    Returns
    -------
    list of str
        The subject names.

    Raises
    ------
    ValueError
        If an argument is not an integer in its range; nothing is written then.
    """
    n_subjects = _integer("n_subjects", n_subjects, 1)
    n_frames, size = _integer("n_frames", n_frames, 1), _integer("size", size, 32)
    seed = _integer("seed", seed, 0)
    return [generate_subject(out, i, n_frames, size, seed) for i in range(1, n_subjects + 1)]


def film_face(
    face: np.ndarray,
    frame_size: tuple[int, int] = (640, 480),
    face_px: int = 200,
    centre: tuple[float, float] | None = None,
    angle: float = 0.0,
    rng: np.random.Generator | None = None,
    noise: float = 12.0,
) -> np.ndarray:
    """A face crop as a camera would film it: scaled to ``face_px``, rotated by ``angle`` degrees
    (counter-clockwise, about its centre) and placed with its centre at ``centre`` in a noisy
    grey frame (grey level 110, Gaussian noise of sd ``noise`` levels, fresh in every frame).

    Parameters
    ----------
    face : (h, w) uint8 grey face crop.
    frame_size : (width, height) of the frame.
    centre : (x, y) of the face's centre in the frame; default the upright demo video's place
        (horizontally centred, its top a third of the way down the free space).
    rng : the noise's generator.

    Returns
    -------
    (height, width) uint8.
    """
    width, height = frame_size
    rng = np.random.default_rng(0) if rng is None else rng
    if centre is None:
        centre = ((width - face_px) // 2 + face_px / 2, (height - face_px) // 3 + face_px / 2)
    frame = np.clip(rng.normal(110, noise, (height, width)), 0, 255).astype(np.uint8)
    big = cv2.resize(face, (face_px, face_px), interpolation=cv2.INTER_CUBIC)
    left, top = centre[0] - face_px / 2, centre[1] - face_px / 2
    if angle == 0 and float(left).is_integer() and float(top).is_integer():
        left, top = int(left), int(top)
        if 0 <= left <= width - face_px and 0 <= top <= height - face_px:
            frame[top : top + face_px, left : left + face_px] = big
            return frame
    # the face and a mask of where it is, warped together onto the frame
    matrix = cv2.getRotationMatrix2D((face_px / 2, face_px / 2), angle, 1.0)
    matrix[:, 2] += (centre[0] - face_px / 2, centre[1] - face_px / 2)
    warped = cv2.warpAffine(big, matrix, (width, height), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(
        np.full((face_px, face_px), 255, np.uint8), matrix, (width, height), flags=cv2.INTER_LINEAR
    )
    alpha = mask.astype(np.float32) / 255
    return np.round(warped * alpha + frame * (1 - alpha)).astype(np.uint8)


def write_demo_video(
    subject_dir: str | Path,
    out: str | Path,
    fps: float = 25.0,
    frame_size: tuple[int, int] = (640, 480),
    face_px: int = 200,
    seed: int = 0,
    angle: float = 0.0,
    centre: tuple[float, float] | None = None,
    noise: float = 12.0,
) -> int:
    """A video of a subject's faces as a camera would film them: each frame of ``subject_dir``
    (in frame order) scaled to ``face_px``, rotated by ``angle`` degrees and placed (centred at
    ``centre``, see :func:`film_face`) in a larger, noisy grey frame, for trying ``auflow
    predict`` with face detection on video.

    Returns
    -------
    int
        The number of frames written (Motion-JPEG in an AVI container, which every OpenCV build
        can write and read).
    """
    from auflow.io.images import list_frames

    width, height = frame_size
    if face_px > min(width, height):
        raise ValueError(f"face_px={face_px} does not fit in a {width}x{height} frame")
    frames = list_frames(subject_dir)
    if not frames:
        raise ValueError(f"{subject_dir}: no images to make a video of")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise ValueError(f"{out}: OpenCV cannot write a Motion-JPEG AVI here")
    rng = np.random.default_rng(seed)
    try:
        for _, path in frames:
            face = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            frame = film_face(face, frame_size, face_px, centre, angle, rng, noise)
            writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    finally:
        writer.release()
    tmp.replace(out)
    return len(frames)


def compose_faces(
    faces: list[np.ndarray],
    frame_size: tuple[int, int] = (640, 480),
    face_px: int = 140,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Several face crops filmed side by side in one noisy grey frame (a group photograph).

    Faces fill a grid of up to three columns, row after row, each centred in its cell.

    Parameters
    ----------
    faces : (h, w) uint8 grey face crops.
    frame_size : (width, height).
    face_px : side of each face in the frame.

    Returns
    -------
    (frame, boxes): (height, width) uint8, and each face's (x, y, w, h) in the frame, in the
    order given.
    """
    width, height = frame_size
    columns = min(3, len(faces))
    rows = -(-len(faces) // columns)
    cell_w, cell_h = width // columns, height // rows
    if face_px > min(cell_w, cell_h):
        raise ValueError(f"{len(faces)} faces of {face_px} px do not fit in {width}x{height}")
    rng = np.random.default_rng(0) if rng is None else rng
    frame = np.clip(rng.normal(110, 12, (height, width)), 0, 255).astype(np.uint8)
    boxes = []
    for index, face in enumerate(faces):
        row, column = divmod(index, columns)
        left = column * cell_w + (cell_w - face_px) // 2
        top = row * cell_h + (cell_h - face_px) // 2
        frame[top : top + face_px, left : left + face_px] = cv2.resize(
            face, (face_px, face_px), interpolation=cv2.INTER_CUBIC
        )
        boxes.append((left, top, face_px, face_px))
    return frame, boxes
