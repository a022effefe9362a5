"""Train paper 002's one-hidden-layer classifier by minibatch SGD, a batch of seeded repeats at once."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .. import _validate as v
from ..config import CLASSIFIER_DIVERGENCE_LIMIT, CLASSIFIER_MAX_BYTES
from ..kernels.montecarlo import threaded
from ..kernels.rng import as_key
from ..results import display
from ..results.io import Result
from ..results.status import status_counts
from . import kernel as k

#: The PReLU paper's initial slope (He et al. 2015).
PRELU_INIT = 0.25


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class ClassifierResult(Result):
    """Outcome of :func:`train_classifier`: learning curves and final weights of each repeat.

    Attributes
    ----------
    train_loss, train_error, test_error : ndarray, shape (repeats, epochs + 1)
        Mean cross-entropy and error rate on the training set, error rate on the test set, at the start
        and after every epoch. NaN after a repeat diverged (see ``status``).
    status : ndarray of int8, shape (repeats,)
        :class:`dynsys.Status`: CONVERGED (all epochs done) or DIVERGED (non-finite loss or a parameter
        above ``config.CLASSIFIER_DIVERGENCE_LIMIT``).
    W, b, alpha, V, c : ndarray
        Final weights (repeats, H, D), hidden biases (repeats, H), PReLU slopes (repeats, H), read-out
        (repeats, 10, H) and its biases (repeats, 10); for a diverged repeat, those of the step that diverged.
    activation, identity, init, learn_alpha, step, batch_size, epochs, seed
        The call's arguments.
    """

    train_loss: np.ndarray
    train_error: np.ndarray
    test_error: np.ndarray
    status: np.ndarray
    W: np.ndarray
    b: np.ndarray
    alpha: np.ndarray
    V: np.ndarray
    c: np.ndarray
    activation: str
    identity: bool
    init: str
    learn_alpha: bool
    step: float
    batch_size: int
    epochs: int
    seed: int

    _call_fields = ("activation", "identity", "init", "learn_alpha", "step", "batch_size", "epochs", "seed")

    def _headline(self) -> str:
        fin = self.test_error[:, -1]
        ok = np.isfinite(fin)
        err = f"final test error mean {np.mean(fin[ok]):.4f}" if ok.any() else "no repeat finished"
        return (f"{self.status.size} repeats, {self.activation}{' + identity' * self.identity}, {self.init} init, "
                f"step {self.step:g}, batch {self.batch_size}, {self.epochs} epochs: {display.counts(self.status)}; {err}")

    def status_counts(self) -> dict[str, int]:
        """How many repeats ended in each status, by name."""
        return status_counts(self.status)


def _data(X, y, name):
    X = v.finite(v.real_array(X, f"X_{name}"), f"X_{name}")
    try:
        y = np.asarray(y)
    except ValueError:      # ragged
        raise ValueError(f"y_{name} must hold integer labels 0..9, one per row of X_{name}; got {y!r}") from None
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X_{name} must have shape (n, D) with n >= 1; got {X.shape}")
    if y.shape != (X.shape[0],) or y.dtype.kind not in "iu" or y.min() < 0 or y.max() > 9:
        raise ValueError(f"y_{name} must hold {X.shape[0]} integer labels 0..9 (one per row of X_{name}); "
                         f"got shape {y.shape}, dtype {y.dtype}")
    return np.ascontiguousarray(X), np.ascontiguousarray(y, dtype=np.int64)


def train_classifier(X_train, y_train, X_test, y_test, *, activation="prelu", identity=False, init="random",
                     learn_alpha=True, step=0.1, batch_size=32, epochs=30, repeats=5, seed=0):
    """Minibatch SGD on paper 002's one-hidden-layer classifier (its stages 1-3).

    ``z = (W + I) x + b`` with the identity mapping (``W x + b`` without), hidden width = input
    dimension D, ``h = PReLU_alpha(z)``, logits ``V h + c`` over 10 classes, softmax cross-entropy. Each
    epoch reshuffles the training set and steps through it in batches of ``batch_size`` (the last one
    shorter); each step moves every parameter by ``-step`` times the batch-mean gradient.

    Parameters
    ----------
    X_train, y_train, X_test, y_test : array_like
        Inputs (n, D) (finite) and labels 0..9 (n,).
    activation : {"prelu", "relu"}
        ReLU is PReLU with slope 0, never trained.
    identity : bool
        Add the identity mapping (the input to the hidden pre-activation).
    init : {"random", "zero"}
        ``"random"``: W ~ N(0, 1/D), V ~ N(0, 1/H) entrywise, biases 0; ``"zero"``: every weight and
        bias 0 (both layers). PReLU slopes start at 0.25 either way.
    learn_alpha : bool, default True
        Train the per-unit PReLU slopes (as in the PReLU paper) or keep them at 0.25.
    step : float, default 0.1
    batch_size : int, default 32
    epochs : int, default 30
    repeats : int, default 5
        Independent repeats; repeat r draws its weights and shuffles from the stream ``(seed, r)``.
    seed : int, default 0

    Returns
    -------
    ClassifierResult
        A repeat whose rate diverges gets status DIVERGED (its later records NaN); the others go on.
    """
    X, y = _data(X_train, y_train, "train")
    Xte, yte = _data(X_test, y_test, "test")
    if Xte.shape[1] != X.shape[1]:
        raise ValueError(f"X_test must have D = {X.shape[1]} columns like X_train; got {Xte.shape[1]}")
    activation = v.choice(activation, "activation", ("prelu", "relu"))
    init = v.choice(init, "init", ("random", "zero"))
    for name, flag in (("identity", identity), ("learn_alpha", learn_alpha)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False; got {flag!r}")
    step = v.real_scalar(step, "step", lo=0.0, lo_open=True)
    batch_size = v.positive_int(batch_size, "batch_size", maximum=np.iinfo(np.int64).max, why="an int64")
    epochs = v.positive_int(epochs, "epochs")
    repeats = v.positive_int(repeats, "repeats")
    D = X.shape[1]
    need = 8 * repeats * (D * D + 10 * D + 2 * D + 10 + 3 * (epochs + 1))
    if need > CLASSIFIER_MAX_BYTES:
        raise ValueError(f"repeats = {repeats} and epochs = {epochs} need {need / 2**30:.3g} GiB of weights and "
                         f"curves, above config.CLASSIFIER_MAX_BYTES = {CLASSIFIER_MAX_BYTES / 2**30:.3g} GiB: "
                         f"lower repeats or epochs")
    key = as_key(seed, "seed")
    R, D, C = repeats, X.shape[1], 10
    H = D
    W = np.zeros((R, H, D))
    V = np.zeros((R, C, H))
    if init == "random":
        for r in range(R):
            k.init_weights(key, np.uint64(r), W[r], V[r], 1.0 / math.sqrt(D), 1.0 / math.sqrt(H))
    b = np.zeros((R, H))
    c = np.zeros((R, C))
    relu = activation == "relu"
    A = np.full((R, H), 0.0 if relu else PRELU_INIT)
    learn = bool(learn_alpha) and not relu
    curves = [np.empty((R, epochs + 1)) for _ in range(3)]
    status = np.empty(R, np.int8)
    threaded(k.train_block, R, W, b, A, V, c, bool(identity), learn, X, y, Xte, yte, key,
             np.arange(R, dtype=np.uint64), step, batch_size, epochs, CLASSIFIER_DIVERGENCE_LIMIT, *curves, status)
    return ClassifierResult(train_loss=curves[0], train_error=curves[1], test_error=curves[2], status=status,
                            W=W, b=b, alpha=A, V=V, c=c, activation=activation, identity=bool(identity),
                            init=init, learn_alpha=learn, step=step, batch_size=batch_size, epochs=epochs,
                            seed=int(seed))


__all__ = ["ClassifierResult", "train_classifier"]
