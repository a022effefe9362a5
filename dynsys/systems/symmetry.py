"""The teacher-student model's symmetry: the nullity it explains and invariants for deduplication.

These are :class:`~dynsys.TeacherStudent`'s implementations of the system protocol's
``nullity_expected`` and ``invariants`` (:mod:`dynsys.systems.base`); the critical layer reaches them
through the protocol (:mod:`dynsys.critical.symmetry`).


Symmetries of the loss (docs/math.md section 4, "Symmetry for deduplication" and Theorem 2), acting on the
network rows ``V = W + U`` (with a residual the action on ``W`` is the same map shifted by ``U``):

* permutations of student rows with equal top weight ``a_j`` (``a`` is fixed in the model);
* orthogonal maps of R^d that fix every teacher row with ``a*_k != 0``: a continuous group (a copy of
  O(d - r), r the rank of the teacher rows) when r < d;
* when the teacher rows are orthogonal with equal norms (``W* = I`` and its scalings and rotations),
  also the permutations of teacher rows with equal ``a*_k``, realised by an orthogonal map of R^d
  (for ``W* = I``: ``W -> P W Q^T`` with P, Q independent permutations).

Every one is an isometry of weight space, so it maps critical points to critical points with the same
loss, Morse index and spectrum.

Deduplication does not enumerate the group: each point gets an :func:`invariants` vector (functions of
inner products, sorted within each class that the group permutes), and two points are one when
their vectors agree entry by entry to ``tol`` (``dynsys.config.DEDUP_RTOL``; the entries are O(1):
rows are scaled by the largest teacher row norm, the loss by the teacher's output energy). The
invariants are necessary conditions for equivalence; the set used (loss, sorted row norms, the
spectrum of the student Gram matrix and of the joint Gram matrix of student and teacher rows, the
singular values of ``V T^T`` and its entries sorted within each permutable class) separates the
critical points met in practice. :func:`dynsys.critical.symmetry.group` puts n points into classes
in O(n) expected time (bucketed on the first invariant, the loss).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _validate as v
from ..config import DEDUP_RTOL, PARALLEL_ATOL

# A row is in the span of the teacher when its component outside has at most this relative norm.
_TINY = 1e-300


def parallel_groups(V, tol=PARALLEL_ATOL, active=None) -> list:
    """Groups of rows of ``V`` pointing the same way, as index lists.

    Rows are taken longest first; each joins the group of the first (longest) row it is parallel to,
    or starts a group. Row v is parallel to a longer row w when v lies within ``tol * max_l |v_l|``
    of the ray of w (``|v| sin(theta) <= tol max|v|`` with ``cos(theta) > 0``): for rows of comparable
    length an angle of at most about ``tol``; a row much shorter than the rest (nearly dead: its
    direction barely matters to the loss and is resolved only loosely) may be off by a proportionally
    larger angle. Comparing with group leaders only, a short row cannot chain two groups together.
    Rows with ``active[j]`` False, and zero rows, are left out. Each group is in increasing row order;
    groups are ordered by first row.
    """
    V = np.asarray(V, dtype=float)
    nrm = np.linalg.norm(V, axis=1)
    ok = nrm > 0.0 if active is None else (np.asarray(active, dtype=bool) & (nrm > 0.0))
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return []
    scale = float(np.max(nrm[idx]))
    leaders: list[int] = []
    members: list[list] = []
    for i in sorted(idx, key=lambda j: (-nrm[j], j)):
        u = V[i] / nrm[i]
        best, best_sin = -1, math.inf
        for g, L in enumerate(leaders):
            w = V[L] / nrm[L]
            du = float(np.linalg.norm(u - w))
            su = float(np.linalg.norm(u + w))
            sin = 0.5 * du * su  # for unit vectors; cos(theta) > 0 <=> du < su
            if du < su and nrm[i] * sin <= tol * scale and sin < best_sin:
                best, best_sin = g, sin
        if best < 0:
            leaders.append(int(i))
            members.append([int(i)])
        else:
            members[best].append(int(i))
    groups = [sorted(m) for m in members]
    return sorted(groups, key=lambda m: m[0])


def _teacher_basis(model, tol):
    """Orthonormal basis (d, r) of the span of the teacher rows that enter the loss."""
    A = model.arrays
    T = A.T[(A.tn > 0.0) & (A.a_star != 0.0)]
    if T.shape[0] == 0:
        return np.zeros((model.d, 0))
    _, s, Vt = np.linalg.svd(T, full_matrices=False)
    r = int(np.sum(s > tol * s[0]))
    return Vt[:r].T


def nullity_expected(model, W, parallel_atol=PARALLEL_ATOL) -> int:
    """The Hessian nullity that symmetry explains at ``W`` (docs/math.md section 4, Theorem 2).

    ``p m - p (p + 1) / 2`` (dimension of the orbit of the rotations fixing the teacher's span, with
    ``m = d - rank(teacher rows)`` and ``p`` the rank of the student rows' components outside that
    span) plus ``m_g - 1`` for each group of ``m_g`` parallel student rows (mass can move between
    them), plus ``d`` for each student row with ``a_j = 0`` (the loss does not see it). For the linear
    model (alpha = 1) the loss depends only on ``sum_j a_j v_j``: ``(k - 1) d`` when some ``a_j != 0``.

    ``parallel_atol`` is the angle (radians) within which rows count as parallel, and the relative
    size below which a component outside the teacher's span counts as zero.
    """
    v.real_scalar(parallel_atol, "parallel_atol", lo=0.0, lo_open=True)
    k, d = model.k, model.d
    a = np.asarray(model.a)
    if model.alpha == 1.0:
        return k * d - (d if np.any(a != 0.0) else 0)
    W = np.asarray(W, dtype=float)
    V = W if model.residual is None else W + model.residual
    live = a != 0.0
    out = d * int(np.sum(~live))
    Q = _teacher_basis(model, parallel_atol)
    m = d - Q.shape[1]
    Vl = V[live]
    if m > 0 and Vl.shape[0] > 0:
        P = Vl - (Vl @ Q) @ Q.T
        scale = float(np.max(np.linalg.norm(Vl, axis=1)))
        if scale > 0.0:
            s = np.linalg.svd(P, compute_uv=False)
            p = int(np.sum(s > parallel_atol * scale))
            out += p * m - p * (p + 1) // 2
    for g in parallel_groups(V, parallel_atol, active=live):
        out += len(g) - 1
    return out


def teacher_permutable(model) -> bool:
    """Whether permutations of teacher rows (with equal ``a*``) are symmetries that dedup must use:
    the teacher's network rows are orthogonal with equal norms (``W* = I`` and its scalings)."""
    T = model.arrays.T
    if T.shape[0] < 2:
        return False
    G = T @ T.T
    c = float(np.mean(np.diag(G)))
    return c > 0.0 and bool(np.max(np.abs(G - c * np.eye(T.shape[0]))) <= 1e-12 * c)


