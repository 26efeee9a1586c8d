"""The instructor's commands: ``python -m gradcourse.instructor <command>`` (release, collect, autograde,
feedback, export, summary), run on a whole class in batches."""
