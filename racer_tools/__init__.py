"""racer: deploy conda-projects to Docker containers."""

__version__ = "0.1.0"
