"""Built-in sizers."""
