"""User-facing errors: one plain-Chinese line, exit code 2, no traceback."""


class UserError(Exception):
    """An error caused by the user's input (file, name, option), not by a bug.

    The message is shown as-is to the user, so it must be Chinese, name the
    file / sheet / cell / row concerned, and never contain secrets.
    """

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DatabaseBusy(UserError):
    """Another process kept the database longer than we waited: worth trying again later."""


def first_problems(problems: list[str], limit: int = 3) -> str:
    """Join the first few problems into one line, saying how many were left out."""
    shown = "；".join(problems[:limit])
    rest = len(problems) - limit
    return shown + (f"（另有 {rest} 处问题）" if rest > 0 else "")
