"""The one error type the project raises for bad input."""


class UsageError(ValueError):
    """Bad input a user can fix; scripts print it as one line and exit with code 2.

    The message names the problem and the fix, e.g.
    ``--groups 32 does not divide the 28 input features; use a divisor such as 4 or 7``.
    """


EXIT_USAGE = 2
