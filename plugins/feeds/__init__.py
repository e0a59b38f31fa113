"""Built-in feeds."""
