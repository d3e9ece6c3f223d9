"""The project's error type: bad input from the user, with a message that names the fix."""


class BenchError(ValueError):
    """Bad input (dataset, file, flag, parameter); the CLI prints it on one line, exit 2."""
