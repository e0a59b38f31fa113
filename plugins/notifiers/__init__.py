"""Built-in notifiers."""
