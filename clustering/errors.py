"""The project's error type: bad input from the user, with a message that names the fix."""


class BenchError(ValueError):
    """Bad input (dataset, file, flag, parameter); the CLI prints it on one line, exit 2."""


def first_line(error: BaseException) -> str:
    """The first line of the error's message, or its type's name when the message is empty:
    the part of a library's error that fits a one-line report."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
