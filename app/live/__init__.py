"""What keeps a worker current: the read cache and the change listener that feeds it."""
