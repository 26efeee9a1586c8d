"""Helpers for the tensor backward-pass course."""
