"""What every resource needs and that is not about any one of them: conditional requests,
versioned cache-aside, keyset pagination, the versioned row and its repository, the service
that combines them, and the problem documents a resource answers with. ``app/items`` is the
worked instance; ``make resource`` copies it."""