def _classes(x) -> list:
    """Indices grouped by equal value of ``x``, groups in increasing value."""
    x = np.asarray(x)
    return [np.flatnonzero(x == val) for val in np.unique(x)]


def _merge_parallel(V, a, tol):
    """The network function's own rows: each group of parallel rows becomes ``(sum a_j |v_j|) e``.

    Returns rows (with their new top weights +-1) of the reduced representation; groups whose
    contributions cancel are dropped.
    """
    rows, signs = [], []
    for g in parallel_groups(V, tol, active=a != 0.0):
        nrm = np.linalg.norm(V[g], axis=1)
        c = float(np.sum(a[g] * nrm))
        if c == 0.0:
            continue
        e = V[g[0]] / nrm[0]
        rows.append(abs(c) * e)
        signs.append(1.0 if c > 0 else -1.0)
    if not rows:
        return np.zeros((0, V.shape[1])), np.zeros(0)
    return np.array(rows), np.array(signs)


def invariants(model, W, *, merge_parallel=False, parallel_atol=PARALLEL_ATOL) -> np.ndarray:
    """Invariant vector of a point under the teacher-student symmetry (see the module docstring).

    Parameters
    ----------
    model : TeacherStudent
    W : array_like, shape (k, d)
        A non-singular point.
    merge_parallel : bool
        Describe the network *function*: replace each group of parallel student rows by one row
        (their summed contribution), so points that differ only by how mass is split between
        parallel rows (a flat family, e.g. a teacher row split between two student rows) get one
        vector. The vector's length then depends on the point.

    Returns
    -------
    ndarray, shape (n_inv,)
        Its first entry is the loss divided by the teacher's output energy.
    """
    W = np.asarray(W, dtype=float)
    A = model.arrays
    s = float(np.max(A.tn)) if np.max(A.tn) > 0 else 1.0
    V = (W if model.residual is None else W + model.residual)
    a = np.asarray(A.a, dtype=float)
    loss = float(model.loss(W)) / max(float(A.const), _TINY)
    if merge_parallel:
        V, a = _merge_parallel(V, a, parallel_atol)
    V = V / s
    T = A.T / s
    parts = [np.array([loss, float(V.shape[0])])]
    rcls = _classes(a)
    for c in rcls:
        parts.append(np.sort(np.linalg.norm(V[c], axis=1)))
    parts.append(np.linalg.eigvalsh(V @ V.T) if V.shape[0] else np.zeros(0))
    M = V @ T.T
    if teacher_permutable(model):
        for c in rcls:
            for e in _classes(A.a_star):
                blk = M[np.ix_(c, e)]
                parts += [np.sort(blk.ravel()), np.sort(np.linalg.norm(blk, axis=1)),
                          np.sort(np.linalg.norm(blk, axis=0)), np.linalg.svd(blk, compute_uv=False)]
    else:
        for c in rcls:
            parts.append(np.sort(M[c], axis=0).ravel())
    if M.size:
        parts.append(np.linalg.svd(M, compute_uv=False))
    Z = np.vstack([V, T])
    parts.append(np.linalg.eigvalsh(Z @ Z.T))
    return np.concatenate(parts)



