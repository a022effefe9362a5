"""Paper 002's stages 1-3: a one-hidden-layer image classifier with PReLU and the identity mapping.

:func:`train_classifier` trains it by minibatch SGD (a seeded batch of repeats in one jitted call);
:func:`digits_split` and :func:`load_mnist` / :func:`load_idx` provide the data.
"""

from .data import IDXFileError, digits_split, load_idx, load_mnist
from .train import ClassifierResult, train_classifier

__all__ = ["ClassifierResult", "IDXFileError", "digits_split", "load_idx", "load_mnist", "train_classifier"]
