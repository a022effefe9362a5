"""Image classification data for paper 002's stages 1-3: scikit-learn's digits, or MNIST from IDX files.

MNIST cannot be downloaded by dynsys; a user who has the four IDX files (``train-images-idx3-ubyte``
and so on, optionally gzipped) passes their paths to :func:`load_mnist`. Pixels are scaled to [0, 1].
"""

from __future__ import annotations

import gzip
import pathlib

import numpy as np

#: IDX type codes (the third byte of the magic number) -> big-endian NumPy dtype.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class IDXFileError(ValueError):
    """An IDX file that cannot be read (the message names the file and what is wrong)."""


def load_idx(path) -> np.ndarray:
    """The array stored in an IDX file (the MNIST format; ``.gz`` files are decompressed).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    ndarray
        Shape from the file's header, dtype from its type code (uint8 for MNIST).

    Raises
    ------
    IDXFileError
        The file is missing, not an IDX file (wrong magic number or type code), or shorter or longer
        than its header says.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise IDXFileError(f"{path}: no such file (pass the path of an IDX file such as "
                           f"train-images-idx3-ubyte or its .gz)")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise IDXFileError(f"{path}: cannot be read ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise IDXFileError(f"{path}: not an IDX file (its first two bytes must be zero; got "
                           f"{raw[:4].hex() or 'an empty file'})")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise IDXFileError(f"{path}: unknown IDX type code 0x{code:02x} (expected one of "
                           f"{', '.join(f'0x{c:02x}' for c in _IDX_TYPES)})")
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise IDXFileError(f"{path}: truncated header ({len(raw)} bytes for {ndim} dimensions)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[code])
    want = int(np.prod(shape)) * dtype.itemsize
    have = len(raw) - 4 - 4 * ndim
    if have != want:
        raise IDXFileError(f"{path}: {'truncated' if have < want else 'longer than its header'}: the header "
                           f"says shape {shape} of {dtype.name} ({want} bytes of data), the file holds {have}")
    return np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(shape).astype(dtype.newbyteorder("="))


def load_mnist(train_images, train_labels, test_images, test_labels):
    """MNIST (or any IDX image/label set) as ``(X_train, y_train, X_test, y_test)``.

    Images (n, rows, cols) of uint8 are flattened and scaled to [0, 1]; labels must be integers
    0..9, one per image.
    """
    out = []
    for imgs, labs in ((train_images, train_labels), (test_images, test_labels)):
        X = load_idx(imgs)
        y = load_idx(labs)
        if X.ndim < 2 or X.dtype != np.uint8:
            raise IDXFileError(f"{imgs}: expected images (n, rows, cols) of unsigned bytes; got shape "
                               f"{X.shape}, {X.dtype}")
        if y.ndim != 1 or y.shape[0] != X.shape[0] or y.dtype.kind not in "iu" or y.size == 0 \
                or y.min() < 0 or y.max() > 9:
            raise IDXFileError(f"{labs}: expected {X.shape[0]} integer labels 0..9 (one per image of {imgs}); "
                               f"got shape {y.shape}, {y.dtype}")
        out += [X.reshape(X.shape[0], -1) / 255.0, y.astype(np.int64)]
    return tuple(out)


def digits_split(test_fraction=0.25, seed=0):
    """scikit-learn's digits (1797 images of 8 x 8 pixels, 16 grey levels) with a stratified split.

    Parameters
    ----------
    test_fraction : float, default 0.25
    seed : int, default 0
        ``random_state`` of :func:`sklearn.model_selection.train_test_split`.

    Returns
    -------
    X_train, y_train, X_test, y_test
        Pixels scaled to [0, 1] (divided by 16), shape (n, 64); labels int64.

    Raises
    ------
    ImportError
        scikit-learn is missing (install the ``data`` extra: ``pip install dynsys[data]``).
    """
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ImportError("the digits data set needs scikit-learn: pip install 'dynsys[data]' "
                          "(or pass MNIST IDX files to dynsys.classifier.load_mnist)") from None
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y.astype(np.int64), test_size=test_fraction,
                                          random_state=seed, stratify=y)
    return Xtr, ytr, Xte, yte
