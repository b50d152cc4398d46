"""auflow's linear SVM against liblinear's (scikit-learn's LinearSVC) on the same objective."""

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from auflow.models.linear_svm import LinearSVM


def problem(seed, n=600, d=20, positives=0.15):
    """Correlated features (as face features are) and imbalanced labels that overlap."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) / np.sqrt(d)
    X = (rng.normal(size=(n, d)) @ mixing + 0.3 * rng.normal(size=(n, d))).astype(np.float32)
    score = X @ rng.normal(size=d) + rng.normal(scale=1.5, size=n)
    y = (score > np.quantile(score, 1 - positives)).astype(int)
    return X, y


def objective(coef, intercept, X, y, C, class_weight, intercept_scaling=1.0):
    """LinearSVC's primal objective, computed here in float64 from its definition."""
    X = X.astype(np.float64)
    n = len(y)
    if class_weight == "balanced":
        weights = np.where(y == 1, n / (2 * y.sum()), n / (2 * (n - y.sum())))
    elif isinstance(class_weight, dict):
        weights = np.where(y == 1, class_weight[1], class_weight[0])
    else:
        weights = np.ones(n)
    bias = intercept / intercept_scaling
    margins = X @ coef + intercept
    slack = np.maximum(0, 1 - np.where(y == 1, 1, -1) * margins)
    return 0.5 * (coef @ coef + bias**2) + C * (weights * slack**2).sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("C", [0.01, 0.1, 10.0])
@pytest.mark.parametrize("class_weight", [None, "balanced", {0: 1.0, 1: 4.0}])
def test_same_minimum_as_liblinear(seed, C, class_weight):
    X, y = problem(seed)
    ours = LinearSVM(C=C, class_weight=class_weight).fit(X, y)
    reference = LinearSVC(C=C, class_weight=class_weight, dual=False, tol=1e-10, max_iter=100_000)
    reference.fit(X, y)
    mine = objective(ours.coef_[0], ours.intercept_[0], X, y, C, class_weight)
    theirs = objective(reference.coef_[0], reference.intercept_[0], X, y, C, class_weight)
    # The same strictly convex objective: the same minimum, and so the same weights, as far as
    # float32 sums of the gradient can tell (the objective is flat near its minimum, so 1e-6 of
    # it leaves the weights free by about 1e-3 of the largest).
    assert mine == pytest.approx(theirs, rel=1e-6)
    scale = np.abs(reference.coef_).max()
    np.testing.assert_allclose(ours.coef_, reference.coef_, atol=1e-3 * scale)
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, atol=1e-3 * scale)
    margins = reference.decision_function(X)
    clear = np.abs(margins) > 1e-3  # frames not on the boundary to rounding
    np.testing.assert_array_equal(ours.predict(X)[clear], reference.predict(X)[clear])


@pytest.mark.parametrize("class_weight", [None, "balanced"])
def test_same_minimum_with_more_features_than_frames(class_weight):
    # fewer frames inside the margin than features: the Newton steps solve on the frames' side
    X, y = problem(8, n=150, d=300, positives=0.3)
    ours = LinearSVM(C=0.1, class_weight=class_weight).fit(X, y)
    reference = LinearSVC(C=0.1, class_weight=class_weight, dual=False, tol=1e-10, max_iter=100_000)
    reference.fit(X, y)
    mine = objective(ours.coef_[0], ours.intercept_[0], X, y, 0.1, class_weight)
    theirs = objective(reference.coef_[0], reference.intercept_[0], X, y, 0.1, class_weight)
    assert mine == pytest.approx(theirs, rel=1e-6)
    scale = np.abs(reference.coef_).max()
    np.testing.assert_allclose(ours.coef_, reference.coef_, atol=1e-3 * scale)


