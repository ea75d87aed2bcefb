"""The command-line entry points, each a thin plumbum class over racer's steps."""
