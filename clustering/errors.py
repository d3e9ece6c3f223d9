"""The project's error type (bad input from the user, with a message that names the fix), and
how an error or a store URL is shown in one line."""


class BenchError(ValueError):
    """Bad input (dataset, file, flag, parameter); the CLI prints it on one line, exit 2."""


def redact(url: str) -> str:
    """The URL with its password replaced by ***."""
    if "://" not in url or "@" not in url:
        return url
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def first_line(error: BaseException) -> str:
    """The first line of the error's message (its type's name when it has none); for Optuna's
    StorageInternalError ("An exception is raised during the commit..."), that of the database
    error it wraps."""
    from optuna.exceptions import StorageInternalError

    if isinstance(error, StorageInternalError) and error.__cause__:
        error = error.__cause__
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
