"""Distillation: a slow fitted classifier teaches a small encoder student (`student.py`), as the ``distill:``
section of a run config or `causalclf distill` asks (`config.py`)."""
