"""The one error type users see: a clear message, never a traceback."""


class CapsimError(Exception):
    """A problem with the user's input or request, explained in its message."""
