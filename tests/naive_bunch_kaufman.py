"""Slow NumPy oracle of the Bunch-Kaufman factorisation with the pivoting of LAPACK ``dsytf2``
(right-looking: the trailing matrix is updated in full after every pivot). The compiled factor
must make the same pivot decisions; its factor must reproduce ``S[perm][:, perm] = L D L^T``."""

import numpy as np

ALPHA = (1.0 + np.sqrt(17.0)) / 8.0


def bunch_kaufman(S):
    """``(perm, blk, nneg, nzero, L, D)`` with ``S[perm][:, perm] = L D L^T``: unit lower ``L``,
    block-diagonal ``D``; ``blk[k]`` is 1 or 2 at a block's first index and 0 at the second;
    ``nneg`` the negative eigenvalues of D, ``nzero`` the exactly zero 1x1 pivots."""
    A = np.array(S, dtype=float)
    n = A.shape[0]
    perm = np.arange(n)
    blk = np.zeros(n, dtype=int)
    L = np.eye(n)
    D = np.zeros((n, n))
    nneg = nzero = 0
    k = 0
    while k < n:
        absakk = abs(A[k, k])
        below = np.abs(A[k + 1:, k])
        imax = k + 1 + int(np.argmax(below)) if below.size else k
        colmax = float(below.max()) if below.size else 0.0
        if max(absakk, colmax) == 0.0:
            blk[k] = 1
            nzero += 1
            k += 1
            continue
        kstep, kp = 1, k
        if absakk < ALPHA * colmax:
            row = np.abs(A[imax, k:])
            row[imax - k] = 0.0
            rowmax = float(row.max())
            if absakk >= ALPHA * colmax * (colmax / rowmax):
                kp = k
            elif abs(A[imax, imax]) >= ALPHA * rowmax:
                kp = imax
            else:
                kp, kstep = imax, 2
        kk = k + kstep - 1
        if kp != kk:
            idx = np.arange(n)
            idx[kk], idx[kp] = kp, kk
            A = A[idx][:, idx]
            L[[kk, kp], :k] = L[[kp, kk], :k]
            perm[[kk, kp]] = perm[[kp, kk]]
        e = k + kstep
        Dk = A[k:e, k:e].copy()
        D[k:e, k:e] = Dk
        C = A[e:, k:e]
        Lk = C @ np.linalg.inv(Dk)
        L[e:, k:e] = Lk
        A[e:, e:] -= Lk @ C.T
        blk[k] = kstep
        if kstep == 2:
            det = Dk[0, 0] * Dk[1, 1] - Dk[1, 0] ** 2
            nneg += 1 if det < 0.0 else (2 if Dk[0, 0] + Dk[1, 1] < 0.0 else 0)
        elif Dk[0, 0] < 0.0:
            nneg += 1
        k = e
    return perm, blk, nneg, nzero, L, D
