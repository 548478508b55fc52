"""HTTP routes: the versioned API and the operations endpoints."""
