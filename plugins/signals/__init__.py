"""Built-in signals."""
