"""The landscape graph: minima and the index-1 saddles that join them (:func:`landscape_graph`).

Nodes are points of weight space, not classes: a teacher with rows in another order is another
global minimum. Each index-1 saddle has one unstable direction (its Hessian's negative eigenvector
``v``); descending from ``W_s +- eps v`` reaches one minimum on each side, and the edges
saddle-minimum carry the barrier ``L(saddle) - L(minimum)`` seen from that minimum. Minima that no
known saddle joins are joined by searching the minimum-energy path between them
(:func:`dynsys.saddle_between`, climbing-image NEB) and descending from the saddle it finds, until
the graph is connected or the search budget is spent. :func:`quotient_graph` merges the nodes that
the model's symmetry relates (same invariants, :func:`dynsys.critical.symmetry.invariants`).

The disconnectivity graph of the result (minima as leaves, joined at the height of the lowest saddle
between them; Becker and Karplus, J. Chem. Phys. 106, 1495 (1997)) is drawn by
:func:`dynsys.plotting.landscape.disconnectivity`. docs/landscape_graph.md explains the choices.
"""

from __future__ import annotations

import collections.abc as abc
import dataclasses
import itertools
import warnings

import numpy as np

from . import _validate as v
from .clustering import ragged_leader_clusters
from .config import (DEDUP_RTOL, GRAPH_DESCENT_GTOL, GRAPH_DESCENT_MAX_STEPS, GRAPH_EPS, GRAPH_MATCH_RTOL,
                     GRAPH_MAX_PERMUTATIONS, GRAPH_MAX_SEARCHES, SADDLE_N_IMAGES)
from .critical import classify, saddle_between
from .critical.shared import as_seeds, check_system, grad_hess, row_max, state_shape
from .critical.symmetry import invariants
from .flow import flow
from .model import TeacherStudent
from .results import CriticalPoint, CriticalSet, Status

# networkx is imported inside the functions that build graphs: it adds about 0.2 s to ``import
# dynsys``, which most uses never need.

#: Node kinds.
MINIMUM = "minimum"
SADDLE = "saddle"


