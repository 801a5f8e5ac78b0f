"""Jobs for the bench and the chaos suite, never for production: the image does not contain them
(.dockerignore leaves tests/ out). The bench and chaos stacks mount this package read-only at
/app/tests/jobs, beside the image's code, and start the worker with it:

    python -m app.worker worker tests.jobs.noop
"""
