"""A sequence detector: an LSTM over windows of consecutive frames of one subject.

:class:`LSTMDetector` has the interface of :class:`auflow.models.detector.AUDetector` (``fit``,
``decision_function``, ``predict``, ``predict_intensity``, ``thresholds_``, ``smoothing_``,
``tuned_``) plus the frame numbers it needs to build windows, passed as ``frames=``.

Inputs
------
- ``inputs="scores"`` (default): *stacked* on a per-frame detector. Its rows are a stack
  table's (:mod:`auflow.models.stacking`): per frame the per-frame detector's score of each AU,
  out of split for training frames, then a projection of the features, of which it reads the
  scores (``"scores+projection"``: both). Saved for prediction (:attr:`stack_`), it makes those
  columns from features itself.
- ``inputs="features"``: the features themselves, as the seed notebook's two layers did.

Windows
-------
A frame is scored from a window of ``window`` frames of the same *segment*: a run of frames of
one subject (or input) with consecutive frame numbers. A window never crosses a subject or a gap
in the frame numbers (a frame with no face, a frame missing from a random split); where a
segment is shorter than the window, the missing places are padding that the LSTM skips
(a Keras mask), so every frame gets a score, mapped back to its own ``(subject, frame)``.

- ``context="centred"`` (default): the window of frame *t* is *t - (window - 1) // 2 ...
  t + window // 2*: offline scoring sees an episode's onset and offset around the frame.
- ``context="causal"``: the window of frame *t* is *t - window + 1 ... t*. A frame's score uses
  only the frames before it, so a recording can be scored as it comes in.

Training
--------
Training windows end every ``stride`` frames of each segment (``stride=1``: every frame). The
validation loss is that of held-out subjects' windows ending every ``stride`` frames, as the
training windows do.

- Stacked, with tuned occurrence thresholds: *cross-fitted*. One network per subject-exclusive
  inner split of the training subjects (:func:`auflow.evaluation.splits.inner_group_splits`),
  fitted on the other parts' windows and stopped early on its own part's (best weights kept);
  each scores its own part, so every training frame has an out-of-split network score. Those
  tune each AU's threshold and smoothing width, and decide, per AU, whether the network beats
  the per-frame detector's own out-of-split score (by ``fall_back_margin``); an AU where it
  does not keeps the per-frame detector's score and cut (:attr:`from_base_`). The networks,
  averaged, score new frames: the thresholds belong to exactly the models that predict. Below
  ``min_subjects`` training subjects no network is fitted and every AU keeps the per-frame
  detector's score: inner models then learn from a third fewer subjects than the final one and
  say little about it.
- Otherwise (``inputs="features"``, a study's untuned trials, the intensity target): one
  network, fitted on all but the first inner split's subjects and stopped early on theirs, its
  thresholds tuned on their scores.

TensorFlow is imported only when a network is built or loaded, so the classic detectors and
``auflow predict`` on them do not pay for it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import time
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from auflow.evaluation.splits import inner_group_splits
from auflow.io.atomic import replaced_atomically
from auflow.models.detector import choose_cut, smooth_scores
from auflow.models.scaling import column_statistics
from auflow.models.stacking import DEFAULT_BASE, DEFAULT_INPUTS, INPUTS

log = logging.getLogger(__name__)

KERAS_FILE = "model.keras"
STATE_FILE = "detector.json"
# A stacked detector saved for prediction: the per-frame detector that makes its inputs.
BASE_FILE = "base.skops"
# The weights of every inner network, whose outputs a cross-fitted detector averages.
NETWORKS_FILE = "networks.npz"
CONTEXTS = ("causal", "centred")
CLASS_WEIGHTS = ("balanced", "none")
# A saved network may name Keras' own modules (layers, initializers, optimizers); anything else
# is refused before Keras would import it.
TRUSTED_KERAS_PACKAGE = "keras"
# Windows per prediction (and validation) step. Steps of 1,024 scored no faster on one thread
# (bench/lstm_fit.py), and hold four times the memory (57 MB at 16 frames x 865 inputs).
PREDICTION_BATCH = 256
# Standardised stacked inputs are clipped to +-this many training standard deviations.
STACKED_LIMIT = 5.0


def segment_bounds(groups: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order rows by (group, frame) and find the runs of consecutive frames.

    Parameters
    ----------
    groups : (n,) subject (or input) of each row.
    frames : (n,) int frame numbers.

    Returns
    -------
    order : (n,) int64 row indices sorted by (group, frame).
    start : (n,) int64, for each *sorted* position, the sorted position where its segment starts.

    Raises
    ------
    ValueError
        A frame number appears twice in one group.
    """
    groups = np.asarray(groups).astype(str)
    frames = np.asarray(frames)
    if not np.issubdtype(frames.dtype, np.integer):
        raise ValueError(f"frame numbers must be integers, got dtype {frames.dtype}")
    frames = frames.astype(np.int64)
    order = np.lexsort((frames, groups))
    g, f = groups[order], frames[order]
    same_group = g[1:] == g[:-1]
    repeated = np.flatnonzero(same_group & (f[1:] == f[:-1]))
    if len(repeated):
        at = repeated[0] + 1
        raise ValueError(
            f"subject {str(g[at])!r}, frame {int(f[at])}: appears twice; a frame must be one row "
            "(check the dataset join for duplicate frames)"
        )
    new_segment = np.r_[True, ~same_group | (f[1:] != f[:-1] + 1)]
    starts = np.flatnonzero(new_segment)
    start = starts[np.cumsum(new_segment) - 1]
    return order, start


