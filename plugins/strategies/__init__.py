"""Built-in strategies."""
