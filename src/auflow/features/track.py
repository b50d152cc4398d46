"""Faces followed through a video: a track id per face, and its geometry steadied over frames.

``auflow predict`` finds every face of every frame (:meth:`auflow.features.face.FaceFinder.
find_faces`); :class:`FaceTracker` says which face of this frame is which face of the previous
ones, so that a person's median normalisation and score smoothing run over that person's frames
only, never across people. No identity model: a face continues the track whose last box it
overlaps most (intersection over union at least ``min_iou``), or, failing that, whose last box's
centre is nearest (within half that box's side); each track takes at most one face a frame, the
best-overlapping pairs first. A track not seen for more than ``max_gap`` frames ends; a face that
continues no track starts a new one. Track ids (``face_id``) count from 0 in order of first
appearance, per input.

The alignment geometry (the eye centres) of a tracked face is held still while the face stays
put: the eye cascade's centres move by 1-2 % of the face from frame to frame on a still face,
and a crop that moves by one pixel from frame to frame changes the features more than most
AUs do (measured on the demo's ``gabor_energy`` model: random shifts of 0-2 pixels of a 200-px
face drop the mean per-AU correlation of scores with the crop's to 0.58; a constant shift of
2 pixels only to 0.87). So each track keeps an anchor geometry: the median of every
measurement since the face last moved (at most 250), which converges on a still face. The
face has moved when the median of its last ``steady`` measurements leaves the anchor by more
than ``tolerance`` (of the eye distance in position or scale; ``tolerance`` radians in
rotation); the anchor then starts again from those measurements. A still face is cropped by
one all but fixed geometry, as a camera's crop would be; a face that moves is followed in
steps, about ``steady / 2`` frames late.

``auflow predict`` reads an input twice and steadies with :func:`steady_geometry` instead, which
knows the whole track: every frame of a still part gets the median of the whole part, from the
part's first frame on. :class:`StillFaces` spares the detector's search for a followed face that
has not moved.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

__all__ = ["FaceTracker", "StillFaces", "box_iou", "steady_geometry"]


def box_iou(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    inter_w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    inter_h = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = inter_w * inter_h
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


@dataclass
class _Track:
    face_id: int
    box: tuple[int, int, int, int]
    last_frame: int
    eyes: deque = field(default_factory=deque)
    anchor: np.ndarray | None = None
    since_anchor: list = field(default_factory=list)


class FaceTracker:
    """Track ids for the faces of one input's frames, given in frame order.

    Parameters
    ----------
    min_iou : float, default 0.3
    max_gap : int, default 10
        Frames a track may go unseen and still continue.
    steady : int, default 15
        Measurements in the running median of a track's eye centres; 1 with ``tolerance=0``
        uses each frame's own measurement.
    tolerance : float, default 0.04
        How far the median may move from the anchor before the anchor follows it.
    """

    def __init__(
        self, min_iou: float = 0.3, max_gap: int = 10, steady: int = 15, tolerance: float = 0.04
    ):
        if steady < 1:
            raise ValueError(f"steady must be at least 1 (frame), got {steady!r}")
        if tolerance < 0:
            raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
        self.min_iou = float(min_iou)
        self.max_gap = int(max_gap)
        self.steady = int(steady)
        self.tolerance = float(tolerance)
        self.history = 250  # measurements the anchor's median spans at most (10 s at 25 fps)
        self._tracks: list[_Track] = []
        self._next_id = 0

    @property
    def active_boxes(self) -> list[tuple[int, int, int, int]]:
        """Last boxes of the tracks still open (where to look for them in the next frame)."""
        return [track.box for track in self._tracks]

    def update(self, frame: int, boxes, eyes) -> tuple[list[int], list[np.ndarray]]:
        """Assign this frame's faces to tracks.

        Parameters
        ----------
        frame : int, this frame's number (larger than the previous call's).
        boxes : list of (x, y, w, h), this frame's faces.
        eyes : list of (4,) eye centres, one per box.

        Returns
        -------
        (face_ids, steadied_eyes): one track id and one (4,) eye geometry (the track's anchor,
        see the module docstring) per box, in the order given.
        """
        self._tracks = [t for t in self._tracks if frame - t.last_frame <= self.max_gap]
        pairs = []
        for i, box in enumerate(boxes):
            for j, track in enumerate(self._tracks):
                iou = box_iou(box, track.box)
                bx, by, bw, bh = box
                tx, ty, tw, th = track.box
                distance = np.hypot(bx + bw / 2 - tx - tw / 2, by + bh / 2 - ty - th / 2)
                if iou >= self.min_iou or distance < tw / 2:
                    pairs.append((iou, -distance, i, j))
        assigned: dict[int, _Track] = {}
        taken = set()
        for _, _, i, j in sorted(pairs, reverse=True):
            if i in assigned or j in taken:
                continue
            assigned[i] = self._tracks[j]
            taken.add(j)
        ids, steadied = [], []
        for i, box in enumerate(boxes):
            track = assigned.get(i)
            if track is None:
                track = _Track(self._next_id, tuple(box), frame)
                self._next_id += 1
                self._tracks.append(track)
            track.box, track.last_frame = tuple(box), frame
            track.eyes.append(np.asarray(eyes[i], dtype=np.float64))
            while len(track.eyes) > self.steady:
                track.eyes.popleft()
            recent = np.median(np.stack(track.eyes), axis=0)
            if track.anchor is None or _moved(track.anchor, recent) > self.tolerance:
                track.since_anchor = []  # moved: start again from the recent measurements
                track.since_anchor.extend(track.eyes)
            else:
                track.since_anchor.append(track.eyes[-1])
            # the median of every measurement since the face last moved: still faces converge
            track.anchor = np.median(np.stack(track.since_anchor[-self.history :]), axis=0)
            ids.append(track.face_id)
            steadied.append(track.anchor)
        return ids, steadied


def steady_geometry(
    measured, steady: int = 15, tolerance: float = 0.04, history: int = 250
) -> np.ndarray:
    """A face track's eye geometries held still while the face stays put, knowing the whole track.

    The track is cut where the face moves, by :class:`FaceTracker`'s rule (the median of the
    last ``steady`` measurements leaves the median of those since the last cut by more than
    ``tolerance``; the cut then takes those ``steady`` measurements with it), and each
    measurement is replaced by the median of its whole part. Unlike the tracker's running
    anchor, which is the median of the measurements so far and so moves while it converges at
    the start of a track and after every move, a still face gets one geometry from its first
    frame to its last: its crop does not creep by a fraction of a pixel over the first seconds,
    which the features see (measured with a model trained on aligned demo crops: mean per-AU
    score correlation of a filmed face with its crop 0.77 with the running anchor, 0.83 with the
    median of the whole still track).

    Parameters
    ----------
    measured : (n, 4) the track's eye geometries in frame order (:func:`auflow.features.face.
        align_face`'s ``eyes``).

    Returns
    -------
    (n, 4) float64.
    """
    measured = np.asarray(measured, np.float64).reshape(-1, 4)
    n = len(measured)
    part = np.zeros(n, np.int64)
    current, start = 0, 0
    for i in range(n):
        recent = np.median(measured[max(start, i - steady + 1) : i + 1], axis=0)
        anchor = np.median(measured[max(start, i - history + 1) : i + 1], axis=0)
        if i >= start + steady and _moved(anchor, recent) > tolerance:
            current += 1
            start = max(0, i - steady + 1)
        part[i] = current
        part[start : i + 1] = current
    out = np.empty_like(measured)
    for index in np.unique(part):
        members = part == index
        out[members] = np.median(measured[members], axis=0)
    return out


def _moved(anchor: np.ndarray, eyes: np.ndarray) -> float:
    """How far eye geometry ``eyes`` is from ``anchor``: the largest of the shift of the eyes'
    midpoint and the change of their distance (both in anchor eye distances) and the change of
    the eye line's angle (radians)."""
    a_left, a_right = anchor[:2], anchor[2:]
    e_left, e_right = eyes[:2], eyes[2:]
    a_vector, e_vector = a_right - a_left, e_right - e_left
    distance = max(float(np.hypot(*a_vector)), 1e-6)
    shift = float(np.hypot(*((e_left + e_right - a_left - a_right) / 2))) / distance
    scale = abs(float(np.hypot(*e_vector)) / distance - 1)
    turn = np.arctan2(e_vector[1], e_vector[0]) - np.arctan2(a_vector[1], a_vector[0])
    turn = abs((turn + np.pi) % (2 * np.pi) - np.pi)
    return max(shift, scale, float(turn))


class StillFaces:
    """Which followed faces have not moved since the detector last measured them.

    The frontal cascade costs about 10 ms of CPU a face (looked for around its last box), most
    of ``auflow predict``'s time with several faces. A face that has not moved needs no new
    search: its last box still holds. Each measured face's box is remembered with a small
    picture of it (``size`` pixels a side); in a later frame the same place is compared with it
    by phase correlation (0.1 ms). The face is taken as unmoved, its last measurement reused,
    when the picture moved by less than ``max_shift`` of the box's side, still looks like it
    (correlation peak at least ``min_peak``; a face that left, turned or was covered scores
    lower), and it was measured at most ``max_age`` frames ago (a slow zoom or drift shows no
    shift from one frame to the next).

    Parameters
    ----------
    size : int, default 48
    max_shift : float, default 0.01
    min_peak : float, default 0.3
    max_age : int, default 5
    """

    def __init__(
        self, size: int = 48, max_shift: float = 0.01, min_peak: float = 0.3, max_age: int = 5
    ):
        self.size = int(size)
        self.max_shift = float(max_shift)
        self.min_peak = float(min_peak)
        self.max_age = int(max_age)
        self._window = None
        self._seen: dict[tuple, tuple] = {}  # box -> (face, picture, frames since measured)

    def _picture(self, levels: np.ndarray, box) -> np.ndarray | None:
        import cv2

        x, y, w, h = (int(v) for v in box)
        region = levels[max(0, y) : y + h, max(0, x) : x + w]
        if region.shape != (h, w) or min(h, w) < 8:
            return None
        picture = cv2.resize(region, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return picture.astype(np.float32)

    def remember(self, levels: np.ndarray, measured, again=()) -> None:
        """This frame's faces: those the detector ``measured`` (``FoundFace``s) are remembered
        afresh, those found ``again`` (by :meth:`find_again`) keep their picture; boxes of
        faces not in this frame are forgotten."""
        seen = {tuple(face.box): self._seen[tuple(face.box)] for face in again}
        for face in measured:
            picture = self._picture(levels, face.box)
            if picture is not None:
                seen[tuple(face.box)] = (face, picture, 0)
        self._seen = seen

    def find_again(self, levels: np.ndarray, box):
        """The last measurement of the face at ``box`` if it has not moved since, else None."""
        import cv2

        known = self._seen.get(tuple(box))
        if known is None:
            return None
        face, picture, age = known
        if age >= self.max_age:
            return None
        now = self._picture(levels, box)
        if now is None:
            return None
        if self._window is None:
            self._window = cv2.createHanningWindow((self.size, self.size), cv2.CV_32F)
        (dx, dy), peak = cv2.phaseCorrelate(picture, now, self._window)
        if peak < self.min_peak or np.hypot(dx, dy) > self.max_shift * self.size:
            return None
        self._seen[tuple(box)] = (face, picture, age + 1)
        return face
