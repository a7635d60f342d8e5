"""Machinery shared by hivetrace's client integrations (kept identical in each of them, so that
each distribution depends on hivetrace's public API alone): the patch table, the traced call,
stream proxies, and the internal-error guard."""
