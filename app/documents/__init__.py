"""JSON documents: strict loading, merge patch, diff and JSON Schema checks."""
