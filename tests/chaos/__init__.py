"""Fault, concurrency and hostile-input scenarios against the running compose.yml stack
(`make chaos`). Host needs: Docker, make, Python 3.11+; nothing is imported from ``app``."""
