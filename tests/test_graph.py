"""dynsys.landscape_graph: minima and index-1 saddles joined by descents, against known landscapes.

Oracles: the double well ``f = (x0^2 - 1)^2 + x1^2`` (minima (+-1, 0), saddle at the origin, barrier 1
from each side, gradient written out in ``tests/naive_manifold.py``); on the model W* = I_3, the
closed-form loss, gradient and Hessian of ``tests/naive.py`` (Python loops), index and nullity from
``tests/naive_critical.py``, and the global minima known exactly (the six permutation matrices).
"""

import itertools
import warnings

import matplotlib
import numpy as np
import pytest

import dynsys as ds
import naive as nv
import naive_critical as nc
import naive_manifold as nm
from dynsys.graph import quotient_graph
from dynsys.systems.toys import DoubleWell

matplotlib.use("Agg")

ORACLE_ATOL = 1e-9


def _minima(G):
    return [n for n, a in G.nodes(data=True) if a["kind"] == "minimum"]


def _saddles(G):
    return [n for n, a in G.nodes(data=True) if a["kind"] == "saddle"]


# -------------------------------------------------------------------------------- double well
def _check_double_well(G):
    mins, sads = _minima(G), _saddles(G)
    assert len(mins) == 2 and len(sads) == 1
    xs = sorted(float(G.nodes[m]["W"][0]) for m in mins)
    np.testing.assert_allclose(xs, [-1.0, 1.0], atol=1e-10)
    for m in mins:
        assert np.linalg.norm(nm.double_well_grad(G.nodes[m]["W"])) <= ORACLE_ATOL
    s = sads[0]
    np.testing.assert_allclose(G.nodes[s]["W"], [0.0, 0.0], atol=1e-10)
    assert G.nodes[s]["morse_index"] == 1
    # one edge per side, to different minima, each with barrier f(0) - f(+-1) = 1
    assert sorted(G.edges[s, m]["sides"] for m in mins) == [(-1,), (1,)]
    for m in mins:
        assert G.edges[s, m]["barrier"] == pytest.approx(1.0, abs=1e-10)
    assert G.graph["connected"]


def test_double_well_from_its_saddle():
    G = ds.landscape_graph(DoubleWell(), [[0.0, 0.0]], connect=False)
    _check_double_well(G)
    assert G.graph["searches"] == []


def test_double_well_connected_by_a_saddle_search():
    G = ds.landscape_graph(DoubleWell(), [[1.0, 0.0], [-1.0, 0.0]])
    _check_double_well(G)
    (search,) = G.graph["searches"]
    assert search["index"] == 1 and search["loss"] == pytest.approx(1.0, abs=1e-10)


def test_double_well_without_search_stays_disconnected():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        G = ds.landscape_graph(DoubleWell(), [[1.0, 0.0], [-1.0, 0.0]], connect=False)
    assert not G.graph["connected"] and G.number_of_edges() == 0
    with pytest.warns(RuntimeWarning, match="2 components"):
        ds.landscape_graph(DoubleWell(), [[1.0, 0.0], [-1.0, 0.0]], max_searches=0)


def test_merge_tree_double_well():
    from dynsys.plotting.landscape import merge_tree
    G = ds.landscape_graph(DoubleWell(), [[0.0, 0.0]], connect=False)
    leaves, merges = merge_tree(G)
    assert len(leaves) == 2 and len(merges) == 1 and merges[0][0] == pytest.approx(1.0)


# ------------------------------------------------------------------------------ model, W* = I_3
@pytest.fixture(scope="module")
def model_graph():
    m = ds.TeacherStudent(np.eye(3))
    cs = ds.find_critical_points(m, np.random.default_rng(0).normal(size=(300, 3, 3)) * 0.8)
    return m, cs, ds.landscape_graph(m, cs, permute_rows=True)


def _parity(P):
    """+1 for an even permutation matrix, -1 for an odd one."""
    return int(round(np.linalg.det(P)))


def test_model_graph_nodes_and_barriers(model_graph):
    m, cs, G = model_graph
    mins, sads = _minima(G), _saddles(G)
    # the six global minima are the six permutation matrices
    perms = {tuple(np.argmax(G.nodes[n]["W"], axis=1)) for n in mins}
    assert perms == set(itertools.permutations(range(3)))
    for n in mins:
        P = np.eye(3)[list(np.argmax(G.nodes[n]["W"], axis=1))]
        np.testing.assert_allclose(G.nodes[n]["W"], P, atol=1e-9)
        assert G.nodes[n]["point_kind"] == "global_minimum"
    assert G.graph["connected"] and G.graph["searches"] == []
    losses = sorted({round(G.nodes[s]["loss"], 9) for s in sads})
    assert losses == pytest.approx([0.024123664, 0.072065601], abs=1e-9)
    for s in sads:
        W = G.nodes[s]["W"]
        # independent checks: a critical point of index 1, its loss the barrier
        assert np.max(np.linalg.norm(nv.grad_closed_form(W, np.eye(3)), axis=1)) <= ORACLE_ATOL
        assert nc.index_nullity(nv.hessian_closed_form(W, np.eye(3)), 1e-7) == (1, 0)
        ends = [n for n in G.neighbors(s)]
        assert len(ends) == 2, "each saddle joins two distinct minima"
        for n in ends:
            assert G.edges[s, n]["barrier"] == pytest.approx(nv.loss_closed_form(W, np.eye(3)), abs=1e-12)
        # the low saddle joins teacher orders of equal parity (a 3-cycle), the high one of opposite
        # parity (a transposition)
        p = [_parity(G.nodes[n]["W"]) for n in ends]
        assert (p[0] == p[1]) == (G.nodes[s]["loss"] < 0.05)


