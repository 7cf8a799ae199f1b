"""Experiments (`causalclf compare`): the spec and the runs it plans (`spec.py`), and running them into
tables, plots and reports (`runner.py`)."""
