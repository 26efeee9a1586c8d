"""Scoring learner code outside the learner's process (see session.py)."""
