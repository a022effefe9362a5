"""Continuation: follow critical points in a parameter and find where their type changes.

:func:`continuation` follows one critical point along a :class:`Family` and returns a
:class:`~dynsys.results.Branch` with its events (docs/continuation.md); :func:`switch_branch` starts
the branches that cross it at a branch point, by the equivariant branching lemma where the point has
symmetries (:func:`isotropy`); ready-made families of the teacher-student model are in
:mod:`dynsys.families`.
"""

from .arclength import continuation
from .family import Family
from .switching import isotropy, switch_branch
from .twoparam import follow_event

__all__ = ["Family", "continuation", "follow_event", "isotropy", "switch_branch"]
