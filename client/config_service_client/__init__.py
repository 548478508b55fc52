"""Read and watch Config Service configurations, with kept copies for when it is down."""

from __future__ import annotations

from config_service_client.client import Client
from config_service_client.errors import (
    ConfigServiceError,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    ServerError,
    TooManyRequests,
    Unauthorized,
    UnexpectedResponse,
    Unreachable,
)
from config_service_client.result import Result
from config_service_client.target import Target
from config_service_client.watch import Change, Watcher

__all__ = [
    "Change",
    "Client",
    "ConfigServiceError",
    "Conflict",
    "Forbidden",
    "NotFound",
    "PreconditionFailed",
    "Result",
    "ServerError",
    "Target",
    "TooManyRequests",
    "Unauthorized",
    "UnexpectedResponse",
    "Unreachable",
    "Watcher",
]
