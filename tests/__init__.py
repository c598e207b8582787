"""The tap's tests; shared plumbing in `tests.helpers`, fixtures in `conftest.py`."""