def landscape_graph(model, critical_set, *, connect=True, max_searches=GRAPH_MAX_SEARCHES, eps=GRAPH_EPS,
                    match_rtol=GRAPH_MATCH_RTOL, dedup_tol=DEDUP_RTOL, n_images=SADDLE_N_IMAGES,
                    permute_rows=False):
    """Graph of minima and index-1 saddles, each saddle joined to the minima it descends to.

    Parameters
    ----------
    model : System
        A TeacherStudent (descents by :func:`dynsys.flow`, dopri5) or any system of the protocol
        (descents by steepest descent with backtracking in NumPy).
    critical_set : CriticalSet, sequence of CriticalPoint, or array (n, *state_shape)
        The known critical points (e.g. :func:`dynsys.find_critical_points`); states are classified
        first (:func:`dynsys.classify`). Minima (index 0) and index-1 saddles become nodes; points of
        higher index, singular or not critical are left out (counted in ``G.graph["skipped"]``).
    connect : bool
        Search saddles between minima in different connected components (the closest pair in
        weight space first) until the graph is connected or ``max_searches`` are spent.
    max_searches : int
        Budget of :func:`dynsys.saddle_between` calls.
    eps : float
        Start of each descent: ``W_s +- eps * max(1, max_j |w_j|) * v`` (v the unit unstable
        eigenvector).
    permute_rows : bool
        TeacherStudent: also add every copy of each input point with its student rows permuted
        (among rows of equal top weight: the same loss and Hessian spectrum, another point of weight
        space), so the graph holds every copy of each minimum and saddle (at most
        ``GRAPH_MAX_PERMUTATIONS`` copies per point).
    match_rtol : float
        A point found again is the same node when it agrees entry by entry to
        ``match_rtol * max(1, max_j |w_j|)`` with a node of the same kind.
    dedup_tol : float
        Tolerance on the invariants that give each node its symmetry class (``class_id``).
    n_images : int
        Images of each NEB search.

    Returns
    -------
    networkx.Graph
        Nodes (integers) with attributes ``kind`` ("minimum" or "saddle"), ``loss``, ``morse_index``,
        ``nullity``, ``point_kind`` (the classification: "global_minimum", "spurious_minimum",
        "saddle", ...), ``W``, ``class_id`` (the symmetry class), ``source`` ("input", "descent" or
        "search"); saddles also ``ends`` (where each side's descent ended: a node id, or the kind of
        point reached when it was not a minimum). Edges saddle-minimum with ``barrier`` (saddle loss
        minus minimum loss) and ``sides`` (the signs of ``v`` that reached that minimum).
        ``G.graph`` holds ``connected`` (the minima form one component), ``searches`` (one dict per
        NEB search: the two minima, the saddle node found or None, its index, the path's status),
        ``skipped``, ``interrupted`` (Ctrl-C stopped the call: the graph so far) and the settings.

    Warns
    -----
    RuntimeWarning
        When ``connect`` is True and the minima are still in several components at the end.
    """
    import networkx as nx

    check_system(model)
    if not isinstance(connect, (bool, np.bool_)):
        raise TypeError(f"connect must be True or False; got {connect!r}")
    max_searches = v.positive_int(max_searches, "max_searches", minimum=0)
    eps = v.real_scalar(eps, "eps", lo=0.0, hi=1.0, lo_open=True)
    match_rtol = v.real_scalar(match_rtol, "match_rtol", lo=0.0, lo_open=True)
    dedup_tol = v.real_scalar(dedup_tol, "dedup_tol", lo=0.0, lo_open=True)
    n_images = v.positive_int(n_images, "n_images")
    if not isinstance(permute_rows, (bool, np.bool_)):
        raise TypeError(f"permute_rows must be True or False; got {permute_rows!r}")
    points = _points(model, critical_set)
    if permute_rows:
        points = _row_permutations(model, points)
    builder = _Builder(model, eps, match_rtol)
    skipped = 0
    for p in points:
        if builder.add(p, "input") is None:
            skipped += 1
    searches = []
    interrupted = False
    try:
        builder.expand()
        if connect:
            tried = set()
            while len(searches) < max_searches:
                pair = _closest_disconnected(builder.G, tried)
                if pair is None:
                    break
                tried.add(pair)
                searches.append(builder.search(*pair, n_images))
                builder.expand()
    except KeyboardInterrupt:  # Ctrl-C: the graph so far (the saddle being expanded may lack edges)
        interrupted = True
    G = builder.G
    _classes(model, G, dedup_tol)
    minima = [n for n, a in G.nodes(data=True) if a["kind"] == MINIMUM]
    connected = len(minima) <= 1 or all(m in nx.node_connected_component(G, minima[0]) for m in minima)
    G.graph.update(connected=bool(connected), searches=searches, skipped=skipped, interrupted=interrupted, eps=eps,
                   match_rtol=match_rtol, dedup_tol=dedup_tol, model=repr(model))
    if connect and not connected and not interrupted:
        n_comp = len({frozenset(nx.node_connected_component(G, m)) for m in minima})
        warnings.warn(f"landscape_graph: the minima are in {n_comp} components after {len(searches)} saddle "
                      f"searches (max_searches={max_searches}); raise max_searches or add critical points",
                      RuntimeWarning, stacklevel=2)
    return G


def quotient_graph(G):
    """The landscape graph up to the model's symmetry: one node per ``class_id``.

    Node attributes: ``kind``, ``loss``, ``morse_index``, ``point_kind`` (of the first member),
    ``members`` (node ids of ``G``), ``size``. Edge attributes: ``barrier`` (the smallest over the
    merged edges; equal for all of them when the symmetry is exact) and ``count`` (edges merged).
    """
    import networkx as nx

    if not isinstance(G, nx.Graph) or any("class_id" not in a for _, a in G.nodes(data=True)):
        raise TypeError("G must be a graph from dynsys.landscape_graph (nodes with a class_id)")
    Q = nx.Graph(**{k: val for k, val in G.graph.items() if k != "searches"})
    for n, a in G.nodes(data=True):
        c = a["class_id"]
        if c not in Q:
            Q.add_node(c, kind=a["kind"], loss=a["loss"], morse_index=a["morse_index"],
                       point_kind=a["point_kind"], members=[], size=0)
        Q.nodes[c]["members"].append(n)
        Q.nodes[c]["size"] += 1
    for s, m, a in G.edges(data=True):
        cs, cm = G.nodes[s]["class_id"], G.nodes[m]["class_id"]
        if Q.has_edge(cs, cm):
            e = Q.edges[cs, cm]
            e["barrier"] = min(e["barrier"], a["barrier"])
            e["count"] += 1
        else:
            Q.add_edge(cs, cm, barrier=a["barrier"], count=1)
    return Q


