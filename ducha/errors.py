"""User-facing errors: one plain-Chinese line, exit code 2, no traceback."""

import errno


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


_OS_REASONS = {
    errno.ENOSPC: "磁盘空间不足", errno.EDQUOT: "超出磁盘配额", errno.EFBIG: "文件超过允许的大小",
    errno.EACCES: "没有写入权限", errno.EPERM: "没有写入权限", errno.EROFS: "文件系统只读",
    errno.ENOTDIR: "路径中的某一级是文件而不是目录", errno.EEXIST: "已有同名文件",
    errno.EISDIR: "同名的是目录而不是文件", errno.ENOENT: "路径不存在",
}  # fmt: skip


def os_reason(exc: OSError) -> str:
    """Why a file operation failed, in Chinese where the cause is a common one."""
    return _OS_REASONS.get(exc.errno or 0) or exc.strerror or str(exc)


def os_reason_in(message: str) -> str | None:
    """The Chinese reason for the first common OS error named in another library's message."""
    import os

    return next((r for code, r in _OS_REASONS.items() if os.strerror(code) in message), None)
