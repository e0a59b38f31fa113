"""Built-in exchanges."""
