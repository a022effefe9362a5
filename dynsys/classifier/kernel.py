"""Jitted one-hidden-layer classifier: forward pass, gradient and minibatch SGD over a batch of repeats.

Network (hidden width H = input dimension D, so the identity mapping fits):

    z = (W + I [identity]) x + b,   h_j = max(z_j, 0) + alpha_j min(z_j, 0),   o = V h + c,
    loss = -log softmax(o)_y       (mean over a batch)

``sigma'(0)`` is taken as ``alpha_j`` (the convention of the teacher-student kernels). Repeat r draws
its initial weights and its shuffles from the counter-based stream ``(seed, r)`` (:mod:`..kernels.rng`),
so a repeat's run depends neither on the thread count nor on the other repeats of the call.
"""

import math

import numpy as np
from numba import njit

from .._codes import DIVERGED, OK
from ..kernels import rng

_JIT = dict(cache=True)


@njit(**_JIT)
def forward(W, b, A, V, c, identity, x, z, h, o):
    """Fill ``z``, ``h`` (H,) and ``o`` (C,) for one input ``x`` (D,)."""
    H, D = W.shape
    for j in range(H):
        s = b[j]
        for l in range(D):
            s += W[j, l] * x[l]
        if identity:
            s += x[j]
        z[j] = s
        h[j] = s if s > 0.0 else A[j] * s
    for k in range(V.shape[0]):
        s = c[k]
        for j in range(H):
            s += V[k, j] * h[j]
        o[k] = s


@njit(**_JIT)
def _log_softmax_grad(o, y, p):
    """Cross-entropy of logits ``o`` at label ``y``; ``p`` <- softmax(o) - onehot(y)."""
    mx = o[0]
    for k in range(o.shape[0]):
        mx = max(mx, o[k])
    s = 0.0
    for k in range(o.shape[0]):
        p[k] = math.exp(o[k] - mx)
        s += p[k]
    for k in range(o.shape[0]):
        p[k] /= s
    loss = math.log(s) + mx - o[y]
    p[y] -= 1.0
    return loss


@njit(**_JIT)
def loss_grad(W, b, A, V, c, identity, X, y, idx, gW, gb, gA, gV, gc, z, h, o, p):
    """Mean cross-entropy over the inputs ``X[idx]`` and its gradient (written to ``g*``, zeroed here).

    Returns the mean loss and the number of correct predictions (argmax of the logits).
    """
    H, D = W.shape
    gW[:, :] = 0.0
    gb[:] = 0.0
    gA[:] = 0.0
    gV[:, :] = 0.0
    gc[:] = 0.0
    total = 0.0
    correct = 0
    n = idx.shape[0]
    for t in range(n):
        i = idx[t]
        x = X[i]
        forward(W, b, A, V, c, identity, x, z, h, o)
        best = 0
        for k in range(o.shape[0]):
            if o[k] > o[best]:
                best = k
        correct += best == y[i]
        total += _log_softmax_grad(o, y[i], p)
        for k in range(V.shape[0]):
            gc[k] += p[k]
            for j in range(H):
                gV[k, j] += p[k] * h[j]
        for j in range(H):
            dh = 0.0
            for k in range(V.shape[0]):
                dh += V[k, j] * p[k]
            if z[j] > 0.0:
                dz = dh
            else:
                dz = A[j] * dh
                gA[j] += dh * z[j]
            gb[j] += dz
            for l in range(D):
                gW[j, l] += dz * x[l]
    inv = 1.0 / n
    gW *= inv
    gb *= inv
    gA *= inv
    gV *= inv
    gc *= inv
    return total * inv, correct


@njit(**_JIT)
def evaluate(W, b, A, V, c, identity, X, y, z, h, o, p):
    """(mean cross-entropy, error rate) on all of ``X``, ``y``."""
    total = 0.0
    wrong = 0
    for i in range(X.shape[0]):
        forward(W, b, A, V, c, identity, X[i], z, h, o)
        best = 0
        for k in range(o.shape[0]):
            if o[k] > o[best]:
                best = k
        wrong += best != y[i]
        total += _log_softmax_grad(o, y[i], p)
    return total / X.shape[0], wrong / X.shape[0]


