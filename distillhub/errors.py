"""The one exception type for user mistakes; the CLI prints it as a one-line error."""


class DistillhubError(Exception):
    """A user-facing error: bad input, an invalid batch, a failed Hub call.

    The message is one line that says what went wrong and what to do next.
    """
