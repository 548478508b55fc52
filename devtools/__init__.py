"""Development tools that never run in production: the embedded PostgreSQL launcher."""
