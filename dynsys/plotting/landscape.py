"""The disconnectivity graph of a landscape graph (:func:`dynsys.landscape_graph`).

Becker and Karplus (J. Chem. Phys. 106, 1495 (1997)): each minimum is a leaf drawn down to its loss;
two groups of minima join at the loss of the lowest saddle that connects them (the lowest height at
which a path between them exists, among the saddles in the graph). Groups that no saddle joins stay
apart up to the top of the figure.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

_LEAF_COLORS = {"global_minimum": "tab:green", "spurious_minimum": "tab:red", "minimum": "tab:blue",
                "degenerate": "tab:purple"}


def merge_tree(G):
    """The disconnectivity tree of a landscape graph (or of its quotient).

    Saddles are taken in increasing loss; each joins the groups of the minima it is an edge to.

    Returns
    -------
    leaves : list of node ids (the minima)
    merges : list of (height, saddle node, list of groups joined), in increasing height; a group is
        the tuple of its minima. The groups left at the end are the connected components.
    """
    minima = [n for n, a in G.nodes(data=True) if a["kind"] == "minimum"]
    parent = {m: m for m in minima}

    def root(m):
        while parent[m] != m:
            parent[m] = parent[parent[m]]
            m = parent[m]
        return m

    members = {m: (m,) for m in minima}
    merges = []
    saddles = sorted((a["loss"], n) for n, a in G.nodes(data=True) if a["kind"] == "saddle")
    for loss, s in saddles:
        roots = sorted({root(m) for m in G.neighbors(s) if m in parent})
        if len(roots) < 2:
            continue
        merges.append((loss, s, [members[r] for r in roots]))
        keep = roots[0]
        for r in roots[1:]:
            parent[r] = keep
            members[keep] = members[keep] + members.pop(r)
    return minima, merges


def disconnectivity(G, ax=None, *, label=True):
    """Draw the disconnectivity graph: minima as leaves at their loss, joined at saddle heights.

    Parameters
    ----------
    G : networkx.Graph
        From :func:`dynsys.landscape_graph`, or its :func:`dynsys.graph.quotient_graph` (then each
        leaf is a class of minima, labelled with its size).
    ax : matplotlib Axes, optional
        Where to draw; by default a new 6 x 4 inch figure with constrained layout.
    label : bool
        Write each leaf's node id under it.

    Returns
    -------
    matplotlib Axes
    """
    leaves, merges = merge_tree(G)
    if not leaves:
        raise ValueError("G has no minima: nothing to draw")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    loss = {n: float(G.nodes[n]["loss"]) for n in G.nodes}
    # a tree node is a minimum id or ("m", i) for merge i; children ordered by their lowest leaf
    children = {}
    height = {m: loss[m] for m in leaves}
    top_of = {m: m for m in leaves}
    low = {m: loss[m] for m in leaves}
    for i, (h, _, groups) in enumerate(merges):
        node = ("m", i)
        kids = set()
        for c in {top_of[g[0]] for g in groups}:
            # joins at one height (several copies of one saddle) are drawn as one bar
            same = c in children and abs(height[c] - h) <= 1e-9 * max(1.0, abs(h))
            kids.update(children.pop(c) if same else [c])
        kids = sorted(kids, key=lambda c: low[c])
        children[node] = kids
        height[node] = h
        low[node] = min(low[c] for c in kids)
        for g in groups:
            for m in g:
                top_of[m] = node
    roots = sorted({top_of[m] for m in leaves}, key=lambda c: low[c])
    xs = {}

    def place(node):
        if node in children:
            for c in children[node]:
                place(c)
            xs[node] = float(np.mean([xs[c] for c in children[node]]))
        else:
            xs[node] = float(len([x for x in xs if x not in children]))

    for r in roots:
        place(r)
    heights = [height[n] for n in height]
    span = max(heights) - min(heights)
    top = max(heights) + (0.15 * span if span > 0 else 1.0)
    for node, kids in children.items():
        for c in kids:
            ax.plot([xs[c], xs[c]], [height[c], height[node]], color="k", lw=1)
        ax.plot([min(xs[c] for c in kids), max(xs[c] for c in kids)], [height[node]] * 2, color="k", lw=1)
    for r in roots:
        ax.plot([xs[r], xs[r]], [height[r], top], color="k", lw=1, ls=":" if len(roots) > 1 else "-")
    seen = set()
    for m in leaves:
        kind = G.nodes[m].get("point_kind", "minimum")
        lab = kind.replace("_", " ") if kind not in seen else None
        seen.add(kind)
        ax.scatter([xs[m]], [loss[m]], color=_LEAF_COLORS.get(kind, "tab:gray"), s=30, zorder=3, label=lab)
        if label:
            size = G.nodes[m].get("size")
            text = f"{m}" + (f" (x{size})" if size is not None else "")
            ax.annotate(text, (xs[m], loss[m]), textcoords="offset points", xytext=(0, -12), ha="center",
                        fontsize=7)
    for node in children:
        ax.scatter([xs[node]], [height[node]], color="tab:orange", marker="s", s=14, zorder=3)
    ax.scatter([], [], color="tab:orange", marker="s", s=14, label="joined at a saddle")
    ax.set_xticks([])
    ax.set_xlim(-0.7, len(leaves) - 0.3)
    lo = min(heights)
    ax.set_ylim(lo - 0.08 * (top - lo), top)
    ax.set_ylabel("loss")
    ax.set_xlabel("minima" + (" (dotted: not joined by any saddle in the graph)" if len(roots) > 1 else ""))
    ax.set_title(f"disconnectivity graph: {len(leaves)} minima, {len(merges)} saddles joining groups",
                 fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return ax


__all__ = ["disconnectivity", "merge_tree"]
