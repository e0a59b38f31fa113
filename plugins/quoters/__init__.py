"""Built-in quoters."""
