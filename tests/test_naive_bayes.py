"""auflow's Gaussian naive Bayes against scikit-learn's GaussianNB, the same model."""

import numpy as np
import pytest
from sklearn.naive_bayes import GaussianNB

from auflow.models.detector import AUDetector
from auflow.models.naive_bayes import BLOCK_ROWS, GaussianNaiveBayes


def problem(seed, n=3000, d=30, rates=(0.02, 0.15, 0.5)):
    """Correlated features with an offset (not standardised) and labels that depend on them."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) / np.sqrt(d)
    X = (rng.normal(size=(n, d)) @ mixing + rng.normal(size=d) * 3).astype(np.float32)
    scores = X @ rng.normal(size=(d, len(rates))) + rng.normal(scale=2.0, size=(n, len(rates)))
    cuts = [np.quantile(column, 1 - rate) for column, rate in zip(scores.T, rates, strict=True)]
    Y = (scores > np.asarray(cuts)).astype(int)
    return X, Y


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("var_smoothing", [1e-9, 1e-2])
def test_every_output_equals_gaussian_nb_fitted_alone(seed, var_smoothing):
    X, Y = problem(seed)
    ours = GaussianNaiveBayes(var_smoothing=var_smoothing).fit(X, Y)
    probabilities = ours.predict_proba(X)
    predictions = ours.predict(X)
    # GaussianNB on float64 features: computed in float32, its statistics differ by float32
    # rounding (about 1e-6); ours are made in float64 either way
    features = X.astype(np.float64)
    for output in range(Y.shape[1]):
        reference = GaussianNB(var_smoothing=var_smoothing).fit(features, Y[:, output])
        np.testing.assert_array_equal(ours.classes_[output], reference.classes_)
        np.testing.assert_allclose(ours.class_prior_[output], reference.class_prior_, rtol=1e-12)
        np.testing.assert_allclose(ours.theta_[output], reference.theta_, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(ours.var_[output], reference.var_, rtol=1e-8)
        assert ours.epsilon_ == pytest.approx(reference.epsilon_, rel=1e-8)
        np.testing.assert_allclose(
            probabilities[output], reference.predict_proba(features), atol=1e-9
        )
        np.testing.assert_array_equal(predictions[:, output], reference.predict(features))


def test_one_output_and_several_classes_as_gaussian_nb():
    X, _ = problem(2)
    intensity = np.random.default_rng(2).integers(0, 6, len(X))  # classes 0-5, as intensity
    ours = GaussianNaiveBayes().fit(X, intensity)
    reference = GaussianNB().fit(X.astype(np.float64), intensity)
    assert isinstance(ours.classes_, np.ndarray)
    np.testing.assert_array_equal(ours.classes_, reference.classes_)
    np.testing.assert_allclose(
        ours.predict_proba(X), reference.predict_proba(X.astype(np.float64)), atol=1e-9
    )
    np.testing.assert_array_equal(ours.predict(X), reference.predict(X.astype(np.float64)))


def test_many_blocks_of_frames_equal_gaussian_nb_and_leave_the_features_unchanged():
    X, Y = problem(3, n=2 * BLOCK_ROWS + 17, d=8)
    features = X.astype(np.float64)  # float64 input: the blocks taken from it must be copies
    before = features.copy()
    ours = GaussianNaiveBayes().fit(features, Y)
    probabilities = ours.predict_proba(features)
    np.testing.assert_array_equal(features, before)
    for output in range(Y.shape[1]):
        reference = GaussianNB().fit(features, Y[:, output])
        np.testing.assert_allclose(ours.var_[output], reference.var_, rtol=1e-8)
        np.testing.assert_allclose(
            probabilities[output], reference.predict_proba(features), atol=1e-9
        )


def test_the_detector_fits_naive_bayes_once_for_all_aus_and_scores_as_one_fit_per_au():
    X, Y = problem(4, n=1200, d=12)
    intensity = Y * 3  # occurrence = intensity >= 2
    groups = np.repeat(np.arange(6), 200)
    shared = AUDetector("naive_bayes", aus=(1, 2, 4), inner_splits=2).fit(X, intensity, groups)
    alone = AUDetector("naive_bayes_sklearn", aus=(1, 2, 4), inner_splits=2)
    alone.fit(X, intensity, groups)
    assert shared.shared_ is not None
    np.testing.assert_allclose(
        shared.decision_function(X, groups), alone.decision_function(X, groups), atol=1e-5
    )
    np.testing.assert_allclose(shared.thresholds_, alone.thresholds_, atol=1e-5)
