"""The shared Heat driver: stack layout, template rendering, stack operations, status."""
