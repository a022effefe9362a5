"""The symmetric indefinite factorisation ``P (S + shift I) P^T = L D L^T`` (Bunch-Kaufman, D with
1x1 and 2x2 blocks) and the spectrum nearest zero built on it (CPU, Numba, no BLAS or LAPACK).

The inertia of ``D`` (Sylvester's law) counts the eigenvalues below ``-shift`` and within
``[-shift, shift)``: the Morse index and nullity of a Hessian without an eigendecomposition.
:func:`spectrum` adds a power step for ``max|lambda|`` and block inverse iteration on the factor's
solves with a Rayleigh-Ritz step for the few eigenpairs nearest zero. The continuation kernel
(:mod:`.arclength`) reuses each point's factor for the next point's chord corrector.
"""

import math

import numpy as np
from numba import njit

_JIT = dict(cache=True, fastmath={"reassoc", "contract"})
#: Bunch-Kaufman's pivot threshold ``(1 + sqrt 17) / 8`` (bounds the growth of the factor).
BK_ALPHA = (1.0 + math.sqrt(17.0)) / 8.0
#: Columns per panel of :func:`bk_factor` (its trailing update is a rank-8 product with the
#: multipliers in registers; :func:`_trailing` is written out for exactly 8).
BK_PANEL = 8


# ------------------------------------------------------------------------------------------------
# Bunch-Kaufman LDL^T
# ------------------------------------------------------------------------------------------------

@njit(inline="always", **_JIT)
def _swap_entries(x, i, j):
    t = x[i]
    x[i] = x[j]
    x[j] = t


@njit(inline="always", **_JIT)
def _absmax(x, k, n):
    """``(max |x[i]|, the first i attaining it)`` over ``i in k..n-1`` (``(0, k)`` if none is
    above 0; NaN entries are passed over), as a running ``>`` search finds it."""
    v = x[k:]
    m = n - k
    big = 0.0
    at = 0
    t = 0
    while t + 8 <= m:
        # a block of 8 first: one compare per block unless it holds a new maximum
        bm = max(max(max(abs(v[t]), abs(v[t + 1])), max(abs(v[t + 2]), abs(v[t + 3]))),
                 max(max(abs(v[t + 4]), abs(v[t + 5])), max(abs(v[t + 6]), abs(v[t + 7]))))
        if bm > big:
            for u in range(t, t + 8):
                if abs(v[u]) > big:
                    big = abs(v[u])
                    at = u
        t += 8
    for u in range(t, m):
        if abs(v[u]) > big:
            big = abs(v[u])
            at = u
    return big, k + at


