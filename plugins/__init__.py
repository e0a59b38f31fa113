"""botmm's built-in plugins. Each module registers its components through the same hooks, and the same entry-point
group, as a third-party plugin package."""