# --------------------------------------------------------------------------------- internals
def _points(model, critical_set) -> list:
    """The input as CriticalPoints (states are classified)."""
    if isinstance(critical_set, CriticalSet):
        return list(critical_set.points)
    if isinstance(critical_set, abc.Sequence) and len(critical_set) and all(
            isinstance(p, CriticalPoint) for p in critical_set):
        return list(critical_set)
    try:
        X, single = as_seeds(model, critical_set, "critical_set")
    except (TypeError, ValueError) as err:
        raise TypeError(f"critical_set must be a CriticalSet, a sequence of CriticalPoint or an array of "
                        f"states of shape (n, {', '.join(map(str, state_shape(model)))}); {err}") from None
    shape = state_shape(model)
    return [classify(model, x.reshape(shape)) for x in X]


def _row_permutations(model, points) -> list:
    """Every copy of each point with its student rows permuted among rows of equal top weight."""
    if not isinstance(model, TeacherStudent):
        raise TypeError(f"permute_rows=True needs a TeacherStudent (a system with student rows); got "
                        f"{type(model).__name__}")
    a = np.asarray(model.a)
    perms = [q for q in itertools.permutations(range(model.k)) if np.array_equal(a[list(q)], a)]
    if len(perms) > GRAPH_MAX_PERMUTATIONS:
        raise ValueError(f"permute_rows=True would add {len(perms)} copies of every point (k = {model.k}); "
                         f"at most GRAPH_MAX_PERMUTATIONS = {GRAPH_MAX_PERMUTATIONS}: pass the copies you "
                         f"want as critical points instead")
    out = []
    for p in points:
        for q in perms:
            q = list(q)
            perm = None if p.permutation is None else np.asarray(p.permutation)[q]
            out.append(dataclasses.replace(p, W=np.asarray(p.W)[q], row_norms=np.asarray(p.row_norms)[q],
                                           permutation=perm))
    return out


def _scale(W) -> float:
    W = np.asarray(W, dtype=float)
    return max(1.0, float(np.max(np.abs(W))))


class _Builder:
    """Grows the graph: nodes matched in weight space, saddles expanded by descents."""

    def __init__(self, model, eps, match_rtol):
        import networkx as nx

        self.model = model
        self.eps = eps
        self.match_rtol = match_rtol
        self.G = nx.Graph()
        self.pending = []

    def find(self, W, kind):
        """The node of this kind at W (to ``match_rtol``), or None."""
        tol = self.match_rtol * _scale(W)
        for n, a in self.G.nodes(data=True):
            if a["kind"] == kind and float(np.max(np.abs(a["W"] - W))) <= tol:
                return n
        return None

    def add(self, p, source):
        """Node of the CriticalPoint ``p`` (an existing one if it matches); None unless ``p`` is a
        minimum or an index-1 saddle. New saddles are queued for :meth:`expand`."""
        if not p.is_critical or p.morse_index > 1:
            return None
        kind = MINIMUM if p.morse_index == 0 else SADDLE
        W = np.asarray(p.W, dtype=float)
        n = self.find(W, kind)
        if n is not None:
            return n
        n = self.G.number_of_nodes()
        self.G.add_node(n, kind=kind, loss=float(p.loss), morse_index=int(p.morse_index),
                        nullity=int(p.nullity), point_kind=p.kind, W=W.copy(), source=source)
        if kind == SADDLE:
            self.G.nodes[n]["ends"] = ()
            self.pending.append(n)
        return n

    def expand(self):
        """Descend from every saddle not yet expanded, along +- its unstable eigenvector."""
        while self.pending:
            s = self.pending.pop(0)
            self._descend_from(s)

    def _descend_from(self, s):
        a = self.G.nodes[s]
        Ws = a["W"]
        _, H, st = grad_hess(self.model, Ws)
        lam, U = np.linalg.eigh(0.5 * (H + H.T))
        u = U[:, 0].reshape(Ws.shape)
        # a saddle at the origin (a toy's) still needs a displacement: at least eps in absolute terms
        h = self.eps * max(1.0, float(np.max(np.asarray(self.model.row_norms(Ws), dtype=float))))
        ends = _descend(self.model, np.stack([Ws + h * u, Ws - h * u]))
        out = []
        for sign, W_end in zip((1, -1), ends):
            p = classify(self.model, W_end)
            m = self.add(p, "descent") if p.is_critical and p.morse_index == 0 else None
            if m is None:
                out.append(p.kind if p.morse_index != 1 else "saddle index 1")
                continue
            out.append(m)
            if self.G.has_edge(s, m):
                self.G.edges[s, m]["sides"] += (sign,)
            else:
                self.G.add_edge(s, m, barrier=a["loss"] - self.G.nodes[m]["loss"], sides=(sign,))
        a["ends"] = tuple(out)

    def search(self, m_a, m_b, n_images) -> dict:
        """NEB between two minima; the saddle found (index 1) becomes a node, queued for descent."""
        Wa, Wb = self.G.nodes[m_a]["W"], self.G.nodes[m_b]["W"]
        with warnings.catch_warnings():
            # a top of index != 1 is recorded in the search's entry instead
            warnings.simplefilter("ignore", RuntimeWarning)
            path = saddle_between(self.model, Wa, Wb, n_images=n_images)
        sp = path.saddle
        node = None
        if isinstance(sp.point, CriticalPoint):
            node = self.add(sp.point, "search")
        return {"minima": (m_a, m_b), "saddle": node, "index": int(sp.index), "loss": float(sp.loss),
                "status": Status(int(path.status)).name}