@njit(inline="always", **_JIT)
def _column(F, Wt, k0, j, k, n, out):
    """Column ``j`` of the matrix left after ``k`` eliminated columns, rows ``k..n-1``, into ``out``:
    the trailing matrix as of the panel's start ``k0`` (upper triangle of ``F``) less the panel's
    columns so far, ``sum_{k0 <= c < k} W[i, c] L[j, c]`` (``W^T`` rows in ``Wt``, ``L[j, c]`` at
    ``F[c, j]``). The passes run over a multiple of 8 rows ending at ``n``: the rows below ``k``
    they also touch are scratch (no scalar remainder loop)."""
    for i in range(k, j):
        out[i] = F[i, j]
    src = F[j, j:]
    dst = out[j:]
    for t in range(n - j):
        dst[t] = src[t]
    i0 = max(0, n - ((n - k + 7) // 8) * 8)
    m = n - i0
    o = out[i0:]
    c = k0
    while c + 4 <= k:
        l0 = F[c, j]
        l1 = F[c + 1, j]
        l2 = F[c + 2, j]
        l3 = F[c + 3, j]
        r0 = Wt[c - k0, i0:]
        r1 = Wt[c + 1 - k0, i0:]
        r2 = Wt[c + 2 - k0, i0:]
        r3 = Wt[c + 3 - k0, i0:]
        for t in range(m):
            o[t] -= r0[t] * l0 + r1[t] * l1 + r2[t] * l2 + r3[t] * l3
        c += 4
    if c + 2 <= k:
        l0 = F[c, j]
        l1 = F[c + 1, j]
        r0 = Wt[c - k0, i0:]
        r1 = Wt[c + 1 - k0, i0:]
        for t in range(m):
            o[t] -= r0[t] * l0 + r1[t] * l1
        c += 2
    if c < k:
        l0 = F[c, j]
        r0 = Wt[c - k0, i0:]
        for t in range(m):
            o[t] -= r0[t] * l0


@njit(cache=True, fastmath={"contract"})
def _trailing(F, Wt, k0, k1, n):
    """``S[i, j] -= sum_{k0 <= c < k1} L[i, c] W[j, c]`` on the upper triangle ``k1 <= i <= j``
    (``L[i, c]`` at ``F[c, i]``, the panel's ``W^T`` rows in ``Wt``). A panel has 7 or 8 columns
    (:func:`bk_factor` stops at 7 unless a 2x2 block takes the 8th); with 7 the eighth multiplier is
    an entry of the trailing S (finite) against a zero row of ``Wt``. Two rows
    per pass over the eight rows of ``Wt`` (sixteen multipliers held in registers), each pass
    starting low enough to run over a multiple of 8 columns; the few entries left of the diagonal
    it also writes are in the strict lower triangle, scratch here. No reassociation: the sums keep
    their written tree (short dependency chains)."""
    w0 = Wt[0]
    w1 = Wt[1]
    w2 = Wt[2]
    w3 = Wt[3]
    w4 = Wt[4]
    w5 = Wt[5]
    w6 = Wt[6]
    w7 = Wt[7]
    i = k1
    while i < n:
        # pc is 7 or 8: row k0 + 7 is then a trailing row of S (finite), its W^T row zero
        a0 = F[k0, i]
        a1 = F[k0 + 1, i]
        a2 = F[k0 + 2, i]
        a3 = F[k0 + 3, i]
        a4 = F[k0 + 4, i]
        a5 = F[k0 + 5, i]
        a6 = F[k0 + 6, i]
        a7 = F[k0 + 7, i]
        s = max(0, n - ((n - i + 7) // 8) * 8)
        m = n - s
        ra = F[i, s:]
        x0 = w0[s:]
        x1 = w1[s:]
        x2 = w2[s:]
        x3 = w3[s:]
        x4 = w4[s:]
        x5 = w5[s:]
        x6 = w6[s:]
        x7 = w7[s:]
        if i + 1 == n:  # the last row on its own
            for t in range(m):
                ra[t] -= (((a0 * x0[t] + a1 * x1[t]) + (a2 * x2[t] + a3 * x3[t]))
                          + ((a4 * x4[t] + a5 * x5[t]) + (a6 * x6[t] + a7 * x7[t])))
            break
        b0 = F[k0, i + 1]
        b1 = F[k0 + 1, i + 1]
        b2 = F[k0 + 2, i + 1]
        b3 = F[k0 + 3, i + 1]
        b4 = F[k0 + 4, i + 1]
        b5 = F[k0 + 5, i + 1]
        b6 = F[k0 + 6, i + 1]
        b7 = F[k0 + 7, i + 1]
        rb = F[i + 1, s:]
        for t in range(m):
            y0 = x0[t]
            y1 = x1[t]
            y2 = x2[t]
            y3 = x3[t]
            y4 = x4[t]
            y5 = x5[t]
            y6 = x6[t]
            y7 = x7[t]
            ra[t] -= ((a0 * y0 + a1 * y1) + (a2 * y2 + a3 * y3)) + ((a4 * y4 + a5 * y5) + (a6 * y6 + a7 * y7))
            rb[t] -= ((b0 * y0 + b1 * y1) + (b2 * y2 + b3 * y3)) + ((b4 * y4 + b5 * y5) + (b6 * y6 + b7 * y7))
        i += 2


@njit(**_JIT)
def bk_factor(F, perm, blk, n):
    """Factor the symmetric ``S`` given in the upper triangle of ``F`` (row i holds ``S[i, i:]``):
    ``S[perm][:, perm] = L D L^T`` with unit lower L (``L[r, c]`` returned at ``F[c, r]``) and
    block-diagonal D (1x1 and 2x2 blocks, on F's diagonal and first superdiagonal; ``blk[k]`` = 1 or
    2 at a block's first index, 0 at the second). F's strict lower triangle is scratch: the band of
    8 entries left of the diagonal is overwritten with values of no meaning.

    The partial pivoting of Bunch and Kaufman (1977), as LAPACK ``dsytf2``, in the panel form of
    ``dlasyf``: within a panel of up to :data:`BK_PANEL` columns each column is formed when it is
    reached (the pivot search needs it), from the trailing matrix as of the panel's start less the
    panel's columns so far (``W = L D`` of the panel in a small scratch); at the panel's end one
    rank-``BK_PANEL`` update brings the trailing upper triangle up to date, with the multipliers in
    registers. Every inner loop runs over contiguous rows.

    Returns ``(nneg, nzero)``: negative eigenvalues of D (= of S, by Sylvester's law of inertia) and
    exactly zero 1x1 pivots (S singular: the solves are then undefined).
    """
    Wt = np.zeros((BK_PANEL, n))
    col = np.empty(n)
    colp = np.empty(n)
    for i in range(n):
        perm[i] = i
        # the band left of the diagonal that the aligned passes of _trailing touch: finite values
        for j in range(max(0, i - 8), i):
            F[i, j] = 0.0
    nneg = 0
    nzero = 0
    k = 0
    while k < n:
        k0 = k
        while k < n and k - k0 < BK_PANEL - 1:  # a 2x2 block may take the panel's last column
            _column(F, Wt, k0, k, k, n, col)
            absakk = abs(col[k])
            colmax, imax = _absmax(col, k + 1, n)
            if max(absakk, colmax) == 0.0:
                blk[k] = 1
                nzero += 1
                Lk = F[k, k:]
                Wk = Wt[k - k0]
                for t in range(n - k):
                    Lk[t] = 0.0
                for t in range(n):
                    Wk[t] = 0.0
                k += 1
                continue
            kstep = 1
            kp = k
            if absakk < BK_ALPHA * colmax:
                _column(F, Wt, k0, imax, k, n, colp)
                # colmax is entry k of this column too in exact arithmetic: the floor keeps the
                # ratio below finite where rounding makes the recomputed entry zero
                rowmax = max(colmax, _absmax(colp, k, imax)[0], _absmax(colp, imax + 1, n)[0])
                if absakk >= BK_ALPHA * colmax * (colmax / rowmax):
                    kp = k
                elif abs(colp[imax]) >= BK_ALPHA * rowmax:
                    kp = imax
                else:
                    kp = imax
                    kstep = 2
            kk = k + kstep - 1
            if kp != kk:
                # symmetric interchange of kk < kp: the trailing upper triangle, the rows of L so
                # far (L^T above the diagonal) and of the panel's W
                for i in range(kk):
                    F[i, kk], F[i, kp] = F[i, kp], F[i, kk]
                for i in range(kk + 1, kp):
                    F[kk, i], F[i, kp] = F[i, kp], F[kk, i]
                F[kk, kk], F[kp, kp] = F[kp, kp], F[kk, kk]
                for i in range(kp + 1, n):
                    F[kk, i], F[kp, i] = F[kp, i], F[kk, i]
                for c in range(k - k0):
                    Wt[c, kk], Wt[c, kp] = Wt[c, kp], Wt[c, kk]
                _swap_entries(perm, kk, kp)
                if kstep == 1:  # the pivot column is imax's, its entries interchanged
                    for i in range(k, n):
                        col[i] = colp[i]
                    _swap_entries(col, k, kp)
                else:
                    _swap_entries(col, kk, kp)
                    _swap_entries(colp, kk, kp)
            if kstep == 1:
                dk = col[k]
                blk[k] = 1
                if dk < 0.0:
                    nneg += 1
                F[k, k] = dk
                inv = 1.0 / dk
                Lk = F[k, k + 1:]
                Wk = Wt[k - k0, k + 1:]
                src = col[k + 1:]
                for t in range(n - 1 - k):
                    Wk[t] = src[t]
                    Lk[t] = src[t] * inv
            else:
                d11 = col[k]
                d21 = col[k + 1]
                d22 = colp[k + 1]
                det = d11 * d22 - d21 * d21
                blk[k] = 2
                blk[k + 1] = 0
                if det < 0.0:
                    nneg += 1
                elif d11 + d22 < 0.0:
                    nneg += 2
                F[k, k] = d11
                F[k, k + 1] = d21
                F[k + 1, k + 1] = d22
                L0 = F[k, k + 2:]
                L1 = F[k + 1, k + 2:]
                W0 = Wt[k - k0, k + 2:]
                W1 = Wt[k + 1 - k0, k + 2:]
                u0 = col[k + 2:]
                w0 = colp[k + 2:]
                for t in range(n - 2 - k):
                    u = u0[t]
                    w = w0[t]
                    W0[t] = u
                    W1[t] = w
                    L0[t] = (d22 * u - d21 * w) / det
                    L1[t] = (d11 * w - d21 * u) / det
            k += kstep
        if k < n:
            for c in range(k - k0, BK_PANEL):  # rows past the panel: zero terms in _trailing
                Wc = Wt[c]
                for t in range(n):
                    Wc[t] = 0.0
            _trailing(F, Wt, k0, k, n)
    return nneg, nzero


@njit(inline="always", **_JIT)
def _solve_d(F, blk, y, n):
    """``D w = z`` in place (D's 1x1 and 2x2 blocks from :func:`bk_factor`)."""
    k = 0
    while k < n:
        if blk[k] == 1:
            y[k] = y[k] / F[k, k]
            k += 1
        else:
            d11 = F[k, k]
            d21 = F[k, k + 1]
            d22 = F[k + 1, k + 1]
            det = d11 * d22 - d21 * d21
            u = y[k]
            w = y[k + 1]
            y[k] = (d22 * u - d21 * w) / det
            y[k + 1] = (d11 * w - d21 * u) / det
            k += 2


@njit(**_JIT)
def bk_solve(F, perm, blk, b, y, n):
    """Solve ``S x = b`` from the factors of :func:`bk_factor`; ``x`` into ``b`` (``y`` scratch)."""
    for a in range(n):
        y[a] = b[perm[a]]
    k = 0
    while k < n:  # L z = y
        e = k + (1 if blk[k] == 1 else 2)
        ye = y[e:]
        for c in range(k, e):
            yc = y[c]
            row = F[c, e:]
            for t in range(n - e):
                ye[t] -= row[t] * yc
        k = e
    _solve_d(F, blk, y, n)
    k = n - 1
    while k >= 0:  # L^T x = w
        s = k if blk[k] != 0 else k - 1
        e = k + 1
        ye = y[e:]
        for c in range(s, e):
            row = F[c, e:]
            acc = 0.0
            for t in range(n - e):
                acc += row[t] * ye[t]
            y[c] -= acc
        k = s - 1
    for a in range(n):
        b[perm[a]] = y[a]


@njit(**_JIT)
def bk_solve_many(F, perm, blk, B, Y, n, q):
    """Solve ``S X = B^T`` for the ``q`` right-hand sides held as the rows of ``B`` (q, n), from the
    factors of :func:`bk_factor`: the solutions into the rows of ``B`` (``Y`` (q, n) scratch). The
    arithmetic of :func:`bk_solve` per vector; each row of the factor is read once for four vectors
    at a time (the substitutions are bound by those reads, not by the multiply-adds)."""
    for a in range(q):
        Ba = B[a]
        Ya = Y[a]
        for i in range(n):
            Ya[i] = Ba[perm[i]]
    k = 0
    while k < n:  # L Z = Y
        e = k + (1 if blk[k] == 1 else 2)
        m = n - e
        for c in range(k, e):
            row = F[c, e:]
            a = 0
            while a + 4 <= q:
                s0 = Y[a, c]
                s1 = Y[a + 1, c]
                s2 = Y[a + 2, c]
                s3 = Y[a + 3, c]
                y0 = Y[a, e:]
                y1 = Y[a + 1, e:]
                y2 = Y[a + 2, e:]
                y3 = Y[a + 3, e:]
                for t in range(m):
                    f = row[t]
                    y0[t] -= f * s0
                    y1[t] -= f * s1
                    y2[t] -= f * s2
                    y3[t] -= f * s3
                a += 4
            while a < q:
                s0 = Y[a, c]
                y0 = Y[a, e:]
                for t in range(m):
                    y0[t] -= row[t] * s0
                a += 1
        k = e
    for a in range(q):
        _solve_d(F, blk, Y[a], n)
    k = n - 1
    while k >= 0:  # L^T X = W
        s = k if blk[k] != 0 else k - 1
        e = k + 1
        m = n - e
        for c in range(s, e):
            row = F[c, e:]
            a = 0
            while a + 4 <= q:
                y0 = Y[a, e:]
                y1 = Y[a + 1, e:]
                y2 = Y[a + 2, e:]
                y3 = Y[a + 3, e:]
                acc0 = 0.0
                acc1 = 0.0
                acc2 = 0.0
                acc3 = 0.0
                for t in range(m):
                    f = row[t]
                    acc0 += f * y0[t]
                    acc1 += f * y1[t]
                    acc2 += f * y2[t]
                    acc3 += f * y3[t]
                Y[a, c] -= acc0
                Y[a + 1, c] -= acc1
                Y[a + 2, c] -= acc2
                Y[a + 3, c] -= acc3
                a += 4
            while a < q:
                y0 = Y[a, e:]
                acc = 0.0
                for t in range(m):
                    acc += row[t] * y0[t]
                Y[a, c] -= acc
                a += 1
        k = s - 1
    for a in range(q):
        Ba = B[a]
        Ya = Y[a]
        for i in range(n):
            Ba[perm[i]] = Ya[i]


@njit(**_JIT)
def inertia(S, shift):
    """``(negative, zero pivots)`` of ``S + shift I`` (symmetric (n, n)) by :func:`bk_factor`."""
    n = S.shape[0]
    F = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            F[i, j] = S[i, j]
        F[i, i] += shift
    perm = np.empty(n, dtype=np.int64)
    blk = np.empty(n, dtype=np.int64)
    return bk_factor(F, perm, blk, n)


# ------------------------------------------------------------------------------------------------
# Spectrum nearest zero
# ------------------------------------------------------------------------------------------------

@njit(**_JIT)
def _lam_max(H, v0, iters, top):
    """Power iteration for ``max|lambda|`` from ``v0`` (the vector into ``top``), never below the
    largest ``|H_ii|`` (also a lower bound of ``max|lambda|``: it keeps the estimate up where the top
    eigenvector has just changed and the iteration, started from the old one, has not followed)."""
    n = H.shape[0]
    v = v0 / math.sqrt(np.sum(v0 * v0))
    w = np.empty(n)
    lam = 0.0
    for i in range(n):
        lam = max(lam, abs(H[i, i]))
    for _ in range(iters):
        for i in range(n):
            Hi = H[i]
            acc = 0.0
            for j in range(n):
                acc += Hi[j] * v[j]
            w[i] = acc
        nw = math.sqrt(np.sum(w * w))
        if nw == 0.0:
            break
        lam = max(lam, nw)
        v = w / nw
    top[:n] = v
    return lam


@njit(inline="always", **_JIT)
def _project_out(Q, j, n):
    """Row ``j`` of ``Q`` minus its projections on rows ``0..j-1`` (one classical Gram-Schmidt pass)."""
    Qj = Q[j]
    for i in range(j):
        Qi = Q[i]
        r = 0.0
        for l in range(n):
            r += Qi[l] * Qj[l]
        for l in range(n):
            Qj[l] -= r * Qi[l]


@njit(**_JIT)
def _orthonormalise(Q, n, q):
    """Columns of ``Q`` (q, n) (stored as rows) made orthonormal in place: Gram-Schmidt twice over
    (CGS2); a column that vanishes is replaced by a coordinate vector."""
    for j in range(q):
        Qj = Q[j]
        _project_out(Q, j, n)
        _project_out(Q, j, n)
        nj = math.sqrt(np.sum(Qj * Qj))
        if not nj > 1e-300 or not math.isfinite(nj):
            Qj[:] = 0.0
            Qj[j % n] = 1.0
            _project_out(Q, j, n)
            nj = math.sqrt(np.sum(Qj * Qj))
        for l in range(n):
            Qj[l] /= nj


@njit(**_JIT)
def _jacobi_eigh(A, q, w, Y):
    """Eigenvalues (ascending, into ``w``) and vectors (columns of ``Y``) of the small symmetric
    ``A`` (q, q), by cyclic Jacobi rotations (overwrites ``A``)."""
    V = np.eye(q)
    for _ in range(100):
        off = 0.0
        tot = 0.0
        for i in range(q):
            for j in range(q):
                tot += A[i, j] * A[i, j]
                if i != j:
                    off += A[i, j] * A[i, j]
        if off <= 1e-32 * tot or off == 0.0:
            break
        for i in range(q - 1):
            for j in range(i + 1, q):
                if A[i, j] == 0.0:
                    continue
                theta = (A[j, j] - A[i, i]) / (2.0 * A[i, j])
                t = (1.0 if theta >= 0.0 else -1.0) / (abs(theta) + math.sqrt(theta * theta + 1.0))
                c = 1.0 / math.sqrt(t * t + 1.0)
                sn = t * c
                for l in range(q):
                    ail = A[i, l]
                    ajl = A[j, l]
                    A[i, l] = c * ail - sn * ajl
                    A[j, l] = sn * ail + c * ajl
                for l in range(q):
                    ali = A[l, i]
                    alj = A[l, j]
                    A[l, i] = c * ali - sn * alj
                    A[l, j] = sn * ali + c * alj
                for l in range(q):
                    vli = V[l, i]
                    vlj = V[l, j]
                    V[l, i] = c * vli - sn * vlj
                    V[l, j] = sn * vli + c * vlj
    d = np.empty(q)
    for i in range(q):
        d[i] = A[i, i]
    order = np.argsort(d)
    for a in range(q):
        w[a] = d[order[a]]
        for l in range(q):
            Y[l, a] = V[l, order[a]]


@njit(**_JIT)
def spectrum(H, eig_rtol, V0, v0, lam_iters, sweeps, mu, vecs, top, F, perm, blk):
    """Morse index, nullity and the ``q`` eigenpairs of symmetric ``H`` nearest zero.

    ``tau = eig_rtol * max|lambda|`` (power iteration from ``v0``, ``lam_iters`` steps); the index is
    the number of negative pivots of ``H + tau I``; ``sweeps`` of block inverse iteration from ``V0``
    (n, q) on the same factor, then Rayleigh-Ritz: eigenvalues into ``mu`` (q,) ascending, vectors
    into ``vecs`` (n, q), the power vector into ``top``; the factor into ``F``, ``perm``, ``blk``
    (:func:`bk_factor`: the chord corrector of the next point solves with it). Returns
    ``(index, nullity, tau, lam)``. No BLAS or LAPACK call (their threads contend on a busy machine;
    at these sizes loops are as fast).
    """
    n = H.shape[0]
    q = V0.shape[1]
    lam = _lam_max(H, v0, lam_iters, top)
    scale = lam if lam > 0.0 else 1.0
    tol = eig_rtol * scale
    for i in range(n):
        for j in range(i, n):
            F[i, j] = H[i, j]
        F[i, i] += tol
    index, nzero = bk_factor(F, perm, blk, n)
    if nzero != 0:
        # H + tau I exactly singular: -tau is an eigenvalue; a second shift keeps the solves finite
        for i in range(n):
            for j in range(i, n):
                F[i, j] = H[i, j]
            F[i, i] += 2.0 * tol
        bk_factor(F, perm, blk, n)
    Q = np.ascontiguousarray(V0.T)  # the vectors as rows
    _orthonormalise(Q, n, q)
    Z = np.empty((q, n))
    Y = np.empty((q, n))
    for _ in range(sweeps):
        Z[:, :] = Q
        bk_solve_many(F, perm, blk, Z, Y, n, q)
        if not np.all(np.isfinite(Z)):
            break
        Q[:, :] = Z
        _orthonormalise(Q, n, q)
    HQ = np.empty((q, n))
    for c in range(q):
        Qc = Q[c]
        for i in range(n):
            Hi = H[i]
            acc = 0.0
            for j in range(n):
                acc += Hi[j] * Qc[j]
            HQ[c, i] = acc
    R = np.empty((q, q))
    for a in range(q):
        for b in range(q):
            acc = 0.0
            for i in range(n):
                acc += Q[a, i] * HQ[b, i]
            R[a, b] = acc
    for a in range(q):
        for b in range(a):
            sym = 0.5 * (R[a, b] + R[b, a])
            R[a, b] = sym
            R[b, a] = sym
    w = np.empty(q)
    Y = np.empty((q, q))
    _jacobi_eigh(R, q, w, Y)
    mu[:] = w
    for i in range(n):
        for a in range(q):
            acc = 0.0
            for b in range(q):
                acc += Q[b, i] * Y[b, a]
            vecs[i, a] = acc
    nullity = 0
    for i in range(q):
        if abs(w[i]) <= tol:
            nullity += 1
    return index, nullity, tol, lam
