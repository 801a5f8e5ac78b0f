"""Black-box checks of the production image and the compose.yml stack (`make smoke`).

They need only Docker and Python 3.11+ on the host, and import nothing from ``app``: they see
the service as an operator does, through Docker and HTTP.
"""
