"""The one exception type for bad user input.

Anything a user can get wrong (a missing dataset, an unknown preset, a corrupt
checkpoint, an out-of-range argument) raises :class:`UserError` with one
sentence that says what is wrong, where, and what to do. The CLI prints that
sentence and exits non-zero without a traceback; the Python API lets it
propagate like any other exception.
"""


class UserError(Exception):
    """Bad input from the user: the message is shown as is, on one line."""
