"""Index-1 saddles: between two minima (nudged elastic band, string) and from one (eigenvector following).

Two searches, both ending with a Newton refinement and a Hessian check of the Morse index:

* :func:`saddle_between` (:mod:`.neb`) relaxes a chain of images between two minima to a
  minimum-energy path (climbing-image NEB or climbing string) and refines its highest image.
* :func:`eigenvector_following` (:mod:`.eigenfollow`) climbs out of a minimum along each of its softest
  Hessian eigenvectors by P-RFO.

Both work on any model with ``loss_and_grad`` (batched: (n, ...) -> (n,), (n, ...)) and ``hessian``;
:mod:`.refine` holds the model access and the refinement they share.
"""

from .eigenfollow import eigenvector_following
from .neb import METHODS, saddle_between
from .refine import SMALL_BATCH

__all__ = ["METHODS", "SMALL_BATCH", "eigenvector_following", "saddle_between"]
