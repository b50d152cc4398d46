"""Settings that travel whole: built once from the validated config, handed to every rule.

A rule receives ``EvaluationSettings.as_dict()`` as one Snakemake ``param`` and its script
rebuilds the object with ``EvaluationSettings(**params)``, so no default (the occurrence threshold
of 2, three inner splits) is restated in a function signature further down.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class EvaluationSettings:
    """How detectors are trained and scored.

    Attributes
    ----------
    aus : AU numbers, e.g. (1, 2, 4); one detector output each, in this order.
    target : ``"occurrence"`` (binary per AU, the field's protocol) or ``"intensity"`` (classes
        0-5 per AU, as the seed notebook did; occurrence derived from the predicted class).
    occurrence_threshold : an AU occurs in a frame when its intensity is at least this.
    normalise : ``"none"`` or ``"subject_median"`` (subtract each subject's median feature vector;
        at prediction, each input's own median).
    tune_threshold : choose each AU's decision threshold for F1 on inner subject-exclusive splits
        of the training subjects.
    inner_splits : number of those inner splits, for threshold tuning and for studies alike.
    smoothing : candidate widths (odd frame counts) of a centred moving average of each subject's
        scores before thresholding; the width is chosen with the threshold on the inner splits.
        ``(1,)`` means no smoothing.
    seed : seed of every random choice (inner splits, learners).
    """

    aus: tuple[int, ...] = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)
    target: str = "occurrence"
    occurrence_threshold: int = 2
    normalise: str = "subject_median"
    tune_threshold: bool = True
    inner_splits: int = 3
    smoothing: tuple[int, ...] = field(default=(1,))
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "aus", tuple(int(au) for au in self.aus))
        object.__setattr__(self, "smoothing", tuple(int(w) for w in self.smoothing))
        if self.target not in ("occurrence", "intensity"):
            raise ValueError(f"target must be 'occurrence' or 'intensity', got {self.target!r}")
        if self.normalise not in ("none", "subject_median"):
            raise ValueError(
                f"normalise must be 'none' or 'subject_median', got {self.normalise!r}"
            )
        if self.inner_splits < 2:
            raise ValueError(f"inner_splits must be at least 2, got {self.inner_splits}")
        if not self.smoothing or any(w < 1 or w % 2 == 0 for w in self.smoothing):
            raise ValueError(f"smoothing widths must be odd frame counts >= 1: {self.smoothing}")

    @classmethod
    def from_config(cls, config: dict) -> EvaluationSettings:
        """The settings of a validated auflow config (defaults already filled in)."""
        evaluation = config["evaluation"]
        return cls(
            aus=tuple(config["aus"]),
            target=evaluation["target"],
            occurrence_threshold=config["occurrence_threshold"],
            normalise=config["features"]["normalise"],
            tune_threshold=evaluation["tune_threshold"],
            inner_splits=evaluation["inner_splits"],
            smoothing=tuple(evaluation["smoothing"]),
            seed=evaluation["seed"],
        )

    def detector_params(self) -> dict:
        """The detectors' keyword arguments these settings fix (the estimator contract wants
        them as plain parameters): ``aus, target, occurrence_threshold, tune_threshold,
        inner_splits, smoothing``, and ``random_state`` from ``seed``."""
        params = asdict(self)
        params["random_state"] = params.pop("seed")
        params.pop("normalise")  # the features are normalised before a detector sees them
        return params

    def as_dict(self) -> dict:
        """Plain JSON-able values (lists for tuples), e.g. for a Snakemake param or a manifest."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def replace(self, **changes) -> EvaluationSettings:
        """A copy with ``changes`` applied (e.g. the baseline's ``normalise="none"``)."""
        return EvaluationSettings(**{**asdict(self), **changes})
