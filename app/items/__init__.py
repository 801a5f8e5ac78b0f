"""Items: the worked example resource. `make resource` copies this package to add your own
(docs/adding-a-resource.md)."""