def test_intercept_scaling_is_liblinears():
    X, y = problem(4)
    X += 5.0  # an offset the intercept must carry
    ours = LinearSVM(C=1.0, intercept_scaling=3.0).fit(X, y)
    reference = LinearSVC(C=1.0, intercept_scaling=3.0, dual=False, tol=1e-10, max_iter=100_000)
    reference.fit(X, y)
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, rtol=1e-3)
    np.testing.assert_allclose(
        ours.coef_, reference.coef_, atol=1e-3 * np.abs(reference.coef_).max()
    )


def test_several_outputs_are_each_column_fitted_alone():
    X, first = problem(5)
    _, second = problem(6)
    labels = np.column_stack([first, second, np.zeros(len(first), int)])
    together = LinearSVM(C=0.1, class_weight="balanced").fit(X, labels)
    assert together.decision_function(X).shape == (len(X), 3)
    assert [list(c) for c in together.classes_] == [[0, 1], [0, 1], [0]]
    for column in range(2):
        alone = LinearSVM(C=0.1, class_weight="balanced").fit(X, labels[:, column])
        assert alone.decision_function(X).shape == (len(X),)
        np.testing.assert_allclose(together.coef_[column], alone.coef_[0], atol=1e-5)
        np.testing.assert_allclose(together.intercept_[column], alone.intercept_[0], atol=1e-5)
    # a column of one class is pushed to that side of the margin, nothing learnt
    assert (together.predict(X)[:, 2] == 0).all()


def test_too_few_steps_warn_and_labels_are_checked():
    X, y = problem(7)
    with pytest.warns(ConvergenceWarning, match="not converged after 1 Newton steps"):
        LinearSVM(C=10.0, max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match="0/1 labels"):
        LinearSVM().fit(X, y * 2)
    with pytest.raises(ValueError, match="C must be positive"):
        LinearSVM(C=0).fit(X, y)


def test_standardising_is_standard_scaler_then_the_model():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from auflow.models.classic import make_classifier

    # features far from zero relative to their spread, several outputs, more frames than one
    # chunk of standardisation
    X, first = problem(12, n=5000, d=30)
    _, second = problem(13, n=5000, d=30, positives=0.05)
    X = X * np.linspace(0.5, 3.0, X.shape[1]).astype(np.float32) + 4.0
    labels = np.column_stack([first, second])
    ours = LinearSVM(C=0.1, class_weight="balanced", standardise=True).fit(X, labels)
    theirs = make_pipeline(StandardScaler(), LinearSVM(C=0.1, class_weight="balanced"))
    theirs.fit(X, labels)
    margins = theirs.decision_function(X)
    np.testing.assert_allclose(
        ours.decision_function(X), margins, atol=1e-5 * np.abs(margins).max()
    )
    # the registry's linear SVM standardises itself: no scaler step, the same scores
    registered = make_classifier("svm_linear", {"C": 0.1, "class_weight": "balanced"})
    assert list(registered.named_steps) == ["model"]
    np.testing.assert_allclose(
        registered.fit(X, labels).decision_function(X), margins, atol=1e-5 * np.abs(margins).max()
    )
    # the liblinear twin keeps scikit-learn's scaler
    assert list(make_classifier("svm_linear_liblinear").named_steps) == ["scale", "model"]


def test_rows_read_in_place_are_the_same_fit_as_their_copy():
    X, first = problem(16, n=9000, d=20)
    _, second = problem(17, n=9000, d=20, positives=0.3)
    X = np.asfortranarray(X + 2.0)
    labels = np.column_stack([first, second])
    rows = np.r_[100:2600, 3000:3001, 4000:9000]
    for standardise in (True, False):
        model = dict(C=0.1, class_weight="balanced", standardise=standardise)
        in_place = LinearSVM(**model).fit(X, labels[rows], rows=rows)
        copied = LinearSVM(**model).fit(X[rows], labels[rows])
        # the same solver on the same numbers: equal to the last bits of float64 sums
        np.testing.assert_allclose(in_place.coef_, copied.coef_, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(in_place.intercept_, copied.intercept_, rtol=1e-6, atol=1e-9)
