"""dynsys.clustering against the quadratic greedy rule of tests/naive.py."""

from __future__ import annotations

import numpy as np
import pytest

import naive
from dynsys.clustering import leader_clusters, ragged_leader_clusters


@pytest.mark.parametrize("seed", range(8))
def test_matches_naive_on_planted_clusters(seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(rng.integers(1, 12), int(rng.integers(1, 6))))
    X = centres[rng.integers(0, len(centres), 300)] + rng.uniform(-1, 1, (300, centres.shape[1])) * 1e-7
    for tol in (1e-9, 1e-7, 3e-7, 1.0):
        got = leader_clusters(X, tol)
        want = naive.leader_clusters(X, tol)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_chains_and_exact_ties_follow_the_greedy_order():
    # 0, 1, 2, 3 are 1 apart: with tol = 1 the rule is not transitive and the order decides
    X = np.array([[0.0], [1.0], [2.0], [3.0], [1.5]])
    got = leader_clusters(X, 1.0)
    assert np.array_equal(got[0], naive.leader_clusters(X, 1.0)[0])
    assert got[0].tolist() == [0, 0, 1, 1, 1]  # 1 joins 0 at distance exactly tol; 2 leads again
    # reversed: 1.5 leads, 3 leads, 2 and 1 join 1.5, 0 is 1.5 from it and leads a third class
    assert leader_clusters(X[::-1], 1.0)[0].tolist() == [0, 1, 0, 0, 2]
    X2 = np.array([[0.0], [2.0], [1.0]])  # 1 is within tol of both leaders: the earliest wins
    assert leader_clusters(X2, 1.0)[0].tolist() == [0, 1, 0]


def test_ragged_never_matches_across_lengths_and_numbers_by_first_appearance():
    vecs = [np.zeros(2), np.zeros(3), np.zeros(2) + 1e-9, np.ones(3), np.zeros(3)]
    labels, first = ragged_leader_clusters(vecs, 1e-6)
    assert labels.tolist() == [0, 1, 0, 2, 1] and first.tolist() == [0, 1, 3]


def test_edge_cases_and_errors():
    assert leader_clusters(np.zeros((0, 3)), 0.1)[0].shape == (0,)
    assert leader_clusters(np.zeros((4, 0)), 0.1)[0].tolist() == [0, 0, 0, 0]
    assert leader_clusters(np.array([[1.0], [1.0]]), 0.0)[0].tolist() == [0, 0]
    with pytest.raises(ValueError, match="tol"):
        leader_clusters(np.zeros((2, 2)), -1.0)
    with pytest.raises(ValueError, match="X must be a 2-d"):
        leader_clusters(np.zeros(3), 0.1)