def test_model_quotient(model_graph):
    _, _, G = model_graph
    Q = quotient_graph(G)
    kinds = sorted((a["kind"], a["size"]) for _, a in Q.nodes(data=True))
    assert kinds == [("minimum", 6), ("saddle", 6), ("saddle", 6)]
    (gmin,) = [c for c, a in Q.nodes(data=True) if a["kind"] == "minimum"]
    assert sorted(round(Q.edges[c, gmin]["barrier"], 9) for c in Q.neighbors(gmin)) == pytest.approx(
        [0.024123664, 0.072065601], abs=1e-9)


def test_model_connect_by_neb_from_minima_only(model_graph):
    m, cs, _ = model_graph
    mins = [p for p in cs if p.morse_index == 0]
    G = ds.landscape_graph(m, mins, permute_rows=True, max_searches=8)
    assert G.graph["connected"] and 1 <= len(G.graph["searches"]) <= 8
    for s in _saddles(G):
        assert G.nodes[s]["source"] == "search" and G.nodes[s]["morse_index"] == 1
        assert np.max(np.linalg.norm(nv.grad_closed_form(G.nodes[s]["W"], np.eye(3)), axis=1)) <= ORACLE_ATOL
        assert G.nodes[s]["loss"] == pytest.approx(0.072065601, abs=1e-9) or \
            G.nodes[s]["loss"] == pytest.approx(0.024123664, abs=1e-9)


def test_states_are_classified_and_higher_saddles_skipped():
    m = ds.TeacherStudent(np.eye(2))
    R = ds.ReducedDynamics(2)
    W_sym = R.embed(R.saddle(), R.saddle(), 2)      # index 1 in d = 2 ((K-1)(d-1) = 1)
    G = ds.landscape_graph(m, np.stack([W_sym, np.eye(2)]), connect=False)
    assert len(_saddles(G)) == 1 and len(_minima(G)) == 2 and G.graph["connected"]
    G = ds.landscape_graph(ds.TeacherStudent(np.eye(3)), ds.ReducedDynamics(3).embed(
        ds.ReducedDynamics(3).saddle(), ds.ReducedDynamics(3).saddle(), 3)[None], connect=False)
    assert G.number_of_nodes() == 0 and G.graph["skipped"] == 1     # index 4: not in the graph


# ------------------------------------------------------------------------------ bad input, plot
def test_bad_input():
    with pytest.raises(TypeError, match="connect"):
        ds.landscape_graph(DoubleWell(), [[0.0, 0.0]], connect="yes")
    with pytest.raises(TypeError, match="critical_set"):
        ds.landscape_graph(DoubleWell(), "points")
    with pytest.raises(TypeError, match="critical_set"):
        ds.landscape_graph(DoubleWell(), np.zeros((2, 3)))
    with pytest.raises(TypeError, match="permute_rows"):
        ds.landscape_graph(DoubleWell(), [[0.0, 0.0]], permute_rows=True)
    with pytest.raises(ValueError, match="eps"):
        ds.landscape_graph(DoubleWell(), [[0.0, 0.0]], eps=0.0)
    with pytest.raises(TypeError, match="class_id"):
        quotient_graph(object())


def test_disconnectivity_plot(model_graph, tmp_path):
    from dynsys.plotting.landscape import disconnectivity, merge_tree
    _, _, G = model_graph
    leaves, merges = merge_tree(G)
    assert len(leaves) == 6
    # the graph joins all six minima: the last join is at the high saddle
    assert merges[-1][0] == pytest.approx(0.072065601, abs=1e-9)
    assert sorted(len(set().union(*map(set, g))) for _, _, g in merges[-1:]) == [6]
    ax = disconnectivity(G)
    assert ax.get_ylabel() == "loss"
    ax.figure.savefig(tmp_path / "dg.png")
    ax = disconnectivity(quotient_graph(G))
    with pytest.raises(ValueError, match="no minima"):
        disconnectivity(quotient_graph(ds.landscape_graph(DoubleWell(), [[0.0, 0.0]], connect=False)).subgraph([]))


def test_ctrl_c_returns_the_graph_so_far(monkeypatch):
    from dynsys import graph as mod

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(mod, "_descend", interrupted)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        G = ds.landscape_graph(DoubleWell(), [[0.0, 0.0], [1.0, 0.0]])
    assert G.graph["interrupted"] and G.number_of_nodes() == 2 and G.number_of_edges() == 0
