"""Index-1 saddles from a minimum by eigenvector following.

:func:`eigenvector_following` climbs out of a minimum along each of its softest Hessian eigenvectors by
partitioned rational-function optimisation (P-RFO: Baker, J. Comput. Chem. 7, 385 (1986); Cerjan and
Miller, J. Chem. Phys. 75, 2800 (1981)): at each step maximise along the followed mode and minimise
along all others, which converges to an index-1 saddle; the saddles found are refined, classified and
deduplicated. It diagonalises the dense Hessian at every step: meant for ``k d`` up to a few hundred.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ... import _validate as v
from ...clustering import leader_clusters
from ...config import EIG_RTOL, SADDLE_EF_DEDUP_RTOL, SADDLE_EF_GTOL, SADDLE_EF_MAX_ITER, SADDLE_EF_TRUST
from ...results import Status
from ..shared import row_max, spectrum
from .refine import batch_loss_grad, checked_state, dense_hessian, refine_saddle


def _prfo_step(eig, U, g, f, trust):
    """P-RFO step: maximise along mode ``f``, minimise along the others (Baker 1986, Eqn 12-15)."""
    gt = U.T @ g
    b, gf = eig[f], gt[f]
    mu_max = 0.5 * b + math.sqrt(0.25 * b * b + gf * gf)
    h = np.zeros_like(gt)
    den = b - mu_max
    h[f] = -gf / den if den != 0.0 else trust
    others = np.ones(len(eig), bool)
    others[f] = False
    lo, go = eig[others], gt[others]
    # mu_min: the lowest eigenvalue of the augmented Hessian [[diag(lo), go], [go^T, 0]].
    A = np.zeros((lo.size + 1, lo.size + 1))
    A[np.arange(lo.size), np.arange(lo.size)] = lo
    A[:-1, -1] = go
    A[-1, :-1] = go
    mu_min = float(np.linalg.eigvalsh(A)[0])
    den = lo - mu_min
    safe = np.abs(den) > 1e-300
    h[others] = np.where(safe, -go / np.where(safe, den, 1.0), 0.0)
    step = U @ h
    n = np.linalg.norm(step)
    if n > trust:
        step *= trust / n
    return step


def eigenvector_following(model, W_min, *, n_directions=4, both_signs=True, trust=SADDLE_EF_TRUST,
                          gtol=SADDLE_EF_GTOL, max_iter=SADDLE_EF_MAX_ITER, index=1,
                          dedup_rtol=SADDLE_EF_DEDUP_RTOL):
    """Climb from a minimum along its softest Hessian eigenvectors to index-1 saddles.

    Parameters
    ----------
    model : System (:mod:`dynsys.systems.base`) or an object with batched ``loss_and_grad`` and ``hessian``
    W_min : array_like, shape (k, d)
        A minimum (refine it first; a non-minimum still works as a start).
    n_directions : int
        How many of the softest modes to follow (eigenvalues counted as zero, the symmetry's null
        directions, are skipped: moving along them does not leave the minimum's level).
    both_signs : bool
        Follow each mode in both directions (``+v`` and ``-v``).
    trust : float
        Largest step (Frobenius norm); the first step is exactly ``trust`` along the mode.
    gtol : float
        Stopping norm of the gradient (row max) with exactly one negative eigenvalue, after which Newton
        refines.
    max_iter : int
        Steps per followed direction.
    index : int or None
        Keep saddles of this Morse index only (``None`` keeps every refined critical point).
    dedup_rtol : float
        Two saddles are the same when their losses and spectra agree to this relative tolerance.

    Returns
    -------
    tuple of SaddlePoint
        Distinct saddles found, by increasing loss; each carries ``direction`` (the mode number, 0 the
        softest) and ``sign`` of the search that found it first, and ``iterations``.
    """
    W0 = checked_state(model, W_min, "W_min")
    n_directions = v.positive_int(n_directions, "n_directions")
    trust = v.real_scalar(trust, "trust", lo=0.0, lo_open=True)
    gtol = v.real_scalar(gtol, "gtol", lo=0.0, lo_open=True)
    max_iter = v.positive_int(max_iter, "max_iter")
    if index is not None:
        index = v.positive_int(index, "index", minimum=0)
    shape = W0.shape
    eig0, U0 = np.linalg.eigh(dense_hessian(model, W0))
    scale = float(np.max(np.abs(eig0)))
    modes = [j for j in range(len(eig0)) if abs(eig0[j]) > EIG_RTOL * scale][:n_directions]
    found: list = []
    for r, j in enumerate(modes):
        for sign in ((1.0, -1.0) if both_signs else (1.0,)):
            W = W0 + sign * trust * U0[:, j].reshape(shape)
            follow = sign * U0[:, j]
            status = int(Status.MAX_STEPS)
            for it in range(1, max_iter + 1):
                _, G, st = batch_loss_grad(model, W[None])
                if st[0]:
                    status = int(st[0])
                    break
                eig, U = np.linalg.eigh(dense_hessian(model, W))
                # Mode tracking: follow the eigenvector closest to the previous direction.
                f = int(np.argmax(np.abs(U.T @ follow)))
                follow = U[:, f] * np.sign(U[:, f] @ follow or 1.0)
                n_neg, _, _ = spectrum(eig, EIG_RTOL)
                if row_max(G[0]) <= gtol and n_neg == 1 and eig[f] < 0:
                    status = int(Status.CONVERGED)
                    break
                W = W + _prfo_step(eig, U, G[0].ravel(), f, trust).reshape(shape)
            if status in (Status.SINGULAR, Status.NONFINITE):
                continue
            sp = refine_saddle(model, W)
            if sp.status != Status.CONVERGED or (index is not None and sp.index != index):
                continue
            found.append(dataclasses.replace(sp, direction=r, sign=int(sign), iterations=it))
    return tuple(sorted(_distinct_saddles(found, dedup_rtol), key=lambda q: q.loss))


def _distinct_saddles(found, rtol) -> list:
    """One saddle per point up to symmetry, the first found of each: losses and spectra (invariants
    of every symmetry of the loss) agree to ``rtol`` relative to their largest magnitude among the
    saddles found (the loss with an absolute floor of 1e-15, the rounding of a loss near zero)."""
    if not found:
        return []
    loss = np.array([q.loss for q in found])
    eig = np.stack([q.eigvals for q in found])
    ls = max(float(np.max(np.abs(loss))), 1e-15 / rtol)
    es = max(float(np.max(np.abs(eig))), 1e-300)
    _, first = leader_clusters(np.column_stack([loss / ls, eig / es]), rtol)
    return [found[i] for i in first]
