"""Lab authoring: one lab source (``grader/labsrc``) becomes the learner notebooks, the nbgrader source and
release, the solutions and the lab pages of the book."""
