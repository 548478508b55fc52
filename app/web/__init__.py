"""What every request passes through: request ids and logs, tokens, errors, metrics."""

API_PREFIX = "/api/v1"  # every route of the HTTP API lives under it