def _gram_automorphism_generators(G, colour, tol):
    """Generators of the permutations ``tau`` of ``range(N)`` with ``colour[tau[i]] == colour[i]`` and
    ``|G[tau[i], tau[j]] - G[i, j]| <= tol`` for all i, j.

    A strong generating set: for each base point i and each j in its orbit under the permutations
    that fix ``0 .. i-1``, one permutation fixing ``0 .. i-1`` with ``i -> j`` (the first found by
    backtracking). These generate the whole group (Schreier-Sims), at most ``N^2`` of them, without
    enumerating it (the symmetric saddle of k equal rows has ``(k!)^2`` elements).
    """
    N = G.shape[0]
    ok = (colour[:, None] == colour[None, :]) & (np.abs(np.diag(G)[:, None] - np.diag(G)[None, :]) <= tol)

    def first(tau, used, i):
        if i == N:
            return tau.copy()
        for j in np.flatnonzero(ok[i] & ~used):
            if i and np.max(np.abs(G[j, tau[:i]] - G[i, :i])) > tol:
                continue
            tau[i], used[j] = j, True
            found = first(tau, used, i + 1)
            tau[i], used[j] = -1, False
            if found is not None:
                return found
        return None

    gens = []
    for i in range(N):
        for j in np.flatnonzero(ok[i]):
            if j <= i:  # j < i is fixed at this level; j == i is the identity
                continue
            tau = np.full(N, -1)
            used = np.zeros(N, dtype=bool)
            tau[:i] = np.arange(i)
            used[:i] = True
            if np.max(np.abs(G[j, :i] - G[i, :i]), initial=0.0) > tol:
                continue
            tau[i], used[j] = j, True
            found = first(tau, used, i + 1)
            if found is not None:
                gens.append(found)
    return gens


def point_symmetries(model, W, tol=DEDUP_RTOL) -> tuple:
    """Symmetries of the loss that fix the point ``W``, as linear maps of weight space: the identity
    and generators of the group they form.

    A symmetry here is ``W -> P (W + U) Q^T - U``: a permutation ``P`` of student rows with equal top
    weights and an orthogonal ``Q`` of R^d that permutes the teacher rows entering the loss (those with
    ``a*_k != 0``) among rows of equal ``a*`` (module docstring). It fixes ``W`` when ``Q v_j =
    v_{pi(j)}`` for every network row ``v_j``: the pair (pi, teacher permutation) preserves the joint
    Gram matrix of student and teacher rows. Generators of those pairs are found by backtracking over
    row assignments; ``Q`` is then the orthogonal map of the span of all rows that carries out the
    assignment (least squares), extended by the identity outside the span: the continuous rotations
    outside it (Theorem 2) are left out.

    Parameters
    ----------
    model : TeacherStudent
    W : array_like, shape (k, d)
    tol : float
        Gram entries agree to ``tol * max |row|^2``.

    Returns
    -------
    tuple of ndarray, shape (k d, k d)
        The maps ``P kron Q`` on row-major flattened displacements, the identity first.
    """
    W = np.asarray(W, dtype=float)
    A = model.arrays
    k, d = W.shape
    V = W if model.residual is None else W + model.residual
    live = (A.tn > 0.0) & (A.a_star != 0.0)
    Z = np.vstack([V, A.T[live]])
    G = Z @ Z.T
    scale = float(np.max(np.diag(G)))
    # colours: students by top weight, teachers by a* (the kind first, so the two never match)
    a_vals = np.concatenate([np.asarray(A.a, dtype=float), np.asarray(A.a_star, dtype=float)[live]])
    kind = np.concatenate([np.zeros(k), np.ones(int(live.sum()))])
    colour = np.unique(np.stack([kind, a_vals], axis=1), axis=0, return_inverse=True)[1].reshape(-1)
    taus = [np.arange(Z.shape[0])] + _gram_automorphism_generators(G, colour, tol * scale)
    _, s, Vt = np.linalg.svd(Z, full_matrices=False)
    B = Vt[: int(np.sum(s > 1e-12 * s[0]))].T
    Zc = Z @ B
    out = []
    for tau in taus:
        Qr = np.linalg.lstsq(Zc, Zc[tau], rcond=None)[0].T
        Q = B @ Qr @ B.T + (np.eye(d) - B @ B.T)
        if np.max(np.abs(Z @ Q.T - Z[tau])) > 10 * tol * math.sqrt(scale):
            continue
        M = np.zeros((k * d, k * d))
        for j in range(k):
            i = int(tau[j])
            M[i * d:(i + 1) * d, j * d:(j + 1) * d] = Q
        out.append(M)
    return tuple(out)
