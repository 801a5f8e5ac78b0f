"""Small helpers a resource calls, and nothing that knows any resource: HTTP (JSON bodies,
ETags, conditional requests), keyset pages, field types, problem types, and an opt-in cache.
``app/items`` is the worked example; ``make resource`` copies it."""
