"""auflow's k nearest neighbours: scikit-learn's model, searched by float32 matrix products."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.neighbors import KNeighborsClassifier

from auflow.models import neighbours
from auflow.models.neighbours import NearestNeighbours


def labelled_frames(seed=0, n_train=400, n_queries=150, n_features=24):
    """Gaussian training frames, 40 of them copied (features and labels) to other rows, and
    queries of which 20 equal training frames.

    Labels, one column per output: classes 0-2; 0/1; 0/2 (a class number missing); only 1.
    """
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(n_train, n_features)).astype(np.float32)
    labels = np.column_stack(
        [
            rng.integers(0, 3, n_train),
            rng.integers(0, 2, n_train),
            2 * rng.integers(0, 2, n_train),
            np.ones(n_train, int),
        ]
    )
    copies = rng.choice(n_train, 80, replace=False)
    train[copies[40:]] = train[copies[:40]]
    labels[copies[40:]] = labels[copies[:40]]
    queries = rng.normal(size=(n_queries, n_features)).astype(np.float32)
    queries[:20] = train[rng.choice(n_train, 20, replace=False)]
    return train, labels, queries


def exact_distances(queries, train):
    """(n_queries, n_train) float64 Euclidean distances of float32 frames."""
    difference = queries[:, None, :].astype(np.float64) - train[None, :, :].astype(np.float64)
    return np.sqrt(np.square(difference).sum(axis=2))


def unambiguous(queries, train, labels, k, tolerance=1e-5):
    """(n_queries,) bool: the k nearest frames' labels do not depend on how frames within
    ``tolerance`` (relative) of the k-th distance are chosen."""
    distances = exact_distances(queries, train)
    kth = np.sort(distances, axis=1)[:, k - 1 : k]
    band = np.abs(distances - kth) <= tolerance * (1 + kth)
    crowded = (distances <= kth + tolerance * (1 + kth)).sum(axis=1) > k
    mixed = np.array([len(np.unique(labels[row], axis=0)) > 1 for row in band])
    return ~(crowded & mixed)


@pytest.mark.parametrize("k", [1, 4, 15])
@pytest.mark.parametrize("weights", ["uniform", "distance"])
@pytest.mark.parametrize("outputs", [[0], [0, 1, 2, 3]], ids=["one_output", "four_outputs"])
def test_probabilities_equal_scikit_learns_where_the_neighbours_are_unambiguous(
    k, weights, outputs
):
    train, labels, queries = labelled_frames()
    labels = labels[:, outputs[0]] if len(outputs) == 1 else labels[:, outputs]
    ours = NearestNeighbours(n_neighbors=k, weights=weights).fit(train, labels)
    theirs = KNeighborsClassifier(n_neighbors=k, weights=weights, algorithm="brute")
    theirs.fit(train, labels)
    clear = unambiguous(queries, train, labels.reshape(len(labels), -1), k)
    assert clear.mean() > 0.9  # the comparison covers nearly every query

    if len(outputs) == 1:
        np.testing.assert_array_equal(ours.classes_, theirs.classes_)
        expected, found = [theirs.predict_proba(queries)], [ours.predict_proba(queries)]
    else:
        assert len(ours.classes_) == len(theirs.classes_) == 4
        for mine, reference in zip(ours.classes_, theirs.classes_, strict=True):
            np.testing.assert_array_equal(mine, reference)
        expected, found = theirs.predict_proba(queries), ours.predict_proba(queries)
    # votes of 1 each add up exactly; scikit-learn's distances of float32 frames are rounded to
    # float32 (about 1e-7 of their value), ours are float64
    tolerance = 0.0 if weights == "uniform" else 1e-6
    for reference, probabilities in zip(expected, found, strict=True):
        assert probabilities.shape == reference.shape and probabilities.dtype == np.float64
        np.testing.assert_allclose(probabilities[clear], reference[clear], rtol=0, atol=tolerance)
    np.testing.assert_array_equal(ours.predict(queries)[clear], theirs.predict(queries)[clear])


def test_a_query_at_distance_zero_takes_the_vote_of_those_frames_only():
    train = np.array([[0, 0], [0, 0], [1, 0], [4, 0]], np.float32)
    labels = np.array([1, 0, 1, 0])
    model = NearestNeighbours(n_neighbors=3, weights="distance").fit(train, labels)
    np.testing.assert_array_equal(model.predict_proba([[0, 0]]), [[0.5, 0.5]])
    # elsewhere votes are 1 / distance: frames 2, 0 and 1 at 0.5, 1.5 and 1.5 from (1.5, 0)
    votes = np.array([1 / 1.5, 1 / 0.5 + 1 / 1.5])
    np.testing.assert_allclose(model.predict_proba([[1.5, 0]]), [votes / votes.sum()])
    uniform = NearestNeighbours(n_neighbors=3).fit(train, labels)
    np.testing.assert_allclose(uniform.predict_proba([[0, 0]]), [[1 / 3, 2 / 3]])


@pytest.mark.parametrize("k", [1, 5, 12])
def test_exact_ties_keep_the_nearest_distances_and_go_to_the_earlier_frame(k):
    # small integers: many frames at exactly the same distance, duplicates with other labels
    rng = np.random.default_rng(3)
    train = rng.integers(0, 3, (300, 3)).astype(np.float32)
    labels = rng.integers(0, 2, 300)
    queries = rng.integers(0, 3, (80, 3)).astype(np.float32)
    distances, indices = NearestNeighbours(n_neighbors=k).fit(train, labels).kneighbors(queries)

    exact = exact_distances(queries, train)
    by_distance_then_row = np.lexsort((np.broadcast_to(np.arange(300), exact.shape), exact))
    np.testing.assert_array_equal(indices, by_distance_then_row[:, :k])
    np.testing.assert_array_equal(distances, np.take_along_axis(exact, indices, axis=1))
    # the distances scikit-learn finds, whichever of the tied frames it takes
    reference = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(train, labels)
    np.testing.assert_array_equal(distances, reference.kneighbors(queries)[0])


def test_queries_in_several_chunks_find_what_they_find_alone():
    rng = np.random.default_rng(4)
    train = rng.normal(size=(1000, 8)).astype(np.float32)
    queries = rng.normal(size=(20_000, 8)).astype(np.float32)
    model = NearestNeighbours(n_neighbors=3).fit(train, rng.integers(0, 2, 1000))
    per_chunk = neighbours.CHUNK_BYTES // (4 * len(train))
    assert per_chunk < len(queries) // 2  # the queries span three chunks
    distances, indices = model.kneighbors(queries)
    for rows in (slice(0, 50), slice(per_chunk - 25, per_chunk + 25), slice(-50, None)):
        alone_distances, alone_indices = model.kneighbors(queries[rows])
        np.testing.assert_array_equal(indices[rows], alone_indices)
        np.testing.assert_array_equal(distances[rows], alone_distances)
        exact = exact_distances(queries[rows], train)
        np.testing.assert_array_equal(indices[rows], np.argsort(exact, axis=1)[:, :3])


def test_one_label_column_is_one_output_as_in_scikit_learn():
    train, labels, queries = labelled_frames()
    column = NearestNeighbours().fit(train, labels[:, :1])
    flat = NearestNeighbours().fit(train, labels[:, 0])
    assert not column.outputs_2d_
    np.testing.assert_array_equal(column.classes_, [0, 1, 2])
    np.testing.assert_array_equal(column.predict_proba(queries), flat.predict_proba(queries))
    assert column.predict(queries).shape == (len(queries),)


def test_follows_the_estimator_contract():
    model = NearestNeighbours(n_neighbors=7, weights="distance")
    copy = clone(model)
    assert copy.get_params() == {"n_neighbors": 7, "weights": "distance", "standardise": False}
    assert not hasattr(copy, "features_")
    train, labels, _ = labelled_frames()
    assert model.fit(train, labels) is model


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"weights": "distnace"}, "weights must be one of"),
        ({"n_neighbors": 0}, "n_neighbors must be an integer >= 1"),
        ({"n_neighbors": 2.5}, "n_neighbors must be an integer >= 1"),
    ],
)
def test_bad_parameters_are_named_when_fitting(params, message):
    train, labels, _ = labelled_frames()
    with pytest.raises(ValueError, match=message):
        NearestNeighbours(**params).fit(train, labels)


def test_more_neighbours_than_training_frames_is_an_error():
    train, labels, queries = labelled_frames(n_train=100)
    model = NearestNeighbours(n_neighbors=101).fit(train, labels)
    with pytest.raises(ValueError, match="n_neighbors=101 but only 100 training frames"):
        model.predict_proba(queries)


def test_features_with_nan_are_refused_naming_the_row():
    train, labels, queries = labelled_frames()
    queries[7, 3] = np.nan
    model = NearestNeighbours().fit(train, labels)
    with pytest.raises(ValueError, match="query features: 1 rows hold NaN or infinity .*row 7"):
        model.predict_proba(queries)
    train[2, 0] = np.inf
    with pytest.raises(ValueError, match="training features: 1 rows .*row 2"):
        NearestNeighbours().fit(train, labels)


def test_standardising_is_standard_scaler_then_the_search():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from auflow.models.classic import make_classifier

    train, labels, queries = labelled_frames(seed=5, n_train=3000, n_queries=400)
    # columns far from zero and of different spreads, read from an F-order table (as pandas
    # keeps features), the training frames a few runs of its rows (as an inner split's subjects)
    scales = np.linspace(0.2, 5.0, train.shape[1]).astype(np.float32)
    table = np.asfortranarray(np.vstack([train, queries]) * scales + 7.0)
    rows = np.r_[0:1200, 1500:3000]
    ours = NearestNeighbours(n_neighbors=5, standardise=True)
    ours.fit(table, labels[rows], rows=rows)
    theirs = make_pipeline(StandardScaler(), NearestNeighbours(n_neighbors=5))
    theirs.fit(table[rows], labels[rows])
    query_rows = np.r_[1200:1500, 3000 : len(table)]
    # standardised in float64 arithmetic (scikit-learn's scaler may centre in float32: 1e-7 of
    # the raw values apart, so near-ties can differ; compared where the neighbours are clear)
    mean = table[rows].astype(np.float64).mean(axis=0)
    scale = table[rows].astype(np.float64).std(axis=0)
    np.testing.assert_allclose(ours.centre_, mean, rtol=1e-12)
    np.testing.assert_allclose(ours.spread_, scale, rtol=1e-12)
    reference = ((table[rows] - mean) / scale).astype(np.float32)
    np.testing.assert_allclose(ours.features_, reference, rtol=0, atol=1e-6)
    queried = ((table[query_rows] - mean) / scale).astype(np.float32)
    clear = unambiguous(queried, reference, labels[rows], 5)
    assert clear.mean() > 0.9
    for mine, theirs_p in zip(
        ours.predict_proba(table[query_rows]), theirs.predict_proba(table[query_rows]), strict=True
    ):
        np.testing.assert_array_equal(mine[clear], theirs_p[clear])
    # the registry's knn standardises itself: no scaler step
    assert list(make_classifier("knn").named_steps) == ["model"]
    assert list(make_classifier("knn_sklearn").named_steps) == ["scale", "model"]
    # a NaN among the rows fitted on is named by its row of the table
    table[1600, 2] = np.nan
    with pytest.raises(ValueError, match="training features: 1 rows .*row 1600"):
        NearestNeighbours(standardise=True).fit(table, labels[rows], rows=rows)