def window_rows(
    groups: np.ndarray, frames: np.ndarray, window: int, context: str = "causal"
) -> np.ndarray:
    """The rows that make up each row's window, -1 where the window is padding.

    Parameters
    ----------
    groups : (n,) subject (or input) of each row; rows may come in any order.
    frames : (n,) int frame numbers.
    window : frames per window (>= 1).
    context : ``"causal"`` (the window ends at the row's frame) or ``"centred"``.

    Returns
    -------
    (n, window) int64: row ``i``'s window, oldest frame first. Every entry is a row of the
    same group whose frame number is consecutive with row ``i``'s (no gap in between), or -1.
    """
    if context not in CONTEXTS:
        raise ValueError(f"context must be one of {CONTEXTS}, got {context!r}")
    if window < 1:
        raise ValueError(f"window must be at least 1 frame, got {window}")
    order, start = segment_bounds(groups, frames)
    n = len(order)
    if n == 0:
        return np.empty((0, window), np.int64)
    new_segment = np.r_[start[1:] != start[:-1], True]  # last position of each segment
    ends = np.flatnonzero(new_segment)
    stop = ends[np.searchsorted(ends, np.arange(n))]
    ahead = 0 if context == "causal" else window // 2
    offsets = np.arange(window) - (window - 1) + ahead
    position = np.arange(n)[:, None] + offsets[None, :]
    valid = (position >= start[:, None]) & (position <= stop[:, None])
    sorted_windows = np.where(valid, order[np.clip(position, 0, n - 1)], -1)
    rows = np.empty_like(sorted_windows)
    rows[order] = sorted_windows
    return rows


def training_ends(groups: np.ndarray, frames: np.ndarray, stride: int) -> np.ndarray:
    """Rows whose windows train the network: every ``stride``-th frame of each segment, from
    its first frame on. (n_windows,) int64 row indices in (group, frame) order."""
    order, start = segment_bounds(groups, frames)
    keep = (np.arange(len(order)) - start) % stride == 0
    return order[keep]


