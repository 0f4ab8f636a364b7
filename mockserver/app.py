"""``uvicorn mockserver.app:create_app --factory``: the app factory under a short name.

One worker only (``--workers`` above 1 is refused, see ``serving/workers.py``).
"""

from .serving.app import Sandbox, create_app

__all__ = ["Sandbox", "create_app"]
