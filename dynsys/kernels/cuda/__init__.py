"""``numba.cuda`` twins of the CPU kernels (``backend="cuda"``), one module per CPU module.

=================  ===================================================================
``field``          host side of the loss and gradient: shape choice, device copy of the
                   model, launches (twin of :mod:`dynsys.kernels.field`)
``integrators``    the flow integrators, one trajectory per thread
                   (twin of :mod:`dynsys.kernels.integrators`)
``state``          the loss and gradient of one state on a thread's local arrays, shared by
                   the one-state-per-thread field kernel and the integrators (twin of
                   :func:`dynsys.systems.teacher_student.loss_grad`)
``thread``         the one-state-per-thread field kernel (small ``k * d``)
``block``          the one-state-per-block field kernel (large ``k * d``)
``constants``      statuses and typed constants (no ``numba.cuda`` import)
=================  ===================================================================

This package imports nothing: every submodule but ``constants`` imports ``numba.cuda``, so it is
reached only through :func:`dynsys.backends.cuda_kernels`, the one guard that checks numba-cuda and a
GPU first and says what to do instead (importing dynsys never imports ``numba.cuda``).
"""
