"""How one continuation point is computed: :class:`Run` (the general path, any family of any system:
the Python corrector and spectrum around the compiled field) and :class:`FastRun` (the compiled path
for teacher-student families: one kernel call per run of plain points, or per single step). Both
build the same :class:`~dynsys.continuation.trace.Node` from the same arithmetic;
:func:`dynsys.continuation.continuation` drives either.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backends
from .._codes import CONVERGED, SINGULAR
from ..config import CONTINUATION_CHORD_ITER
from .corrector import MAX_ITER, Evaluator, Point, bordered, chord_correct, correct, orient, tangent
from .spectrum import spectrum, start_vectors
from .trace import Node

#: The bordering equations (phase conditions, arclength) are met to this times ``max(1, max|x|)``.
XTOL_RTOL = 1e-11
#: Corrector iterations at or below which the step grows (Newton's, and the chord's, which
#: converges linearly), and above which it shrinks.
FAST_ITERS = 3
FAST_CHORD_ITERS = 5
SLOW_ITERS = 6
#: Power steps and inverse-iteration sweeps of the spectrum at a point after the first (started
#: from the previous point's vectors: start_vectors' settings for a warm start).
LAM_ITERS = 4
SWEEPS = 1
#: Points the compiled loop takes per call at most (a branch of k = d = 10 takes about 100 us a
#: point: Ctrl-C and the progress bar are seen every few milliseconds).
ADVANCE_CAP = 64
#: The two ways a branch is computed (``Branch.path``): one compiled kernel call per point, or the
#: general Python loop around the compiled field.
COMPILED = "compiled"
GENERAL = "general"


def _predict(A, ds):
    """The predictor at arclength ``ds`` from node A: along its tangent, plus the tangent's rate of
    change over the last step (``A.dt``) where known: ``y_A + ds t + ds^2 dt / 2``. The corrector's
    first residual is then third order in ds, and on a dense branch one chord iteration meets it."""
    n = A.x.size
    if A.dt is None:
        return A.x + ds * A.t[:n], A.p + ds * float(A.t[n])
    y = ds * A.t + (0.5 * ds * ds) * A.dt
    return A.x + y[:n], A.p + float(y[n])


def _dips(system, A, B, shape):
    """Whether a row's segment from A to B passes much closer to zero than its ends, in a system with
    a singular set: the branch runs into it between the two points (a step would jump over it)."""
    if not system.singular_tol > -math.inf:
        return False
    U = getattr(system, "residual", None)
    a = A.W.reshape(-1, shape[-1]) + (0.0 if U is None else U)
    b = B.W.reshape(-1, shape[-1]) + (0.0 if U is None else U)
    d = b - a
    dd = np.einsum("ij,ij->i", d, d)
    t = np.clip(-np.einsum("ij,ij->i", a, d) / np.where(dd > 0, dd, 1.0), 0.0, 1.0)
    closest = np.linalg.norm(a + t[:, None] * d, axis=1)
    ends = np.minimum(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1))
    return bool(np.any(closest < 0.25 * ends))


def _groups(system, W, atol):
    """The pairs of parallel rows (the test of :func:`dynsys.systems.symmetry.parallel_groups`,
    vectorised: it runs at every point)."""
    if len(np.shape(W)) != 2:
        return ()
    U = getattr(system, "residual", None)
    V = W if U is None else W + U
    nrm = np.linalg.norm(V, axis=1)
    ok = nrm > 0.0
    if ok.sum() < 2:
        return ()
    E = np.where(ok[:, None], V / np.where(ok, nrm, 1.0)[:, None], 0.0)
    du = np.linalg.norm(E[:, None, :] - E[None, :, :], axis=2)
    su = np.linalg.norm(E[:, None, :] + E[None, :, :], axis=2)
    sin = 0.5 * du * su
    short = np.minimum(nrm[:, None], nrm[None, :])
    par = (du < su) & (short * sin <= atol * float(nrm.max())) & ok[:, None] & ok[None, :]
    i, j = np.nonzero(np.triu(par, 1))
    return tuple(zip(i.tolist(), j.tolist()))


class Run:
    """The state of one continuation run (settings, evaluator, node construction): the general path,
    for any family of any system."""

    path = GENERAL

    def __init__(self, fam, shape, gtol, eig_rtol, n_eig, parallel_atol):
        self.fam = fam
        self.shape = shape
        self.ev = Evaluator(fam, shape)
        self.gtol = gtol
        self.eig_rtol = eig_rtol
        self.n_eig = n_eig
        self.parallel_atol = parallel_atol

    def xtol(self, x):
        return XTOL_RTOL * max(1.0, float(np.max(np.abs(x))))

    def _correct(self, A, x0, p0, N, xa, c, cp, rhs, gtol, newton=False):
        """The chord corrector on A's factor, Newton where it fails (or from the start, without A):
        the corrector's Point. ``newton``: Newton only (the bisection of an event: near a branch
        point the chord leaves the soft direction resolved only to ``gtol`` over the crossing
        eigenvalue, and that error moves the eigenvalue the bisection follows; Newton, accepting the
        interpolated predictor where it already converged, keeps the trials as exact as the
        bracket's ends)."""
        kw = dict(gtol=gtol, xtol=self.xtol(x0), domain=self.fam.domain)
        if A is not None and not newton:
            pt = chord_correct(self.ev, x0, p0, N, xa, c, cp, rhs, A.chord, **kw)
            if pt.status == CONVERGED:
                return pt
        return correct(self.ev, x0, p0, N, xa, c, cp, rhs, **kw)

    def node(self, pt, N_prev, prev, t_prev):
        """A Node at a converged corrector point: the Hessian and ``d grad / d p`` there, the spectrum,
        its factor with the bordering columns (the next corrector's chord), the tangent (the refined
        chord solve, or the factored bordered Jacobian where that falls short), the own basis
        carried along. None when the root is singular."""
        _, H, b, st = self.ev(pt.x, pt.p)
        if st:
            return None
        n = pt.x.size
        m = N_prev.shape[1]
        sp = spectrum(H, eig_rtol=self.eig_rtol, q=m + self.n_eig,
                      V0=None if prev is None else prev.V, top0=None if prev is None else prev.top,
                      sweeps=1)
        X = backends.chord_prepare(sp.factor, b, N_prev)
        chord = sp.factor + (b, X)
        z = backends.chord_tangent(sp.factor + (X,), H, b, N_prev, t_prev, sp.lam_max)
        t = orient(z, n, t_prev) if z is not None else tangent(bordered(H, b, N_prev, t_prev), n, t_prev)
        w = np.sum((sp.vectors.T @ N_prev) ** 2, axis=1) if m else np.zeros(sp.eigvals.size)
        order = np.argsort(-w, kind="stable")
        own, rest = np.sort(order[:m]), np.sort(order[m:])
        N = sp.vectors[:, own]
        W = pt.x.reshape(self.shape)
        system = self.ev.system(pt.p)
        loss = float(system.loss(W, backend="cpu"))
        # the index counts eigenvalues below -tol; the crossing itself is where one changes sign
        index0 = sp.index + int(np.sum((sp.eigvals[rest] < 0.0) & (sp.eigvals[rest] >= -sp.tol)))
        return Node(pt.x.copy(), float(pt.p), t, N, W.copy(), loss, pt.grad_norm, sp.index, index0,
                    sp.nullity, sp.eigvals[rest], sp.vectors[:, rest], sp.vectors, sp.top,
                    _groups(system, W, self.parallel_atol), chord)

    def _finish(self, pt, N_prev, prev, t_prev):
        if pt.status != CONVERGED:
            return None, pt
        node = self.node(pt, N_prev, prev, t_prev)
        return node, (pt if node is not None else pt._replace(status=SINGULAR))

    def start(self, x0, p0, N0, t0):
        """The start node: ``x0`` polished onto the branch at ``p0`` exactly (None if that fails, with
        the corrector's point)."""
        n = x0.size
        pt = self._correct(None, x0, p0, N0, x0, np.zeros(n), 1.0, p0, self.gtol)
        node, pt = self._finish(pt, N0, None, t0)
        return (None if node is None else node._replace(p=float(p0))), pt

    def dips(self, A, B):
        return _dips(self.ev.system(B.p), A, B, self.shape)

    def step_from(self, A, ds, loose=1.0, pred=None):
        """Corrected point at arclength ``ds`` from node A along its tangent (a Node or None, status).

        ``pred`` replaces the tangent predictor by a given ``(x, p)`` (interpolation inside a bracket).
        """
        n = A.x.size
        tx, tp = A.t[:n], float(A.t[n])
        x0, p0 = _predict(A, ds) if pred is None else pred
        pt = self._correct(A, x0, p0, A.N, A.x, tx, tp, float(tx @ A.x + tp * A.p + ds), self.gtol * loose,
                           newton=pred is not None)
        return self._finish(pt, A.N, A, A.t)

    def advance(self, trace, ds, p_end, budget, step_min, step_max):
        """Plain points appended to ``trace`` without this loop's help, and the step after them: none
        on the general path (the compiled path's :meth:`FastRun.advance` runs many per call)."""
        return ds

    def at_p(self, A, B, p_target):
        """The point with ``p = p_target`` between nodes A and B (natural-parameter corrector)."""
        n = A.x.size
        f = (p_target - A.p) / (B.p - A.p) if B.p != A.p else 1.0
        x0 = A.x + f * (B.x - A.x)
        pt = self._correct(A, x0, p_target, A.N, A.x, np.zeros(n), 1.0, p_target, self.gtol)
        node, _ = self._finish(pt, A.N, A, A.t)
        return None if node is None else node._replace(p=float(p_target))


