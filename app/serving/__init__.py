"""The production server's process-level pieces: the gunicorn worker and its HTTP protocol."""
