"""``agentspec serve``: the agent as a customer-service backend over HTTP.

``create_app(ServeSettings(...))`` is the ASGI application (FastAPI + uvicorn: the ``serve`` extra);
``agentspec.server.cli`` holds the ``serve`` and ``keys`` commands. See ``app`` for the routes.
"""
from agentspec.server.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def create_app(*args, **kwargs):  # imported lazily: FastAPI is the serve extra's
    from agentspec.server.app import create_app as _create

    return _create(*args, **kwargs)
