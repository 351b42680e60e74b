"""The one exception the core raises for a problem the user can fix: the command line prints its message as one
line and exits non-zero; a pipeline step fails with it."""


class RadreportError(Exception):
    """A problem with the user's input, data, config or registry, stated in one line that names what is wrong."""
