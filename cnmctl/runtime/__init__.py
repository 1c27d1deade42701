"""Starting, supervising and stopping container processes."""
