"""Repositories: parameterized SQL over a connection the caller owns."""
