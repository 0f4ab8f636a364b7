"""One process only: the sandbox's state lives in the memory of the process that serves it.

Several worker processes would each hold their own store, clock, idempotency keys and journal,
so a credit created through one would be a 404 through the others. ``mockserver serve`` refuses
``--workers`` above 1; ``create_app`` refuses to be built inside a multi-worker uvicorn.
"""

from __future__ import annotations

import sys

ONE_PROCESS = (
    "the sandbox keeps its state (credits, idempotency keys, clock, journal) in the memory of "
    "one process, so several workers would each answer from their own copy: a credit created "
    "through one would be a 404 through the others. Run it with one worker"
)


class SeveralWorkersError(TypeError):
    """The app is being built for a server that runs several worker processes.

    A ``TypeError`` because that is what uvicorn reports cleanly for an app factory (one
    line, "Error loading ASGI app factory"), and it then stops the parent process instead of
    restarting the worker.
    """


def uvicorn_workers() -> int:
    """How many workers the uvicorn building this app runs (1 when not under uvicorn).

    uvicorn calls the app factory from ``Config.load`` in each worker process; that ``Config``
    (the caller's ``self``) carries ``workers``, ``WEB_CONCURRENCY`` included.
    """
    config_module = sys.modules.get("uvicorn.config")
    if config_module is None:
        return 1
    frame = sys._getframe(1)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, config_module.Config):
            return int(candidate.workers or 1)
        frame = frame.f_back  # type: ignore[assignment]
    return 1


def refuse_several_workers() -> None:
    """Raise ``SeveralWorkersError`` when built for a multi-worker uvicorn."""
    count = uvicorn_workers()
    if count > 1:
        raise SeveralWorkersError(f"{count} workers asked for; {ONE_PROCESS}")