@njit(**_JIT)
def init_weights(seed, stream, W, V, scale_w, scale_v):
    """Gaussian initial weights: row j of W is ``scale_w`` times normal row ``j``, row k of V
    ``scale_v`` times normal row ``H + k`` of the stream (tag TAG_CLS_INIT)."""
    H = W.shape[0]
    for j in range(H):
        rng.normal_row(seed, stream, np.uint64(j), rng.TAG_CLS_INIT, W[j])
        for l in range(W.shape[1]):
            W[j, l] *= scale_w
    for k in range(V.shape[0]):
        rng.normal_row(seed, stream, np.uint64(H + k), rng.TAG_CLS_INIT, V[k])
        for j in range(H):
            V[k, j] *= scale_v


@njit(**_JIT)
def _shuffle(perm, seed, stream, epoch):
    n = perm.shape[0]
    for i in range(n):
        perm[i] = i
    for i in range(n - 1, 0, -1):
        m = rng.randbelow(seed, stream, np.uint64(epoch), rng.counter1(rng.TAG_CLS_SHUFFLE, i), i + 1)
        t = perm[i]
        perm[i] = perm[m]
        perm[m] = t


@njit(**_JIT)
def _finite_below(a, lim):
    for v in a.ravel():
        if not (abs(v) <= lim):
            return False
    return True


@njit(nogil=True, **_JIT)
def train_block(lo, hi, W, b, A, V, c, identity, learn_alpha, X, y, Xte, yte, seed, streams, step,
                batch, epochs, limit, train_loss, train_err, test_err, status):
    """Train repeats ``lo .. hi - 1`` in place (W (R, H, D), b (R, H), A (R, H), V (R, C, H), c (R, C));
    records (R, epochs + 1) at the start and after every epoch (NaN after a divergence)."""
    R, H, D = W.shape
    C = V.shape[1]
    n = X.shape[0]
    z = np.empty(H)
    h = np.empty(H)
    o = np.empty(C)
    p = np.empty(C)
    gW = np.empty((H, D))
    gb = np.empty(H)
    gA = np.empty(H)
    gV = np.empty((C, H))
    gc = np.empty(C)
    perm = np.empty(n, dtype=np.int64)
    for r in range(lo, hi):
        Wr, br, Ar, Vr, cr = W[r], b[r], A[r], V[r], c[r]
        train_loss[r, :] = np.nan
        train_err[r, :] = np.nan
        test_err[r, :] = np.nan
        train_loss[r, 0], train_err[r, 0] = evaluate(Wr, br, Ar, Vr, cr, identity, X, y, z, h, o, p)
        test_err[r, 0] = evaluate(Wr, br, Ar, Vr, cr, identity, Xte, yte, z, h, o, p)[1]
        st = OK
        for e in range(epochs):
            _shuffle(perm, seed, streams[r], e)
            for s0 in range(0, n, batch):
                idx = perm[s0:min(s0 + batch, n)]
                lb, _ = loss_grad(Wr, br, Ar, Vr, cr, identity, X, y, idx, gW, gb, gA, gV, gc, z, h, o, p)
                if not math.isfinite(lb):
                    st = DIVERGED
                    break
                Wr -= step * gW
                br -= step * gb
                Vr -= step * gV
                cr -= step * gc
                if learn_alpha:
                    Ar -= step * gA
                if not (_finite_below(Wr, limit) and _finite_below(Vr, limit) and _finite_below(br, limit)
                        and _finite_below(cr, limit) and _finite_below(Ar, limit)):
                    st = DIVERGED
                    break
            if st != OK:
                break
            lt, et = evaluate(Wr, br, Ar, Vr, cr, identity, X, y, z, h, o, p)
            if not math.isfinite(lt):
                st = DIVERGED
                break
            train_loss[r, e + 1] = lt
            train_err[r, e + 1] = et
            test_err[r, e + 1] = evaluate(Wr, br, Ar, Vr, cr, identity, Xte, yte, z, h, o, p)[1]
        status[r] = st
