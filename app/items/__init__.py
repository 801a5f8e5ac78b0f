"""Items: the worked example resource. Copy this package to add your own (see README)."""