def _keras():
    """Keras on the TensorFlow backend, imported on first use (quietly)."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def configure_tensorflow(threads: int, seed: int) -> None:
    """Cap TensorFlow's thread pools to the job's threads and make training repeatable.

    The pools can only be sized before TensorFlow runs its first operation; in a process that
    already ran one (a test session), the existing pools are kept and this is logged.
    """
    keras = _keras()
    import tensorflow as tf

    threads = max(int(threads), 1)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        log.info("TensorFlow already running: its thread pools keep their size")
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


def _variables(model) -> list:
    """Every variable of a compiled network: weights, random-generator states, optimizer."""
    return [*model.variables, *model.optimizer.variables]


@contextlib.contextmanager
def _window_batches(padded, rows, ends, targets=None, weights=None, batch_size=64, seed=None):
    """A Keras ``PyDataset`` of windows built batch by batch (a whole DISFA fold of windows
    would not fit in memory): ``padded[rows[ends]]`` with targets and weights when given,
    shuffled every epoch when ``seed`` is given (``with`` it).

    TensorFlow keeps every dataset that Keras iterated over alive until the process ends (the
    generator it registers for it), so on leaving the ``with`` the dataset lets go of the
    arrays: otherwise each fit and prediction of a study's trials would keep its copy of the
    frames (about 0.7 GB after two trials at DISFA size, docs/performance.md)."""
    batches = _window_batches_class()(padded, rows, ends, targets, weights, batch_size, seed)
    try:
        yield batches
    finally:
        batches.release()


@functools.cache
def _window_batches_class():
    """The ``PyDataset`` of :func:`_window_batches`, made once Keras is imported. Its arrays are
    attributes, not closure cells of the class, so that ``release`` can drop them."""
    keras = _keras()

    class WindowBatches(keras.utils.PyDataset):
        def __init__(self, padded, rows, ends, targets, weights, batch_size, seed):
            super().__init__()
            self.arrays = (padded, rows, ends, targets, weights)
            self.batch_size = batch_size
            self.n_batches = math.ceil(len(ends) / batch_size)
            self.rng = None if seed is None else np.random.default_rng(seed)
            self.order = self._shuffled()

        def _shuffled(self):
            ends = self.arrays[2]
            return ends if self.rng is None else self.rng.permutation(ends)

        def __len__(self):
            return self.n_batches

        def __getitem__(self, index):
            padded, rows, _, targets, weights = self.arrays
            batch = self.order[index * self.batch_size : (index + 1) * self.batch_size]
            x = padded[rows[batch]]
            if targets is None:
                return x
            return x, targets[batch][:, :, None], weights[batch]

        def on_epoch_end(self):
            if self.arrays is not None:
                self.order = self._shuffled()

        def release(self):
            self.arrays = self.order = None

    return WindowBatches


class LSTMDetector(BaseEstimator):
    """Per-AU scores from an LSTM over frame windows, with tuned thresholds (module docstring).

    Parameters
    ----------
    inputs : ``"scores"``, ``"scores+projection"`` (stacked) or ``"features"``.
    base : the config name of the per-frame model a stacked detector stacks on (the workflow
        reads it; the detector is given that model's stack table).
    min_subjects : fewest training subjects for which a stacked detector fits networks.
    fall_back_margin : out-of-split F1 a stacked detector's network must gain over the
        per-frame detector's own score (filtered, where :attr:`filter_widths` chose a filter)
        for an AU to be scored by the network (a tie keeps the simpler model); -1 keeps every
        AU on the network.
    filter_widths : candidate widths (odd frame counts) of the centred moving average a stacked
        detector may put over each AU's score, the per-frame detector's or the network's: the
        simplest temporal model, which the network must beat. Chosen with the threshold on the
        training subjects' out-of-split scores; ``[1]`` (and any causal context) = none.
    filter_margin : out-of-split F1 a filter must gain over the per-frame detector's unfiltered
        score, per AU, to be used (below it the AU scores exactly as that detector does).
    filter_min_subjects : fewest training subjects for which a filter is chosen at all: with
        fewer, inner models learn from too few subjects for their scores to choose one (on the
        demo's 4 a fold, a last-bit change of the features flipped a choice that halved an AU's
        F1).
    layers : LSTM layers (the seed notebook: 2).
    skip : the scored frame's own inputs straight to the outputs: on stacked inputs each AU's
        own score, scaled and shifted (starting as the identity), on features every feature.
    units : LSTM units per layer (the seed notebook: 50).
    dropout : dropout after each LSTM layer (the seed notebook: 0.2).
    window : frames per window.
    stride : frames between the ends of consecutive training windows of a segment.
    context : ``"centred"`` or ``"causal"`` windows (module docstring).
    learning_rate : Adam's learning rate.
    epochs : most training epochs; early stopping on the validation subjects ends sooner.
    patience : epochs without a better validation loss before stopping.
    batch_size : windows per training step.
    class_weight : ``"balanced"`` weights each AU's positive and negative training windows
        inversely to their frequency in the binary cross-entropy (occurrence only); ``"none"``.
    aus, target, occurrence_threshold, tune_threshold, inner_splits, smoothing, random_state :
        as for :class:`auflow.models.detector.AUDetector`; ``inner_splits`` sets the inner
        splits (and the share of training subjects held out for validation).
    n_jobs : TensorFlow's intra- and inter-op threads.

    Attributes
    ----------
    model_ : the Keras model; input (batch, window, n_inputs + 1) float32, output
        (batch, n_aus, 1): P(occurrence) per AU, or intensity 0-5 for ``target="intensity"``.
    networks_ : the weights of each inner split's network (cross-fitted), averaged at
        prediction; None for one network (``model_``'s own weights).
    from_base_ : (n_aus,) bool, the AUs scored by the per-frame detector's score (stacked).
    stack_ : a :class:`auflow.models.stacking.Stack` when saved to score features, else absent.
    mean_, scale_ : (n_inputs,) float32 standardisation of the training frames' inputs.
    thresholds_ : (n_aus,) float64 thresholds on :meth:`decision_function`.
    smoothing_ : (n_aus,) int64 smoothing widths.
    tuned_ : (n_aus,) bool, whether the threshold was tuned (else 0.5, or the occurrence
        threshold on predicted intensity).
    validation_loss_ : list of float, the validation loss after each epoch (empty without
        validation subjects).
    best_epoch_ : int, the epoch whose weights were kept (1-based; cross-fitted: the
        median over the inner networks; 0 when none was fitted).
    """

    classifier = "lstm"
    # predict_frames and fit_detector pass frame numbers to detectors that declare this
    needs_frames = True

    def __init__(
        self,
        inputs=DEFAULT_INPUTS,
        base=DEFAULT_BASE,
        min_subjects=16,
        fall_back_margin=0.02,
        filter_widths=(1, 3, 5, 9),
        filter_margin=0.01,
        filter_min_subjects=6,
        layers=1,
        skip=True,
        units=16,
        dropout=0.2,
        window=16,
        stride=8,
        context="centred",
        learning_rate=3e-3,
        epochs=20,
        patience=3,
        batch_size=128,
        class_weight="balanced",
        aus=(1,),
        target="occurrence",
        occurrence_threshold=2,
        tune_threshold=True,
        inner_splits=3,
        smoothing=(1,),
        random_state=0,
        n_jobs=1,
    ):
        self.inputs = inputs
        self.base = base
        self.min_subjects = min_subjects
        self.fall_back_margin = fall_back_margin
        self.filter_widths = filter_widths
        self.filter_margin = filter_margin
        self.filter_min_subjects = filter_min_subjects
        self.layers = layers
        self.skip = skip
        self.units = units
        self.dropout = dropout
        self.window = window
        self.stride = stride
        self.context = context
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.patience = patience
        self.batch_size = batch_size
        self.class_weight = class_weight
        self.aus = aus
        self.target = target
        self.occurrence_threshold = occurrence_threshold
        self.tune_threshold = tune_threshold
        self.inner_splits = inner_splits
        self.smoothing = smoothing
        self.random_state = random_state
        self.n_jobs = n_jobs

    NETWORK_PARAMS = (
        "inputs",
        "base",
        "min_subjects",
        "fall_back_margin",
        "filter_widths",
        "filter_margin",
        "filter_min_subjects",
        "layers",
        "skip",
        "units",
        "dropout",
        "window",
        "stride",
        "context",
        "learning_rate",
        "epochs",
        "patience",
        "batch_size",
        "class_weight",
    )

    @classmethod
    def from_settings(cls, params, settings, n_jobs: int = 1) -> LSTMDetector:
        """A detector with the network ``params`` (its config section) and the evaluation
        :class:`auflow.settings.EvaluationSettings`."""
        detector = cls(**(params or {}), **settings.detector_params(), n_jobs=n_jobs)
        detector.check_params()
        return detector

    @property
    def params(self) -> dict:
        """The network parameters (what a config's ``classifiers.lstm.params`` sets)."""
        return {name: getattr(self, name) for name in self.NETWORK_PARAMS}

    def check_params(self) -> None:
        """ValueError naming the parameter when a network parameter is out of range."""
        positive = (
            "min_subjects",
            "filter_min_subjects",
            "layers",
            "units",
            "window",
            "stride",
            "epochs",
            "batch_size",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"lstm: {name} must be a positive integer, got {value!r}")
        if not -1 <= self.fall_back_margin <= 1:
            raise ValueError(
                f"lstm: fall_back_margin must be in [-1, 1], got {self.fall_back_margin!r}"
            )
        if not -1 <= self.filter_margin <= 1:
            raise ValueError(f"lstm: filter_margin must be in [-1, 1], got {self.filter_margin!r}")
        widths = self.filter_widths
        if (
            isinstance(widths, str)
            or not np.iterable(widths)
            or not len(widths)
            or not all(isinstance(w, int | np.integer) and w >= 1 and w % 2 for w in widths)
        ):
            raise ValueError(
                f"lstm: filter_widths must be a list of odd positive integers, got {widths!r}"
            )
        if not 0 <= self.dropout < 1:
            raise ValueError(f"lstm: dropout must be in [0, 1), got {self.dropout!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"lstm: learning_rate must be positive, got {self.learning_rate!r}")
        if not isinstance(self.patience, int | np.integer) or self.patience < 0:
            raise ValueError(f"lstm: patience must be an integer >= 0, got {self.patience!r}")
        if self.inputs not in INPUTS:
            raise ValueError(f"lstm: inputs must be one of {INPUTS}, got {self.inputs!r}")
        if not isinstance(self.skip, bool | np.bool_):
            raise ValueError(f"lstm: skip must be true or false, got {self.skip!r}")
        if self.context not in CONTEXTS:
            raise ValueError(f"lstm: context must be one of {CONTEXTS}, got {self.context!r}")
        if self.class_weight not in CLASS_WEIGHTS:
            raise ValueError(
                f"lstm: class_weight must be one of {CLASS_WEIGHTS}, got {self.class_weight!r}"
            )

    # -- arrays -----------------------------------------------------------------------------

    def _centred(self, X, groups) -> np.ndarray:
        """Stacked inputs less each subject's median (as features less theirs): the per-frame
        detector fitted on every training subject scores a new subject with another offset than
        the inner models scored their held-out ones; features as they are."""
        if self.inputs == "features":
            return X
        from auflow.models.train import subtract_subject_medians

        return subtract_subject_medians(np.asarray(X, dtype=np.float32), groups)

    def _padded(self, X) -> np.ndarray:
        """(n + 1, n_features + 1) float32: standardised features and a 1 marking a real frame,
        then one all-zero padding row (index -1), which the Masking layer skips. The marker
        keeps a real frame from ever being all zeros."""
        X = np.asarray(X, dtype=np.float32)
        padded = np.zeros((len(X) + 1, X.shape[1] + 1), np.float32)
        # standardised in place: the only copy of the features a fit or a prediction makes
        features = padded[:-1, :-1]
        features[:] = X
        features -= self.mean_
        features /= self.scale_
        if self.inputs != "features":
            # a score far outside what training saw (an AU whose model changed from the inner
            # splits to the final fit) must not saturate the network
            np.clip(features, -STACKED_LIMIT, STACKED_LIMIT, out=features)
        padded[:-1, -1] = 1.0
        return padded

    @staticmethod
    def _keys(X, groups, frames):
        n = len(X)
        groups = np.zeros(n, np.int8) if groups is None else np.asarray(groups)
        groups = groups.astype(str)
        if len(groups) != n:
            raise ValueError(f"groups must have {n} entries, got {len(groups)}")
        if frames is None:
            # no frame numbers: rows of a group are taken as consecutive frames
            frames = np.zeros(n, np.int64)
            for group in np.unique(groups):
                mine = groups == group
                frames[mine] = np.arange(mine.sum())
        frames = np.asarray(frames)
        if len(frames) != n:
            raise ValueError(f"frames must have {n} entries, got {len(frames)}")
        return groups, frames

    def _labels(self, Y) -> np.ndarray:
        if self.target == "occurrence":
            return (Y >= self.occurrence_threshold).astype(np.float32)
        return Y.astype(np.float32)

    # -- the network ------------------------------------------------------------------------

    def _build(self, n_inputs: int):
        keras = _keras()
        layers = keras.layers
        n_aus = len(self.aus)
        inputs = keras.Input((self.window, n_inputs), name="windows")
        x = layers.Masking(mask_value=0.0)(inputs)
        for layer in range(self.layers):
            x = layers.LSTM(self.units, return_sequences=layer < self.layers - 1)(x)
            x = layers.Dropout(self.dropout)(x)
        x = layers.Dense(n_aus, kernel_initializer="zeros" if self.skip else "glorot_uniform")(x)
        if self.skip:
            x = layers.Add()([x, self._skip(layers, inputs, n_inputs)])
        x = layers.Activation("sigmoid")(x)
        if self.target == "intensity":
            x = layers.Rescaling(5.0)(x)  # a sigmoid scaled to intensities 0-5
        # (n_aus, 1) outputs make the loss per AU and frame, so a weight per AU can apply
        outputs = layers.Reshape((n_aus, 1), name="aus")(x)
        model = keras.Model(inputs, outputs)
        loss = "binary_crossentropy" if self.target == "occurrence" else "mean_squared_error"
        model.compile(
            optimizer=keras.optimizers.Adam(self.learning_rate), loss=loss, jit_compile=False
        )
        return model

    def _skip(self, layers, inputs, n_inputs: int):
        """The scored frame's own inputs straight to the outputs: the per-frame model the
        network starts from, its LSTM (starting at zero) adding what the frames around say.
        On stacked inputs each AU's output takes its own score only, scaled and shifted
        (starting as the score itself), so that what the network learns beyond the per-frame
        detector is all in the LSTM's part; on features, every feature reaches every AU."""
        before = self.window - 1 - self._ahead()
        scored = layers.Cropping1D((before, self._ahead()))(inputs)  # (batch, 1, n_inputs)
        if self.inputs == "features":
            return layers.Dense(len(self.aus))(layers.Flatten()(scored))
        # the AUs' score columns come first: crop the rest along the input axis
        columns = layers.Permute((2, 1))(scored)  # (batch, n_inputs, 1)
        columns = layers.Cropping1D((0, n_inputs - len(self.aus)))(columns)
        own = layers.Permute((2, 1))(columns)  # (batch, 1, n_aus)
        own = layers.DepthwiseConv1D(1, depthwise_initializer="ones")(own)
        return layers.Flatten()(own)

    def _ahead(self) -> int:
        """Frames after the scored one in its window (:func:`window_rows`)."""
        return 0 if self.context == "causal" else self.window // 2

    def _network(self, n_inputs: int):
        """A compiled network at the weights it was built with. Keras traces a new network's
        training and prediction graphs on first use, several seconds that dominate a small fit;
        a detector refitted with unchanged parameters (a study refits one per inner split)
        reuses its network instead, every variable reset to its value when built, the
        optimizer's and the dropout's random state included: the same fit as a new network."""
        key = (n_inputs, self.get_params())
        cached = getattr(self, "_built", None)
        if cached is not None and cached[0] == key:
            _, model, initial = cached
            for variable, value in zip(_variables(model), initial, strict=True):
                variable.assign(value)
            return model
        model = self._build(n_inputs)
        model.optimizer.build(model.trainable_variables)
        self._built = (key, model, [variable.numpy() for variable in _variables(model)])
        return model

    def _weights(self, labels: np.ndarray) -> np.ndarray:
        """(n, n_aus) float32 per-AU class-balancing weights of the training windows."""
        weights = np.ones_like(labels, dtype=np.float32)
        if self.target != "occurrence" or self.class_weight == "none":
            return weights
        n = len(labels)
        positives = labels.sum(axis=0)
        for column, n_pos in enumerate(positives):
            if 0 < n_pos < n:
                weights[:, column] = np.where(
                    labels[:, column] == 1, n / (2 * n_pos), n / (2 * (n - n_pos))
                )
        return weights

    def fit(self, X, Y, groups, frames=None, epoch_callback=None, base_cuts=None):
        """Fit the network on the training subjects and tune each AU's threshold.

        Parameters
        ----------
        X : (n_frames, n_features) float32 features.
        Y : (n_frames, n_aus) int intensities 0-5, columns in ``aus`` order.
        groups : (n_frames,) subject of each frame.
        frames : (n_frames,) int frame numbers; None takes a subject's rows as consecutive.
        epoch_callback : optional ``callable(epoch, validation_loss)`` called after each epoch
            with validation subjects (an Optuna pruner raises from it to stop a trial).
        base_cuts : on stacked inputs, the per-frame detector's ``thresholds``, ``smoothing``
            and ``tuned`` per AU (:func:`auflow.models.stacking.stack_metadata`): an AU left
            to the per-frame detector keeps its cut, so that it scores exactly as that
            detector does. None: cut where F1 is best over the training frames' scores.
        """
        self.check_params()
        self.n_stack_columns_ = X.shape[1] if self.inputs != "features" else None
        X = self._selected(np.asarray(X, dtype=np.float32))
        Y = np.asarray(Y)
        if Y.shape != (len(X), len(self.aus)):
            raise ValueError(f"Y must have shape ({len(X)}, {len(self.aus)}), got {Y.shape}")
        groups, frames = self._keys(X, groups, frames)
        configure_tensorflow(self.n_jobs, self.random_state)
        # standardised on every training frame (no labels); summed chunk by chunk, no copy
        inputs = self._centred(X, groups)
        mean, scale = column_statistics(inputs)
        self.mean_, self.scale_ = mean.astype(np.float32), scale.astype(np.float32)
        self.n_features_in_ = X.shape[1]
        padded = self._padded(inputs)
        del inputs
        rows = window_rows(groups, frames, self.window, self.context)
        labels = self._labels(Y)
        n_aus = len(self.aus)
        self.from_base_ = np.zeros(n_aus, bool)
        several = len(np.unique(groups)) >= 2
        inner = inner_group_splits(groups, self.inner_splits, self.random_state) if several else []
        self.networks_ = None
        if self._cross_fitted() and 1 < len(np.unique(groups)) < self.min_subjects:
            log.info(
                "lstm: %d training subjects, fewer than %d: every AU keeps the per-frame "
                "detector's score (no inner split's network says what one fitted on all would do)",
                len(np.unique(groups)),
                self.min_subjects,
            )
            self.model_ = self._network(padded.shape[1])
            self.best_epoch_, self.validation_loss_ = 0, []
            self._choose(X, None, labels, groups, frames, base_cuts)
            return self
        if self._cross_fitted() and several:
            # Every inner split's network scores its validation subjects: thresholds, and the
            # choice between network and per-frame detector, are made on every training subject
            # (as the per-frame detector tunes its own). Those networks, averaged, then score
            # new frames: the thresholds belong to exactly the models that predict.
            scores = np.empty((len(X), n_aus))
            networks, epochs = [], []
            for number, (fitting, held_out) in enumerate(inner):
                callback = epoch_callback if number == 0 else None
                epochs.append(
                    self._train(padded, rows, labels, groups, frames, fitting, held_out, callback)
                )
                scores[held_out] = self._raw_scores(padded, rows, held_out)
                networks.append([weights.copy() for weights in self.model_.get_weights()])
            self.networks_ = networks
            self.best_epoch_ = int(np.median(epochs))
            self._choose(X, scores, labels, groups, frames, base_cuts)
            return self
        held_out = inner[0][1] if inner else np.empty(0, np.int64)
        fitting = np.setdiff1d(np.arange(len(X)), held_out)
        self._train(padded, rows, labels, groups, frames, fitting, held_out, epoch_callback)
        validation = np.zeros(len(X), bool)
        validation[held_out] = True
        self._tune(padded, rows, labels, groups, frames, validation)
        return self

    def _cross_fitted(self) -> bool:
        """Whether :meth:`fit` tunes on every training subject's out-of-split network scores
        (stacked inputs, tuned occurrence thresholds) rather than on one held-out part."""
        return self.inputs != "features" and self.target == "occurrence" and self.tune_threshold

    def _train(self, padded, rows, labels, groups, frames, fitting, held_out, epoch_callback):
        """Fit the network (anew) on the windows of the rows ``fitting``, stopping early on the
        rows ``held_out`` (None: for :attr:`best_epoch_` epochs). Returns the best epoch."""
        keras = _keras()
        ends = fitting[training_ends(groups[fitting], frames[fitting], self.stride)]
        weights = np.zeros_like(labels)
        weights[ends] = self._weights(labels[ends])
        callbacks = []
        validation_ends = None
        if held_out is not None and len(held_out):
            validation_ends = held_out[
                training_ends(groups[held_out], frames[held_out], self.stride)
            ]
            # the validation loss is weighted as the training loss is, by the training weights
            weights[validation_ends] = self._validation_weights(labels, ends, validation_ends)
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss", patience=self.patience, restore_best_weights=True
                )
            )
            if epoch_callback is not None:
                callbacks.append(
                    keras.callbacks.LambdaCallback(
                        on_epoch_end=lambda epoch, logs: epoch_callback(epoch, logs["val_loss"])
                    )
                )
        epochs = self.epochs if held_out is not None else self.best_epoch_
        started = time.perf_counter()
        self.model_ = self._network(padded.shape[1])
        # the datasets let go of the frames once Keras is done with them (_window_batches)
        with contextlib.ExitStack() as datasets:
            train_batches = datasets.enter_context(
                _window_batches(
                    padded, rows, ends, labels, weights, self.batch_size, self.random_state
                )
            )
            validation_batches = None
            if validation_ends is not None:
                validation_batches = datasets.enter_context(
                    _window_batches(
                        padded, rows, validation_ends, labels, weights, PREDICTION_BATCH
                    )
                )
            history = self.model_.fit(
                train_batches,
                validation_data=validation_batches,
                epochs=epochs,
                callbacks=callbacks,
                # the windows are shuffled by the batches' own seeded generator; Keras' shuffle
                # of the batch order would draw from Python's global random state instead
                shuffle=False,
                verbose=0,
            )
        self.validation_loss_ = [float(v) for v in history.history.get("val_loss", [])]
        self.best_epoch_ = (
            int(np.argmin(self.validation_loss_)) + 1
            if self.validation_loss_
            else len(history.history["loss"])
        )
        log.info(
            "lstm: %d training windows, %d validation windows, %d epochs, best %d, %.1f s",
            len(ends),
            0 if validation_ends is None else len(validation_ends),
            len(history.history["loss"]),
            self.best_epoch_,
            time.perf_counter() - started,
        )
        return self.best_epoch_

    def _choose(self, X, scores, labels, groups, frames, cuts):
        """Each AU's score, threshold and smoothing width, chosen for F1 on the out-of-split
        scores of every training frame, from the simplest model up:

        1. the per-frame detector's own score (its input column) at its own cut: the AU is
           scored exactly as that detector scores it;
        2. that score under a centred moving average (:attr:`filter_widths`), with a threshold
           tuned for it, if its F1 is better by ``filter_margin``;
        3. the network's out-of-split ``scores`` (None: no network), if better than the
           choice so far by ``fall_back_margin``.

        All of it on training subjects only."""
        n_aus = len(self.aus)
        self.from_base_ = np.ones(n_aus, bool)
        self.thresholds_ = np.full(n_aus, 0.5)
        self.smoothing_ = np.ones(n_aus, np.int64)
        self.tuned_ = np.zeros(n_aus, bool)
        order = np.lexsort((frames, groups))  # frame order within each subject, for smoothing
        ordered_groups = groups[order]
        widths = self._filter_widths(len(np.unique(groups)))
        for column, au in enumerate(self.aus):
            truth = labels[order, column].astype(np.int8)
            base = X[order, column].astype(np.float64)
            if truth.any() and np.ptp(base) > 0:
                base_cut = choose_cut(base, truth, ordered_groups, self.smoothing)
            else:
                base_cut = (0.0, 1, -1.0)
            if cuts is not None:
                self.thresholds_[column] = cuts["thresholds"][column]
                self.smoothing_[column] = cuts["smoothing"][column]
                self.tuned_[column] = cuts["tuned"][column]
            else:
                self.thresholds_[column], self.smoothing_[column] = base_cut[:2]
                self.tuned_[column] = base_cut[2] >= 0
            best = base_cut[2]
            if truth.any() and np.ptp(base) > 0 and max(widths) > 1:
                filtered = choose_cut(base, truth, ordered_groups, widths)
                if filtered[2] > base_cut[2] + self.filter_margin:
                    self.thresholds_[column], self.smoothing_[column] = filtered[:2]
                    self.tuned_[column] = True
                    best = filtered[2]
            if scores is None or not truth.any() or np.ptp(scores[order, column]) == 0:
                log.info(
                    "AU%02d: out-of-split F1 of the per-frame detector %.3f, filtered (width %d) "
                    "%.3f",
                    au,
                    base_cut[2],
                    self.smoothing_[column],
                    best,
                )
                continue
            network = choose_cut(scores[order, column], truth, ordered_groups, widths)
            log.info(
                "AU%02d: out-of-split F1 of the network %.3f, of the per-frame detector %.3f, "
                "filtered (width %d) %.3f",
                au,
                network[2],
                base_cut[2],
                self.smoothing_[column],
                best,
            )
            if network[2] > best + self.fall_back_margin:
                self.thresholds_[column], self.smoothing_[column] = network[:2]
                self.tuned_[column] = True
                self.from_base_[column] = False
        log.info(
            "lstm: %d of %d AUs scored by the network, %d by the per-frame detector's filtered "
            "score, the others by its own",
            int((~self.from_base_).sum()),
            n_aus,
            int((self.from_base_ & (self.smoothing_ > 1)).sum()),
        )

    def _filter_widths(self, n_subjects: int) -> tuple[int, ...]:
        """The moving-average widths :meth:`_choose` may put over a score, fitting on
        ``n_subjects`` training subjects: the evaluation's smoothing candidates, and
        :attr:`filter_widths` unless windows are causal (a centred average reads frames after
        the scored one, which streaming does not have) or the subjects are fewer than
        :attr:`filter_min_subjects`."""
        widths = set(int(w) for w in self.smoothing)
        if self.context != "causal" and n_subjects >= self.filter_min_subjects:
            widths.update(int(w) for w in self.filter_widths)
        return tuple(sorted(widths))

    def _validation_weights(self, labels, ends, validation_ends):
        """Class weights from the training windows applied to the validation frames."""
        weights = np.ones((len(validation_ends), labels.shape[1]), np.float32)
        if self.target != "occurrence" or self.class_weight == "none":
            return weights
        n = len(ends)
        positives = labels[ends].sum(axis=0)
        for column, n_pos in enumerate(positives):
            if 0 < n_pos < n:
                weights[:, column] = np.where(
                    labels[validation_ends, column] == 1, n / (2 * n_pos), n / (2 * (n - n_pos))
                )
        return weights

    def _tune(self, padded, rows, labels, groups, frames, validation):
        n_aus = len(self.aus)
        self.smoothing_ = np.ones(n_aus, np.int64)
        self.tuned_ = np.zeros(n_aus, bool)
        if self.target == "intensity":
            # predicted intensity against the occurrence threshold, as the classic models do
            self.thresholds_ = np.full(n_aus, float(self.occurrence_threshold))
            return
        self.thresholds_ = np.full(n_aus, 0.5)
        if not (self.tune_threshold and validation.any()):
            return
        held_out = np.flatnonzero(validation)
        order = np.lexsort((frames[held_out], groups[held_out]))
        held_out = held_out[order]  # frame order within each subject, for smoothing
        scores = self._raw_scores(padded, rows, held_out)
        for column, au in enumerate(self.aus):
            truth = labels[held_out, column].astype(np.int8)
            if not truth.any() or np.ptp(scores[:, column]) == 0:
                log.info("AU%02d: threshold not tuned (no positives or constant scores)", au)
                continue
            threshold, width, _ = choose_cut(
                scores[:, column], truth, groups[held_out], self.smoothing
            )
            self.thresholds_[column] = threshold
            self.smoothing_[column] = width
            self.tuned_[column] = True

    def _raw_scores(self, padded, rows, which) -> np.ndarray:
        """(len(which), n_aus) float64 network outputs for the rows ``which``."""
        if len(which) == 0:
            return np.empty((0, len(self.aus)))
        networks = getattr(self, "networks_", None) or [None]
        total = np.zeros((len(which), len(self.aus)))
        with _window_batches(padded, rows, which, batch_size=PREDICTION_BATCH) as batches:
            for weights in networks:
                if weights is not None:
                    self.model_.set_weights(weights)
                total += self.model_.predict(batches, verbose=0)[:, :, 0]
        return total / len(networks)

    # -- prediction -------------------------------------------------------------------------

    def _network_outputs(self, X, groups, frames) -> tuple[np.ndarray, np.ndarray]:
        """(outputs, groups): the network's outputs, and for an AU that falls back
        (:attr:`from_base_`) its input column, the per-frame detector's score."""
        check_is_fitted(self, "model_")
        X = np.asarray(X, dtype=np.float32)
        if getattr(self, "stack_", None) is not None and X.ndim == 2:
            X = self.stack_.columns(X)
        if self.inputs != "features" and X.ndim == 2 and X.shape[1] == self.n_stack_columns_:
            X = self._selected(X)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have shape (n_frames, {self.n_features_in_}), got {X.shape}")
        groups, frames = self._keys(X, groups, frames)
        rows = window_rows(groups, frames, self.window, self.context)
        outputs = self._raw_scores(self._padded(self._centred(X, groups)), rows, np.arange(len(X)))
        for column in np.flatnonzero(getattr(self, "from_base_", ())):
            outputs[:, column] = X[:, column]
        return outputs, groups

    def _selected(self, X: np.ndarray) -> np.ndarray:
        """The columns of stack columns ``X`` (scores, then projection;
        :mod:`auflow.models.stacking`) that ``inputs`` names; features as they are."""
        return X[:, : len(self.aus)] if self.inputs == "scores" else X

    def decision_function(self, X, groups=None, frames=None) -> np.ndarray:
        """(n_frames, n_aus) float64 scores in the rows' order: P(occurrence), smoothed within
        ``groups`` where a width was chosen (rows of a group in frame order, as tables are);
        predicted intensity 0-5 for ``target="intensity"``. Compare with :attr:`thresholds_`."""
        outputs, groups = self._network_outputs(X, groups, frames)
        if self.target == "intensity":
            return outputs
        return np.column_stack(
            [
                smooth_scores(outputs[:, column], groups, int(self.smoothing_[column]))
                for column in range(len(self.aus))
            ]
        )

    def predict(self, X, groups=None, frames=None) -> np.ndarray:
        """(n_frames, n_aus) int8 occurrence: scores at or above each AU's threshold."""
        return (self.decision_function(X, groups, frames) >= self.thresholds_).astype(np.int8)

    def predict_intensity(self, X, groups=None, frames=None) -> np.ndarray:
        """(n_frames, n_aus) float64 predicted intensity 0-5 (``target="intensity"`` only)."""
        if self.target != "intensity":
            raise ValueError("predict_intensity needs a detector fitted with target='intensity'")
        outputs, _ = self._network_outputs(X, groups, frames)
        return outputs

    # -- files ------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> list[str]:
        """Write the network as ``model.keras`` and the rest (parameters, standardisation,
        thresholds) as ``detector.json``; returns the file names written. No pickle anywhere."""
        check_is_fitted(self, "model_")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        # Keras wants the .keras suffix
        with replaced_atomically(directory / KERAS_FILE, suffix=".tmp.keras") as tmp:
            self.model_.save(tmp)
        files = [KERAS_FILE, STATE_FILE]
        if self.networks_ is not None:  # the inner networks' weights, averaged at prediction
            arrays = {
                f"n{i}_{j}": w for i, ws in enumerate(self.networks_) for j, w in enumerate(ws)
            }
            with replaced_atomically(directory / NETWORKS_FILE, suffix=".tmp.npz") as tmp:
                np.savez(tmp, **arrays)
            files.append(NETWORKS_FILE)
        stack = getattr(self, "stack_", None)
        if stack is not None:
            from auflow.models.saved import write_skops

            write_skops(stack.base, directory / BASE_FILE)
            files.append(BASE_FILE)
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in self.get_params().items()}
        state = {
            "class": "LSTMDetector",
            "params": params,
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "thresholds": self.thresholds_.tolist(),
            "smoothing": self.smoothing_.tolist(),
            "tuned": self.tuned_.tolist(),
            "n_features_in": int(self.n_features_in_),
            "validation_loss": self.validation_loss_,
            "best_epoch": int(self.best_epoch_),
            "from_base": self.from_base_.tolist(),
            "networks": None if self.networks_ is None else len(self.networks_),
            "n_stack_columns": self.n_stack_columns_,
            "stack": None if stack is None else stack.state(),
        }
        with replaced_atomically(directory / STATE_FILE) as tmp:
            tmp.write_text(json.dumps(state, indent=1) + "\n")
        return files

    @classmethod
    def load(cls, directory: str | Path) -> LSTMDetector:
        """Rebuild a detector written by :meth:`save`. The network is loaded with Keras'
        ``safe_mode`` (no Lambda layers, no code), after checking that its configuration names
        only Keras' own modules (ValueError otherwise, nothing of it imported)."""
        directory = Path(directory)
        state = json.loads((directory / STATE_FILE).read_text())
        if state.get("class") != "LSTMDetector":
            raise ValueError(f"{directory / STATE_FILE}: not an LSTM detector state")
        params = state["params"]
        for name in ("aus", "smoothing"):
            params[name] = tuple(params[name])
        detector = cls(**params)
        detector.mean_ = np.asarray(state["mean"], np.float32)
        detector.scale_ = np.asarray(state["scale"], np.float32)
        detector.thresholds_ = np.asarray(state["thresholds"], np.float64)
        detector.smoothing_ = np.asarray(state["smoothing"], np.int64)
        detector.tuned_ = np.asarray(state["tuned"], bool)
        detector.n_features_in_ = int(state["n_features_in"])
        detector.validation_loss_ = list(state["validation_loss"])
        detector.best_epoch_ = int(state["best_epoch"])
        detector.from_base_ = np.asarray(state["from_base"], bool)
        detector.networks_ = None
        if state["networks"]:
            with np.load(directory / NETWORKS_FILE, allow_pickle=False) as arrays:
                detector.networks_ = [
                    [
                        arrays[f"n{i}_{j}"]
                        for j in range(sum(k.startswith(f"n{i}_") for k in arrays))
                    ]
                    for i in range(state["networks"])
                ]
        detector.n_stack_columns_ = state["n_stack_columns"]
        if state["stack"] is not None:
            from auflow.models.saved import read_skops
            from auflow.models.stacking import Stack

            base = read_skops(directory / BASE_FILE)
            detector.stack_ = Stack.from_state(base, state["stack"])
        check_keras_file(directory / KERAS_FILE)
        keras = _keras()
        detector.model_ = keras.saving.load_model(
            directory / KERAS_FILE, compile=False, safe_mode=True
        )
        return detector


def keras_modules(config) -> set[str]:
    """Every ``module`` a Keras model configuration (parsed JSON) names."""
    found = set()
    if isinstance(config, dict):
        if isinstance(config.get("module"), str):
            found.add(config["module"])
        for value in config.values():
            found |= keras_modules(value)
    elif isinstance(config, list):
        for value in config:
            found |= keras_modules(value)
    return found


def check_keras_file(path: Path) -> None:
    """ValueError when a ``.keras`` archive's configuration names a module outside Keras'
    own (Keras would import it to rebuild the model), or it is not a Keras archive."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a Keras model file ({error})") from None
    foreign = sorted(
        m
        for m in keras_modules(config)
        if m != TRUSTED_KERAS_PACKAGE and not m.startswith(TRUSTED_KERAS_PACKAGE + ".")
    )
    if foreign:
        raise ValueError(
            f"{path}: names modules outside Keras, refused without loading them: "
            + ", ".join(foreign)
        )
