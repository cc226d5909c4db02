"""The one refusal type: a rule was broken, and the caller is told which and why.

Domain code raises it with the error code of the API it answers for (``IMG.xxxx``, ``BackupService.xxxx``, ...). At
the HTTP edge one exception handler (``ims_shared.errors``) turns it into the service's error body with ``status``;
in an event handler it becomes a job's FAIL code or a refusal event. No I/O here, so pure domain modules import it.
"""


class Refusal(Exception):
    """``code``: the error code; ``message``: what was wrong and what to do; ``status``: the HTTP status it answers
    with (400 unless the thing named was not found, 404, or the like)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"Refusal({self.code!r}, {self.message!r}, status={self.status})"


def not_found(code: str, what: str) -> Refusal:
    """A 404 refusal: ``what`` (say "image 123") was not found, or is not the caller's to see."""
    return Refusal(code, f"{what} not found", status=404)