def _closest_disconnected(G, tried):
    """The closest pair of minima (Euclidean, weight space) in different components, not yet tried."""
    import networkx as nx

    minima = [n for n, a in G.nodes(data=True) if a["kind"] == MINIMUM]
    comp = {}
    for i, c in enumerate(nx.connected_components(G)):
        for n in c:
            comp[n] = i
    best, best_d = None, np.inf
    for a, b in itertools.combinations(minima, 2):
        if comp[a] == comp[b] or (a, b) in tried:
            continue
        dist = float(np.linalg.norm(G.nodes[a]["W"] - G.nodes[b]["W"]))
        if dist < best_d:
            best, best_d = (a, b), dist
    return best


def _descend(model, X):
    """End points of the descents from the states ``X`` (n, *state_shape)."""
    if isinstance(model, TeacherStudent):
        r = flow(model, X, method="dopri5", step=0.01, gtol=GRAPH_DESCENT_GTOL * model.grad_scale,
                 max_steps=GRAPH_DESCENT_MAX_STEPS, polish=True, progress=False)
        return np.asarray(r.W)
    return np.stack([_steepest_descent(model, x) for x in X])


def _steepest_descent(model, x):
    """Steepest descent with Armijo backtracking until the gradient norm is below
    ``GRAPH_DESCENT_GTOL * grad_scale`` (for systems :func:`dynsys.flow` does not take)."""
    gtol = GRAPH_DESCENT_GTOL * float(model.grad_scale)
    shape = state_shape(model)
    x = np.array(x, dtype=float).reshape(shape)
    f = float(model.loss(x))
    t = 1.0
    for _ in range(GRAPH_DESCENT_MAX_STEPS):
        g, _, st = grad_hess(model, x, want_H=False)
        if st or row_max(g) <= gtol:
            break
        gg = float(np.sum(g * g))
        while t > 1e-16:
            xt = x - t * g
            ft = float(model.loss(xt))
            if ft <= f - 0.5 * t * gg:
                break
            t *= 0.5
        x, f = xt, ft
        t *= 2.0
    return x


def _classes(model, G, tol):
    """``class_id`` of every node: equal invariants (to ``tol``) and the same kind."""
    nodes = list(G.nodes)
    if not nodes:
        return
    vecs = [np.concatenate([[G.nodes[n]["morse_index"]], invariants(model, G.nodes[n]["W"])]) for n in nodes]
    labels, _ = ragged_leader_clusters(vecs, tol)
    for n, c in zip(nodes, labels):
        G.nodes[n]["class_id"] = int(c)


__all__ = ["MINIMUM", "SADDLE", "landscape_graph", "quotient_graph"]
