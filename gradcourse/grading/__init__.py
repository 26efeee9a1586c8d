"""Grading for the labs: named checks, reference implementations, the lab generator, the CLI."""
