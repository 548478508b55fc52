"""Export and import of every application and configuration as one JSON file."""