class FastRun(Run):
    """The compiled path, for a teacher-student family the kernel can evaluate at any p
    (:mod:`.compiled`): one kernel call (:func:`dynsys.kernels.arclength.advance`) per run of plain
    points, or per step the Python loop takes itself; the same arithmetic as :class:`Run`, which
    still serves the events' system evaluations."""

    path = COMPILED

    def __init__(self, fam, shape, gtol, eig_rtol, n_eig, parallel_atol, plan):
        super().__init__(fam, shape, gtol, eig_rtol, n_eig, parallel_atol)
        self.kfam = plan.fam
        k = shape[0]
        self.pairs = np.empty((max(1, k * (k - 1) // 2), 2), dtype=np.int64)
        self.info = np.empty(13)
        self._dips = {}
        self._none = (np.empty((0, 0)), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64),
                      np.empty(0), np.empty((0, 0)))
        self._no_out = (np.empty((0, 0)), *(np.empty(0),) * 4, *(np.empty(0, dtype=np.int64),) * 2,
                        np.empty((0, 0)), np.empty(0))
        self._no_info = np.empty(8)
        self._no_given = (np.empty(0), 0.0, np.empty(0), 0.0, 0.0, False)
        self._kernel = backends.arclength_kernel()

    def _step(self, x0, p0, N, xa, c, cp, rhs, t_prev, gtol, prev, newton=False):
        """A node (or None) and the corrector's Point (its status, p, iterations): one step, as given
        (the kernel with ``cap = 0``)."""
        n = x0.size
        m = N.shape[1]
        q = min(m + self.n_eig, n)
        if prev is None:
            V0, v0, lam_iters, sweeps = start_vectors(n, q, None, None, 1)
        else:  # start_vectors with the previous point's vectors, inlined: this runs at every point
            V0, v0, lam_iters, sweeps = prev.V, prev.top, LAM_ITERS, SWEEPS
        S = self._buffers(n, m, q)
        chord_on = prev is not None and not newton
        # every array here is contiguous by construction (the kernel's signatures are for C arrays)
        t_prev, N = np.ascontiguousarray(t_prev), np.ascontiguousarray(N)
        a = (xa, t_prev, t_prev, N, V0, v0, *(prev.chord if chord_on else self._none), *S[11:])
        info = self.info
        self._kernel(a, 0.0, False, 0, 0, 0, 0.0, 0.0, float(gtol), XTOL_RTOL, MAX_ITER, CONTINUATION_CHORD_ITER,
                     self.kfam, self.eig_rtol, lam_iters, sweeps, self.parallel_atol, 0.0, 0.0, 0, 0, 0, 0,
                     (x0, float(p0), c, float(cp), float(rhs), chord_on), S, S, self._no_out, self._no_info, info)
        st, p, it, gn, index, nullity, _, _, loss, npairs, dips, by_chord, index0 = info.tolist()
        x, t, _, N1, vecs, top, F, perm, blk, b, X, pairs, mu, sel = S
        pt = Point(x, p, None, None, None, None, int(st), int(it), gn, by_chord == 1.0)
        if st != CONVERGED:
            return None, pt
        index, nullity, index0 = int(index), int(nullity), int(index0)
        groups = tuple(tuple(r) for r in pairs[:int(npairs)].tolist()) if npairs else ()
        rest = sel[m:]  # (m = 0: 0..q-1)
        node = Node(x, p, t, N1, x.reshape(self.shape), loss, gn, index, index0, nullity, mu[rest], vecs[:, rest],
                    vecs, top, groups, (F, perm, blk, b, X))
        self._dips = {id(node): dips == 1.0}
        return node, pt

    def advance(self, trace, ds, p_end, budget, step_min, step_max):
        """Plain points by the compiled loop (:func:`dynsys.kernels.arclength.advance`, at most
        ``ADVANCE_CAP`` per call: Ctrl-C and progress are seen between calls), appended to ``trace``;
        the step after them. The loop stops before the first step that is not plain, which the caller
        then takes itself: the branch is the one the caller's loop alone gives."""
        A = trace.last
        cap = min(budget, ADVANCE_CAP)
        if A.chord is None or cap <= 0:
            return ds
        n, m, q = A.x.size, A.N.shape[1], A.V.shape[1]
        sets = [self._buffers(n, m, q) for _ in range(2)]
        pairs = np.array(A.groups, dtype=np.int64).reshape(-1, 2)
        a = (A.x, A.t, A.t if A.dt is None else A.dt, A.N, A.V, A.top, *A.chord, pairs, *sets[0][12:])
        out = (np.empty((cap, n)), np.empty(cap), np.empty(cap), np.empty(cap), np.empty(cap),
               np.empty(cap, dtype=np.int64), np.empty(cap, dtype=np.int64), np.empty((cap, q - m)), np.empty(cap))
        info = np.empty(8)
        self._kernel(a, A.p, A.dt is not None, A.index, A.nullity, len(A.groups), float(ds), float(p_end),
                     float(self.gtol), XTOL_RTOL, MAX_ITER, CONTINUATION_CHORD_ITER, self.kfam, self.eig_rtol,
                     LAM_ITERS, SWEEPS, self.parallel_atol, float(step_min), float(step_max), FAST_CHORD_ITERS,
                     FAST_ITERS, SLOW_ITERS, cap, self._no_given, *sets, out, info, self.info)
        count, which, ds, p, loss, gn, index0, nullity = info.tolist()
        count = int(count)
        if count:
            x, t, dt, N, vecs, top, F, perm, blk, b, X, _, mu, sel = sets[int(which)]
            rest = sel[m:]
            last = Node(x, p, t, N, x.reshape(self.shape), loss, gn, A.index, int(index0), int(nullity), mu[rest],
                        vecs[:, rest], vecs, top, A.groups, (F, perm, blk, b, X), dt)
            trace.extend(tuple(c[:count] for c in out), last)
        return ds

    def _buffers(self, n, m, q):
        """One point's arrays for :func:`dynsys.kernels.arclength.advance`."""
        return (np.empty(n), np.empty(n + 1), np.empty(n + 1), np.empty((n, m)), np.empty((n, q)), np.empty(n),
                np.empty((n, n)), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), np.empty(n),
                np.empty((m + 1, n)), np.empty_like(self.pairs), np.empty(q),
                np.empty(q, dtype=np.int64))

    def start(self, x0, p0, N0, t0):
        node, pt = self._step(x0, p0, N0, x0, np.zeros(x0.size), 1.0, p0, t0, self.gtol, None)
        return (None if node is None else node._replace(p=float(p0))), pt

    def step_from(self, A, ds, loose=1.0, pred=None):
        n = A.x.size
        tx, tp = A.t[:n], float(A.t[n])
        x0, p0 = _predict(A, ds) if pred is None else pred
        return self._step(x0, p0, A.N, A.x, tx, tp, float(tx @ A.x + tp * A.p + ds), A.t, self.gtol * loose, A,
                          newton=pred is not None)

    def at_p(self, A, B, p_target):
        n = A.x.size
        f = (p_target - A.p) / (B.p - A.p) if B.p != A.p else 1.0
        x0 = A.x + f * (B.x - A.x)
        node, _ = self._step(x0, p_target, A.N, A.x, np.zeros(n), 1.0, p_target, A.t, self.gtol, A)
        return None if node is None else node._replace(p=float(p_target))

    def dips(self, A, B):
        flag = self._dips.get(id(B))
        return super().dips(A, B) if flag is None else flag
